/**
 * The lock behind `@Periodic({ exclusive: true })`, on a real redis-server: several gates stand
 * for several app instances sharing one Redis.
 */
import { Redis } from 'ioredis';
import {
  claimKey,
  exclusiveTickRunner,
  exclusiveTimings,
  MIN_LEASE_MS,
  MIN_SLOT_TTL_MS,
  SKIPPED_TICK,
} from '../../src/distributed/exclusive-tick-runner.js';
import { RedisExclusiveTickGate } from '../../src/distributed/redis-exclusive-tick-gate.js';
import { EXCLUSIVE_TASK, EXCLUSIVE_TICK_SKIPPED, REDIS_RECOVERED } from '../../src/distributed/redis.messages.js';
import { CronSchedule, FixedRateSchedule } from '../../src/scheduling/schedule.js';
import { TickContext } from '../../src/scheduling/tick-context.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { sleep } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';
import { trackUnhandledRejections } from './unhandled-rejections.js';

let redis: RedisServerHandle;
let inspect: Redis;
let logger: CaptureLogger;
const gates: RedisExclusiveTickGate[] = [];
let taskCounter = 0;
const uniqueTask = (base: string) => `${base}-${process.pid}-${++taskCounter}`;

function gate(server: RedisServerHandle = redis, connectWaitMs?: number): RedisExclusiveTickGate {
  const created = new RedisExclusiveTickGate({ connection: { host: server.host, port: server.port }, logger, connectWaitMs });
  gates.push(created);
  return created;
}

const claim = (task: string, slot: number, timings = { slotTtlMs: 60_000, leaseMs: 2_000 }) => ({
  task,
  slotKey: `${task}@${new Date(slot).toISOString()}`,
  ...timings,
});

/** Retries `attempt` one call at a time until it resolves (a client reconnecting takes a few tries). */
async function eventually<R>(attempt: () => Promise<R>, timeoutMs = 15_000): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

const tick = (name: string, scheduledAt: number, tickNumber = 1, triggered = false) =>
  new TickContext(name, tickNumber, scheduledAt, new AbortController(), 0, triggered);

beforeAll(async () => {
  redis = await startRedisServer();
  inspect = new Redis(redis.port, redis.host);
});

afterAll(async () => {
  inspect?.disconnect();
  await redis?.stop();
});

beforeEach(() => {
  logger = new CaptureLogger();
});

afterEach(async () => {
  await Promise.all(gates.splice(0).map((g) => g.dispose()));
});

describe('RedisExclusiveTickGate', () => {
  it('gives each slot to exactly one of the instances that claim it at once', async () => {
    const task = uniqueTask('once');
    const instances = [gate(), gate(), gate()];
    for (let slot = 0; slot < 20; slot++) {
      const leases = await Promise.all(instances.map((g) => g.tryAcquire(claim(task, slot * 1000))));
      const winners = leases.filter((lease) => lease !== undefined);
      expect(winners).toHaveLength(1);
      await winners[0]!.release();
    }
  });

  it('does not give a slot again once it ran, even after the run ended', async () => {
    const task = uniqueTask('no-repeat');
    const [a, b] = [gate(), gate()];
    const lease = await a.tryAcquire(claim(task, 1000));
    await lease!.release();
    expect(await b.tryAcquire(claim(task, 1000))).toBeUndefined();
  });

  it('lets slot keys expire on their own (a crashed holder blocks nothing for ever)', async () => {
    const task = uniqueTask('ttl');
    const lease = await gate().tryAcquire(claim(task, 1000, { slotTtlMs: 5_000, leaseMs: 2_000 }));
    await lease!.release();
    const keys = await inspect.keys(`hosting:{exclusive:${task}}:*`);
    expect(keys).toEqual([`hosting:{exclusive:${task}}:slot:${task}@${new Date(1000).toISOString()}`]);
    const ttl = await inspect.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
  });

  it('starts no run on another instance while one runs (runs never overlap across instances)', async () => {
    const task = uniqueTask('overlap');
    const [a, b] = [gate(), gate()];
    const running = await a.tryAcquire(claim(task, 1000));
    expect(running).toBeDefined();
    expect(await b.tryAcquire(claim(task, 2000))).toBeUndefined();
    expect(await b.tryAcquire(claim(task, 3000))).toBeUndefined();
    await running!.release();
    // The slots skipped during the run were not consumed: the holder's coalesced run can claim the last one.
    expect(await a.tryAcquire(claim(task, 3000))).toBeDefined();
  });

  it('renews the run lease at half its TTL while the run lasts', async () => {
    const task = uniqueTask('renew');
    const running = await gate().tryAcquire(claim(task, 1000, { slotTtlMs: 60_000, leaseMs: 400 }));
    await sleep(1_000); // 2.5 lease lengths
    expect(await gate().tryAcquire(claim(task, 2000, { slotTtlMs: 60_000, leaseMs: 400 }))).toBeUndefined();
    await running!.release();
    expect(await inspect.exists(`hosting:{exclusive:${task}}:running`)).toBe(0);
  });

  it('when the holder crashes mid-run, the task is free again once the lease lapses', async () => {
    const task = uniqueTask('crash');
    const holder = gate();
    const crashed = await holder.tryAcquire(claim(task, 1000, { slotTtlMs: 60_000, leaseMs: 500 }));
    expect(crashed).toBeDefined();
    // A crash: the renewal stops and nothing releases the lease.
    await (holder as unknown as { client: Promise<Redis> }).client.then((c) => c.disconnect());
    const other = gate();
    expect(await other.tryAcquire(claim(task, 2000, { slotTtlMs: 60_000, leaseMs: 500 }))).toBeUndefined();
    await sleep(700);
    expect(await other.tryAcquire(claim(task, 3000, { slotTtlMs: 60_000, leaseMs: 500 }))).toBeDefined();
  });

  it('rejects a claim when Redis cannot be reached, and claims again once it is back', async () => {
    const outage = await startRedisServer();
    try {
      const g = gate(outage);
      const task = uniqueTask('outage');
      expect(await g.tryAcquire(claim(task, 1000))).toBeDefined();
      await outage.stop();
      await expect(g.tryAcquire(claim(task, 2000))).rejects.toThrow(/unreachable|writeable|closed|ECONNREFUSED/i);
      await outage.start();
      expect(await eventually(() => g.tryAcquire(claim(task, 3000)))).toBeDefined();
    } finally {
      await outage.stop();
    }
  });
});

describe('exclusiveTickRunner', () => {
  it('runs the tick on the instance that claims it, and skips it on the others', async () => {
    const name = uniqueTask('runner');
    const schedule = new FixedRateSchedule(1_000, 0);
    const runs: string[] = [];
    const runners = ['a', 'b', 'c'].map((instance) =>
      exclusiveTickRunner({ name, schedule, jitterMs: 0 }, gate(), () => runs.push(instance), logger),
    );
    const outcomes = await Promise.all(runners.map((run) => run(tick(name, 5_000))));
    expect(runs).toHaveLength(1);
    expect(outcomes.filter((o) => o === SKIPPED_TICK)).toHaveLength(2);
  });

  it('runs a HostingRegistry.trigger call locally, without a claim', async () => {
    const name = uniqueTask('trigger');
    const run = exclusiveTickRunner({ name, schedule: new FixedRateSchedule(1_000, 0), jitterMs: 0 }, gate(), () => 'ran', logger);
    await run(tick(name, 5_000)); // the slot is taken…
    expect(await run(tick(name, Date.now(), 2, true))).toBe('ran'); // …a trigger still runs
  });

  it('releases the lease when the run throws, and passes the error on', async () => {
    const name = uniqueTask('throws');
    const schedule = new FixedRateSchedule(1_000, 0);
    const run = exclusiveTickRunner({ name, schedule, jitterMs: 0 }, gate(), () => {
      throw new Error('tick failed');
    }, logger);
    await expect(run(tick(name, 1_000))).rejects.toThrow('tick failed');
    expect(await inspect.exists(`hosting:{exclusive:${name}}:running`)).toBe(0);
  });

  it('skips ticks while Redis is unreachable (never runs unguarded), logs that once, and runs again when it is back', async () => {
    const unhandled = trackUnhandledRejections();
    const outage = await startRedisServer();
    try {
      const name = uniqueTask('skip');
      const schedule = new FixedRateSchedule(100, 0);
      let runs = 0;
      const run = exclusiveTickRunner({ name, schedule, jitterMs: 0 }, gate(outage, 300), () => runs++, logger);
      await run(tick(name, 100));
      expect(runs).toBe(1);
      await outage.stop();
      for (let slot = 2; slot <= 6; slot++) expect(await run(tick(name, slot * 100))).toBe(SKIPPED_TICK);
      expect(runs).toBe(1);
      const subject = EXCLUSIVE_TASK(name);
      const skipped = logger.entries.filter((e) => e.message.startsWith(EXCLUSIVE_TICK_SKIPPED(subject, new Error('x')).split(' (')[0]));
      expect(skipped).toHaveLength(1);
      await outage.start();
      let slot = 7;
      await eventually(async () => {
        if ((await run(tick(name, slot++ * 100))) === SKIPPED_TICK) throw new Error('still skipped');
      });
      expect(runs).toBe(2);
      const recovered = REDIS_RECOVERED(subject, 0).replace(/ 0 ms$/, '');
      expect(logger.entries.some((e) => e.level === 'log' && e.message.startsWith(recovered))).toBe(true);
      expect(unhandled.rejections).toEqual([]);
    } finally {
      unhandled.dispose();
      await outage.stop();
    }
  });
});

describe('exclusive timings', () => {
  it('keeps slot keys at least a minute (clock-skew tolerance) and bounds the run lease', () => {
    const every = (ms: number) => ({ name: 't', schedule: new FixedRateSchedule(ms, 0), jitterMs: 0 });
    expect(exclusiveTimings(every(100))).toEqual({ slotTtlMs: MIN_SLOT_TTL_MS, leaseMs: MIN_LEASE_MS });
    expect(exclusiveTimings(every(10_000))).toEqual({ slotTtlMs: MIN_SLOT_TTL_MS, leaseMs: 10_000 });
    expect(exclusiveTimings(every(3_600_000))).toEqual({ slotTtlMs: 3_600_000, leaseMs: 60_000 });
    expect(exclusiveTimings({ ...every(1_000), jitterMs: 500 }).slotTtlMs).toBe(MIN_SLOT_TTL_MS + 500);
  });

  it('claims a runOnStart tick as the grid slot before start-up, so replicas starting together run it once', () => {
    const task = { name: 'report', schedule: new FixedRateSchedule(60_000, 0), jitterMs: 0 };
    const startedAt = Date.UTC(2030, 0, 1, 12, 0, 17, 345);
    expect(claimKey(task, tick('report', startedAt))).toBe(`report@${new Date(Date.UTC(2030, 0, 1, 12, 0, 0)).toISOString()}`);
    const onGrid = Date.UTC(2030, 0, 1, 12, 1, 0);
    expect(claimKey(task, tick('report', onGrid))).toBe(`report@${new Date(onGrid).toISOString()}`);
    expect(claimKey(task, tick('report', startedAt, 2))).toBe(`report@${new Date(startedAt).toISOString()}`);
    const cron = { name: 'c', schedule: new CronSchedule('0 */5 * * * *', 'UTC'), jitterMs: 0 };
    expect(claimKey(cron, tick('c', Date.UTC(2030, 0, 1, 12, 7, 3)))).toBe(`c@${new Date(Date.UTC(2030, 0, 1, 12, 5, 0)).toISOString()}`);
  });
});
