/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { Injectable, type INestApplication, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  InjectQueue,
  Periodic,
  QueueWorker,
  WorkQueue,
  type JobContext,
} from '../../src/index.js';
import { HostingDashboardModule, type HostingDashboardOptions } from '../../src/dashboard/index.js';
import { INVALID_DASHBOARD_OPTION, UNKNOWN_DASHBOARD_ACTION } from '../../src/dashboard/dashboard.messages.js';
import { UNKNOWN_OPTION, UNKNOWN_SERVICE, WRONG_KIND } from '../../src/hosting.messages.js';
import { describeDuration } from '../../src/validation/options-validator.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted, waitFor } from '../support/hosting-app.js';
import { launchChromium, type Browser } from './chromium.js';

const XSS_NAME = `<img src=x onerror="window.__xss='name'">`;
const XSS_ERROR = `<script>window.__xss='error'</script> & <b>not bold</b>`;

@BackgroundService({ name: 'OutboxPump' })
class OutboxPump {
  execute(signal: AbortSignal) {
    return untilAborted(signal);
  }
}

@Injectable()
class Tasks {
  @Periodic({ every: 3_600_000, name: XSS_NAME })
  never() {}

  @Periodic({ every: 150, name: 'Flaky.tick' })
  flaky() {
    throw new Error(XSS_ERROR);
  }

  @Periodic({ every: 3_600_000, name: 'Reports.daily' })
  report() {}
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
}

async function startApp(dashboard: HostingDashboardOptions = {}, globalPrefix?: string, providers: Provider[] = []): Promise<Running> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      HostingModule.forRoot({ shutdownTimeoutMs: 2_000 }),
      HostingModule.registerQueue({ name: 'emails' }),
      HostingDashboardModule.register(dashboard),
    ],
    providers: [OutboxPump, Tasks, EmailSender, ...providers],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  if (globalPrefix) app.setGlobalPrefix(globalPrefix);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as { port: number }).port;
  return { app, url: `http://127.0.0.1:${port}` };
}

/** Text of one cell of the service's row, by column heading. */
async function cell(page: Page, service: string, column: string): Promise<string> {
  return page.evaluate(
    ({ service, column }) => {
      const headings = [...document.querySelectorAll('thead th')].map((th) => th.textContent!.trim());
      const row = [...document.querySelectorAll('tbody tr')].find((tr) => (tr as HTMLElement).dataset.service === service);
      return row ? (row.children[headings.indexOf(column)] as HTMLElement).innerText.trim() : '(no row)';
    },
    { service, column },
  );
}

describe('HostingDashboardModule', () => {
  let running: Running | undefined;
  let browser: Browser | undefined;

  beforeEach(() => {
    gate.closed = new Promise<void>((resolve) => (gate.open = resolve));
  });

  afterEach(async () => {
    gate.open();
    await browser?.close();
    await running?.app.close();
    browser = running = undefined;
  });

  async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
    browser ??= await launchChromium();
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    return { page, problems };
  }

  it('serves the registry as JSON at /<path>/status.json', async () => {
    running = await startApp();
    const emails = running.app.get(EmailSender).emails;
    await emails.enqueue({ to: 'a@example.com' });
    await emails.enqueue({ to: 'b@example.com' });
    await waitFor(() => emails.depth === 1, 10_000, 'one email in flight, one queued');

    const response = await fetch(`${running.url}/hosting/status.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as any;
    expect(body.host).toEqual({ state: 'running', pid: process.pid, uptimeMs: expect.any(Number) });
    expect(Date.parse(body.generatedAt)).not.toBeNaN();
    const byName = Object.fromEntries(body.services.map((s: { name: string }) => [s.name, s]));
    expect(Object.keys(byName).sort()).toEqual(['Flaky.tick', 'OutboxPump', 'Reports.daily', XSS_NAME, 'emails'].sort());
    expect(byName.OutboxPump).toMatchObject({ kind: 'background', state: 'running' });
    expect(byName['Reports.daily']).toMatchObject({ kind: 'periodic', state: 'idle', schedule: 'every 3600000 ms', nextRunAt: expect.any(String) });
    expect(byName.emails).toMatchObject({ kind: 'queue', depth: 1, inFlight: 1 });
  });

  it('renders every service in headless Chromium, escapes names and errors, and takes a screenshot', async () => {
    running = await startApp();
    const emails = running.app.get(EmailSender).emails;
    for (const to of ['a@example.com', 'b@example.com', 'c@example.com']) await emails.enqueue({ to });
    const { page, problems } = await openPage(`${running.url}/hosting`);

    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-service]').length === 5);
    expect(await page.title()).toBe('nest-hosting · hosted services');
    expect(await cell(page, 'OutboxPump', 'Kind')).toBe('background');
    expect(await cell(page, 'OutboxPump', 'State')).toBe('running');
    expect(await cell(page, 'Reports.daily', 'Next run')).toMatch(/^in (59 min|1 h)/);
    expect(await cell(page, 'emails', 'Queue')).toMatch(/^2 queued\s+1 in flight · 0 done$/);

    // The task name is text, not markup.
    expect(await cell(page, XSS_NAME, 'Service')).toContain(XSS_NAME);
    expect(await page.locator('tbody img, tbody script, tbody b').count()).toBe(0);
    // The error, once there, is shown as text as well.
    await page.waitForFunction(() => /not bold/.test(document.querySelector('tr[data-service="Flaky.tick"]')?.textContent ?? ''));
    expect(await cell(page, 'Flaky.tick', 'Last error')).toContain(XSS_ERROR);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();

    const screenshot = path.join(os.tmpdir(), `nest-hosting-dashboard-${process.pid}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = fs.readFileSync(screenshot);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(1360); // width, from the IHDR chunk
    expect(png.length).toBeGreaterThan(20_000);
    fs.rmSync(screenshot);
    // The inline script and style are allowed by the page's own CSP: nothing was blocked.
    expect(problems).toEqual([]);
  });

  it('refreshes itself in place, without reloading the page', async () => {
    running = await startApp({ refreshMs: 300 });
    const { page, problems } = await openPage(`${running.url}/hosting`);
    await page.evaluate(() => ((window as { __marker?: number }).__marker = 42));
    // The Runs cell is "<runs>", with "<n> missed" below it once a slot was missed (a busy machine).
    const runs = async () => Number.parseInt(await cell(page, 'Flaky.tick', 'Runs'), 10);
    const before = await runs();
    expect(before).not.toBeNaN();
    await page.waitForFunction(() => Number(document.body.dataset.refreshes ?? 0) >= 2, undefined, { timeout: 20_000 });
    const after = await runs();
    expect(after).toBeGreaterThan(before);
    expect(await page.evaluate(() => (window as { __marker?: number }).__marker)).toBe(42);
    expect(await page.locator('#refresh-status').textContent()).toBe('live');
    expect(problems).toEqual([]);
  });

  describe('when read-only (the default)', () => {
    it('shows no actions and serves none', async () => {
      running = await startApp();
      const { page } = await openPage(`${running.url}/hosting`);
      expect(await page.locator('button[data-action]').count()).toBe(0);
      expect(await page.locator('thead th', { hasText: 'Actions' }).count()).toBe(0);
      const response = await fetch(`${running.url}/hosting/services/Reports.daily/trigger`, {
        method: 'POST',
        headers: { 'X-Hosting-Dashboard': '1' },
      });
      expect(response.status).toBe(404);
    });
  });

  describe('with readOnly: false, under a global prefix and a nested path', () => {
    it('runs, pauses and resumes tasks from the page', async () => {
      running = await startApp({ readOnly: false, path: '/ops/hosting/', refreshMs: 500 }, 'api');
      const { page, problems } = await openPage(`${running.url}/api/ops/hosting`);
      expect(await page.getAttribute('a[href$="status.json"]', 'href')).toBe('/api/ops/hosting/status.json');
      expect(await cell(page, 'Reports.daily', 'Runs')).toBe('0');

      await page.locator('tr[data-service="Reports.daily"] button[data-action="trigger"]').click();
      await page.waitForFunction(() => document.querySelector('tr[data-service="Reports.daily"] td:nth-child(4)')?.textContent?.trim() === '1');

      await page.locator('tr[data-service="Reports.daily"] button[data-action="pause"]').click();
      await page.locator('tr[data-service="Reports.daily"] .badge.paused').waitFor();
      expect(await cell(page, 'Reports.daily', 'Next run')).toBe('—');
      await page.locator('tr[data-service="Reports.daily"] button[data-action="resume"]').click();
      await page.locator('tr[data-service="Reports.daily"] button[data-action="pause"]').waitFor();
      expect(await cell(page, 'Reports.daily', 'Next run')).toMatch(/^in /);
      expect(await page.locator('tr[data-service="OutboxPump"] button[data-action]').count()).toBe(0);
      expect(problems).toEqual([]);
    });

    it('refuses actions without the dashboard header (no cross-site posts); 404 for unknown names, 409 for the wrong kind', async () => {
      running = await startApp({ readOnly: false });
      const post = async (name: string, action: string, headers: Record<string, string> = { 'X-Hosting-Dashboard': '1' }) => {
        const response = await fetch(`${running!.url}/hosting/services/${encodeURIComponent(name)}/${action}`, { method: 'POST', headers });
        return { status: response.status, message: ((await response.json()) as { message?: string }).message };
      };
      expect((await post('Reports.daily', 'trigger', {})).status).toBe(403);
      const known = running.app.get(HostingRegistry).list().map((s) => s.name);
      expect(await post('Nope', 'trigger')).toEqual({ status: 404, message: UNKNOWN_SERVICE('trigger', 'Nope', known) });
      expect(await post('Nope', 'pause')).toEqual({ status: 404, message: UNKNOWN_SERVICE('pause', 'Nope', known) });
      expect(await post('Reports.daily', 'explode')).toEqual({ status: 404, message: UNKNOWN_DASHBOARD_ACTION('explode', ['trigger', 'pause', 'resume', 'restart']) });
      expect(await post('OutboxPump', 'trigger')).toEqual({ status: 409, message: WRONG_KIND('trigger', 'OutboxPump', 'background', 'periodic') });
      expect(await post('OutboxPump', 'resume')).toEqual({ status: 409, message: WRONG_KIND('resume', 'OutboxPump', 'background', 'periodic and queue') });
      expect(await post('emails', 'trigger')).toEqual({ status: 409, message: WRONG_KIND('trigger', 'emails', 'queue', 'periodic') });
      expect((await post(XSS_NAME, 'pause')).status).toBe(202);
      expect((await post('Reports.daily', 'trigger')).status).toBe(202);
    });
  });

  describe('options', () => {
    const KNOWN = ['path', 'readOnly', 'refreshMs', 'title', 'guards', 'imports', 'showErrorStacks', 'history'];
    const register = (options: unknown) => () => HostingDashboardModule.register(options as HostingDashboardOptions);

    it('rejects a bad value with a message that quotes it', () => {
      expect(register({ path: '../etc' })).toThrow(INVALID_DASHBOARD_OPTION('path', 'a URL path such as "hosting" or "admin/hosting"', '../etc'));
      expect(register({ readOnly: 'no' })).toThrow(INVALID_DASHBOARD_OPTION('readOnly', 'a boolean', 'no'));
      expect(register({ showErrorStacks: 1 })).toThrow(INVALID_DASHBOARD_OPTION('showErrorStacks', 'a boolean', 1));
      expect(register({ guards: [42] })).toThrow(INVALID_DASHBOARD_OPTION('guards', 'an array of guards (classes or objects with canActivate)', [42]));
      expect(register({ imports: 'AuthModule' })).toThrow(INVALID_DASHBOARD_OPTION('imports', 'an array of modules', 'AuthModule'));
      expect(register({ refreshMs: 10 })).toThrow(TypeError);
      expect(register({ refreshMs: 10 })).toThrow(/^HostingDashboardModule\.register: option "refreshMs" must be .*, got 10$/);
    });

    it('bounds refreshMs by the longest browser timer, 2^31−1 ms (above it setTimeout fires at once, in a loop)', () => {
      const expected = describeDuration({ min: 250, max: 2 ** 31 - 1 });
      expect(register({ refreshMs: 2 ** 31 })).toThrow(INVALID_DASHBOARD_OPTION('refreshMs', expected, 2 ** 31));
      expect(register({ refreshMs: Infinity })).toThrow(INVALID_DASHBOARD_OPTION('refreshMs', expected, Infinity));
      expect(register({ refreshMs: 249 })).toThrow(INVALID_DASHBOARD_OPTION('refreshMs', expected, 249));
      expect(register({ refreshMs: 2 ** 31 - 1 })).not.toThrow();
      expect(register({ refreshMs: 250 })).not.toThrow();
    });

    it('refuses an unknown key, naming the closest known one', () => {
      expect(register({ refreshMS: 500 })).toThrow(new TypeError(UNKNOWN_OPTION('HostingDashboardModule.register', 'refreshMS', 'refreshMs', KNOWN)));
      expect(register({ guard: [] })).toThrow(/unknown option "guard"; did you mean "guards"\?/);
      expect(register(null)).toThrow(/^HostingDashboardModule\.register: options must be an object, got null$/);
    });
  });
});
