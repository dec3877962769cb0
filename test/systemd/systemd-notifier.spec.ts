import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackgroundService, HostingModule } from '../../src/index.js';
import { SystemdNotifier } from '../../src/systemd/systemd-notifier.js';
import { SYSTEMD_NOTIFY_MISSING } from '../../src/systemd/systemd.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { compileHostingApp, sleep, untilAborted, waitFor } from '../support/hosting-app.js';
import { listenForNotifications, type NotifyListener } from './notify-listener.js';

const ENV_KEYS = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'PATH'] as const;

describe('SystemdNotifier', () => {
  let listener: NotifyListener;
  let saved: Record<string, string | undefined>;

  beforeEach(async () => {
    saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
    listener = await listenForNotifications();
    process.env.NOTIFY_SOCKET = listener.socket;
    delete process.env.WATCHDOG_USEC;
    delete process.env.WATCHDOG_PID;
  });

  afterEach(async () => {
    for (const key of ENV_KEYS) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await listener.close();
  });

  describe('when NOTIFY_SOCKET is unset', () => {
    it('is disabled and sends nothing through start and stop', async () => {
      delete process.env.NOTIFY_SOCKET;
      const { app } = await compileHostingApp({});
      await app.init();
      expect(app.get(SystemdNotifier).enabled).toBe(false);
      await app.close();
      await sleep(200);
      expect(listener.notifications).toEqual([]);
    });
  });

  describe('in an HTTP app', () => {
    let app: INestApplication | undefined;
    afterEach(async () => app?.close());

    it('sends READY=1 only once the server listens, then STOPPING=1 at shutdown, from this process', async () => {
      const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot()] })
        .setLogger(new CaptureLogger())
        .compile();
      app = moduleRef.createNestApplication();
      // Read once and removed, so that processes the app starts do not report for the service.
      expect(process.env.NOTIFY_SOCKET).toBeUndefined();
      await app.init();
      await sleep(300);
      expect(listener.states()).toEqual([]);

      await app.listen(0, '127.0.0.1');
      await listener.waitFor((states) => states.includes('READY=1'));
      await app.close();
      app = undefined;
      // onApplicationShutdown waits for STOPPING=1 to be sent: it is there when close() resolves.
      expect(listener.states()).toEqual(['READY=1', 'STOPPING=1']);
      const sent = listener.notifications.filter((n) => !n.assignments.includes('BARRIER=1'));
      expect(sent.map((n) => n.pid)).toEqual([process.pid, process.pid]);
      expect(sent[0]!.assignments).toEqual([`MAINPID=${process.pid}`, 'READY=1']);
    });
  });

  describe('in an application context (worker)', () => {
    it('sends READY=1 once hosted services have started', async () => {
      const { app } = await compileHostingApp({});
      await app.init();
      await listener.waitFor((states) => states.includes('READY=1'));
      await app.close();
      expect(listener.states()).toEqual(['READY=1', 'STOPPING=1']);
    });
  });

  describe('with WatchdogSec (WATCHDOG_USEC)', () => {
    it('pings WATCHDOG=1 at half the interval, and stops pinging while a service is faulted', async () => {
      process.env.WATCHDOG_USEC = '300000'; // 300 ms: a ping every 150 ms
      process.env.WATCHDOG_PID = String(process.pid);
      const crash = new AbortController();

      @BackgroundService({ name: 'Fragile', onError: 'ignore' })
      class Fragile {
        async execute(signal: AbortSignal): Promise<void> {
          await Promise.race([untilAborted(signal), untilAborted(crash.signal)]);
          if (crash.signal.aborted) throw new Error('lost the connection');
        }
      }

      const { app, logger } = await compileHostingApp({ providers: [Fragile] });
      await app.init();
      expect(app.get(SystemdNotifier).watchdogIntervalMs).toBe(150);
      const pings = () => listener.states().filter((s) => s === 'WATCHDOG=1').length;
      await listener.waitFor(() => pings() >= 3);
      expect(listener.states()[0]).toBe('READY=1');

      crash.abort();
      await waitFor(() => logger.find('error', 'not pinging while faulted').length > 0, 10_000, 'the withheld-ping log');
      await sleep(300); // a ping already on its way may still land
      const afterFault = pings();
      await sleep(900); // six intervals
      expect(pings()).toBe(afterFault);
      expect(logger.find('error', 'not pinging while faulted')).toHaveLength(1);
      await app.close();
      expect(listener.states().at(-1)).toBe('STOPPING=1');
    });

    it('does not ping when WATCHDOG_PID names another process', async () => {
      process.env.WATCHDOG_USEC = '200000';
      process.env.WATCHDOG_PID = String(process.pid + 1);
      const { app } = await compileHostingApp({});
      await app.init();
      expect(app.get(SystemdNotifier).watchdogIntervalMs).toBeUndefined();
      await listener.waitFor((states) => states.includes('READY=1'));
      await sleep(500);
      await app.close();
      expect(listener.states()).toEqual(['READY=1', 'STOPPING=1']);
    });
  });

  describe('when systemd-notify is not installed', () => {
    it('logs one warning and the app runs and stops normally', async () => {
      process.env.PATH = fs.mkdtempSync(path.join(os.tmpdir(), 'no-systemd-notify-'));
      process.env.WATCHDOG_USEC = '100000';
      const { app, logger } = await compileHostingApp({});
      await app.init();
      await waitFor(() => logger.find('warn', SYSTEMD_NOTIFY_MISSING()).length > 0, 10_000, 'the warning');
      await sleep(300);
      await app.close();
      expect(logger.find('warn', SYSTEMD_NOTIFY_MISSING())).toHaveLength(1);
      expect(listener.notifications).toEqual([]);
    });
  });
});
