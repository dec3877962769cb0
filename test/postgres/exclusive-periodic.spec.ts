/**
 * `@Periodic(…, { exclusive: true })` with `HostingModule.forRoot({ postgres })`: real Nest apps in
 * this process sharing one real PostgreSQL, each on its own virtual clock (test/postgres/
 * exclusive-periodic.multi-process.spec.ts runs real processes on real time). Which store the host
 * picks, the slot claimed once with its key in `TickContext`, start-up errors, an outage under a
 * running app, and what the database remembers for the cluster (the last run slot, the last success).
 */
import { jest } from '@jest/globals';
import { Inject, Injectable, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as net from 'node:net';
import pg from 'pg';
import { EXCLUSIVE_SLOTS_TABLE, EXCLUSIVE_TABLES_SQL } from '../../src/distributed/postgres-exclusive-tick-gate.js';
import { EXCLUSIVE_NEEDS_REDIS } from '../../src/hosting.messages.js';
import {
  HostingModule,
  HostingRegistry,
  Periodic,
  TickContext,
  TimeProvider,
  type HostingOptions,
  type PeriodicTaskOptions,
} from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/hosting-app.js';
import { startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';

jest.setTimeout(90_000);

let server: PostgresServerHandle;
let url: string;
let inspect: pg.Pool;
let taskCounter = 0;

beforeAll(async () => {
  server = await startPostgresServer();
  url = await server.createDatabase('exclusive_apps');
  inspect = new pg.Pool({ connectionString: url, max: 2 });
  inspect.on('error', () => undefined); // idle connections cut by the outage test
});

afterAll(async () => {
  await inspect?.end();
  await server?.destroy();
});

afterEach(async () => {
  if (!server.running) await server.start();
});

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Run {
  label: string;
  slotKey: string;
  scheduledAt: string;
  missed: number;
}

/** An exclusive task; every run on any instance is noted with the slot key its TickContext carried. */
function exclusiveJob(periodic: Omit<PeriodicTaskOptions, 'name' | 'exclusive'> & { every?: number; cron?: string; timeZone?: string }, fails: (label: string) => boolean = () => false) {
  const name = `pg-${process.pid}-${++taskCounter}`;
  const runs: Run[] = [];
  /** Nest's logger is one per process: every instance's lines land here. */
  const logger = new CaptureLogger();
  @Injectable()
  class Job {
    constructor(@Inject('INSTANCE') private readonly label: string) {}

    @Periodic({ ...periodic, exclusive: true, name } as never)
    run(ctx: TickContext) {
      runs.push({ label: this.label, slotKey: ctx.slotKey, scheduledAt: ctx.scheduledAt.toISOString(), missed: ctx.missedTicks });
      if (fails(this.label)) throw new Error(`${this.label} cannot reach the ledger`);
    }
  }
  async function start(label: string, now = T0, hosting: HostingOptions = { postgres: url }) {
    const time = new VirtualTime({ now });
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot({ shutdownTimeoutMs: 5_000, ...hosting })],
      providers: [Job as Type, { provide: 'INSTANCE', useValue: label }],
    })
      .overrideProvider(TimeProvider)
      .useValue(time)
      .setLogger(logger)
      .compile();
    await moduleRef.init();
    const registry = moduleRef.get(HostingRegistry);
    // The start-up read of the cluster's last run (a query) settles before the test moves the clock.
    await registry.whenIdle();
    return { moduleRef, registry, time, status: () => registry.get(name)! };
  }
  return { name, runs, logger, start };
}

const slotKeys = async (task: string) =>
  (await inspect.query<{ slot_key: string }>(`SELECT slot_key FROM ${EXCLUSIVE_SLOTS_TABLE} WHERE task = $1 ORDER BY slot_key`, [task])).rows.map((r) => r.slot_key);

describe('@Periodic({ exclusive: true }) on PostgreSQL', () => {
  it('runs each slot on one of two instances, with the slot key the claim used in TickContext', async () => {
    const job = exclusiveJob({ every: 10_000 });
    const a = await job.start('a');
    const b = await job.start('b');
    try {
      expect(a.status().connections).toEqual([{ name: 'postgres', state: 'up', since: expect.any(Date) }]);
      for (let k = 1; k <= 8; k++) {
        // Either instance may come first to a slot: here they take turns.
        const [first, second] = k % 2 ? [a, b] : [b, a];
        await first.time.advanceTo(T0 + k * 10_000);
        await second.time.advanceTo(T0 + k * 10_000);
      }
      const expected = Array.from({ length: 8 }, (_, i) => `${job.name}@${iso(T0 + (i + 1) * 10_000)}`);
      expect(job.runs.map((r) => r.slotKey)).toEqual(expected);
      expect(job.runs.map((r) => r.label)).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
      expect(job.runs.every((r) => r.slotKey === `${job.name}@${r.scheduledAt}`)).toBe(true);
      expect(await slotKeys(job.name)).toEqual(expected);
      expect(a.status().runs + b.status().runs).toBe(8);
      expect(job.logger.errors()).toEqual([]);
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
  });

  it('uses Redis when both redis and postgres are set, PostgreSQL when only postgres is', async () => {
    const job = exclusiveJob({ every: 10_000 });
    // Nothing listens on port 1: the Redis gate is made (and reports its connection), PostgreSQL is not used.
    const both = await job.start('both', T0, { redis: 'redis://127.0.0.1:1', postgres: url });
    try {
      expect(both.status().connections?.map((c) => c.name)).toEqual(['redis']);
    } finally {
      await both.moduleRef.close();
    }
    const onlyPostgres = await job.start('pg');
    try {
      expect(onlyPostgres.status().connections?.map((c) => c.name)).toEqual(['postgres']);
    } finally {
      await onlyPostgres.moduleRef.close();
    }
  });

  it('fails at start-up when neither redis nor postgres is set, naming both', async () => {
    const job = exclusiveJob({ every: 10_000 });
    const error = await job.start('none', T0, {}).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/^@Periodic on Job\.run: \{ exclusive: true \} needs a store shared by the instances: set HostingModule\.forRoot\(\{ redis \}\) or HostingModule\.forRoot\(\{ postgres \}\)$/);
    expect(error?.message).toBe(EXCLUSIVE_NEEDS_REDIS('Job.run'));
  });

  it('refuses a bad postgres connection with a TypeError naming the option and the value', () => {
    expect(() => HostingModule.forRoot({ postgres: 'redis://127.0.0.1:6379' })).toThrow(
      new TypeError(
        'HostingModule.forRoot({ postgres }): the PostgreSQL URL "redis://127.0.0.1:6379" must start with postgres:// or postgresql://; write it as postgres://[user[:password]@]host[:port][/database]',
      ),
    );
    expect(() => HostingModule.forRoot({ postgres: { max: 0 } })).toThrow(/^HostingModule\.forRoot\(\{ postgres \}\): the PostgreSQL option "max" must be a positive integer, got 0$/);
  });

  it('fails at start-up when the role may not create the tables, with the SQL to run, and leaves no connection open', async () => {
    server.psql(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_limited') THEN CREATE ROLE app_limited LOGIN; END IF; END $$`);
    await server.createDatabase('apps_refused');
    const job = exclusiveJob({ every: 10_000 });
    const error = await job.start('limited', T0, { postgres: `postgres://app_limited@127.0.0.1:${server.port}/apps_refused` }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain('the PostgreSQL role "app_limited" cannot create the gate\'s tables');
    expect(error?.message).toContain(EXCLUSIVE_TABLES_SQL);
    const open = () => Number(server.psql(`SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_limited'`));
    await waitFor(() => open() === 0, 10_000, 'the refused gate to close its pool');
  });

  it("runs on the app's own pg.Pool and leaves it open when the app closes", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 3 });
    pool.on('error', () => undefined);
    const job = exclusiveJob({ every: 10_000 });
    try {
      const a = await job.start('a', T0, { postgres: pool });
      try {
        await a.time.advanceTo(T0 + 10_000);
        expect(job.runs.map((r) => r.slotKey)).toEqual([`${job.name}@${iso(T0 + 10_000)}`]);
      } finally {
        await a.moduleRef.close();
      }
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('skips ticks while PostgreSQL is stopped under the app (status down, said once), and runs them again once it is back', async () => {
    const job = exclusiveJob({ every: 10_000 });
    const a = await job.start('a');
    try {
      await a.time.advanceTo(T0 + 10_000);
      expect(a.status().runs).toBe(1);
      await server.stop();
      await waitFor(() => a.status().connections?.[0]?.state === 'down', 10_000, 'the gate down');
      for (const s of [20_000, 30_000, 40_000]) await a.time.advanceTo(T0 + s);
      expect(a.status()).toMatchObject({ runs: 1, state: 'idle' });
      expect(a.status().connections).toEqual([{ name: 'postgres', state: 'down', since: expect.any(Date), lastError: expect.any(String) }]);
      expect(job.logger.find('error', 'Exclusive periodic tasks: PostgreSQL is unreachable')).toHaveLength(1);
      expect(job.logger.find('error', `Exclusive periodic task "${job.name}": PostgreSQL is unreachable`)).toHaveLength(1);

      await server.start();
      await waitFor(() => a.status().connections?.[0]?.state === 'up', 20_000, 'the gate up again');
      await a.time.advanceTo(T0 + 50_000);
      expect(a.status().runs).toBe(2);
      expect(job.runs.map((r) => r.slotKey)).toEqual([`${job.name}@${iso(T0 + 10_000)}`, `${job.name}@${iso(T0 + 50_000)}`]);
      expect(job.logger.find('log', 'Exclusive periodic tasks: PostgreSQL is reachable again after')).toHaveLength(1);
      expect(job.logger.find('log', `Exclusive periodic task "${job.name}": ticks are claimed on PostgreSQL again after`)).toHaveLength(1);
    } finally {
      await a.moduleRef.close();
    }
  });

  it('catches up a slot the whole cluster missed once across two instances starting together, and not on a third start', async () => {
    const DAY1_0300 = Date.parse('2026-06-01T03:00:00Z');
    const job = exclusiveJob({ cron: '0 0 3 * * *', timeZone: 'UTC', onMissed: { catchUp: 1, windowMs: 12 * HOUR } });
    const first = await job.start('first', DAY1_0300 - 60_000);
    try {
      await first.time.advance(60_000);
      await first.registry.whenIdle();
    } finally {
      await first.moduleRef.close();
    }
    expect(job.runs.map((r) => r.scheduledAt)).toEqual([iso(DAY1_0300)]);
    job.runs.length = 0;
    // Day 2, 09:00: the cluster was down at 03:00. Two instances start at once.
    const [a, b] = await Promise.all([job.start('a', DAY1_0300 + DAY + 6 * HOUR), job.start('b', DAY1_0300 + DAY + 6 * HOUR)]);
    try {
      await Promise.all([a.registry.whenIdle(), b.registry.whenIdle()]);
      expect(job.runs).toHaveLength(1);
      expect(job.runs[0]).toMatchObject({ scheduledAt: iso(DAY1_0300 + DAY), missed: 0 });
      expect(a.status().runs + b.status().runs).toBe(1);
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
    const c = await job.start('c', DAY1_0300 + DAY + 7 * HOUR);
    try {
      await c.registry.whenIdle();
      expect(job.runs).toHaveLength(1);
      expect(c.status()).toMatchObject({ runs: 0, missedTicks: 0 });
    } finally {
      await c.moduleRef.close();
    }
  });

  it('an instance that never runs the task is not late while another runs it (the last success is shared)', async () => {
    const job = exclusiveJob({ every: 10_000 }, (label) => label === 'b');
    const a = await job.start('a');
    const b = await job.start('b');
    try {
      for (const ms of [10_000, 20_000, 30_000]) {
        await a.time.advanceTo(T0 + ms);
        await b.time.advanceTo(T0 + ms);
      }
      expect(job.runs.map((r) => r.label)).toEqual(['a', 'a', 'a']);
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0 + 30_000, 10_000, "a's success seen by b");
      await b.time.advanceTo(T0 + 45_000); // past b's own budget from its start (20 s)
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0 + 30_000);
      expect(b.status()).toMatchObject({ late: false, dueBy: new Date(T0 + 50_000) });
      expect(job.logger.find('warn', 'is late')).toEqual([]);
    } finally {
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
  });

  it("reads the cluster's last success again when a sweep comes while a read is in flight (the read may predate another instance's success)", async () => {
    const job = exclusiveJob({ every: 10_000, staleAfterMs: 8_000 }); // b's watcher sweeps every 2 s
    const proxy = await holdingProxy(Number(new URL(url).port));
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    const a = await job.start('a');
    await a.registry.trigger(job.name); // a success at T0, so b's first read (at its start) can be seen done
    const b = await job.start('b', T0, { postgres: viaProxy.toString() });
    try {
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0, 10_000, "b's first read");
      proxy.hold();
      await b.time.advanceTo(T0 + 2_000); // sweep: b reads the last success; PostgreSQL's answer (none yet) is held
      await waitFor(() => proxy.heldBytes() > 0, 10_000, "the answer to b's read");
      await a.time.advanceTo(T0 + 1_500);
      await a.registry.trigger(job.name); // a succeeds (a triggered run records its success too)
      await b.time.advanceTo(T0 + 4_000); // sweep while the first read is in flight
      proxy.release();
      await waitFor(() => b.status().lastSucceededAt?.getTime() === T0 + 1_500, 10_000, "a's success seen by b");
      expect(b.status()).toMatchObject({ late: false, dueBy: new Date(T0 + 9_500) });
    } finally {
      proxy.release();
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
      await proxy.close();
    }
  });
});

/** A 127.0.0.1 TCP proxy to PostgreSQL that can hold the server's answers (and release them in order). */
async function holdingProxy(targetPort: number) {
  let held = false;
  let heldBytes = 0;
  const waiting: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!held) return void client.write(chunk);
      heldBytes += chunk.length;
      waiting.push(() => client.write(chunk));
    });
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: () => {
      held = true;
    },
    heldBytes: () => heldBytes,
    release: () => {
      held = false;
      for (const write of waiting.splice(0)) write();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
