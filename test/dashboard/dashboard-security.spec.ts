/// <reference lib="dom" />
/**
 * The dashboard's defences: actions only from the page's own origin (even under a permissive CORS
 * set-up), no error stacks unless the app opts in, guards with dependencies of their own (`imports`).
 */
import {
  Inject,
  Injectable,
  Module,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BackgroundService, HostingModule, HostingRegistry, Periodic } from '../../src/index.js';
import { HostingDashboardModule, type HostingDashboardOptions } from '../../src/dashboard/index.js';
import { DASHBOARD_CROSS_SITE_ACTION, DASHBOARD_FOREIGN_ORIGIN } from '../../src/dashboard/dashboard.messages.js';
import { escapeHtml } from '../../src/dashboard/html.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted, waitFor } from '../support/hosting-app.js';
import { launchChromium, type Browser } from './chromium.js';

@BackgroundService({ name: 'Pump' })
class Pump {
  execute(signal: AbortSignal) {
    return untilAborted(signal);
  }
}

@Injectable()
class Tasks {
  @Periodic({ every: 3_600_000, name: 'Reports.daily' })
  report() {}

  @Periodic({ every: 100, name: 'Flaky.tick' })
  flaky() {
    throw new Error('disk full <on /var>');
  }
}

/**
 * The guard of the README: HTTP Basic authentication, checked by a provider of a module that is
 * not global (only modules importing AuthModule can inject AdminCredentials).
 */
@Injectable()
class AdminCredentials {
  private readonly expected = `Basic ${Buffer.from('admin:let-me-in').toString('base64')}`;

  check(authorization: string | undefined): boolean {
    return authorization === this.expected;
  }
}

@Module({ providers: [AdminCredentials], exports: [AdminCredentials] })
class AuthModule {}

@Injectable()
class AdminGuard implements CanActivate {
  constructor(@Inject(AdminCredentials) private readonly admins: AdminCredentials) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    if (this.admins.check(http.getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization)) return true;
    http.getResponse<{ setHeader(name: string, value: string): void }>().setHeader('WWW-Authenticate', 'Basic realm="hosting"');
    throw new UnauthorizedException();
  }
}

interface Running {
  app: INestApplication;
  url: string;
}

async function startApp(dashboard: HostingDashboardOptions, setup: (app: INestApplication) => void = () => {}): Promise<Running> {
  const moduleRef = await Test.createTestingModule({
    imports: [HostingModule.forRoot({ shutdownTimeoutMs: 2_000 }), HostingDashboardModule.register(dashboard)],
    providers: [Pump, Tasks],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  setup(app);
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

/** A page of another origin (another port of 127.0.0.1) whose script posts a dashboard action. */
async function startForeignSite(actionUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const page = `<!doctype html><title>elsewhere</title><script>
fetch(${JSON.stringify(actionUrl)}, { method: 'POST', credentials: 'include', headers: { 'X-Hosting-Dashboard': '1' } })
  .then(async (r) => { window.__result = { status: r.status, body: await r.text() }; },
        (e) => { window.__result = { error: String(e) }; });
</script>`;
  const server = http.createServer((_request, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('HostingDashboardModule security', () => {
  let running: Running | undefined;
  let browser: Browser | undefined;
  let foreign: { close(): Promise<void> } | undefined;

  afterEach(async () => {
    await browser?.close();
    await foreign?.close();
    await running?.app.close();
    browser = running = foreign = undefined;
  });

  describe('actions (readOnly: false)', () => {
    it('refuses a post from a page of another origin that a permissive CORS set-up lets through, while the page itself still acts', async () => {
      running = await startApp({ readOnly: false }, (app) => app.enableCors({ origin: true, credentials: true }));
      const site = await startForeignSite(`${running.url}/hosting/services/Reports.daily/pause`);
      foreign = site;
      browser = await launchChromium();

      const other = await browser.context.newPage();
      await other.goto(site.url);
      await other.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, undefined, { timeout: 20_000 });
      const result = (await other.evaluate(() => (window as { __result?: unknown }).__result)) as { status?: number; body?: string; error?: string };
      // The CORS preflight passed (the response is readable); the custom header alone got 202 here.
      expect(result.error).toBeUndefined();
      expect(result.status).toBe(403);
      // Chromium calls another port of the same host "same-site": not the page's own origin.
      expect(JSON.parse(result.body!).message).toBe(DASHBOARD_CROSS_SITE_ACTION('same-site'));
      expect(running.app.get(HostingRegistry).get('Reports.daily')!.paused).toBeFalsy();

      // The dashboard's own buttons (same origin) are unaffected by the check and by CORS.
      const own = await browser.context.newPage();
      await own.goto(`${running.url}/hosting`);
      await own.locator('tr[data-service="Reports.daily"] button[data-action="pause"]').click();
      await own.locator('tr[data-service="Reports.daily"] .badge.paused').waitFor({ timeout: 20_000 });
      expect(running.app.get(HostingRegistry).get('Reports.daily')!.paused).toBe(true);
    });

    it('accepts same-origin and header-less (curl) posts, refuses other Sec-Fetch-Site values and foreign Origins', async () => {
      running = await startApp({ readOnly: false });
      const { url } = running;
      const own = url; // what Chromium sends as Origin for the page at `url`
      const post = async (headers: Record<string, string>) => {
        const response = await fetch(`${url}/hosting/services/Reports.daily/trigger`, {
          method: 'POST',
          headers: { 'X-Hosting-Dashboard': '1', ...headers },
        });
        const body = (await response.json()) as { message?: string };
        return { status: response.status, message: body.message };
      };

      expect((await post({})).status).toBe(202); // curl, scripts: no browser headers at all
      expect((await post({ Origin: own })).status).toBe(202);
      expect((await post({ Origin: own, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(202);
      expect((await post({ 'Sec-Fetch-Site': 'none' })).status).toBe(202);

      expect(await post({ 'Sec-Fetch-Site': 'cross-site' })).toEqual({ status: 403, message: DASHBOARD_CROSS_SITE_ACTION('cross-site') });
      expect(await post({ 'Sec-Fetch-Site': 'same-site', Origin: own })).toEqual({ status: 403, message: DASHBOARD_CROSS_SITE_ACTION('same-site') });
      // Browsers that send Origin but no Sec-Fetch-Site.
      expect(await post({ Origin: 'http://127.0.0.1:1' })).toEqual({ status: 403, message: DASHBOARD_FOREIGN_ORIGIN('http://127.0.0.1:1', own) });
      expect(await post({ Origin: 'null' })).toEqual({ status: 403, message: DASHBOARD_FOREIGN_ORIGIN('null', own) });
      // Same host, other scheme: another origin.
      const https = own.replace('http:', 'https:');
      expect(await post({ Origin: https })).toEqual({ status: 403, message: DASHBOARD_FOREIGN_ORIGIN(https, own) });
    });

    it("reads X-Forwarded-Proto only when the app trusts its proxy (Express 'trust proxy')", async () => {
      running = await startApp({ readOnly: false });
      const https = running.url.replace('http:', 'https:');
      const post = () =>
        fetch(`${running!.url}/hosting/services/Reports.daily/trigger`, {
          method: 'POST',
          headers: { 'X-Hosting-Dashboard': '1', Origin: https, 'X-Forwarded-Proto': 'https' },
        });
      // Anyone can send X-Forwarded-Proto: untrusted, it changes nothing.
      expect((await post()).status).toBe(403);
      // A TLS-terminating proxy on loopback the app says it trusts: the page's https origin is its own.
      running.app.getHttpAdapter().getInstance().set('trust proxy', 'loopback');
      expect((await post()).status).toBe(202);
    });
  });

  describe('error stacks', () => {
    async function failedOnce(): Promise<{ stack: string; message: string }> {
      const registry = running!.app.get(HostingRegistry);
      await waitFor(() => registry.get('Flaky.tick')!.lastError !== undefined, 20_000, 'a failure of Flaky.tick');
      const { stack, message } = registry.get('Flaky.tick')!.lastError!;
      expect(stack).toMatch(/\n\s+at /); // the registry has it: what is shown is the dashboard's choice
      return { stack: stack!, message };
    }

    it('are neither on the page nor in status.json by default; the message is', async () => {
      running = await startApp({});
      const { stack, message } = await failedOnce();
      const frame = stack.split('\n')[1]!.trim();

      const status = (await (await fetch(`${running.url}/hosting/status.json`)).json()) as { services: Array<{ name: string; lastError?: object }> };
      const flaky = status.services.find((s) => s.name === 'Flaky.tick')!;
      expect(flaky.lastError).toEqual({ message, at: expect.any(String) });
      expect(JSON.stringify(status)).not.toContain(' at ');

      const page = await (await fetch(`${running.url}/hosting`)).text();
      expect(page).toContain(escapeHtml(message));
      expect(page).not.toContain(escapeHtml(frame));
    });

    it('are on both with showErrorStacks: true', async () => {
      running = await startApp({ showErrorStacks: true });
      const { stack } = await failedOnce();
      const frame = stack.split('\n')[1]!.trim();

      const status = (await (await fetch(`${running.url}/hosting/status.json`)).json()) as { services: Array<{ name: string; lastError?: { stack?: string } }> };
      expect(status.services.find((s) => s.name === 'Flaky.tick')!.lastError!.stack).toContain(frame);
      expect(await (await fetch(`${running.url}/hosting`)).text()).toContain(escapeHtml(frame));
    });
  });

  describe('guards with dependencies', () => {
    it('resolves a guard that injects a provider of a module given in imports; the page works through it in Chromium', async () => {
      running = await startApp({ guards: [AdminGuard], imports: [AuthModule], readOnly: false, refreshMs: 300 });
      const basic = (password: string) => ({ Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` });
      const get = (route: string, headers: Record<string, string> = {}) => fetch(`${running!.url}/hosting${route}`, { headers });
      const refused = await get('');
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Basic realm="hosting"');
      expect((await get('/status.json', basic('wrong'))).status).toBe(401);
      expect((await get('/status.json', basic('let-me-in'))).status).toBe(200);
      const act = (headers: Record<string, string> = {}) =>
        fetch(`${running!.url}/hosting/services/Reports.daily/pause`, { method: 'POST', headers: { 'X-Hosting-Dashboard': '1', ...headers } });
      expect((await act()).status).toBe(401);
      expect(running.app.get(HostingRegistry).get('Reports.daily')!.paused).toBeFalsy();

      // A browser asks for the password once; the page's refreshes and buttons then carry it.
      browser = await launchChromium(undefined, { username: 'admin', password: 'let-me-in' });
      const page = await browser.context.newPage();
      expect((await page.goto(`${running.url}/hosting`))?.status()).toBe(200);
      await page.waitForFunction(() => Number(document.body.dataset.refreshes ?? 0) >= 1, undefined, { timeout: 20_000 });
      expect(await page.locator('#refresh-status').textContent()).toBe('live');
      await page.locator('tr[data-service="Reports.daily"] button[data-action="pause"]').click();
      await page.locator('tr[data-service="Reports.daily"] .badge.paused').waitFor({ timeout: 20_000 });
      expect(running.app.get(HostingRegistry).get('Reports.daily')!.paused).toBe(true);
    });

    it('without imports, Nest cannot build such a guard (what the option is for)', async () => {
      await expect(
        Test.createTestingModule({
          imports: [HostingModule.forRoot(), HostingDashboardModule.register({ guards: [AdminGuard] })],
        })
          .setLogger(new CaptureLogger())
          .compile(),
      ).rejects.toThrow(/AdminGuard/);
    });
  });
});
