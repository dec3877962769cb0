import { Injectable, Scope } from '@nestjs/common';
import {
  BackgroundService,
  HostLifetime,
  HostingRegistry,
} from '../../src/index.js';
import {
  BACKGROUND_SERVICE_NOT_SINGLETON,
  MISSING_EXECUTE,
  NO_SHUTDOWN_HOOKS,
  RESTARTS_EXHAUSTED,
  SERVICE_FAULTED,
  SHUTDOWN_ABANDONED,
} from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { compileHostingApp, sleep, startHostingApp, untilAborted, waitFor } from '../support/hosting-app.js';

// Restart backoff runs on virtual time (exact restart instants); start and stop tests stay on the
// system clock: the shutdown deadline is a real timer, and app.close() never waits for virtual time.
const T0 = Date.parse('2026-06-01T00:00:00.000Z');

describe('@BackgroundService', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  describe('when the app starts', () => {
    it('does not run execute inline, even code before its first await, so init() is not delayed', async () => {
      const calls: string[] = [];
      @BackgroundService()
      class BusyStart {
        async execute(signal: AbortSignal) {
          calls.push('execute');
          const until = Date.now() + 1_000;
          while (Date.now() < until); // synchronous work before the first await
          await untilAborted(signal);
        }
      }
      const { app } = await compileHostingApp({ providers: [BusyStart] });
      const t0 = performance.now();
      await app.init();
      const initMs = performance.now() - t0;
      expect(calls).toEqual([]);
      expect(initMs).toBeLessThan(1_000);
      await waitFor(() => calls.length === 1, 10_000, 'execute to start');
      expect(app.get(HostingRegistry).get('BusyStart')).toMatchObject({ kind: 'background', state: 'running', runs: 1 });
      await app.close();
    });

    it('resolves HostLifetime.started after every service was started', async () => {
      @BackgroundService({ name: 'pump' })
      class Pump {
        async execute(signal: AbortSignal) {
          await untilAborted(signal);
        }
      }
      const { app } = await compileHostingApp({ providers: [Pump] });
      const lifetime = app.get(HostLifetime);
      let started = false;
      void lifetime.started.then(() => (started = true));
      await sleep(20);
      expect(started).toBe(false);
      await app.init();
      await lifetime.started;
      expect(lifetime.isRunning).toBe(true);
      await app.close();
      expect(lifetime.isRunning).toBe(false);
    });
  });

  describe('when the app stops', () => {
    it('aborts the signal and waits for execute to settle', async () => {
      const events: string[] = [];
      @BackgroundService()
      class Draining {
        async execute(signal: AbortSignal) {
          await untilAborted(signal);
          events.push(`aborted:${String(signal.reason)}`);
          await sleep(150); // cleanup after the signal
          events.push('finished');
        }
      }
      const { app } = await startHostingApp({ providers: [Draining] });
      await waitFor(() => app.get(HostingRegistry).get('Draining')?.state === 'running');
      await app.close();
      expect(events).toEqual(['aborted:the application is closing', 'finished']);
      expect(app.get(HostingRegistry).get('Draining')?.state).toBe('stopped');
    });

    it('stops waiting at shutdownTimeoutMs and names every service that did not stop, in one line', async () => {
      @BackgroundService()
      class Stubborn {
        execute() {
          return new Promise<void>(() => undefined); // ignores its signal forever
        }
      }
      @BackgroundService()
      class AlsoStubborn {
        execute() {
          return new Promise<void>(() => undefined);
        }
      }
      @BackgroundService()
      class Polite {
        async execute(signal: AbortSignal) {
          await untilAborted(signal);
        }
      }
      const { app, logger } = await startHostingApp({ providers: [Stubborn, AlsoStubborn, Polite], hosting: { shutdownTimeoutMs: 300 } });
      await sleep(20);
      const t0 = Date.now();
      await app.close();
      const closeMs = Date.now() - t0;
      expect(closeMs).toBeGreaterThanOrEqual(290);
      expect(closeMs).toBeLessThan(5_000);
      const lines = logger.find('error', 'Shutdown deadline');
      expect(lines).toHaveLength(1);
      expect(lines[0].message).toContain(SHUTDOWN_ABANDONED(300, ['Stubborn', 'AlsoStubborn']));
    });

    it('awaits all services together within one budget, not one budget each', async () => {
      const services = [1, 2, 3, 4].map((i) => {
        @BackgroundService({ name: `slow-${i}` })
        class Slow {
          async execute(signal: AbortSignal) {
            await untilAborted(signal);
            await sleep(500);
          }
        }
        return Slow;
      });
      const { app, logger } = await startHostingApp({ providers: services, hosting: { shutdownTimeoutMs: 5_000 } });
      await sleep(20);
      const t0 = Date.now();
      await app.close();
      expect(Date.now() - t0).toBeLessThan(1_500); // 4 × 500 ms would be 2 s if awaited one by one
      expect(logger.errors()).toEqual([]);
    });

    it('calls execute exactly once, with an aborted signal, when the stop comes before its turn', async () => {
      const seen: boolean[] = [];
      @BackgroundService()
      class Late {
        async execute(signal: AbortSignal) {
          seen.push(signal.aborted);
        }
      }
      const { app } = await compileHostingApp({ providers: [Late] });
      await app.init();
      await app.close(); // before the event loop gave execute its turn
      await sleep(20);
      expect(seen).toEqual([true]);
    });
  });

  describe('when execute fails', () => {
    it("with onError 'ignore': logs once with name and stack, marks it faulted, the app goes on", async () => {
      @BackgroundService({ onError: 'ignore' })
      class Flaky {
        async execute() {
          await sleep(5);
          throw new Error('disk on fire');
        }
      }
      const { app, logger } = await startHostingApp({ providers: [Flaky] });
      await waitFor(() => app.get(HostingRegistry).get('Flaky')?.state === 'faulted');
      const status = app.get(HostingRegistry).get('Flaky')!;
      expect(status).toMatchObject({ failures: 1, consecutiveFailures: 1, runs: 1 });
      expect(status.lastError?.message).toBe('disk on fire');
      const logged = logger.find('error', 'Flaky');
      expect(logged).toHaveLength(1);
      expect(logged[0].message).toBe(SERVICE_FAULTED('Flaky', 'ignore'));
      expect(logged[0].details).toContain('disk on fire');
      expect(logged[0].details).toMatch(/at .*execute/);
      expect(app.get(HostLifetime).stopping.aborted).toBe(false);
      expect(process.exitCode).toBeUndefined();
      await app.close();
    });

    it('a synchronous throw is handled the same way', async () => {
      @BackgroundService({ onError: 'ignore' })
      class SyncThrow {
        execute(): Promise<void> {
          throw new Error('sync');
        }
      }
      const { app } = await startHostingApp({ providers: [SyncThrow] });
      await waitFor(() => app.get(HostingRegistry).get('SyncThrow')?.state === 'faulted');
      await app.close();
    });

    it("with onError 'restart': restarts with backoff, then escalates to stopHost", async () => {
      const time = new VirtualTime({ now: T0 });
      const startedAt: number[] = [];
      let starts = 0;
      @BackgroundService({ onError: 'restart', restart: { maxRestarts: 2, initialDelayMs: 20, maxDelayMs: 1_000 } })
      class Crashy {
        async execute() {
          starts++;
          startedAt.push(time.monotonic());
          throw new Error(`crash ${starts}`);
        }
      }
      const { app, logger } = await startHostingApp({ providers: [Crashy], hosting: { timeProvider: time } });
      const lifetime = app.get(HostLifetime);
      await time.advance(59);
      expect(startedAt).toEqual([0, 20]); // backoff 20 ms, then 40 ms
      expect(lifetime.stopping.aborted).toBe(false);
      await time.advance(1);
      expect(startedAt).toEqual([0, 20, 60]);
      expect(lifetime.stopping.aborted).toBe(true);
      expect(starts).toBe(3);
      expect(logger.find('warn', 'restarts in')).toHaveLength(2);
      expect(logger.find('error', RESTARTS_EXHAUSTED('Crashy', 2))).toHaveLength(1);
      // no shutdown hooks in this in-process app: the host says so, stops hosted work, sets the exit code
      expect(logger.find('error', NO_SHUTDOWN_HOOKS())).toHaveLength(1);
      expect(process.exitCode).toBe(1);
      expect(app.get(HostingRegistry).get('Crashy')).toMatchObject({ state: 'faulted', failures: 3, runs: 3 });
      await app.close();
    });

    it("with onError 'restart': a service that recovers keeps running", async () => {
      const time = new VirtualTime({ now: T0 });
      const startedAt: number[] = [];
      let starts = 0;
      @BackgroundService({ onError: 'restart', restart: { initialDelayMs: 10 } })
      class Recovering {
        async execute(signal: AbortSignal) {
          starts++;
          startedAt.push(time.monotonic());
          if (starts < 3) throw new Error('not yet');
          // runs until stopped; it waits on virtual time so that advance() does not wait for it
          while (!signal.aborted) await time.delay(60_000, signal).catch(() => undefined);
        }
      }
      const { app } = await startHostingApp({ providers: [Recovering], hosting: { timeProvider: time } });
      await time.advance(1_000);
      expect(startedAt).toEqual([0, 10, 30]);
      expect(app.get(HostingRegistry).get('Recovering')).toMatchObject({ state: 'running', failures: 2 });
      expect(app.get(HostLifetime).stopping.aborted).toBe(false);
      await app.close();
      expect(app.get(HostingRegistry).get('Recovering')?.state).toBe('stopped');
    });

    it('uses HostingOptions.onServiceError as the default policy', async () => {
      @BackgroundService()
      class DefaultPolicy {
        async execute() {
          throw new Error('boom');
        }
      }
      const { app } = await startHostingApp({ providers: [DefaultPolicy], hosting: { onServiceError: 'ignore' } });
      await waitFor(() => app.get(HostingRegistry).get('DefaultPolicy')?.state === 'faulted');
      expect(app.get(HostLifetime).stopping.aborted).toBe(false);
      await app.close();
    });

    it('a throw caused by the stop signal is a normal stop, not a failure', async () => {
      @BackgroundService()
      class Cancels {
        async execute(signal: AbortSignal) {
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        }
      }
      const { app, logger } = await startHostingApp({ providers: [Cancels] });
      await sleep(10);
      await app.close();
      expect(logger.errors()).toEqual([]);
      expect(app.get(HostingRegistry).get('Cancels')).toMatchObject({ state: 'stopped', failures: 0 });
    });
  });

  describe('when the declaration is wrong', () => {
    it('fails as the class is defined when it has no execute method', () => {
      expect(() => {
        // @ts-expect-error -- a class without execute(signal) does not compile; from JavaScript it fails here
        @BackgroundService()
        class NoExecute {}
        return NoExecute;
      }).toThrow(MISSING_EXECUTE('NoExecute', undefined));
    });

    it('fails at start-up when the service is request-scoped (it would never be a single long-running instance)', async () => {
      @Injectable({ scope: Scope.REQUEST })
      class PerRequest {}
      @BackgroundService()
      class NeedsScoped {
        constructor(readonly dep: PerRequest) {}
        async execute() {}
      }
      const { app } = await compileHostingApp({ providers: [PerRequest, NeedsScoped] });
      await expect(app.init()).rejects.toThrow(BACKGROUND_SERVICE_NOT_SINGLETON('NeedsScoped'));
    });
  });
});
