import { jest } from '@jest/globals';
import { TimeProvider } from '../../src/index.js';

describe('TimeProvider.system', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reads Date.now() and performance.now()', () => {
    const before = Date.now();
    const now = TimeProvider.system.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
    const a = TimeProvider.system.monotonic();
    expect(TimeProvider.system.monotonic()).toBeGreaterThanOrEqual(a);
    expect(TimeProvider.system.date()).toBeInstanceOf(Date);
  });

  it('fires a timer, and not once it was cleared', async () => {
    const fired: string[] = [];
    const cleared = TimeProvider.system.setTimeout(() => fired.push('cleared'), 1);
    cleared.clear();
    await new Promise<void>((resolve) => TimeProvider.system.setTimeout(() => resolve(), 5));
    expect(fired).toEqual([]);
  });

  it('does not fire a timer above 2^31−1 ms early (Node fires those after 1 ms)', async () => {
    const fired: number[] = [];
    const long = TimeProvider.system.setTimeout(() => fired.push(1), 2 ** 31 + 10_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    long.clear();
    expect(fired).toEqual([]);
  });

  it('delay() resolves after the time, and rejects with the reason when the signal aborts', async () => {
    await expect(TimeProvider.system.delay(1)).resolves.toBeUndefined();
    const controller = new AbortController();
    const waiting = TimeProvider.system.delay(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    await expect(TimeProvider.system.delay(1, controller.signal)).rejects.toThrow('stop');
  });

  it('reports a wall clock set forward, seen when one of its timers fires', async () => {
    const jumps: number[] = [];
    const unsubscribe = TimeProvider.system.onWallClockJump((ms) => jumps.push(ms));
    try {
      const realNow = Date.now.bind(Date);
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
      await new Promise<void>((resolve) => TimeProvider.system.setTimeout(() => resolve(), 1));
      expect(jumps).toHaveLength(1);
      expect(jumps[0]).toBeGreaterThan(3_599_000);
      expect(jumps[0]).toBeLessThan(3_601_000);
      // Small moves (rounding, NTP slewing) are not jumps.
      await new Promise<void>((resolve) => TimeProvider.system.setTimeout(() => resolve(), 1));
      expect(jumps).toHaveLength(1);
    } finally {
      unsubscribe();
    }
  });
});
