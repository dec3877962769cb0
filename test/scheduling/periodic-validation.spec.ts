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

describe('bad @Periodic input fails at start-up, naming class, method and value', () => {
  it.each([
    [0, '0'],
    [-5, '-5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['1000', '"1000"'],
  ])('period %p', async (period, shown) => {
    @Injectable()
    class CleanupJob {
      @Periodic(period as number)
      purge() {}
    }
    const error = await startupError([CleanupJob]);
    expect(error.message).toBe(INVALID_PERIOD('CleanupJob.purge', period));
    expect(error.message).toContain(`got ${shown}`);
  });

  it('{ every: 0 }', async () => {
    @Injectable()
    class Job {
      @Periodic({ every: 0 })
      run() {}
    }
    expect((await startupError([Job])).message).toBe('@Periodic on Job.run: period must be a positive, finite number of milliseconds, got 0');
  });

  it('an invalid cron expression', async () => {
    @Injectable()
    class Job {
      @Periodic({ cron: '61 * * * *' })
      run() {}
    }
    const error = await startupError([Job]);
    expect(error.message).toContain(INVALID_CRON('Job.run', '61 * * * *', '').slice(0, -3));
  });

  it('an unknown time zone', async () => {
    @Injectable()
    class Job {
      @Periodic({ cron: '* * * * *', timeZone: 'Mars/Olympus' })
      run() {}
    }
    expect((await startupError([Job])).message).toBe(INVALID_TIME_ZONE('Job.run', 'Mars/Olympus'));
  });

  it('both every and cron', async () => {
    @Injectable()
    class Job {
      @Periodic({ every: 10, cron: '* * * * *' } as never)
      run() {}
    }
    expect((await startupError([Job])).message).toBe(AMBIGUOUS_SCHEDULE('Job.run', { every: 10, cron: '* * * * *' }));
  });

  it('a bad option value', async () => {
    @Injectable()
    class Job {
      @Periodic(100, { timeoutMs: -1 })
      run() {}
    }
    expect((await startupError([Job])).message).toBe(INVALID_OPTION('@Periodic', 'Job.run', 'timeoutMs', 'a positive number of milliseconds', -1));
  });

  it('on a property instead of a method', async () => {
    @Injectable()
    class Job {
      @Periodic(100)
      notAMethod = 5;
    }
    expect((await startupError([Job])).message).toBe(NOT_A_METHOD('@Periodic', 'Job.notAMethod'));
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

describe('bad HostingModule options fail at start-up', () => {
  it.each([
    [{ shutdownTimeoutMs: -1 }, INVALID_HOSTING_OPTION('shutdownTimeoutMs', 'a number of milliseconds >= 0', -1)],
    [{ onServiceError: 'explode' }, INVALID_HOSTING_OPTION('onServiceError', "one of 'stopHost', 'ignore', 'restart'", 'explode')],
  ])('%p', async (options, message) => {
    await expect(compileHostingApp({ hostingModule: HostingModule.forRoot(options as never) })).rejects.toThrow(message);
  });
});
