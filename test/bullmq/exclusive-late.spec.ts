/**
 * Missed-run alerts of an exclusive task are cluster-wide, on a real redis-server: a success on any
 * instance counts (kept in Redis), so an instance that never runs the task is not late while
 * another runs it fine; once no instance succeeds (the one running it died, every run fails), the
 * task is late on every instance.
 */
import { jest } from '@jest/globals';
import { Inject, Injectable, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HostingModule, HostingRegistry, Periodic, TimeProvider } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(90_000);

let redis: RedisServerHandle;
let taskCounter = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

/** An exclusive task every 10 s (late 20 s after the cluster's last success); `fails` says which instances' runs throw. */
function exclusiveJob(fails: (label: string) => boolean) {
  const name = `late-${process.pid}-${++taskCounter}`;
  const runs: string[] = [];
  /** Nest's logger is one per process: both instances' lines land here. */
  const logger = new CaptureLogger();
  @Injectable()
  class Job {
    constructor(@Inject('INSTANCE') private readonly label: string) {}

    @Periodic({ every: 10_000, exclusive: true, name })
    run() {
      runs.push(this.label);
      if (fails(this.label)) throw new Error(`${this.label} cannot reach the ledger`);
    }
  }
  async function start(label: string) {
    const time = new VirtualTime({ now: T0 });
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot({ redis: { host: redis.host, port: redis.port }, shutdownTimeoutMs: 5_000 })],
      providers: [Job as Type, { provide: 'INSTANCE', useValue: label }],
    })
      .overrideProvider(TimeProvider)
      .useValue(time)
      .setLogger(logger)
      .compile();
    await moduleRef.init();
    const registry = moduleRef.get(HostingRegistry);
    const status = () => registry.get(name)!;
    // On a busy machine the first connection may take a while: a claim without it skips the slot.
    await waitFor(() => status().connections?.[0]?.state === 'up', 15_000, 'the Redis connection of exclusive tasks');
    return { moduleRef, time, status };
  }
  return { name, runs, start, logger };
}

type Instance = Awaited<ReturnType<ReturnType<typeof exclusiveJob>['start']>>;

/** Moves both instances' clocks to `ms` after T0, `first` first (so that it claims the slots). */
async function advanceBoth(first: Instance, second: Instance, ms: number) {
  await first.time.advanceTo(T0 + ms);
  await second.time.advanceTo(T0 + ms);
}

describe('missed-run alerts of an exclusive task (cluster-wide)', () => {
  it('an instance that never runs the task is not late while another runs it; it becomes late once none succeeds', async () => {
    const job = exclusiveJob((label) => label === 'b'); // b's runs fail: it cannot take over
    const a = await job.start('a');
    const b = await job.start('b');
    try {
      for (const ms of [10_000, 20_000, 30_000]) await advanceBoth(a, b, ms);
      expect(job.runs).toEqual(['a', 'a', 'a']);
      expect(b.status().runs).toBe(0);
      // b's sweep reads a's last success from Redis.
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0 + 30_000, 10_000, "a's success seen by b");
      await b.time.advanceTo(T0 + 45_000); // past b's own budget from its start (20 s), long ago
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0 + 30_000);
      expect(b.status()).toMatchObject({ late: false, dueBy: new Date(T0 + 50_000) });
      expect(job.logger.find('warn', 'is late')).toEqual([]);

      // The instance that ran it dies: b claims the slots now, and fails them.
      await a.moduleRef.close();
      await b.time.advanceTo(T0 + 50_000);
      expect(job.runs).toEqual(['a', 'a', 'a', 'b', 'b']);
      expect(b.status().late).toBe(false);
      await b.time.advanceTo(T0 + 50_001);
      expect(b.status()).toMatchObject({ late: true, lastSucceededAt: new Date(T0 + 30_000), dueBy: new Date(T0 + 50_000) });
      await waitFor(() => job.logger.find('warn', 'is late').length === 1, 10_000, "b's late line");
      expect(job.logger.find('warn', 'is late')[0]!.message).toContain(`Periodic task "${job.name}" is late: no successful run for`);
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
  });

  it('a task no instance succeeds at is late on every instance', async () => {
    const job = exclusiveJob(() => true);
    const a = await job.start('a');
    const b = await job.start('b');
    try {
      for (const ms of [10_000, 20_000]) await advanceBoth(a, b, ms);
      for (const instance of [a, b]) expect(instance.status()).toMatchObject({ late: false, dueBy: new Date(T0 + 20_000) });
      await advanceBoth(a, b, 20_001);
      for (const instance of [a, b]) {
        expect(instance.status()).toMatchObject({ late: true, dueBy: new Date(T0 + 20_000) });
        expect(instance.status().lastSucceededAt).toBeUndefined();
      }
      await waitFor(() => job.logger.find('warn', 'is late').length === 2, 10_000, 'a late line from each instance');
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
  });

  it('a failed Redis read keeps the local judgement and is not fatal', async () => {
    const job = exclusiveJob(() => false);
    const a = await job.start('a');
    try {
      await a.time.advanceTo(T0 + 10_000); // succeeds here, and in Redis
      // The run's claim and release are real Redis round trips: on a loaded machine they may outlast
      // the turns VirtualTime gives work it cannot see waiting on I/O.
      await waitFor(() => a.status().lastSucceededAt !== undefined, 15_000, 'the 10 s run recorded');
      expect(a.status()).toMatchObject({ late: false, lastSucceededAt: new Date(T0 + 10_000), dueBy: new Date(T0 + 30_000) });
      await redis.stop();
      await a.time.advanceTo(T0 + 30_000); // the 20 s and 30 s slots cannot be claimed: skipped
      expect(a.status()).toMatchObject({ late: false, runs: 1 });
      await a.time.advanceTo(T0 + 30_001);
      expect(a.status()).toMatchObject({ late: true, state: 'idle' });
      await waitFor(() => job.logger.find('warn', 'is late').length === 1, 15_000, 'the late line, judged locally');
    } finally {
      if (!redis.running) await redis.start();
      await waitFor(() => a.status().connections?.[0]?.state === 'up', 15_000, 'the gate reconnected');
      await a.moduleRef.close();
    }
  });

  it('a run triggered on one instance counts for the others too', async () => {
    const job = exclusiveJob((label) => label === 'b');
    const a = await job.start('a');
    const b = await job.start('b');
    try {
      await a.time.advanceTo(T0 + 5_000);
      await a.moduleRef.get(HostingRegistry).trigger(job.name); // a's triggered run succeeds at 5 s
      await b.time.advanceTo(T0 + 15_000);
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0 + 5_000, 10_000, "a's triggered success seen by b");
      expect(b.status()).toMatchObject({ late: false, dueBy: new Date(T0 + 25_000) });
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
  });
});
