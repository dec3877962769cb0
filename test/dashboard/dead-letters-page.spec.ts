/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The queue features of issue 14 on the page, in headless Chromium: a queue's dead-letter drawer
 * (opened from its count, filled from dead-letters.json newest first, paged, redrive or discard one,
 * redrive or discard all behind a confirm, kept open across refreshes, user data shown as text), on
 * a desktop and a phone; running items' progress with a Cancel button; the "rate limited until"
 * badge. First from real apps (memory backend), then from a snapshot (exact values).
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { HostingModule, HostingRegistry, InjectQueue, QueueWorker, WorkQueue, type JobContext, type ServiceStatus } from '../../src/index.js';
import { HostingDashboardModule, type DashboardSnapshot, type HostingDashboardOptions } from '../../src/dashboard/index.js';
import { renderDashboardPage } from '../../src/dashboard/dashboard-page.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { sleep, untilAborted, waitFor } from '../support/hosting-app.js';
import { launchChromium, type Browser } from './chromium.js';

const XSS = `<img src=x onerror="window.__xss=1"> & "quoted"`;
const failing = new Set<string>();

interface Job {
  key: string;
  note?: string;
}

@Injectable()
class Jobs {
  constructor(@InjectQueue('jobs') readonly queue: WorkQueue<Job>) {}

  @QueueWorker('jobs', { concurrency: 3 })
  async work(job: Job, ctx: JobContext) {
    if (job.key.startsWith('slow')) {
      ctx.progress(job.key === 'slow-object' ? { step: XSS, done: 3 } : 42);
      await untilAborted(ctx.signal);
      throw ctx.signal.reason;
    }
    if (failing.has(job.key)) throw new Error(`${XSS} (${job.key})`);
  }
}

interface Running {
  app: INestApplication;
  url: string;
  registry: HostingRegistry;
  jobs: WorkQueue<Job>;
}

let running: Running | undefined;
let browser: Browser | undefined;

beforeEach(() => failing.clear());

afterEach(async () => {
  await browser?.close();
  await running?.app.close();
  browser = running = undefined;
});

async function startApp(dashboard: HostingDashboardOptions = { readOnly: false }): Promise<Running> {
  const moduleRef = await Test.createTestingModule({
    // A refresh far away: the page refreshes only after an action (then at once).
    imports: [
      HostingModule.forRoot({ shutdownTimeoutMs: 2_000 }),
      HostingModule.registerQueue({ name: 'jobs' }),
      HostingDashboardModule.register({ refreshMs: 2 ** 31 - 1, ...dashboard }),
    ],
    providers: [Jobs],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  running = { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/hosting`, registry: app.get(HostingRegistry), jobs: app.get(Jobs).queue };
  return running;
}

/** Enqueues items that fail their only try, one after the other, and waits until each is a dead letter. */
async function deadLetters(keys: string[]): Promise<void> {
  const { jobs, registry } = running!;
  const before = registry.get('jobs')!.deadLetters ?? 0;
  for (const [i, key] of keys.entries()) {
    failing.add(key);
    await jobs.enqueue({ key, note: XSS }, { id: key });
    await waitFor(() => registry.get('jobs')!.deadLetters === before + i + 1, 20_000, `${key} to become a dead letter`);
  }
}

async function openPage(width = 1360): Promise<{ page: Page; problems: string[] }> {
  browser = await launchChromium({ width, height: 800 });
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  page.on('pageerror', (error) => problems.push(error.message));
  expect((await page.goto(running!.url))?.status()).toBe(200);
  return { page, problems };
}

/** What the dead-letter drawer of `queue` shows. */
const drawerOf = (page: Page, queue: string) =>
  page.evaluate((queue) => {
    const drawer = [...document.querySelectorAll<HTMLElement>('tr[data-dl-drawer]')].find((d) => d.dataset.dlDrawer === queue);
    if (!drawer) return undefined;
    const texts = (selector: string) => [...drawer.querySelectorAll<HTMLElement>(selector)].map((e) => e.textContent);
    return {
      visible: !drawer.hidden && drawer.getBoundingClientRect().height > 0,
      range: drawer.querySelector('[data-dl-range]')!.textContent,
      status: drawer.querySelector('[data-dl-status]')!.textContent,
      ids: [...drawer.querySelectorAll<HTMLElement>('li.dead-letter')].map((li) => li.dataset.dlId),
      errors: texts('.dl-error'),
      data: texts('.dl-data'),
      empty: drawer.querySelector('.dl-empty')?.textContent ?? null,
      buttons: texts('button[data-dl-action]'),
      newer: drawer.querySelector<HTMLButtonElement>('[data-dl-page="newer"]')!.disabled,
      older: drawer.querySelector<HTMLButtonElement>('[data-dl-page="older"]')!.disabled,
    };
  }, queue);

type Drawer = NonNullable<Awaited<ReturnType<typeof drawerOf>>>;

/** Polls the drawer until `ok` (the page loads and acts asynchronously). */
async function drawerWhen(page: Page, ok: (drawer: Drawer) => boolean, what: string): Promise<Drawer> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const drawer = await drawerOf(page, 'jobs');
    if (drawer && ok(drawer)) return drawer;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(drawer)}`);
    await sleep(20);
  }
}

const toggle = (page: Page) => page.locator('tr[data-service="jobs"] button[data-dl-toggle]');
const item = (page: Page, id: string, action: 'redrive' | 'discard') => page.locator(`tr[data-dl-drawer="jobs"] li[data-dl-id="${id}"] button[data-dl-action="${action}"]`);
const all = (page: Page, action: 'redrive' | 'discard') => page.locator(`tr[data-dl-drawer="jobs"] button[data-dl-action="${action}"][data-dl-all]`);

describe('the dead-letter drawer of a real app', () => {
  it('opens from the count, lists newest first as text, redrives one, and discards all after a confirm; stays open across refreshes', async () => {
    await startApp();
    await deadLetters(['a', 'b', 'c']);
    const { registry } = running!;
    const { page, problems } = await openPage();

    expect((await toggle(page).innerText()).trim()).toBe('3 dead letters');
    expect((await drawerOf(page, 'jobs'))!.visible).toBe(false);
    await toggle(page).click();
    let drawer = await drawerWhen(page, (d) => d.ids.length === 3, 'the list');
    expect(drawer).toMatchObject({
      visible: true,
      range: '1–3 of 3, newest first',
      ids: ['c', 'b', 'a'],
      errors: ['c', 'b', 'a'].map((key) => `${XSS} (${key})`),
      data: ['c', 'b', 'a'].map((key) => JSON.stringify({ key, note: XSS })),
      buttons: ['Redrive all', 'Discard all', 'Redrive', 'Discard', 'Redrive', 'Discard', 'Redrive', 'Discard'],
      newer: true,
      older: true,
    });
    expect(await toggle(page).getAttribute('aria-expanded')).toBe('true');

    // Redrive b, which now succeeds: it leaves the list, the queue handles it, the page refreshes.
    failing.delete('b');
    await item(page, 'b', 'redrive').click();
    drawer = await drawerWhen(page, (d) => d.status === 'Redriven: 1' && d.ids.length === 2, 'b redriven');
    expect(drawer.ids).toEqual(['c', 'a']);
    await waitFor(() => registry.get('jobs')!.processed === 1, 20_000, 'b handled');
    await page.waitForFunction(() => Number(document.body.dataset.refreshes ?? 0) >= 1, undefined, { timeout: 20_000 });
    expect((await toggle(page).innerText()).trim()).toBe('2 dead letters');
    expect(await drawerOf(page, 'jobs')).toMatchObject({ visible: true, ids: ['c', 'a'], status: 'Redriven: 1' });

    // "Discard all" asks first: dismissed, nothing happens; accepted, both go.
    const questions: string[] = [];
    page.once('dialog', (dialog) => void (questions.push(dialog.message()), dialog.dismiss()));
    await all(page, 'discard').click();
    await waitFor(() => questions.length === 1, 20_000, 'the confirm');
    expect(registry.get('jobs')!.deadLetters).toBe(2);
    page.once('dialog', (dialog) => void (questions.push(dialog.message()), dialog.accept()));
    await all(page, 'discard').click();
    drawer = await drawerWhen(page, (d) => d.status === 'Discarded: 2' && d.empty !== null, 'discarded, the list reloaded');
    expect(questions).toEqual(['Discard all 2 dead letters of jobs? They cannot be brought back.', 'Discard all 2 dead letters of jobs? They cannot be brought back.']);
    expect(drawer).toMatchObject({ ids: [], empty: 'No dead letters.', range: '0 in all' });
    expect(registry.get('jobs')).toMatchObject({ deadLetters: 0, processed: 1 });
    // Once refreshed: no count left on the row, the drawer still open with its last word.
    await page.waitForFunction(() => Number(document.body.dataset.refreshes ?? 0) >= 2, undefined, { timeout: 20_000 });
    expect(await toggle(page).count()).toBe(0);
    expect(await drawerOf(page, 'jobs')).toMatchObject({ visible: true, empty: 'No dead letters.' });
    await page.locator('tr[data-dl-drawer="jobs"] button[data-dl-close]').click();
    expect((await drawerOf(page, 'jobs'))!.visible).toBe(false);

    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator('main img').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('at 375 px wide: pages through 23 dead letters, fits the screen, and its buttons are reachable', async () => {
    await startApp();
    const keys = Array.from({ length: 23 }, (_, i) => `k${i}`);
    await deadLetters(keys);
    const { page, problems } = await openPage(375);
    await toggle(page).click();
    let drawer = await drawerWhen(page, (d) => d.ids.length === 20, 'the first page');
    expect(drawer).toMatchObject({ range: '1–20 of 23, newest first', newer: true, older: false });
    expect(drawer.ids[0]).toBe('k22');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    const reachable = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLButtonElement>('tr[data-dl-drawer] button[data-dl-action], tr[data-dl-drawer] button[data-dl-page]')]
        .slice(0, 6)
        .map((button) => {
          button.scrollIntoView({ block: 'center', inline: 'nearest' });
          const box = button.getBoundingClientRect();
          const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
          return { inside: box.left >= 0 && box.right <= document.documentElement.clientWidth, onTop: hit?.closest('button') === button };
        }),
    );
    expect(reachable).toHaveLength(6);
    expect(reachable.filter((b) => !b.inside || !b.onTop)).toEqual([]);

    await page.locator('tr[data-dl-drawer="jobs"] button[data-dl-page="older"]').click();
    drawer = await drawerWhen(page, (d) => d.ids.length === 3, 'the second page');
    expect(drawer).toMatchObject({ range: '21–23 of 23, newest first', ids: ['k2', 'k1', 'k0'], newer: false, older: true });

    await item(page, 'k1', 'discard').click();
    drawer = await drawerWhen(page, (d) => d.status === 'Discarded: 1' && d.ids.length === 2, 'k1 discarded');
    expect(drawer).toMatchObject({ range: '21–22 of 22, newest first', ids: ['k2', 'k0'] });
    expect(running!.registry.get('jobs')!.deadLetters).toBe(22);

    await page.locator('tr[data-dl-drawer="jobs"] button[data-dl-page="newer"]').click();
    drawer = await drawerWhen(page, (d) => d.ids[0] === 'k22', 'the first page again');
    expect(drawer.range).toBe('1–20 of 22, newest first');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('read-only: lists the dead letters without a button to act on them', async () => {
    await startApp({});
    await deadLetters(['a']);
    const { page, problems } = await openPage();
    await toggle(page).click();
    const drawer = await drawerWhen(page, (d) => d.ids.length === 1, 'the list');
    expect(drawer).toMatchObject({ ids: ['a'], buttons: [], errors: [`${XSS} (a)`] });
    expect(problems).toEqual([]);
  });

  it('shows running items with their progress and cancels one from its button', async () => {
    await startApp();
    const { jobs, registry } = running!;
    await jobs.enqueue({ key: 'slow' }, { id: 'slow' });
    await jobs.enqueue({ key: 'slow-object' }, { id: 'slow-object' });
    await waitFor(() => registry.get('jobs')!.progress?.length === 2, 20_000, 'two items reporting progress');
    const { page, problems } = await openPage();

    const progress = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('tr[data-service="jobs"] li[data-progress-id]')].map((li) => ({
        id: li.dataset.progressId,
        bar: li.querySelector('progress')?.value ?? null,
        json: li.querySelector('code')?.textContent ?? null,
        cancel: li.querySelectorAll('button[data-cancel-id]').length,
      })),
    );
    expect(progress).toEqual([
      { id: 'slow', bar: 42, json: null, cancel: 1 },
      { id: 'slow-object', bar: null, json: JSON.stringify({ step: XSS, done: 3 }), cancel: 1 },
    ]);

    await page.locator('tr[data-service="jobs"] button[data-cancel-id="slow"]').click();
    await waitFor(() => registry.get('jobs')!.cancelled === 1, 20_000, 'slow cancelled');
    await page.waitForFunction(() => Number(document.body.dataset.refreshes ?? 0) >= 1, undefined, { timeout: 20_000 });
    expect(await page.locator('tr[data-service="jobs"] [data-cancelled]').innerText()).toBe('1 cancelled');
    expect(await page.locator('tr[data-service="jobs"] li[data-progress-id]').count()).toBe(1);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(problems).toEqual([]);
    expect(await registry.cancel('jobs', 'slow-object')).toBe('aborted'); // rather than wait for the shutdown deadline
  });
});

const now = new Date('2030-01-02T03:04:05Z');
const queue = (over: Partial<ServiceStatus>): ServiceStatus => ({
  name: 'q',
  kind: 'queue',
  state: 'running',
  runs: 0,
  failures: 0,
  consecutiveFailures: 0,
  missedTicks: 0,
  backend: 'memory',
  depth: 0,
  inFlight: 0,
  processed: 0,
  ...over,
});

const snapshot: DashboardSnapshot = {
  generatedAt: now,
  host: { state: 'running', pid: 4242, uptimeMs: 60_000 },
  services: [
    queue({
      name: 'limited',
      inFlight: 3,
      cancelled: 3,
      deadLetters: 1,
      rateLimitedUntil: new Date(now.getTime() + 30_000),
      progress: [
        { id: 'p1', attempt: 1, value: 42.25 },
        { id: XSS, attempt: 2, value: 250 },
        { id: 'p3', attempt: 1, value: { step: XSS, list: Array.from({ length: 40 }, (_, i) => i) } },
      ],
    }),
    queue({ name: 'past', deadLetters: 0, rateLimitedUntil: new Date(now.getTime() - 1_000) }),
  ],
};

describe('the queue fields on the page rendered from a snapshot', () => {
  const open = async (readOnly: boolean, width = 1360) => {
    browser = await launchChromium({ width, height: 800 });
    const page = await browser.context.newPage();
    await page.setContent(renderDashboardPage(snapshot, { title: 't', basePath: '/hosting', readOnly, refreshMs: 2 ** 31 - 1 }));
    return page;
  };

  it('a "rate limited until" badge while the wait lasts, cancelled and dead-letter counts, progress bars and JSON, all as text', async () => {
    const page = await open(false);
    const badge = page.locator('tr[data-service="limited"] .badge.limited');
    expect((await badge.innerText()).trim()).toBe('rate limited until 03:04:35');
    expect(await badge.getAttribute('title')).toBe('deliveries wait until 2030-01-02T03:04:35.000Z (in 30 s)');
    expect(await page.locator('tr[data-service="past"] .badge.limited').count()).toBe(0);
    expect(await page.locator('tr[data-service="limited"] [data-cancelled]').innerText()).toBe('3 cancelled');
    expect((await page.locator('tr[data-service="limited"] button[data-dl-toggle]').innerText()).trim()).toBe('1 dead letter');
    // No count, no button; the drawer is there (hidden) for a queue that keeps dead letters.
    expect(await page.locator('tr[data-service="past"] button[data-dl-toggle]').count()).toBe(0);
    expect(await page.locator('tr[data-dl-drawer="past"][hidden]').count()).toBe(1);

    const items = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('tr[data-service="limited"] li[data-progress-id]')].map((li) => ({
        id: li.dataset.progressId,
        shown: li.querySelector('.progress-id')!.textContent,
        bar: li.querySelector('progress')?.value ?? null,
        text: li.querySelector('.num, code')!.textContent,
        title: li.querySelector('code')?.getAttribute('title') ?? null,
        cancel: li.querySelector<HTMLButtonElement>('button[data-cancel-id]')?.dataset.cancelId,
      })),
    );
    const json = JSON.stringify({ step: XSS, list: Array.from({ length: 40 }, (_, i) => i) });
    expect(items).toEqual([
      { id: 'p1', shown: 'p1', bar: 42.25, text: '42.3%', title: null, cancel: 'p1' },
      { id: XSS, shown: `${XSS.slice(0, 23)}…`, bar: null, text: '250', title: null, cancel: XSS },
      { id: 'p3', shown: 'p3', bar: null, text: `${json.slice(0, 80)}…`, title: json, cancel: 'p3' },
    ]);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
  });

  it('read-only: no Cancel buttons and no "all" buttons in the drawer; at 375 px the row fits', async () => {
    const page = await open(true, 375);
    expect(await page.locator('button[data-cancel-id]').count()).toBe(0);
    expect(await page.locator('button[data-dl-action]').count()).toBe(0);
    expect(await page.locator('tr[data-service="limited"] li[data-progress-id]').count()).toBe(3);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  });
});
