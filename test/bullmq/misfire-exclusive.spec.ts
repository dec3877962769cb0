/**
 * `onMissed` of an exclusive task across process lifetimes, on a real redis-server: the last run
 * slot is kept in Redis, and an instance that starts after the whole cluster was down at a slot
 * deals with it as the policy says — once across instances that start together, never again.
 */
import { Inject, Injectable, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HostingModule, HostingRegistry, Periodic, TickContext, TimeProvider, type PeriodicTaskOptions } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { RedisExclusiveTickGate } from '../../src/distributed/redis-exclusive-tick-gate.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
let taskCounter = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

const DAY1_0300 = Date.parse('2026-06-01T03:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A daily 03:00 exclusive job; every run on any instance noted as `instance: slot missed=N`. */
function dailyJob(onMissed: PeriodicTaskOptions['onMissed']) {
  const name = `nightly-${process.pid}-${++taskCounter}`;
  const runs: string[] = [];
  @Injectable()
  class Nightly {
    constructor(@Inject('INSTANCE') private readonly label: string) {}

    @Periodic({ cron: '0 0 3 * * *', timeZone: 'UTC', exclusive: true, name, onMissed })
    async run(ctx: TickContext) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // a run long enough for a second instance to try the slot
      runs.push(`${this.label}: ${ctx.scheduledAt.toISOString()} missed=${ctx.missedTicks}`);
    }
  }
  /** Starts one app instance on its own virtual clock, at `now`. */
  async function start(label: string, now: number) {
    const time = new VirtualTime({ now });
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot({ redis: { host: redis.host, port: redis.port }, shutdownTimeoutMs: 5_000 })],
      providers: [Nightly as Type, { provide: 'INSTANCE', useValue: label }],
    })
      .overrideProvider(TimeProvider)
      .useValue(time)
      .setLogger(new CaptureLogger())
      .compile();
    await moduleRef.init();
    const registry = moduleRef.get(HostingRegistry);
    return { moduleRef, registry, time, status: () => registry.get(name) };
  }
  /** A first instance runs the 03:00 slot of day 1 and closes: the "previous run" Redis remembers. */
  async function previousRun() {
    const first = await start('first', DAY1_0300 - 60_000);
    try {
      await first.time.advance(60_000);
      await first.registry.whenIdle();
    } finally {
      await first.moduleRef.close();
    }
    expect(runs).toEqual([`first: ${iso(DAY1_0300)} missed=0`]);
    runs.length = 0;
  }
  return { runs, start, previousRun };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('onMissed of an exclusive task at start-up', () => {
  it('a catch-up runs the slot the whole cluster missed once across two instances starting together, and not on a third start', async () => {
    const job = dailyJob({ catchUp: 1, windowMs: 12 * HOUR });
    await job.previousRun();
    // Day 2, 09:00: the cluster was down at 03:00. Two instances start at once.
    const [a, b] = await Promise.all([job.start('a', DAY1_0300 + DAY + 6 * HOUR), job.start('b', DAY1_0300 + DAY + 6 * HOUR)]);
    try {
      await Promise.all([a.registry.whenIdle(), b.registry.whenIdle()]);
      expect(job.runs).toHaveLength(1);
      expect(job.runs[0]).toMatch(new RegExp(`^[ab]: ${iso(DAY1_0300 + DAY)} missed=0$`));
      expect((a.status()?.runs ?? 0) + (b.status()?.runs ?? 0)).toBe(1);
      // Both go on with the grid: the next slot is tomorrow's, where only one of them runs it.
      expect(a.status()?.nextRunAt).toEqual(new Date(DAY1_0300 + 2 * DAY));
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
    // A third start, an hour later: the slot is recorded as run, nothing is caught up.
    const c = await job.start('c', DAY1_0300 + DAY + 7 * HOUR);
    try {
      await c.registry.whenIdle();
      await c.time.advance(HOUR);
      await c.registry.whenIdle();
      expect(job.runs).toHaveLength(1);
      expect(c.status()).toMatchObject({ runs: 0, missedTicks: 0 });
    } finally {
      await c.moduleRef.close();
    }
  });

  it('a catch-up drops a missed slot older than its window, counting it', async () => {
    const job = dailyJob({ catchUp: 1, windowMs: 12 * HOUR });
    await job.previousRun();
    // Day 2, 16:00: 03:00 is 13 hours old.
    const late = await job.start('late', DAY1_0300 + DAY + 13 * HOUR);
    try {
      await late.registry.whenIdle();
      expect(job.runs).toEqual([]);
      expect(late.status()).toMatchObject({ runs: 0, missedTicks: 1 });
    } finally {
      await late.moduleRef.close();
    }
  });

  it("'coalesce' (the default) runs the slots missed since the recorded one as one run, at the last of them", async () => {
    const job = dailyJob(undefined);
    await job.previousRun();
    // Day 3, 09:00: day 2's and day 3's 03:00 passed with the cluster down.
    const [a, b] = await Promise.all([job.start('a', DAY1_0300 + 2 * DAY + 6 * HOUR), job.start('b', DAY1_0300 + 2 * DAY + 6 * HOUR)]);
    try {
      await Promise.all([a.registry.whenIdle(), b.registry.whenIdle()]);
      expect(job.runs).toHaveLength(1);
      expect(job.runs[0]).toMatch(new RegExp(`^[ab]: ${iso(DAY1_0300 + 2 * DAY)} missed=1$`));
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
    const c = await job.start('c', DAY1_0300 + 2 * DAY + 7 * HOUR);
    try {
      await c.registry.whenIdle();
      expect(job.runs).toHaveLength(1);
    } finally {
      await c.moduleRef.close();
    }
  });

  it("'skip' does not run what the cluster missed", async () => {
    const job = dailyJob('skip');
    await job.previousRun();
    const next = await job.start('next', DAY1_0300 + DAY + 6 * HOUR);
    try {
      await next.registry.whenIdle();
      expect(job.runs).toEqual([]);
      await next.time.advanceTo(new Date(DAY1_0300 + 2 * DAY));
      await next.registry.whenIdle();
      expect(job.runs).toEqual([`next: ${iso(DAY1_0300 + 2 * DAY)} missed=0`]);
    } finally {
      await next.moduleRef.close();
    }
  });
});

describe('RedisExclusiveTickGate: the last run slot', () => {
  it('is recorded when a lease is released, and never moves back (a lagging instance, an older slot caught up)', async () => {
    const gate = new RedisExclusiveTickGate({ connection: { host: redis.host, port: redis.port }, logger: new CaptureLogger() });
    const task = `last-${process.pid}-${++taskCounter}`;
    const claim = (slotAt: number) => ({ task, slotKey: `${task}@${iso(slotAt)}`, slotAt, slotTtlMs: 60_000, leaseMs: 2_000, lastRunTtlMs: 60_000 });
    try {
      expect(await gate.lastRun(task)).toBeUndefined();
      const lease = await gate.tryAcquire(claim(DAY1_0300 + DAY));
      expect(await gate.lastRun(task)).toBeUndefined(); // not while the run goes on
      await lease!.release();
      expect(await gate.lastRun(task)).toBe(DAY1_0300 + DAY);
      await (await gate.tryAcquire(claim(DAY1_0300)))!.release();
      expect(await gate.lastRun(task)).toBe(DAY1_0300 + DAY);
      await (await gate.tryAcquire(claim(DAY1_0300 + 2 * DAY)))!.release();
      expect(await gate.lastRun(task)).toBe(DAY1_0300 + 2 * DAY);
    } finally {
      await gate.dispose();
    }
  });
});
