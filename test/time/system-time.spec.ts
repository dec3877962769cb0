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

  it('never wakes the process only to compare its clocks: a listener arms no timer', () => {
    const armed = [jest.spyOn(globalThis, 'setInterval'), jest.spyOn(globalThis, 'setTimeout')];
    const unsubscribe = TimeProvider.system.onWallClockJump(() => undefined);
    unsubscribe();
    for (const spy of armed) expect(spy).not.toHaveBeenCalled();
  });
});

describe('TimeProvider.createSystem', () => {
  afterEach(() => jest.restoreAllMocks());

  it('with wallClockCheckMs, notices a jump with no timer of its own firing, and stops looking once nobody listens', async () => {
    const time = TimeProvider.createSystem({ wallClockCheckMs: 20 });
    const armed = jest.spyOn(globalThis, 'setInterval');
    const disarmed = jest.spyOn(globalThis, 'clearInterval');
    let unsubscribe = () => {};
    const jump = new Promise<number>((resolve) => (unsubscribe = time.onWallClockJump(resolve)));
    try {
      expect(armed).toHaveBeenCalledTimes(1);
      expect(armed.mock.calls[0]![1]).toBe(20);
      const realNow = Date.now.bind(Date);
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 7_200_000);
      const jumpMs = await jump;
      expect(jumpMs).toBeGreaterThan(7_199_000);
      expect(jumpMs).toBeLessThan(7_201_000);
    } finally {
      unsubscribe();
    }
    expect(disarmed).toHaveBeenCalledWith(armed.mock.results[0]!.value);
  });

  it('without options behaves as TimeProvider.system: reads the system clocks, checks on its timers only', async () => {
    const time = TimeProvider.createSystem();
    expect(time).not.toBe(TimeProvider.system);
    expect(Math.abs(time.now() - Date.now())).toBeLessThan(1_000);
    const jumps: number[] = [];
    const unsubscribe = time.onWallClockJump((ms) => jumps.push(ms));
    try {
      const realNow = Date.now.bind(Date);
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
      await new Promise<void>((resolve) => time.setTimeout(() => resolve(), 1));
      expect(jumps).toHaveLength(1);
      expect(jumps[0]).toBeLessThan(-3_599_000);
    } finally {
      unsubscribe();
    }
  });

  it.each([
    [{ wallClockCheckMs: 0 }, /TimeProvider\.createSystem: option "?wallClockCheckMs"? .*0/],
    [{ wallClockCheckMs: -5 }, /wallClockCheckMs.*-5/],
    [{ wallClockCheckMs: 2 ** 31 }, /wallClockCheckMs.*2147483648/],
    [{ wallClockCheckMs: '60s' }, /wallClockCheckMs.*60s/],
    [{ wallClockCheck: 1_000 }, /TimeProvider\.createSystem.*wallClockCheck\b.*wallClockCheckMs/],
    ['fast', /TimeProvider\.createSystem/],
  ])('refuses %p, naming the method and the value', (options, message) => {
    expect(() => TimeProvider.createSystem(options as never)).toThrow(message);
  });
});
