import { Injectable, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { HostingModule, Periodic, type TickContext } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { CaptureLogger } from '../support/capture-logger.js';

/**
 * Cron tasks across the 2026 DST days in a real Nest app on virtual time: the instants each handler
 * saw (`ctx.scheduledAt`), with the default `repeatedTime` and with `'once'`.
 */
const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';

/** Records, per task name, the slots its handler ran for. */
function recorder() {
  const seen = new Map<string, string[]>();
  const record = (ctx: TickContext) => seen.set(ctx.name, [...(seen.get(ctx.name) ?? []), ctx.scheduledAt.toISOString()]);
  return { seen, record };
}

/** Starts `providers` on virtual time at `from`, advances to `until`, and returns what each task saw. */
async function runNight(providers: Type[], seen: Map<string, string[]>, from: string, until: string): Promise<Map<string, string[]>> {
  const time = new VirtualTime({ now: new Date(from) });
  const app: TestingModule = await Test.createTestingModule({
    imports: [HostingModule.forRoot({ timeProvider: time, shutdownTimeoutMs: 5_000 })],
    providers,
  })
    .setLogger(new CaptureLogger())
    .compile();
  await app.init();
  try {
    await time.advanceTo(new Date(until));
  } finally {
    await app.close();
  }
  return seen;
}

describe('cron tasks across DST days, on virtual time', () => {
  it('Europe/Berlin, fall back (2026-10-25): the repeated 02:00–02:59 runs twice by default, once with repeatedTime once', async () => {
    const { seen, record } = recorder();
    @Injectable()
    class BerlinJobs {
      @Periodic({ cron: '0 */30 1-3 * * *', timeZone: BERLIN, name: 'halfHourly' })
      halfHourly(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 */30 1-3 * * *', timeZone: BERLIN, repeatedTime: 'once', name: 'halfHourlyOnce' })
      halfHourlyOnce(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 0 3 * * *', timeZone: BERLIN, name: 'daily3' })
      daily3(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 0 3 * * *', timeZone: BERLIN, repeatedTime: 'once', name: 'daily3Once' })
      daily3Once(ctx: TickContext) {
        record(ctx);
      }
    }
    // Local midnight to 05:00 CET.
    await runNight([BerlinJobs], seen, '2026-10-24T22:00:00Z', '2026-10-25T04:00:00Z');
    expect(seen.get('halfHourly')).toEqual([
      '2026-10-24T23:00:00.000Z', // 01:00 CEST
      '2026-10-24T23:30:00.000Z',
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z', // 02:00 CET, again
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T02:00:00.000Z', // 03:00 CET
      '2026-10-25T02:30:00.000Z',
    ]);
    expect(seen.get('halfHourlyOnce')).toEqual(['2026-10-24T23:00:00.000Z', '2026-10-24T23:30:00.000Z', '2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T02:00:00.000Z', '2026-10-25T02:30:00.000Z']);
    // cron also runs a 03:00 job at 02:00 CET; 'once' keeps 03:00 only.
    expect(seen.get('daily3')).toEqual(['2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z']);
    expect(seen.get('daily3Once')).toEqual(['2026-10-25T02:00:00.000Z']);
  });

  it('Europe/Berlin, spring forward (2026-03-29): 02:30 runs at 03:00 CEST; the missing half hours merge into 03:00', async () => {
    const { seen, record } = recorder();
    @Injectable()
    class BerlinJobs {
      @Periodic({ cron: '0 30 2 * * *', timeZone: BERLIN, name: 'daily230' })
      daily230(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 */30 1-3 * * *', timeZone: BERLIN, repeatedTime: 'once', name: 'halfHourlyOnce' })
      halfHourlyOnce(ctx: TickContext) {
        record(ctx);
      }
    }
    await runNight([BerlinJobs], seen, '2026-03-28T23:00:00Z', '2026-03-29T03:00:00Z');
    expect(seen.get('daily230')).toEqual(['2026-03-29T01:00:00.000Z']);
    expect(seen.get('halfHourlyOnce')).toEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z']);
  });

  it('America/New_York, fall back (2026-11-01): 01:00–01:59 repeats; a daily 01:30 runs once either way, a daily 02:30 also at 01:30 EST unless once', async () => {
    const { seen, record } = recorder();
    @Injectable()
    class NewYorkJobs {
      @Periodic({ cron: '0 */30 1-3 * * *', timeZone: NEW_YORK, name: 'halfHourly' })
      halfHourly(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 */30 1-3 * * *', timeZone: NEW_YORK, repeatedTime: 'once', name: 'halfHourlyOnce' })
      halfHourlyOnce(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 30 1 * * *', timeZone: NEW_YORK, name: 'daily130' })
      daily130(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 30 2 * * *', timeZone: NEW_YORK, name: 'daily230' })
      daily230(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 30 2 * * *', timeZone: NEW_YORK, repeatedTime: 'once', name: 'daily230Once' })
      daily230Once(ctx: TickContext) {
        record(ctx);
      }
    }
    // Local midnight (EDT) to 04:00 EST.
    await runNight([NewYorkJobs], seen, '2026-11-01T04:00:00Z', '2026-11-01T09:00:00Z');
    expect(seen.get('halfHourly')).toEqual([
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:00:00.000Z', // 01:00 EST, again
      '2026-11-01T06:30:00.000Z',
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T07:30:00.000Z',
      '2026-11-01T08:00:00.000Z',
      '2026-11-01T08:30:00.000Z',
    ]);
    expect(seen.get('halfHourlyOnce')).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-01T07:00:00.000Z', '2026-11-01T07:30:00.000Z', '2026-11-01T08:00:00.000Z', '2026-11-01T08:30:00.000Z']);
    expect(seen.get('daily130')).toEqual(['2026-11-01T05:30:00.000Z']);
    expect(seen.get('daily230')).toEqual(['2026-11-01T06:30:00.000Z', '2026-11-01T07:30:00.000Z']);
    expect(seen.get('daily230Once')).toEqual(['2026-11-01T07:30:00.000Z']);
  });

  it('America/New_York, spring forward (2026-03-08): 02:30 runs at 03:00 EDT; */30 in hours 1–3 has no 02:xx', async () => {
    const { seen, record } = recorder();
    @Injectable()
    class NewYorkJobs {
      @Periodic({ cron: '0 30 2 * * *', timeZone: NEW_YORK, name: 'daily230' })
      daily230(ctx: TickContext) {
        record(ctx);
      }
      @Periodic({ cron: '0 */30 1-3 * * *', timeZone: NEW_YORK, name: 'halfHourly' })
      halfHourly(ctx: TickContext) {
        record(ctx);
      }
    }
    await runNight([NewYorkJobs], seen, '2026-03-08T05:00:00Z', '2026-03-08T09:00:00Z');
    expect(seen.get('daily230')).toEqual(['2026-03-08T07:00:00.000Z']);
    expect(seen.get('halfHourly')).toEqual(['2026-03-08T06:00:00.000Z', '2026-03-08T06:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T07:30:00.000Z']);
  });
});
