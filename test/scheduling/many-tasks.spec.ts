/**
 * Thousands of periodic tasks share one timer queue: one armed timer for all of them, each tick on
 * its own slot, and synchronous ticks settled without a promise (their next slot armed at once).
 */
import { Injectable, Module, type Type } from '@nestjs/common';
import { HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

/** `count` providers with one `@Periodic(periodMs)` task each, in modules of 500 (as a large app would split them). */
function taskModules(count: number, periodMs: number, onTick: (ctx: TickContext) => unknown): Type[] {
  const modules: Type[] = [];
  for (let first = 0; first < count; first += 500) {
    const providers = Array.from({ length: Math.min(500, count - first) }, (_, j) => {
      @Injectable()
      class Task {
        @Periodic(periodMs, { name: `task-${first + j}` })
        run(ctx: TickContext) {
          return onTick(ctx);
        }
      }
      return Task;
    });
    @Module({ providers })
    class Tasks {}
    modules.push(Tasks);
  }
  return modules;
}

describe('thousands of periodic tasks', () => {
  it('2,000 tasks keep one timer armed between them, and each runs on every slot', async () => {
    const runs = new Map<string, number[]>();
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({
      time,
      hosting: { staleAfterPeriods: false },
      imports: taskModules(2_000, 1_000, (ctx) => {
        const own = runs.get(ctx.name) ?? [];
        own.push(ctx.scheduledAt.getTime() - T0);
        runs.set(ctx.name, own);
      }),
    });
    try {
      // One timer for all the tasks' slots (not one per task).
      expect(time.pendingTimers).toBe(1);
      await time.advance(3_000);
      expect(runs.size).toBe(2_000);
      for (const [, slots] of runs) expect(slots).toEqual([1_000, 2_000, 3_000]);
      expect(time.pendingTimers).toBe(1);
      const statuses = app.get(HostingRegistry).list();
      expect(statuses.filter((s) => s.kind === 'periodic' && s.runs === 3 && s.missedTicks === 0 && s.state === 'idle')).toHaveLength(2_000);
    } finally {
      await app.close();
    }
    expect(time.pendingTimers).toBe(0);
  });

  it('a synchronous tick is counted and its next slot armed before the timer callback returns', async () => {
    const time = new VirtualTime({ now: T0 });
    let seen: { runs: number; state: string; nextRunAt?: Date } | undefined;
    let registry!: HostingRegistry;
    @Injectable()
    class Probe {
      @Periodic(1_000, { name: 'probe' })
      first() {}

      // Fires right after `probe` in the same batch (armed after it): sees probe's run settled.
      @Periodic(1_000, { name: 'reader' })
      second() {
        const { runs, state, nextRunAt } = registry.get('probe')!;
        seen = { runs, state, nextRunAt };
      }
    }
    const { app } = await startHostingApp({ time, providers: [Probe] });
    registry = app.get(HostingRegistry);
    try {
      await time.advance(1_000);
      expect(seen).toEqual({ runs: 1, state: 'idle', nextRunAt: new Date(T0 + 2_000) });
    } finally {
      await app.close();
    }
  });

  it('a synchronous tick may remove or trigger its own task from inside its run', async () => {
    const time = new VirtualTime({ now: T0 });
    const calls: string[] = [];
    let registry!: HostingRegistry;
    @Injectable()
    class SelfControl {
      @Periodic(1_000, { name: 'self.trigger' })
      again(ctx: TickContext) {
        calls.push(`trigger ${ctx.triggered}`);
        if (!ctx.triggered) void registry.trigger('self.trigger'); // queued: runs once this run settles
      }

      @Periodic(1_000, { name: 'self.remove' })
      halt() {
        calls.push('remove');
        void registry.remove('self.remove');
      }
    }
    const { app } = await startHostingApp({ time, providers: [SelfControl] });
    registry = app.get(HostingRegistry);
    try {
      await time.advance(2_000);
      expect(calls.filter((c) => c === 'remove')).toEqual(['remove']); // stopped and gone after its first run
      expect(registry.get('self.remove')).toBeUndefined();
      expect(calls.filter((c) => c.startsWith('trigger'))).toEqual(['trigger false', 'trigger true', 'trigger false', 'trigger true']);
    } finally {
      await app.close();
    }
  });

  it('a tick returning an object whose `then` throws is a failed run, and the schedule goes on', async () => {
    const time = new VirtualTime({ now: T0 });
    let runs = 0;
    @Injectable()
    class Hostile {
      @Periodic(1_000, { name: 'hostile' })
      run() {
        runs++;
        return Object.defineProperty({}, 'then', {
          get() {
            throw new Error('no then for you');
          },
        });
      }
    }
    const { app, logger } = await startHostingApp({ time, providers: [Hostile] });
    try {
      await time.advance(3_000);
      expect(runs).toBe(3);
      expect(app.get(HostingRegistry).get('hostile')).toMatchObject({ runs: 3, failures: 3, state: 'idle', lastError: { message: 'no then for you' } });
      expect(logger.errors()).toHaveLength(3);
    } finally {
      await app.close();
    }
  });

  it('real timer: a synchronous tick that always overruns its period runs back to back, yielding to the event loop between runs (no stack growth, timers still fire)', async () => {
    // Each run blocks 2 ms on a 1 ms period: every run ends with its next slot already passed, and
    // the next run starts at once (coalesced). 1,500 of them in a row would overflow the stack if
    // each started inside the end of the previous one, and starve the event loop (this test's own
    // polling timer) if each started on a microtask.
    let runs = 0;
    let depthError: unknown;
    @Injectable()
    class Busy {
      @Periodic(1, { name: 'busy' })
      spin(ctx: TickContext) {
        runs++;
        const until = performance.now() + 2;
        while (performance.now() < until);
        if (ctx.missedTicks < 0) depthError = new Error('unreachable');
      }
    }
    const { app } = await startHostingApp({ providers: [Busy], hosting: { staleAfterPeriods: false } });
    try {
      await waitFor(() => runs >= 1_500, 60_000, '1,500 runs');
      expect(depthError).toBeUndefined();
      expect(app.get(HostingRegistry).get('busy')).toMatchObject({ failures: 0 });
    } finally {
      await app.close();
    }
  });

  it('real timer: interval tasks found at start-up share one grid origin, so tasks with the same period share their slots (one timer wake for all)', async () => {
    // 3,000 registrations take milliseconds of real time: were each grid to start at its own
    // registration, the slots would fall on as many different milliseconds modulo the period.
    const slots = new Map<string, number[]>();
    const { app } = await startHostingApp({
      hosting: { staleAfterPeriods: false },
      imports: taskModules(3_000, 500, (ctx) => {
        const own = slots.get(ctx.name) ?? [];
        own.push(ctx.scheduledAt.getTime());
        slots.set(ctx.name, own);
      }),
    });
    try {
      await waitFor(() => slots.size === 3_000 && [...slots.values()].every((own) => own.length >= 2), 60_000, 'every task to run twice');
      const phases = new Set([...slots.values()].flat().map((at) => at % 500));
      expect([...phases]).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it('a synchronous tick that blocks its batch: the tasks due at the same instant after it see the time it took (their passed slots coalesced, their status times their own)', async () => {
    // A virtual clock that a tick moves forward while it runs, as a run that blocks the event loop moves the real one.
    class BlockingTime extends VirtualTime {
      private blocked = 0;
      block(ms: number): void {
        this.blocked += ms;
      }
      override now(): number {
        return super.now() + this.blocked;
      }
      override monotonic(): number {
        return super.monotonic() + this.blocked;
      }
    }
    const time = new BlockingTime({ now: T0 });
    const runs: string[] = [];
    const seen = (ctx: TickContext) => runs.push(`${ctx.name}@${ctx.scheduledAt.getTime() - T0} missed ${ctx.missedTicks}`);
    @Injectable()
    class First {
      @Periodic(1_000, { name: 'first' })
      run(ctx: TickContext) {
        seen(ctx);
        if (ctx.tick === 1) time.block(2_500); // the first run takes 2.5 s: slots 2,000 and 3,000 pass meanwhile
      }
    }
    @Injectable()
    class Second {
      @Periodic(1_000, { name: 'second' })
      run(ctx: TickContext) {
        seen(ctx);
      }
    }
    const { app } = await startHostingApp({ time, providers: [First, Second], hosting: { staleAfterPeriods: false } });
    try {
      await time.advance(1_000);
      // 'second' was due at 1,000 with 'first', and fired after it, at 3,500: one run for its three slots.
      expect(runs).toEqual(['first@1000 missed 0', 'second@3000 missed 2', 'first@3000 missed 1']);
      const second = app.get(HostingRegistry).get('second');
      expect(second).toMatchObject({ runs: 1, missedTicks: 2, lastDurationMs: 0 });
      expect(second?.lastStartedAt?.getTime()).toBe(T0 + 3_500);
      expect(second?.lastFinishedAt?.getTime()).toBe(T0 + 3_500);
      expect(app.get(HostingRegistry).get('first')?.lastStartedAt?.getTime()).toBe(T0 + 3_500);
    } finally {
      await app.close();
    }
  });

  it("reads a singleton's @Periodic method once, when the app starts: a replacement set on the instance later is not called", async () => {
    const calls: string[] = [];
    @Injectable()
    class Purge {
      @Periodic(1_000, { name: 'purge' })
      run() {
        calls.push(`original:${this instanceof Purge}`);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { app } = await startHostingApp({ time, providers: [Purge], hosting: { staleAfterPeriods: false } });
    try {
      const purge = app.get(Purge);
      purge.run = () => void calls.push('replaced');
      await time.advance(1_000);
      await app.get(HostingRegistry).trigger('purge');
      expect(calls).toEqual(['original:true', 'original:true']); // bound to its instance, read at start-up
    } finally {
      await app.close();
    }
  });
});
