import { Injectable, type Type } from '@nestjs/common';
import { BackgroundService, HostingModule, Periodic } from '../../src/index.js';
import {
  AMBIGUOUS_SCHEDULE,
  DUPLICATE_NAME,
  EXCLUSIVE_NEEDS_REDIS,
  INVALID_CRON,
  INVALID_HOSTING_OPTION,
  INVALID_OPTION,
  INVALID_PERIOD,
  INVALID_TIME_ZONE,
  NOT_A_METHOD,
} from '../../src/hosting.messages.js';
import { compileHostingApp } from '../support/hosting-app.js';

async function startupError(providers: Type[]): Promise<Error> {
  const { app } = await compileHostingApp({ providers });
  try {
    await app.init();
  } catch (error) {
    await app.close().catch(() => undefined);
    return error as Error;
  }
  await app.close();
  throw new Error('expected start-up to fail');
}

/** The TypeError thrown while `define` declares a decorated class. */
function definitionError(define: () => unknown): Error {
  try {
    define();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the class definition to throw');
}

describe('bad @Periodic input fails as the class is defined, naming class, method and value', () => {
  it.each([
    [0, '0'],
    [-5, '-5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['1000', '"1000"'],
  ])('period %p', async (period, shown) => {
    const error = definitionError(() => {
      @Injectable()
      class CleanupJob {
        @Periodic(period as number)
        purge() {}
      }
      return CleanupJob;
    });
    expect(error.message).toBe(INVALID_PERIOD('CleanupJob.purge', period));
    expect(error.message).toContain(`got ${shown}`);
  });

  it('{ every: 0 }', async () => {
    const error = definitionError(() => {
      @Injectable()
      class Job {
        @Periodic({ every: 0 })
        run() {}
      }
      return Job;
    });
    expect(error.message).toBe('@Periodic on Job.run: period must be a positive number of milliseconds up to 3153600000000 (100 years), got 0');
  });

  it('an invalid cron expression', async () => {
    const error = definitionError(() => {
      @Injectable()
      class Job {
        @Periodic({ cron: '61 * * * *' })
        run() {}
      }
      return Job;
    });
    expect(error.message).toContain(INVALID_CRON('Job.run', '61 * * * *', '').slice(0, -3));
  });

  it('an unknown time zone', async () => {
    const error = definitionError(() => {
      @Injectable()
      class Job {
        @Periodic({ cron: '* * * * *', timeZone: 'Mars/Olympus' })
        run() {}
      }
      return Job;
    });
    expect(error.message).toBe(INVALID_TIME_ZONE('Job.run', 'Mars/Olympus'));
  });

  it('both every and cron', async () => {
    const error = definitionError(() => {
      @Injectable()
      class Job {
        @Periodic({ every: 10, cron: '* * * * *' } as never)
        run() {}
      }
      return Job;
    });
    expect(error.message).toBe(AMBIGUOUS_SCHEDULE('Job.run', { every: 10, cron: '* * * * *' }));
  });

  it('a bad option value', async () => {
    const error = definitionError(() => {
      @Injectable()
      class Job {
        @Periodic(100, { timeoutMs: -1 })
        run() {}
      }
      return Job;
    });
    expect(error.message).toBe(INVALID_OPTION('@Periodic', 'Job.run', 'timeoutMs', 'a number of milliseconds from 1 to 3153600000000 (100 years)', -1));
  });

  it('on a property instead of a method', async () => {
    const error = definitionError(() => {
      @Injectable()
      class Job {
        // @ts-expect-error -- a property does not compile; from JavaScript it fails as the class is defined
        @Periodic(100)
        notAMethod = 5;
      }
      return Job;
    });
    expect(error.message).toBe(NOT_A_METHOD('@Periodic', 'Job.notAMethod'));
  });

  it('exclusive without a shared Redis', async () => {
    @Injectable()
    class Job {
      @Periodic(100, { exclusive: true })
      run() {}
    }
    expect((await startupError([Job])).message).toBe(EXCLUSIVE_NEEDS_REDIS('Job.run'));
  });

  it('two tasks with one name', async () => {
    @Injectable()
    class A {
      @Periodic(100, { name: 'sync' })
      run() {}
    }
    @BackgroundService({ name: 'sync' })
    class B {
      async execute() {}
    }
    expect((await startupError([B, A])).message).toBe(DUPLICATE_NAME('sync', 'B', 'A.run'));
  });
});

describe('bad HostingModule options fail where they are given', () => {
  it.each([
    [{ shutdownTimeoutMs: -1 }, INVALID_HOSTING_OPTION('shutdownTimeoutMs', 'a number of milliseconds from 0 to 3153600000000 (100 years)', -1)],
    [{ onServiceError: 'explode' }, INVALID_HOSTING_OPTION('onServiceError', "one of 'stopHost', 'ignore', 'restart'", 'explode')],
  ])('%p', (options, message) => {
    expect(() => HostingModule.forRoot(options as never)).toThrow(message);
  });
});
