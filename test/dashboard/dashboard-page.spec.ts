/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The page rendered from a registry snapshot, in headless Chromium: the connections of a unit
 * (what the BullMQ backend and exclusive tasks report) as one badge each.
 */
import type { Page } from 'playwright-core';
import type { ServiceStatus } from '../../src/index.js';
import { renderDashboardPage } from '../../src/dashboard/dashboard-page.js';
import type { DashboardSnapshot } from '../../src/dashboard/index.js';
import { launchChromium, type Browser } from './chromium.js';

const XSS = `<img src=x onerror="window.__xss=1">`;
const now = new Date('2030-01-02T03:04:05Z');

const service = (over: Partial<ServiceStatus>): ServiceStatus => ({
  name: 'x',
  kind: 'queue',
  state: 'running',
  runs: 0,
  failures: 0,
  consecutiveFailures: 0,
  missedTicks: 0,
  ...over,
});

const snapshot: DashboardSnapshot = {
  generatedAt: now,
  host: { state: 'running', pid: 4242, uptimeMs: 60_000 },
  services: [
    service({
      name: 'emails',
      backend: 'bullmq',
      depth: 3,
      inFlight: 1,
      connections: [
        { name: 'producer', state: 'up', since: new Date(now.getTime() - 90_000) },
        { name: 'worker', state: 'down', since: new Date(now.getTime() - 12_000), lastError: `connect ECONNREFUSED 127.0.0.1:6379 ${XSS}` },
      ],
    }),
    service({ name: 'Reports.daily', kind: 'periodic', state: 'idle', connections: [{ name: XSS, state: 'connecting', since: now }] }),
    service({ name: 'memory', kind: 'queue', state: 'running', backend: 'memory' }),
  ],
};

describe('renderDashboardPage', () => {
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.context.newPage();
    // A refresh far away: the page is shown as rendered.
    await page.setContent(renderDashboardPage(snapshot, { title: 't', basePath: '/hosting', readOnly: true, refreshMs: 2 ** 31 - 1 }));
  });

  afterAll(() => browser?.close());

  const badges = (service: string) =>
    page.evaluate(
      (service) =>
        [...document.querySelectorAll(`tr[data-service="${service}"] .conn`)].map((el) => ({
          text: (el as HTMLElement).innerText,
          color: getComputedStyle(el).color,
          title: el.getAttribute('title'),
        })),
      service,
    );

  it('shows a badge per connection in the row: green when up, red when down, with the error', async () => {
    const emails = await badges('emails');
    expect(emails.map((b) => b.text)).toEqual(['producer up', 'worker down']);
    expect(emails[0]!.color).toBe('rgb(31, 138, 76)'); // --ok
    expect(emails[1]!.color).toBe('rgb(192, 38, 45)'); // --bad
    expect(emails[1]!.title).toBe('worker: down since 2030-01-02T03:03:53.000Z (12 s ago)');
    const error = await page.locator('tr[data-service="emails"] [data-connection-error="worker"]').innerText();
    expect(error).toBe(`worker: connect ECONNREFUSED 127.0.0.1:6379 ${XSS}`);
    expect(await page.locator('tr[data-service="memory"] .conn').count()).toBe(0);
  });

  it('escapes connection names and errors like everything else', async () => {
    const [connecting] = await badges('Reports.daily');
    expect(connecting!.text).toBe(`${XSS} connecting`);
    expect(connecting!.color).toBe('rgb(161, 92, 0)'); // --warn
    expect(await page.locator('tbody img').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
  });

  it('offers Restart only for a faulted background service while the host runs (HostingRegistry.restart refuses the others)', async () => {
    const services = [
      service({ name: 'faulted', kind: 'background', state: 'faulted', failures: 1 }),
      service({ name: 'running', kind: 'background', state: 'running' }),
      service({ name: 'waiting', kind: 'background', state: 'starting', failures: 1 }),
    ];
    const restartable = async (host: DashboardSnapshot['host']['state']) => {
      const other = await browser!.context.newPage();
      await other.setContent(renderDashboardPage({ ...snapshot, host: { ...snapshot.host, state: host }, services }, { title: 't', basePath: '/hosting', readOnly: false, refreshMs: 2 ** 31 - 1 }));
      const names = await other.evaluate(() => [...document.querySelectorAll<HTMLButtonElement>('button[data-action="restart"]')].map((b) => b.dataset.name));
      await other.close();
      return names;
    };
    expect(await restartable('running')).toEqual(['faulted']);
    expect(await restartable('stopping')).toEqual([]);
  });
});
