import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Delayed, Periodic, TimeProvider, type TickContext } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startOnTime } from '../support/hosting-app.js';

/** A wall clock a quarter of a millisecond past a whole one, as the real one almost always is against performance.now(). */
const T0 = Date.parse('2026-06-01T00:00:00.000Z') + 0.25;

describe('scheduledAt is the instant the slot falls on, not a rounding of it', () => {
  it('an interval task runs at its scheduledAt (its grid lies on whole milliseconds of the wall clock)', async () => {
    const time = new VirtualTime({ now: T0 });
    const seen: Array<[number, number]> = [];
    @Injectable()
    class Job {
      @Periodic(10)
      tick(ctx: TickContext) {
        seen.push([time.now(), ctx.scheduledAt.getTime()]);
      }
    }
    const { moduleRef } = await startOnTime(time, { providers: [Job] });
    try {
      for (let i = 0; i < 160; i++) await time.advance(0.25); // 40 ms in quarter steps: each tick fires on the step its slot falls on
      expect(seen.length).toBeGreaterThanOrEqual(3);
      for (const [firedAt, scheduledAt] of seen) expect(firedAt).toBe(scheduledAt);
      expect(seen[1][1] - seen[0][1]).toBe(10);
    } finally {
      await moduleRef.close();
    }
  });

  it('an interval task with initialDelayMs, and a @Delayed task, run at their scheduledAt too', async () => {
    const time = new VirtualTime({ now: T0 });
    const seen: Array<[string, number, number]> = [];
    @Injectable()
    class Jobs {
      @Periodic(10, { initialDelayMs: 3 })
      tick(ctx: TickContext) {
        seen.push(['periodic', time.now(), ctx.scheduledAt.getTime()]);
      }

      @Delayed(7)
      once(ctx: TickContext) {
        seen.push(['delayed', time.now(), ctx.scheduledAt.getTime()]);
      }
    }
    const { moduleRef } = await startOnTime(time, { providers: [Jobs] });
    try {
      for (let i = 0; i < 80; i++) await time.advance(0.25);
      expect(seen.map(([kind]) => kind)).toEqual(expect.arrayContaining(['periodic', 'delayed']));
      for (const [, firedAt, scheduledAt] of seen) expect(firedAt).toBe(scheduledAt);
    } finally {
      await moduleRef.close();
    }
  });
});

describe('TimeProvider.system: where the monotonic clock starts on the wall clock', () => {
  it('is performance.timeOrigin to a fraction of a millisecond while Date.now() agrees with it', () => {
    // Both clocks held still (read at two instants, Date.now() may tick between them), on the
    // wall-clock millisecond that performance.timeOrigin gives.
    const monotonic = performance.now();
    const wall = Math.floor(performance.timeOrigin + monotonic);
    const wallSpy = jest.spyOn(Date, 'now').mockReturnValue(wall);
    const monotonicSpy = jest.spyOn(performance, 'now').mockReturnValue(monotonic);
    try {
      expect(TimeProvider.system.wallClockOffset()).toBe(performance.timeOrigin);
    } finally {
      wallSpy.mockRestore();
      monotonicSpy.mockRestore();
    }
  });

  it('follows the wall clock when it was set (it stays within the millisecond Date.now() proves)', () => {
    // Both clocks held still, so that the millisecond Date.now() proves is the same for the library
    // and for this test (read at two instants, Date.now() may tick between them).
    const monotonic = performance.now();
    const wall = Math.floor(performance.timeOrigin + monotonic) + 3_600_000;
    const wallSpy = jest.spyOn(Date, 'now').mockReturnValue(wall);
    const monotonicSpy = jest.spyOn(performance, 'now').mockReturnValue(monotonic);
    try {
      const offset = TimeProvider.system.wallClockOffset();
      const coarse = wall - monotonic;
      expect(offset).toBeGreaterThanOrEqual(coarse);
      expect(offset).toBeLessThanOrEqual(coarse + 1);
    } finally {
      wallSpy.mockRestore();
      monotonicSpy.mockRestore();
    }
  });
});
