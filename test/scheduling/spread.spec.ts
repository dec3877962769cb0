/**
 * `spreadMs` (per task, and `HostingModule.forRoot({ spreadMs })` for every task): each tick is
 * delayed by a stable offset from the task's name, so that many tasks on one schedule do not fire
 * in one herd. Virtual time: the instants are exact.
 */
import { Injectable, type Type } from '@nestjs/common';
import { HostingModule, HostingRegistry, Periodic, type PeriodicTaskOptions, type TickContext } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startHostingApp } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

interface Tick {
  name: string;
  slot: number;
  /** Handler start minus `ctx.scheduledAt`. */
  after: number;
  missed: number;
}

/** `count` providers, each with one `@Periodic(schedule, options)` task named `${prefix}-${i}`. */
function tasks(count: number, prefix: string, schedule: number | { cron: string }, options: PeriodicTaskOptions, time: VirtualTime, ticks: Tick[]): Type[] {
  return Array.from({ length: count }, (_, i) => {
    @Injectable()
    class Task {
      @Periodic(schedule as never, { ...options, name: `${prefix}-${i}` })
      run(ctx: TickContext) {
        ticks.push({ name: ctx.name, slot: ctx.scheduledAt.getTime(), after: time.now() - ctx.scheduledAt.getTime(), missed: ctx.missedTicks });
      }
    }
    return Task;
  });
}

const offsets = (ticks: Tick[]) => new Map(ticks.map((t) => [t.name, t.after]));

describe('spreadMs', () => {
  it('off by default: tasks on one period all start at their slot', async () => {
    const ticks: Tick[] = [];
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({ time, providers: tasks(20, 'herd', 1_000, {}, time, ticks) });
    try {
      await time.advance(3_000);
      expect(ticks).toHaveLength(60);
      expect(new Set(ticks.map((t) => t.after))).toEqual(new Set([0]));
    } finally {
      await app.close();
    }
  });

  it('delays each tick by a stable per-task offset in [0, spreadMs); slots stay on the grid and none is missed', async () => {
    const ticks: Tick[] = [];
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({ time, providers: tasks(50, 'spread', 1_000, { spreadMs: 1_000 }, time, ticks) });
    try {
      await time.advance(5_000 + 1_000);
      const byTask = new Map<string, Tick[]>();
      for (const tick of ticks) byTask.set(tick.name, [...(byTask.get(tick.name) ?? []), tick]);
      expect(byTask.size).toBe(50);
      for (const [, own] of byTask) {
        expect(own.map((t) => t.slot - T0).slice(0, 5)).toEqual([1_000, 2_000, 3_000, 4_000, 5_000]); // the grid
        expect(new Set(own.map((t) => t.after)).size).toBe(1); // the same offset every tick
        expect(own[0]!.after).toBeGreaterThanOrEqual(0);
        expect(own[0]!.after).toBeLessThan(1_000);
      }
      expect(ticks.every((t) => t.missed === 0)).toBe(true);
      // Spread over the window's 100 instants (every 10 ms here): 50 tasks land on many of them, across most of the second.
      const spread = [...offsets(ticks).values()];
      expect(spread.every((after) => after % 10 === 0)).toBe(true);
      expect(new Set(spread).size).toBeGreaterThan(25);
      expect(Math.max(...spread) - Math.min(...spread)).toBeGreaterThan(500);
      const registry = app.get(HostingRegistry);
      expect(registry.list().filter((s) => s.name.startsWith('spread-')).every((s) => s.missedTicks === 0)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('gives a task the same offset after a restart at another instant (derived from its name only)', async () => {
    const first: Tick[] = [];
    const second: Tick[] = [];
    for (const [ticks, start] of [
      [first, T0],
      [second, T0 + 123_457],
    ] as const) {
      const time = new VirtualTime({ now: start });
      const { app } = await startHostingApp({ time, providers: tasks(10, 'stable', 60_000, { spreadMs: 30_000 }, time, ticks) });
      try {
        await time.advance(60_000 + 30_000);
      } finally {
        await app.close();
      }
    }
    expect(first).toHaveLength(10);
    expect(offsets(second)).toEqual(offsets(first));
  });

  it('HostingModule.forRoot({ spreadMs }) spreads every task without its own; a task sets 0 to opt out', async () => {
    const ticks: Tick[] = [];
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({
      time,
      hosting: { spreadMs: 500 },
      providers: [...tasks(20, 'default', 1_000, {}, time, ticks), ...tasks(5, 'opted-out', 1_000, { spreadMs: 0 }, time, ticks)],
    });
    try {
      await time.advance(1_500);
      const all = offsets(ticks);
      const spread = [...all].filter(([name]) => name.startsWith('default-')).map(([, after]) => after);
      expect(spread).toHaveLength(20);
      expect(Math.max(...spread)).toBeLessThan(500);
      expect(new Set(spread).size).toBeGreaterThan(8);
      expect([...all].filter(([name]) => name.startsWith('opted-out-')).map(([, after]) => after)).toEqual([0, 0, 0, 0, 0]);
    } finally {
      await app.close();
    }
  });

  it('keeps the offset below the period when spreadMs is longer (no slot is passed, none counted as missed)', async () => {
    const ticks: Tick[] = [];
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({ time, providers: tasks(30, 'short', 100, { spreadMs: 60_000 }, time, ticks) });
    try {
      await time.advance(1_000 + 100);
      expect(ticks.every((t) => t.after >= 0 && t.after < 100)).toBe(true);
      expect(ticks.every((t) => t.missed === 0)).toBe(true);
      expect(ticks.filter((t) => t.name === 'short-0').map((t) => t.slot - T0)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000]);
    } finally {
      await app.close();
    }
  });

  it('spreads cron tasks after their instant, below the gap to the next one', async () => {
    const ticks: Tick[] = [];
    const time = new VirtualTime({ now: T0 });
    // Every minute; spreadMs 10 minutes is cut to the one-minute gap.
    const { app } = await startHostingApp({ time, providers: tasks(20, 'cron', { cron: '* * * * *' }, { spreadMs: 600_000 }, time, ticks) });
    try {
      await time.advance(3 * 60_000 + 60_000);
      expect(ticks.length).toBeGreaterThanOrEqual(60);
      expect(ticks.every((t) => t.slot % 60_000 === 0 && t.after >= 0 && t.after < 60_000 && t.missed === 0)).toBe(true);
      expect(new Set(ticks.map((t) => t.after)).size).toBeGreaterThan(8);
    } finally {
      await app.close();
    }
  });

  it('refuses a bad spreadMs with a TypeError naming the task and the value', () => {
    expect(() => {
      class Bad {
        @Periodic(1_000, { spreadMs: -5 })
        run() {}
      }
      return Bad;
    }).toThrow(/@Periodic on Bad\.run.*spreadMs.*-5/);
    expect(() => HostingModule.forRoot({ spreadMs: 'soon' as never })).toThrow(/HostingModule\.forRoot.*spreadMs.*"soon"/);
  });
});
