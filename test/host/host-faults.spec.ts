import { Injectable } from '@nestjs/common';
import { setTimeout as delay } from 'node:timers/promises';
import { BackgroundService, HostingModule, HostingRegistry, Periodic, ThrownValueError, type TickContext } from '../../src/index.js';
import {
  INVALID_HOSTING_OPTION,
  INVALID_PERIOD,
  NO_SHUTDOWN_HOOKS,
  SERVICE_FAILED_WHILE_STOPPING,
  SHUTDOWN_ABANDONED,
  TASK_FAILED,
} from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { sleep, startHostingApp, untilAborted, waitFor } from '../support/hosting-app.js';

// Logic on virtual time; the shutdown deadline stays on the system clock (app.close() never waits
// for virtual time), so its test keeps a real wait.
const T0 = Date.parse('2026-06-01T00:00:00.000Z');

describe('thrown values of any kind', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it.each([
    ['a null-prototype object', () => Object.create(null), 'a non-Error value was thrown: [Object: null prototype] {}'],
    ['null', () => null, 'a non-Error value was thrown: null'],
    ['undefined', () => undefined, 'a non-Error value was thrown: undefined'],
    ['a string', () => 'disk full', 'disk full'],
    ['an object with a message', () => ({ message: 'boom' }), 'boom'],
  ])('a tick that throws %s is reported readably and the schedule goes on', async (_label, thrown, message) => {
    @Injectable()
    class Job {
      @Periodic(10)
      run() {
        throw thrown();
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { app, logger } = await startHostingApp({ time,  providers: [Job] });
    const registry = app.get(HostingRegistry);
    // Before the fix the first throw left the task `running` for ever (or crashed the process).
    await time.advance(30);
    expect(registry.get('Job.run')).toMatchObject({ failures: 3, state: 'idle' });
    expect(registry.get('Job.run')!.lastError!.message).toBe(message);
    const logged = logger.find('error', TASK_FAILED('Periodic task', 'Job.run'));
    expect(logged).toHaveLength(3);
    expect(logged[0].details).toContain(message);
    expect(logged[0].details).not.toContain('[object Object]');
    await app.close();
  });

  it("a background service that throws a null-prototype object still stops the host (onError 'stopHost')", async () => {
    @BackgroundService({ name: 'odd' })
    class Odd {
      async execute() {
        throw Object.create(null);
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Odd] });
    const registry = app.get(HostingRegistry);
    await waitFor(() => registry.get('odd')?.state === 'faulted');
    // The test app has no shutdown hooks: the host stops its own work and says why.
    await waitFor(() => logger.find('error', NO_SHUTDOWN_HOOKS()).length === 1);
    expect(registry.get('odd')!.lastError!.message).toBe('a non-Error value was thrown: [Object: null prototype] {}');
    expect(process.exitCode).toBe(1);
    await app.close();
  });

  it('a logger that throws does not stop the schedule', async () => {
    @Injectable()
    class Job {
      @Periodic(10)
      run() {
        throw new Error('tick failure');
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { app, logger } = await startHostingApp({ time,  providers: [Job] });
    const original = logger.error.bind(logger);
    logger.error = (message: unknown, ...rest: unknown[]) => {
      original(message, ...rest);
      throw new Error('the log sink is down');
    };
    const registry = app.get(HostingRegistry);
    await time.advance(30);
    expect(registry.get('Job.run')?.failures).toBe(3);
    logger.error = original;
    await app.close();
  });
});

describe('durations above 2^31−1 ms work or are refused, never fire early', () => {
  it('shutdownTimeoutMs: 2^31 waits for running work instead of abandoning it after 1 ms', async () => {
    let finished = false;
    @Injectable()
    class Job {
      @Periodic(3_600_000, { runOnStart: true })
      async run(ctx: TickContext) {
        await untilAborted(ctx.signal);
        await sleep(300); // cleanup after the signal: real time, as the shutdown deadline is on the system clock
        finished = true;
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Job], hosting: { shutdownTimeoutMs: 2 ** 31 } });
    await waitFor(() => app.get(HostingRegistry).get('Job.run')?.state === 'running');
    await app.close();
    expect(finished).toBe(true);
    expect(logger.find('error', SHUTDOWN_ABANDONED(2 ** 31, ['Job.run']))).toHaveLength(0);
  });

  it('a tick timeoutMs of 2^31 does not abort the signal early, and aborts it at 2^31 ms', async () => {
    const time = new VirtualTime({ now: T0 });
    let abortedAt: number | undefined;
    @Injectable()
    class Job {
      @Periodic(2 ** 33, { runOnStart: true, timeoutMs: 2 ** 31 })
      async run(ctx: TickContext) {
        ctx.signal.addEventListener('abort', () => (abortedAt = time.monotonic()));
        await time.delay(2 ** 32, ctx.signal).catch(() => undefined);
      }
    }
    const { app } = await startHostingApp({ time,  providers: [Job] });
    try {
      await time.advance(2 ** 31 - 1);
      expect(abortedAt).toBeUndefined();
      await time.advance(1);
      expect(abortedAt).toBe(2 ** 31);
    } finally {
      await app.close();
    }
  });

  it('a restart delay of 2^31 ms waits (no restart storm)', async () => {
    let runs = 0;
    @BackgroundService({ name: 'flaky', onError: 'restart', restart: { initialDelayMs: 2 ** 31, maxDelayMs: 2 ** 32 } })
    class Flaky {
      async execute() {
        runs++;
        throw new Error('down');
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({ time,  providers: [Flaky] });
    try {
      await time.advance(2 ** 31 - 1);
      expect(runs).toBe(1);
      expect(app.get(HostingRegistry).get('flaky')?.state).toBe('starting');
      await time.advance(1);
      expect(runs).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('a period of 2^40 ms arms a valid next run; one beyond 100 years is refused as the class is defined', async () => {
    @Injectable()
    class Job {
      @Periodic(2 ** 40)
      rare() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({ time,  providers: [Job] });
    expect(app.get(HostingRegistry).get('Job.rare')!.nextRunAt).toEqual(new Date(T0 + 2 ** 40));
    await app.close();
    expect(() => {
      @Injectable()
      class Never {
        @Periodic(2 ** 53)
        run() {}
      }
      return Never;
    }).toThrow(INVALID_PERIOD('Never.run', 2 ** 53));
  });

  it('shutdownTimeoutMs above 100 years is refused where it is given', () => {
    expect(() => HostingModule.forRoot({ shutdownTimeoutMs: Number.MAX_SAFE_INTEGER })).toThrow(
      INVALID_HOSTING_OPTION('shutdownTimeoutMs', 'a number of milliseconds from 0 to 3153600000000 (100 years)', Number.MAX_SAFE_INTEGER),
    );
  });
});

describe('what counts as a clean stop', () => {
  it('a background service that rejects with another error after its signal aborted is logged and counted', async () => {
    @BackgroundService({ name: 'sloppy' })
    class Sloppy {
      async execute(signal: AbortSignal) {
        await untilAborted(signal);
        throw new Error('flush failed while stopping');
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Sloppy] });
    const registry = app.get(HostingRegistry);
    await waitFor(() => registry.get('sloppy')?.state === 'running');
    await app.close();
    expect(logger.find('error', SERVICE_FAILED_WHILE_STOPPING('sloppy'))).toHaveLength(1);
    expect(registry.get('sloppy')).toMatchObject({ failures: 1, state: 'faulted', lastError: { message: 'flush failed while stopping' } });
  });

  it('a background service that rejects with the abort is a clean stop', async () => {
    @BackgroundService({ name: 'polite' })
    class Polite {
      async execute(signal: AbortSignal) {
        await delay(3_600_000, undefined, { signal });
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Polite] });
    await waitFor(() => app.get(HostingRegistry).get('polite')?.state === 'running');
    await app.close();
    expect(logger.errors()).toEqual([]);
    expect(app.get(HostingRegistry).get('polite')).toMatchObject({ failures: 0, state: 'stopped' });
  });

  it('a tick that honours its signal at shutdown stopped cleanly: not logged or counted as a failure', async () => {
    @Injectable()
    class Job {
      @Periodic(3_600_000, { runOnStart: true })
      async run(ctx: TickContext) {
        await delay(3_600_000, undefined, { signal: ctx.signal }); // rejects with an AbortError at shutdown
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Job] });
    const registry = app.get(HostingRegistry);
    await waitFor(() => registry.get('Job.run')?.state === 'running');
    await app.close();
    expect(logger.find('error', TASK_FAILED('Periodic task', 'Job.run'))).toHaveLength(0);
    expect(registry.get('Job.run')).toMatchObject({ runs: 1, failures: 0, state: 'stopped' });
  });

  it('a tick aborted by its own timeoutMs is still a failure', async () => {
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Job {
      @Periodic(3_600_000, { runOnStart: true, timeoutMs: 50 })
      async run(ctx: TickContext) {
        await time.delay(3_600_000, ctx.signal);
      }
    }
    const { app, logger } = await startHostingApp({ time,  providers: [Job] });
    await time.advance(49);
    expect(app.get(HostingRegistry).get('Job.run')).toMatchObject({ failures: 0, state: 'running' });
    await time.advance(1);
    expect(app.get(HostingRegistry).get('Job.run')).toMatchObject({ failures: 1, state: 'idle' });
    expect(logger.find('error', TASK_FAILED('Periodic task', 'Job.run'))).toHaveLength(1);
    await app.close();
  });
});

describe('ThrownValueError', () => {
  it('keeps the thrown value', () => {
    const value = { code: 42 };
    const error = new ThrownValueError(value);
    expect(error.thrown).toBe(value);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('a non-Error value was thrown: { code: 42 }');
  });
});
