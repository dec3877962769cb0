import { Injectable } from '@nestjs/common';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  InjectQueue,
  Periodic,
  QueueWorker,
  type WorkQueue,
} from '../../src/index.js';
import {
  INVALID_CRON,
  INVALID_OPTION_AT,
  INVALID_TIME_ZONE,
  NOT_AN_OPTIONS_OBJECT,
  UNKNOWN_OPTION,
} from '../../src/hosting.messages.js';
import { compileHostingApp, sleep, startHostingApp, waitFor } from '../support/hosting-app.js';

/** The error thrown while `define` runs (declaring a decorated class, calling a module factory). */
function thrownBy(define: () => unknown): Error {
  try {
    define();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected it to throw');
}

const HOSTING_KEYS = ['shutdownTimeoutMs', 'onServiceError', 'exitAfterSignal', 'redis', 'postgres', 'timeProvider', 'enabled', 'interceptors', 'staleAfterPeriods', 'spreadMs', 'outbox', 'isGlobal'];

describe('HostingModule.forRoot / forRootAsync', () => {
  it('null options: a clear error, not "Cannot convert undefined or null to object"', () => {
    expect(thrownBy(() => HostingModule.forRoot(null as never)).message).toBe(NOT_AN_OPTIONS_OBJECT('HostingModule.forRoot', null));
  });

  it('a misspelled key is refused with the closest known one', () => {
    expect(thrownBy(() => HostingModule.forRoot({ shutdownTimeout: 5_000 } as never)).message).toBe(
      UNKNOWN_OPTION('HostingModule.forRoot', 'shutdownTimeout', 'shutdownTimeoutMs', HOSTING_KEYS),
    );
  });

  it('what a forRootAsync factory returns is checked at start-up the same way', async () => {
    const failure = await compileHostingApp({
      hostingModule: HostingModule.forRootAsync({ useFactory: () => ({ onServiceErorr: 'ignore' }) as never }),
    }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toContain('HostingModule.forRootAsync: unknown option "onServiceErorr"; did you mean "onServiceError"?');
  });
});

describe('@BackgroundService', () => {
  it.each([
    [{ onError: 'bogus' }, 'onError', "one of 'stopHost', 'ignore', 'restart'", 'bogus'],
    [{ name: 123 }, 'name', 'a non-empty string', 123],
    [{ name: '' }, 'name', 'a non-empty string', ''],
    [{ restart: { maxRestarts: -1 } }, 'restart.maxRestarts', 'an integer >= 0, or Infinity', -1],
    [{ restart: { initialDelayMs: 0 } }, 'restart.initialDelayMs', 'a number of milliseconds from 1 to 3153600000000 (100 years)', 0],
    [{ restart: { initialDelayMs: Number.NaN } }, 'restart.initialDelayMs', 'a number of milliseconds from 1 to 3153600000000 (100 years)', Number.NaN],
    [
      { restart: { initialDelayMs: 5_000, maxDelayMs: 1_000 } },
      'restart.maxDelayMs',
      'a number of milliseconds from 5000 to 3153600000000 (100 years) (at least initialDelayMs)',
      1_000,
    ],
  ])('%p is refused as the class is defined', (options, option, expected, value) => {
    const error = thrownBy(() => {
      @BackgroundService(options as never)
      class Pump {
        async execute() {}
      }
      return Pump;
    });
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe(INVALID_OPTION_AT('@BackgroundService on Pump', option, expected, value));
  });

  it('a misspelled restart key suggests the right one', () => {
    const error = thrownBy(() => {
      @BackgroundService({ onError: 'restart', restart: { maxRestart: 3 } } as never)
      class Pump {
        async execute() {}
      }
      return Pump;
    });
    expect(error.message).toBe(
      UNKNOWN_OPTION('@BackgroundService on Pump', 'restart.maxRestart', 'restart.maxRestarts', ['restart.maxRestarts', 'restart.initialDelayMs', 'restart.maxDelayMs']),
    );
  });

  it('maxRestarts: Infinity restarts for ever, with its backoff (no hot loop)', async () => {
    let runs = 0;
    @BackgroundService({ name: 'forever', onError: 'restart', restart: { maxRestarts: Infinity, initialDelayMs: 20, maxDelayMs: 80 } })
    class Forever {
      async execute() {
        runs++;
        throw new Error('down');
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Forever] });
    await waitFor(() => runs >= 4, 10_000, 'four runs');
    await sleep(200);
    // 20, 40, 80, 80, … ms apart: a handful of runs in this time, not thousands.
    expect(runs).toBeLessThan(40);
    expect(logger.find('warn', 'restart 2 with no limit')).toHaveLength(1);
    await app.close();
  });
});

describe('@Periodic', () => {
  const define = (schedule: unknown, options?: unknown) =>
    thrownBy(() => {
      @Injectable()
      class Job {
        @Periodic(schedule as never, options as never)
        run() {}
      }
      return Job;
    });

  it('a misspelled option in either argument suggests the right one', () => {
    const keys = ['every', 'cron', 'timeZone', 'repeatedTime', 'name', 'runOnStart', 'timeoutMs', 'jitterMs', 'spreadMs', 'exclusive', 'initialDelayMs', 'enabled', 'onMissed', 'staleAfterMs'];
    expect(define({ every: 100, runOnstart: true }).message).toBe(UNKNOWN_OPTION('@Periodic on Job.run', 'runOnstart', 'runOnStart', keys));
    expect(define(100, { timeout: 50 }).message).toBe(
      UNKNOWN_OPTION('@Periodic on Job.run', 'timeout', 'timeoutMs', ['name', 'runOnStart', 'timeoutMs', 'jitterMs', 'spreadMs', 'exclusive', 'initialDelayMs', 'enabled', 'onMissed', 'staleAfterMs']),
    );
  });

  it('a cron expression that never fires is refused, naming the task', () => {
    expect(define({ cron: '0 0 30 2 *' }).message).toBe(
      INVALID_CRON('Job.run', '0 0 30 2 *', 'it never fires: no date matches it within the next 8 years'),
    );
  });

  it.each([[123], [''], ['Mars/Olympus']])('timeZone %p is refused', (timeZone) => {
    expect(define({ cron: '* * * * *', timeZone }).message).toBe(INVALID_TIME_ZONE('Job.run', timeZone));
  });

  it('timeZone on an { every } schedule is refused (it would be ignored)', () => {
    expect(define({ every: 1_000, timeZone: 'Europe/Paris' }).message).toBe(
      INVALID_OPTION_AT('@Periodic on Job.run', 'timeZone', 'unset on an { every } schedule (it applies to cron schedules)', 'Europe/Paris'),
    );
  });
});

describe('queues', () => {
  it('a misspelled registerQueue key suggests the right one', () => {
    expect(thrownBy(() => HostingModule.registerQueue({ name: 'q', capacty: 10 } as never)).message).toBe(
      UNKNOWN_OPTION('HostingModule.registerQueue("q")', 'capacty', 'capacity', ['name', 'capacity', 'fullMode', 'backend', 'onDropped', 'onFailed', 'deadLetters']),
    );
  });

  it('memory-only options on a bullmq queue are refused rather than ignored', () => {
    expect(thrownBy(() => HostingModule.registerQueue({ name: 'q', backend: 'bullmq', capacity: 10 })).message).toBe(
      INVALID_OPTION_AT('HostingModule.registerQueue("q")', 'capacity', "unset on a 'bullmq' queue (it applies to the memory backend only)", 10),
    );
  });

  it('misspelled @QueueWorker and backoff keys suggest the right ones', () => {
    const worker = (options: unknown) =>
      thrownBy(() => {
        @Injectable()
        class Worker {
          @QueueWorker('q', options as never)
          handle() {}
        }
        return Worker;
      });
    expect(worker({ concurency: 2 }).message).toBe(UNKNOWN_OPTION('@QueueWorker on Worker.handle', 'concurency', 'concurrency', ['concurrency', 'attempts', 'backoff', 'enabled', 'limiter', 'timeoutMs']));
    expect(worker({ backoff: { type: 'exponential', delay: 100 } }).message).toBe(
      UNKNOWN_OPTION('@QueueWorker on Worker.handle', 'backoff.delay', 'backoff.delayMs', ['backoff.type', 'backoff.delayMs']),
    );
    expect(worker({ backoff: { type: 'linear', delayMs: 100 } }).message).toBe(
      INVALID_OPTION_AT('@QueueWorker on Worker.handle', 'backoff.type', "one of 'fixed', 'exponential'", 'linear'),
    );
  });

  it('a retry backoff of 2^31 ms waits instead of retrying at once', async () => {
    let tries = 0;
    @Injectable()
    class Producer {
      constructor(@InjectQueue('patient') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('patient', { attempts: 3, backoff: { type: 'fixed', delayMs: 2 ** 31 } })
      handle() {
        tries++;
        throw new Error('not yet');
      }
    }
    const { app } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'patient' })],
      providers: [Producer, Worker],
      hosting: { shutdownTimeoutMs: 100 }, // a drain would wait for the retry until the deadline
    });
    await app.get(Producer).queue.enqueue(1);
    await waitFor(() => tries === 1);
    await sleep(300);
    expect(tries).toBe(1);
    expect(app.get(HostingRegistry).get('patient')).toMatchObject({ depth: 1, failures: 1 });
    await app.close();
  });

  it('bad enqueue options reject, naming the queue and the option', async () => {
    @Injectable()
    class Producer {
      constructor(@InjectQueue('checked') readonly queue: WorkQueue<number>) {}
    }
    const { app } = await startHostingApp({ imports: [HostingModule.registerQueue({ name: 'checked' })], providers: [Producer] });
    const queue = app.get(Producer).queue;
    await expect(queue.enqueue(1, { singal: new AbortController().signal } as never)).rejects.toThrow(
      UNKNOWN_OPTION('WorkQueue.enqueue on queue "checked"', 'singal', 'signal', [
        'signal',
        'delayMs',
        'runAt',
        'priority',
        'id',
        'idTtlMs',
        'attempts',
        'backoff',
        'timeoutMs',
        'transaction',
        'orderingKey',
      ]),
    );
    await expect(queue.enqueue(1, { signal: 'soon' } as never)).rejects.toThrow(
      INVALID_OPTION_AT('WorkQueue.enqueue on queue "checked"', 'signal', 'an AbortSignal', 'soon'),
    );
    const at = 'WorkQueue.enqueue on queue "checked"';
    await expect(queue.enqueue(1, { delayMs: -1 })).rejects.toThrow(`${at}: option "delayMs"`);
    await expect(queue.enqueue(1, { delayMs: 366 * 24 * 3600_000 })).rejects.toThrow(`${at}: option "delayMs"`);
    await expect(queue.enqueue(1, { delayMs: 10, runAt: new Date() })).rejects.toThrow(`${at}: option "runAt" must be unset when delayMs is given`);
    await expect(queue.enqueue(1, { runAt: new Date(Number.NaN) })).rejects.toThrow(`${at}: option "runAt" must be a valid Date`);
    await expect(queue.enqueue(1, { priority: 1.5 })).rejects.toThrow(`${at}: option "priority" must be an integer from 0 to 2097151`);
    await expect(queue.enqueue(1, { priority: 2_097_152 })).rejects.toThrow(`${at}: option "priority"`);
    await expect(queue.enqueue(1, { id: '42' })).rejects.toThrow(`${at}: option "id" must be a non-empty string of at most 200 characters, not only digits`);
    await expect(queue.enqueue(1, { id: 'a:b' })).rejects.toThrow(`${at}: option "id"`);
    await expect(queue.enqueue(1, { id: 'x'.repeat(201) })).rejects.toThrow(`${at}: option "id"`);
    await expect(queue.enqueue(1, { idTtlMs: 1000 })).rejects.toThrow(`${at}: option "idTtlMs" must be unset unless an id is given`);
    await expect(queue.enqueue(1, { attempts: 0 })).rejects.toThrow(`${at}: option "attempts" must be a positive integer`);
    await expect(queue.enqueue(1, { backoff: { type: 'linear', delayMs: 1 } as never })).rejects.toThrow(`${at}: option "backoff.type"`);
    await expect(queue.enqueue(1, { timeoutMs: 0 })).rejects.toThrow(`${at}: option "timeoutMs"`);
    const many = 'WorkQueue.enqueueMany on queue "checked"';
    await expect(queue.enqueueMany(5 as never)).rejects.toThrow(INVALID_OPTION_AT(many, 'items', 'an array of items', 5));
    await expect(queue.enqueueMany([1, 2], { id: (n) => (n === 2 ? '2' : `n-${n}`) })).rejects.toThrow(`${many}: option "id(items[1])"`);
    await expect(queue.enqueueMany([1], { id: 'fixed' } as never)).rejects.toThrow(`${many}: option "id" must be a function`);
    await expect(queue.cancel('' as never)).rejects.toThrow(INVALID_OPTION_AT('WorkQueue.cancel on queue "checked"', 'id', 'a non-empty string', ''));
    // Nothing bad got in: the queue is as empty as before.
    expect(queue.depth).toBe(0);
    await app.close();
  });
});
