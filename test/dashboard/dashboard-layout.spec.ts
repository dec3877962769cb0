/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The page in headless Chromium at phone and tablet widths (measured layout: nothing is cut off,
 * every action is reachable), and the "Running now" count (an idle queue is not running).
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { BackgroundService, HostingModule, HostingRegistry, InjectQueue, Periodic, QueueWorker, WorkQueue, type JobContext } from '../../src/index.js';
import { HostingDashboardModule } from '../../src/dashboard/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted, waitFor } from '../support/hosting-app.js';
import { launchChromium, type Browser } from './chromium.js';

const LONG_ERROR = 'connect ECONNREFUSED 127.0.0.1:5432 — the catalog database did not answer within 30000 ms (pool "catalog-primary")';
const fragile = { calls: 0 };

@BackgroundService({ name: 'catalog.sync', onError: 'ignore' })
class CatalogSync {
  async execute(signal: AbortSignal) {
    if (++fragile.calls === 1) throw new Error(LONG_ERROR);
    await untilAborted(signal);
  }
}

@BackgroundService({ name: 'outbox.pump' })
class OutboxPump {
  execute(signal: AbortSignal) {
    return untilAborted(signal);
  }
}

@Injectable()
class Tasks {
  @Periodic({ every: 3_600_000, name: 'reports.daily' })
  report() {}

  @Periodic({ every: 60_000, name: 'warehouse.inventory-reconciliation.nightly-full-rebuild' })
  reconcile() {}
}

const gate = { open: () => {}, closed: Promise.resolve() };

@Injectable()
class EmailSender {
  constructor(@InjectQueue('emails') readonly emails: WorkQueue<{ to: string }>) {}

  @QueueWorker('emails')
  async send(_job: { to: string }, ctx: JobContext) {
    await Promise.race([gate.closed, untilAborted(ctx.signal)]);
  }
}

interface Running {
  app: INestApplication;
  url: string;
  registry: HostingRegistry;
}

async function startApp(): Promise<Running> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      HostingModule.forRoot({ shutdownTimeoutMs: 2_000 }),
      HostingModule.registerQueue({ name: 'emails' }),
      // A refresh far away: the page is measured as loaded (reloads are explicit).
      HostingDashboardModule.register({ readOnly: false, refreshMs: 2 ** 31 - 1 }),
    ],
    providers: [CatalogSync, OutboxPump, Tasks, EmailSender],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const registry = app.get(HostingRegistry);
  await waitFor(() => registry.get('catalog.sync')?.state === 'faulted' && registry.get('outbox.pump')?.state === 'running', 20_000, 'the services to start');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`, registry };
}

/** Elements of the page (header and main) whose box reaches past the left or right edge of the viewport. */
function measure(page: Page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const outside = [...document.querySelectorAll('header, header *, main, main *')]
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && (box.left < -0.5 || box.right > width + 0.5);
      })
      .map((el) => `${el.tagName.toLowerCase()}.${el.className} "${(el.textContent ?? '').trim().slice(0, 40)}"`);
    return { scrollWidth: document.documentElement.scrollWidth, width, innerWidth: window.innerWidth, outside };
  });
}

/** For every action button: scrolled into view, is it within the viewport and the element at its centre (not covered)? */
function reachableButtons(page: Page) {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLButtonElement>('button[data-action]')].map((button) => {
      button.scrollIntoView({ block: 'center', inline: 'nearest' });
      const box = button.getBoundingClientRect();
      const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      return {
        button: `${button.dataset.name}/${button.dataset.action}`,
        inside: box.left >= 0 && box.right <= document.documentElement.clientWidth && box.top >= 0 && box.bottom <= window.innerHeight,
        onTop: hit?.closest('button') === button,
      };
    }),
  );
}

// Both describes: a fresh app (and browser) per test, the in-flight gate closed, Fragile's count reset.
let running: Running | undefined;
let browser: Browser | undefined;

beforeEach(() => {
  fragile.calls = 0;
  gate.closed = new Promise<void>((resolve) => (gate.open = resolve));
});

afterEach(async () => {
  gate.open();
  await browser?.close();
  await running?.app.close();
  browser = running = undefined;
});

describe('the dashboard at small widths', () => {
  it.each([375, 420])('at %i px wide, shows every service as a card: nothing cut off, every action reachable', async (width) => {
    running = await startApp();
    const { registry } = running;
    await running.app.get(EmailSender).emails.enqueue({ to: 'a@example.com' });
    browser = await launchChromium({ width, height: 800 });
    const page = await browser.context.newPage();
    await page.goto(`${running.url}/hosting`);

    const layout = await measure(page);
    expect(layout.innerWidth).toBe(width);
    expect(layout.outside).toEqual([]);
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.width);
    // Cards: no table heading; each value carries its own.
    expect(await page.locator('thead').isVisible()).toBe(false);
    const label = await page.evaluate(() => getComputedStyle(document.querySelector('tr[data-service="emails"] td:nth-child(2)')!, '::before').content);
    expect(label).toBe('"Kind"');

    const buttons = await reachableButtons(page);
    expect(buttons.map((b) => b.button).sort()).toEqual(
      [
        'catalog.sync/restart',
        'emails/pause',
        'reports.daily/pause',
        'reports.daily/trigger',
        'warehouse.inventory-reconciliation.nightly-full-rebuild/pause',
        'warehouse.inventory-reconciliation.nightly-full-rebuild/trigger',
      ].sort(),
    );
    expect(buttons.filter((b) => !b.inside || !b.onTop)).toEqual([]);

    // The faulted service's Restart button works from the phone.
    await page.locator('tr[data-service="catalog.sync"] button[data-action="restart"]').click();
    await waitFor(() => registry.get('catalog.sync')?.state === 'running', 20_000, 'catalog.sync to run again');
    await page.locator('tr[data-service="catalog.sync"] .badge.state-running').waitFor({ timeout: 20_000 });
    expect(await page.locator('tr[data-service="catalog.sync"] button[data-action]').count()).toBe(0);
    expect(fragile.calls).toBe(2);
  });

  it('at 800 px wide, the table scrolls inside its box with the service names pinned, and every action is reachable', async () => {
    running = await startApp();
    browser = await launchChromium({ width: 800, height: 700 });
    const page = await browser.context.newPage();
    await page.goto(`${running.url}/hosting`);

    const layout = await measure(page);
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.width);
    const box = await page.evaluate(() => {
      const wrap = document.querySelector('.table-wrap')!;
      const overflows = wrap.scrollWidth > wrap.clientWidth;
      wrap.scrollLeft = wrap.scrollWidth;
      const edge = wrap.getBoundingClientRect();
      const name = document.querySelector('tr[data-service="reports.daily"] td:first-child')!.getBoundingClientRect();
      const actions = [...document.querySelectorAll('td.actions')].map((td) => td.getBoundingClientRect());
      return {
        overflows,
        scrolled: wrap.scrollLeft > 0,
        pinned: Math.abs(name.left - edge.left) <= 2,
        actionsVisible: actions.every((a) => a.left >= edge.left && a.right <= edge.right + 0.5),
      };
    });
    expect(box).toEqual({ overflows: true, scrolled: true, pinned: true, actionsVisible: true });
    expect((await reachableButtons(page)).filter((b) => !b.inside || !b.onTop)).toEqual([]);

    await page.locator('tr[data-service="reports.daily"] button[data-action="pause"]').click();
    await waitFor(() => running!.registry.get('reports.daily')?.paused === true, 20_000, 'reports.daily to pause');
  });
});

describe('"Running now"', () => {
  it('counts a queue only while items are in flight (an idle queue is shown idle), a service while it runs, not a faulted one', async () => {
    running = await startApp();
    const { registry } = running;
    browser = await launchChromium();
    const page = await browser.context.newPage();
    const look = async () => {
      await page.goto(`${running!.url}/hosting`);
      return {
        runningNow: (await page.locator('[data-count="running"]').innerText()).trim(),
        queue: (await page.locator('tr[data-service="emails"] .badge[class*="state-"]').innerText()).trim(),
      };
    };

    // outbox.pump runs; catalog.sync is faulted; the periodic tasks wait for their ticks; the queue is empty.
    expect(await look()).toEqual({ runningNow: '1', queue: 'idle' });
    // status.json keeps the registry's word: the queue is started.
    const status = (await (await fetch(`${running.url}/hosting/status.json`)).json()) as { services: Array<{ name: string; state: string }> };
    expect(status.services.find((s) => s.name === 'emails')).toMatchObject({ state: 'running', inFlight: 0 });

    const emails = running.app.get(EmailSender).emails;
    await emails.enqueue({ to: 'a@example.com' });
    await waitFor(() => registry.get('emails')?.inFlight === 1, 20_000, 'an email in flight');
    expect(await look()).toEqual({ runningNow: '2', queue: 'running' });

    gate.open();
    await waitFor(() => registry.get('emails')?.processed === 1 && registry.get('emails')?.inFlight === 0, 20_000, 'the email sent');
    expect(await look()).toEqual({ runningNow: '1', queue: 'idle' });
  });
});
