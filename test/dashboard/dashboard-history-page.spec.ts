/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The history on the page, in headless Chromium: sparklines of duration and lateness per task,
 * throughput and depth per queue (inline SVG, one point per run or sample), the run-history
 * drawer (opened by its button or by a click on the row, kept open across refreshes, error
 * messages escaped), and the "late" badge of a task past its due-by. First from a real app on a
 * `VirtualTime` clock (the page as served, under its Content-Security-Policy), then from a
 * snapshot (exact counts, the phone layout with a drawer open).
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { HostingModule, HostingRegistry, InjectQueue, Periodic, QueueWorker, TimeProvider, WorkQueue, type ServiceStatus } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { HostingDashboardModule, type DashboardRun, type DashboardSnapshot } from '../../src/dashboard/index.js';
import { renderDashboardPage } from '../../src/dashboard/dashboard-page.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { launchChromium, type Browser } from './chromium.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const XSS_ERROR = `<img src=x onerror="window.__xss=1"> disk full & "quoted"`;
const XSS_NAME = `<b onmouseover="window.__xss=2">odd</b>`;
let clock: VirtualTime;

@Injectable()
class Tasks {
  @Periodic({ every: 1_000, name: 'flaky' })
  async flaky() {
    await clock.delay(20);
    throw new Error(XSS_ERROR);
  }

  @Periodic({ every: 1_000, name: 'steady' })
  async steady() {
    await clock.delay(5);
  }
}

@Injectable()
class Jobs {
  constructor(@InjectQueue('jobs') readonly queue: WorkQueue<number>) {}

  @QueueWorker('jobs')
  async work() {
    await clock.delay(700);
  }
}

/** For each chart of a row: its name and the number of points of its line. */
const chartsOf = (page: Page, service: string) =>
  page.evaluate(
    (service) =>
      [...document.querySelectorAll('tr[data-service]')]
        .filter((row) => (row as HTMLElement).dataset.service === service)
        .flatMap((row) => [...row.querySelectorAll('svg[data-chart]')])
        .map((svg) => ({
          chart: svg.getAttribute('data-chart'),
          points: (svg.querySelector('polyline')?.getAttribute('points') ?? '').trim().split(/\s+/).filter(Boolean).length,
          failed: svg.querySelectorAll('circle.fail').length,
        })),
    service,
  );

/** The drawer of a service: visible?, its runs' outcomes (newest first) and error texts. */
const drawerOf = (page: Page, service: string) =>
  page.evaluate((service) => {
    const drawer = [...document.querySelectorAll<HTMLElement>('tr[data-drawer]')].find((d) => d.dataset.drawer === service);
    if (!drawer) return undefined;
    const box = drawer.getBoundingClientRect();
    return {
      visible: !drawer.hidden && box.height > 0,
      outcomes: [...drawer.querySelectorAll<HTMLElement>('li.run')].map((li) => li.dataset.outcome),
      errors: [...drawer.querySelectorAll<HTMLElement>('.run-error')].map((e) => e.innerText),
      text: drawer.innerText,
    };
  }, service);

describe('the history on the page served by a real app', () => {
  let app: INestApplication | undefined;
  let browser: Browser | undefined;

  afterEach(async () => {
    await browser?.close();
    await app?.close();
    app = browser = undefined;
  });

  it('draws the charts, opens the drawer with escaped errors, and flags the late task', async () => {
    clock = new VirtualTime({ now: T0 });
    const moduleRef = await Test.createTestingModule({
      imports: [
        HostingModule.forRoot({ shutdownTimeoutMs: 5_000 }),
        HostingModule.registerQueue({ name: 'jobs' }),
        HostingDashboardModule.register({ readOnly: false, refreshMs: 2 ** 31 - 1, history: { runs: 4, samples: 5, sampleEveryMs: 1_000 } }),
      ],
      providers: [Tasks, Jobs],
    })
      .overrideProvider(TimeProvider)
      .useValue(clock)
      .setLogger(new CaptureLogger())
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/hosting`;
    for (let n = 0; n < 6; n++) await app.get(Jobs).queue.enqueue(n);
    await clock.advance(6_100); // 6 ticks of each task; 6 items of 0.7 s done by 4.2 s; 7 samples (0–6 s)
    const registry = app.get(HostingRegistry);
    const flaky = registry.get('flaky')!;
    expect(flaky.failures).toBe(6);
    expect(flaky.late).toBe(true); // no success in 2 periods: the missed-run check says so
    expect(registry.get('steady')!.late).toBeFalsy();

    browser = await launchChromium();
    const page = await browser.context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(url);

    // Runs: the last 4 of 6 (runs: 4); every flaky run failed (red dots); ticks on time (lateness 0).
    expect(await chartsOf(page, 'flaky')).toEqual([
      { chart: 'duration', points: 4, failed: 4 },
      { chart: 'lateness', points: 4, failed: 0 },
    ]);
    expect(await chartsOf(page, 'steady')).toEqual([
      { chart: 'duration', points: 4, failed: 0 },
      { chart: 'lateness', points: 4, failed: 0 },
    ]);
    // Samples: the last 5 (samples: 5): 4 intervals of throughput, 5 depths.
    expect(await chartsOf(page, 'jobs')).toEqual([
      { chart: 'throughput', points: 4, failed: 0 },
      { chart: 'depth', points: 5, failed: 0 },
    ]);

    // The late task: a badge whose tooltip gives the due-by, and its row highlighted.
    const late = page.locator('tr[data-service="flaky"] .badge.late');
    expect((await late.innerText()).trim()).toBe('late');
    expect(await late.getAttribute('title')).toBe(`due by ${flaky.dueBy!.toISOString()}; last succeeded never`);
    expect(await page.locator('tr.is-late').count()).toBe(1);
    expect(await page.locator('tr[data-service="steady"] .badge.late').count()).toBe(0);

    // The drawer: closed; opened and closed by its button (the row's charts); another row's opened by a click anywhere on the row.
    expect((await drawerOf(page, 'flaky'))!.visible).toBe(false);
    await page.locator('tr[data-service="flaky"] button[data-drawer-toggle]').click();
    let drawer = (await drawerOf(page, 'flaky'))!;
    expect(drawer.visible).toBe(true);
    expect(drawer.outcomes).toEqual(['failure', 'failure', 'failure', 'failure']);
    expect(drawer.errors).toEqual([XSS_ERROR, XSS_ERROR, XSS_ERROR, XSS_ERROR]);
    expect(drawer.text).toContain(`due by ${flaky.dueBy!.toISOString()}`);
    expect(await page.locator('tr[data-service="flaky"] button[data-drawer-toggle]').getAttribute('aria-expanded')).toBe('true');
    await page.locator('tr[data-service="flaky"] button[data-drawer-toggle]').click();
    expect((await drawerOf(page, 'flaky'))!.visible).toBe(false);
    await page.locator('tr[data-service="steady"] td[data-label="Kind"]').click();
    drawer = (await drawerOf(page, 'steady'))!;
    expect(drawer.visible).toBe(true);
    expect(drawer.outcomes).toEqual(['success', 'success', 'success', 'success']);

    // Open drawers stay open when the page refreshes (an action refreshes it at once; main is replaced).
    await page.locator('tr[data-service="flaky"] button[data-drawer-toggle]').click();
    await page.locator('tr[data-service="steady"] button[data-action="pause"]').click();
    await page.waitForFunction(() => document.body.dataset.refreshes === '1', undefined, { timeout: 20_000 });
    expect(registry.get('steady')!.paused).toBe(true);
    expect(await page.locator('tr[data-service="steady"] button[data-action="resume"]').count()).toBe(1);
    expect((await drawerOf(page, 'flaky'))!.visible).toBe(true);
    expect((await drawerOf(page, 'steady'))!.visible).toBe(true);
    expect(await page.locator('tr[data-service="flaky"] button[data-drawer-toggle]').getAttribute('aria-expanded')).toBe('true');
    expect((await drawerOf(page, 'jobs'))!.visible).toBe(false);

    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator('tbody img').count()).toBe(0);
    expect(violations).toEqual([]);
  });
});

const now = new Date(T0 + 3_600_000);
const run = (i: number, over: Partial<DashboardRun> = {}): DashboardRun => ({
  startedAt: new Date(now.getTime() - (50 - i) * 60_000).toISOString(),
  durationMs: 100 + ((i * 37) % 200),
  latenessMs: (i * 13) % 40,
  outcome: 'success',
  ...over,
});
const service = (over: Partial<ServiceStatus>): ServiceStatus => ({ name: 'x', kind: 'periodic', state: 'idle', runs: 0, failures: 0, consecutiveFailures: 0, missedTicks: 0, ...over });

const snapshot: DashboardSnapshot = {
  generatedAt: now,
  host: { state: 'running', pid: 4242, uptimeMs: 3_600_000 },
  services: [
    service({ name: XSS_NAME, runs: 50, failures: 2, late: true, dueBy: new Date(now.getTime() - 120_000), lastSucceededAt: new Date(now.getTime() - 300_000) }),
    service({ name: 'emails', kind: 'queue', state: 'running', depth: 4, inFlight: 1, processed: 900, failed: 3, backend: 'memory' }),
    service({ name: 'fresh', runs: 0 }),
  ],
  history: {
    [XSS_NAME]: { runs: Array.from({ length: 50 }, (_, i) => run(i, i === 20 || i === 49 ? { outcome: 'failure', error: XSS_ERROR } : {})) },
    emails: {
      runs: [run(1, { latenessMs: undefined }), run(2, { latenessMs: undefined, outcome: 'cancelled' })],
      samples: Array.from({ length: 120 }, (_, i) => ({ at: new Date(T0 + i * 5_000).toISOString(), processed: i * 7, failed: 0, depth: (i * 5) % 17, inFlight: 1 })),
    },
  },
};

describe('the history on the page rendered from a snapshot', () => {
  let browser: Browser | undefined;
  afterEach(async () => {
    await browser?.close();
    browser = undefined;
  });

  const open = async (width: number) => {
    browser = await launchChromium({ width, height: 800 });
    const page = await browser.context.newPage();
    await page.setContent(renderDashboardPage(snapshot, { title: 't', basePath: '/hosting', readOnly: false, refreshMs: 2 ** 31 - 1 }));
    return page;
  };

  it('draws one point per run and per sample, red dots for failures, and nothing for a unit without runs', async () => {
    const page = await open(1360);
    expect(await chartsOf(page, XSS_NAME)).toEqual([
      { chart: 'duration', points: 50, failed: 2 },
      { chart: 'lateness', points: 50, failed: 0 },
    ]);
    expect(await chartsOf(page, 'emails')).toEqual([
      { chart: 'throughput', points: 119, failed: 0 },
      { chart: 'depth', points: 120, failed: 0 },
    ]);
    expect(await chartsOf(page, 'fresh')).toEqual([]);
    expect((await page.locator('tr[data-service="fresh"] td[data-label="Recent"]').innerText()).trim()).toContain('no runs yet');
    // Escaped: the odd name is text in the row, the drawer and the toggle's data attribute.
    expect(await page.locator('tbody b').count()).toBe(0);
    expect(await page.locator('tr[data-service] .name').first().innerText()).toBe(XSS_NAME);
  });

  it('at 375 px wide, an open drawer fits the screen and shows the runs newest first, errors escaped', async () => {
    const page = await open(375);
    await page.locator('button[data-drawer-toggle]').first().click();
    const drawer = (await drawerOf(page, XSS_NAME))!;
    expect(drawer.visible).toBe(true);
    expect(drawer.outcomes).toHaveLength(50);
    expect(drawer.outcomes[0]).toBe('failure'); // run 49, the newest
    expect(drawer.errors).toEqual([XSS_ERROR, XSS_ERROR]);
    expect(drawer.text).toContain('Late: due by ');
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(fits).toBe(true);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    // The queue's drawer lists its deliveries, the cancelled one as such.
    await page.locator('tr[data-service="emails"] button[data-drawer-toggle]').click();
    expect((await drawerOf(page, 'emails'))!.outcomes).toEqual(['cancelled', 'success']);
  });
});
