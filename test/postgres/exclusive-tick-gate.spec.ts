/**
 * The lock behind `@Periodic({ exclusive: true })` on PostgreSQL, on a real server: several gates
 * stand for several app instances sharing one database. The same guarantees as the Redis gate's
 * (test/bullmq/exclusive-tick-gate.spec.ts), on the database's own primitives: a unique row per
 * claimed slot, a lease row per task on the database's clock.
 */
import { jest } from '@jest/globals';
import pg from 'pg';
import { exclusiveTickRunner, SKIPPED_TICK } from '../../src/distributed/exclusive-tick-runner.js';
import {
  EXCLUSIVE_SLOTS_TABLE,
  EXCLUSIVE_TABLES_SQL,
  EXCLUSIVE_TASKS_TABLE,
  PostgresExclusiveTickGate,
} from '../../src/distributed/postgres-exclusive-tick-gate.js';
import { isPostgresConnectionError } from '../../src/distributed/postgres-outage.js';
import { EXCLUSIVE_CLAIMS_WORK_AGAIN, EXCLUSIVE_LEASE_TAKEN_OVER, POSTGRES_RECOVERED, POSTGRES_UNREACHABLE } from '../../src/distributed/postgres.messages.js';
import { EXCLUSIVE_TASK, EXCLUSIVE_TICK_SKIPPED } from '../../src/distributed/redis.messages.js';
import type { PostgresConnectionOptions } from '../../src/index.js';
import { FixedRateSchedule } from '../../src/scheduling/schedule.js';
import { TickContext } from '../../src/scheduling/tick-context.js';
import { trackUnhandledRejections } from '../bullmq/unhandled-rejections.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { sleep, waitFor } from '../support/hosting-app.js';
import { startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';

jest.setTimeout(90_000);

let server: PostgresServerHandle;
let url: string;
let inspect: pg.Pool;
let logger: CaptureLogger;
const gates: PostgresExclusiveTickGate[] = [];
let taskCounter = 0;
const uniqueTask = (base: string) => `${base}-${process.pid}-${++taskCounter}`;

function gate(connection: PostgresConnectionOptions = url, connectWaitMs?: number): PostgresExclusiveTickGate {
  const created = new PostgresExclusiveTickGate({ connection, logger, connectWaitMs });
  gates.push(created);
  return created;
}

/** A gate whose tables are checked (the host awaits `ready` at start-up). */
async function readyGate(connection: PostgresConnectionOptions = url): Promise<PostgresExclusiveTickGate> {
  const created = gate(connection);
  await created.ready;
  return created;
}

const iso = (ms: number) => new Date(ms).toISOString();
const claim = (task: string, slot: number, timings: { slotTtlMs: number; leaseMs: number } = { slotTtlMs: 60_000, leaseMs: 2_000 }) => ({
  task,
  slotKey: `${task}@${iso(slot)}`,
  ...timings,
});

const tick = (name: string, scheduledAt: number, tickNumber = 1, triggered = false) =>
  new TickContext(name, tickNumber, scheduledAt, new AbortController(), 0, triggered);

async function rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await inspect.query(sql, params)).rows as T[];
}

/** Retries `attempt` until it resolves with a value `accept`s (a pool reconnecting takes a few tries; a claim rejects while PostgreSQL is away). */
async function eventually<R>(attempt: () => Promise<R>, accept: (value: R) => boolean, timeoutMs = 20_000): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let outcome: string;
    try {
      const value = await attempt();
      if (accept(value)) return value;
      outcome = String(value);
    } catch (error) {
      outcome = `rejected with ${String(error)}`;
    }
    if (Date.now() > deadline) throw new Error(`not accepted within ${timeoutMs} ms: ${outcome}`);
    await sleep(100);
  }
}

/** What `promise` rejected with (a test failure when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (error: unknown) => error,
  );
}

beforeAll(async () => {
  server = await startPostgresServer();
  url = await server.createDatabase('exclusive_gate');
  inspect = new pg.Pool({ connectionString: url, max: 2 });
  inspect.on('error', () => undefined); // idle connections cut by the outage tests
});

afterAll(async () => {
  await inspect?.end();
  await server?.destroy();
});

beforeEach(() => {
  logger = new CaptureLogger();
});

afterEach(async () => {
  await Promise.all(gates.splice(0).map((g) => g.dispose()));
  if (!server.running) await server.start();
});

describe('PostgresExclusiveTickGate: tables', () => {
  it('creates its tables at start-up, once, when instances start together', async () => {
    const db = await server.createDatabase('tables_fresh');
    const [a, b, c] = [gate(db), gate(db), gate(db)];
    await Promise.all([a.ready, b.ready, c.ready]);
    const fresh = new pg.Client({ connectionString: db });
    await fresh.connect();
    try {
      const tables = await fresh.query(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'nest_hosting_%' ORDER BY table_name`);
      expect(tables.rows).toEqual([
        { table_schema: 'public', table_name: EXCLUSIVE_SLOTS_TABLE },
        { table_schema: 'public', table_name: EXCLUSIVE_TASKS_TABLE },
      ]);
    } finally {
      await fresh.end();
    }
    expect(a.connections()).toEqual([{ name: 'postgres', state: 'up', since: expect.any(Date) }]);
    expect(logger.errors()).toEqual([]);
  });

  it('refuses to start when the role may not create the tables, with the SQL to run; starts once it was run', async () => {
    server.psql(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gate_limited') THEN CREATE ROLE gate_limited LOGIN; END IF; END $$`);
    await server.createDatabase('tables_refused'); // PostgreSQL 15+: only the owner may create in public
    const limited = `postgres://gate_limited@127.0.0.1:${server.port}/tables_refused`;
    const refused = gate(limited);
    const error = await refused.ready.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain('Exclusive periodic tasks: the PostgreSQL role "gate_limited" cannot create the gate\'s tables (permission denied');
    expect(error?.message).toContain(EXCLUSIVE_TABLES_SQL);
    expect(error?.message).toContain(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${EXCLUSIVE_TASKS_TABLE}, ${EXCLUSIVE_SLOTS_TABLE} TO "gate_limited";`);

    // The owner runs the tables' SQL but forgets the grant: refused again, naming what is missing.
    server.psql(EXCLUSIVE_TABLES_SQL, 'tables_refused');
    const ungranted = await gate(limited).ready.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(ungranted?.message).toMatch(/^Exclusive periodic tasks: the PostgreSQL role "gate_limited" lacks SELECT on nest_hosting_exclusive_tasks, INSERT on/);
    expect(ungranted?.message).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON');

    // With the grant, the same role starts (it never needs to create anything) and claims.
    server.psql(error!.message.slice(error!.message.indexOf('GRANT')), 'tables_refused');
    const granted = await readyGate(limited);
    expect(await granted.tryAcquire(claim(uniqueTask('granted'), 1000))).toBeDefined();
  });

  it('starts while PostgreSQL is down (its ticks wait for it), and makes its tables once it is back', async () => {
    const db = await server.createDatabase('tables_later');
    await server.stop();
    const g = gate(db, 500);
    await g.ready; // no start-up failure: the outage is reported, the ticks are skipped
    expect(g.connections()).toEqual([{ name: 'postgres', state: 'down', since: expect.any(Date), lastError: expect.stringMatching(/ECONNREFUSED|unreachable/) }]);
    expect(logger.find('error', 'Exclusive periodic tasks: PostgreSQL is unreachable')).toHaveLength(1);
    const task = uniqueTask('later');
    // As the Redis gate's: the claim rejects with the connection error (the runner skips the tick and says so).
    expect(isPostgresConnectionError(await rejectionOf(g.tryAcquire(claim(task, 1000))))).toBe(true);
    await server.start();
    const lease = await eventually(() => g.tryAcquire(claim(task, 2000)), (l) => l !== undefined);
    await lease!.release();
    expect(server.psql(`SELECT count(*) FROM ${EXCLUSIVE_SLOTS_TABLE}`, 'tables_later')).toBe('1');
    expect(g.connections()[0]!.state).toBe('up');
  });

  it('makes a table dropped at run time again before the next claim', async () => {
    const g = await readyGate();
    const task = uniqueTask('dropped');
    await (await g.tryAcquire(claim(task, 1000)))!.release();
    await inspect.query(`DROP TABLE ${EXCLUSIVE_SLOTS_TABLE}`);
    await expect(g.tryAcquire(claim(task, 2000))).rejects.toThrow(`relation "${EXCLUSIVE_SLOTS_TABLE}" does not exist`); // this tick is skipped…
    const lease = await eventually(() => g.tryAcquire(claim(task, 3000)), (l) => l !== undefined); // …the next one claims
    await lease!.release();
    expect(await rows(`SELECT slot_key FROM ${EXCLUSIVE_SLOTS_TABLE} WHERE task = $1`, [task])).toEqual([{ slot_key: `${task}@${iso(3000)}` }]);
    // Said once as PostgreSQL's refusal (not as an outage), and once when statements work again; the task's line is the runner's.
    expect(logger.find('error', `Exclusive periodic tasks: PostgreSQL error: relation "${EXCLUSIVE_SLOTS_TABLE}" does not exist`)).toHaveLength(1);
    expect(logger.find('log', "Exclusive periodic tasks: PostgreSQL accepts the gate's statements again after")).toHaveLength(1);
    expect(logger.find('error', 'unreachable')).toEqual([]);
    expect(logger.find('error', `Exclusive periodic task "${task}"`)).toEqual([]);
  });
});

describe('PostgresExclusiveTickGate: claims', () => {
  it('gives each slot to exactly one of the instances that claim it at once', async () => {
    const task = uniqueTask('once');
    const instances = await Promise.all([readyGate(), readyGate(), readyGate()]);
    for (let slot = 0; slot < 20; slot++) {
      const leases = await Promise.all(instances.map((g) => g.tryAcquire(claim(task, slot * 1000))));
      const winners = leases.filter((lease) => lease !== undefined);
      expect(winners).toHaveLength(1);
      await winners[0]!.release();
    }
    expect(await rows(`SELECT count(*)::int AS n FROM ${EXCLUSIVE_SLOTS_TABLE} WHERE task = $1`, [task])).toEqual([{ n: 20 }]);
  });

  it('does not give a slot again once it ran, even after the run ended', async () => {
    const task = uniqueTask('no-repeat');
    const [a, b] = await Promise.all([readyGate(), readyGate()]);
    const lease = await a.tryAcquire(claim(task, 1000));
    await lease!.release();
    expect(await b.tryAcquire(claim(task, 1000))).toBeUndefined();
    expect(await a.tryAcquire(claim(task, 1000))).toBeUndefined();
    // Another task's slot at the same instant is its own.
    expect(await b.tryAcquire(claim(uniqueTask('other'), 1000))).toBeDefined();
  });

  it('keeps a slot row slotTtlMs on the database clock; an expired row may be claimed again and is cleaned up by the next won claim', async () => {
    const task = uniqueTask('ttl');
    const g = await readyGate();
    const short = { slotTtlMs: 300, leaseMs: 2_000 };
    await (await g.tryAcquire(claim(task, 1000, short)))!.release();
    const [row] = await rows<{ ttl: number; claimed_by: string }>(
      `SELECT (extract(epoch FROM expires_at - claimed_at) * 1000)::int AS ttl, claimed_by FROM ${EXCLUSIVE_SLOTS_TABLE} WHERE task = $1`,
      [task],
    );
    expect(row!.ttl).toBeGreaterThanOrEqual(299);
    expect(row!.ttl).toBeLessThanOrEqual(301);
    expect(row!.claimed_by).toMatch(new RegExp(`:${process.pid}:`));
    expect(await g.tryAcquire(claim(task, 1000, short))).toBeUndefined();
    await sleep(400);
    // An instance whose clock lags by more than slotTtlMs may run the slot again (as on Redis, where the key expired).
    await (await g.tryAcquire(claim(task, 1000, short)))!.release();
    await (await g.tryAcquire(claim(task, 2000, { slotTtlMs: 60_000, leaseMs: 2_000 })))!.release();
    await sleep(400);
    await (await g.tryAcquire(claim(task, 3000, { slotTtlMs: 60_000, leaseMs: 2_000 })))!.release();
    // The 1000 row expired and was deleted by the last won claim; the others live a minute.
    expect((await rows<{ slot_key: string }>(`SELECT slot_key FROM ${EXCLUSIVE_SLOTS_TABLE} WHERE task = $1 ORDER BY slot_key`, [task])).map((r) => r.slot_key)).toEqual([
      `${task}@${iso(2000)}`,
      `${task}@${iso(3000)}`,
    ]);
  });

  it('starts no run on another instance while one runs (runs never overlap across instances)', async () => {
    const task = uniqueTask('overlap');
    const [a, b] = await Promise.all([readyGate(), readyGate()]);
    const running = await a.tryAcquire(claim(task, 1000));
    expect(running).toBeDefined();
    expect(await b.tryAcquire(claim(task, 2000))).toBeUndefined();
    expect(await b.tryAcquire(claim(task, 3000))).toBeUndefined();
    await running!.release();
    // The slots skipped during the run were not consumed: the holder's coalesced run can claim the last one.
    expect(await a.tryAcquire(claim(task, 3000))).toBeDefined();
  });

  it('renews the run lease at half its length while the run lasts, and clears it when the run ends', async () => {
    const task = uniqueTask('renew');
    const timings = { slotTtlMs: 60_000, leaseMs: 400 };
    const running = await (await readyGate()).tryAcquire(claim(task, 1000, timings));
    await sleep(1_000); // 2.5 lease lengths
    expect(await (await readyGate()).tryAcquire(claim(task, 2000, timings))).toBeUndefined();
    await running!.release();
    expect(await rows(`SELECT holder, lease_expires_at FROM ${EXCLUSIVE_TASKS_TABLE} WHERE task = $1`, [task])).toEqual([{ holder: null, lease_expires_at: null }]);
    expect(logger.find('warn', 'lease')).toEqual([]);
  });

  it('warns once when a run finds its lease taken over by another instance', async () => {
    const task = uniqueTask('taken');
    const running = await (await readyGate()).tryAcquire(claim(task, 1000, { slotTtlMs: 60_000, leaseMs: 200 }));
    await inspect.query(`UPDATE ${EXCLUSIVE_TASKS_TABLE} SET holder = 'another-instance' WHERE task = $1`, [task]);
    await waitFor(() => logger.find('warn', 'lease').length > 0, 5_000, 'the warning');
    await sleep(300); // more renewals: still one line
    await running!.release();
    expect(logger.find('warn', 'lease').map((e) => e.message)).toEqual([EXCLUSIVE_LEASE_TAKEN_OVER(task, 200)]);
    // The release leaves the other instance's lease alone.
    expect(await rows(`SELECT holder FROM ${EXCLUSIVE_TASKS_TABLE} WHERE task = $1`, [task])).toEqual([{ holder: 'another-instance' }]);
  });

  it('when the holder dies mid-run, the task is free again once the lease lapses (on the database clock)', async () => {
    const task = uniqueTask('crash');
    const timings = { slotTtlMs: 60_000, leaseMs: 500 };
    const holder = await readyGate();
    const crashed = await holder.tryAcquire(claim(task, 1000, timings));
    expect(crashed).toBeDefined();
    // A crash: the renewal stops and nothing releases the lease (dispose ends the gate's pool, releasing nothing).
    await holder.dispose();
    const other = await readyGate();
    expect(await other.tryAcquire(claim(task, 2000, timings))).toBeUndefined();
    await sleep(700);
    expect(await other.tryAcquire(claim(task, 3000, timings))).toBeDefined();
  });
});

describe('PostgresExclusiveTickGate: the last run slot and the last success', () => {
  it('records the slot when a lease is released, never moving it back (a lagging instance, an older slot caught up)', async () => {
    const g = await readyGate();
    const task = uniqueTask('last');
    const at = (slotAt: number) => ({ ...claim(task, slotAt), slotAt, lastRunTtlMs: 60_000 });
    const DAY = 86_400_000;
    const T = Date.parse('2026-06-01T03:00:00Z');
    expect(await g.lastRun(task)).toBeUndefined();
    const lease = await g.tryAcquire(at(T + DAY));
    expect(await g.lastRun(task)).toBeUndefined(); // not while the run goes on
    await lease!.release();
    expect(await g.lastRun(task)).toBe(T + DAY);
    await (await g.tryAcquire(at(T)))!.release();
    expect(await g.lastRun(task)).toBe(T + DAY);
    await (await g.tryAcquire(at(T + 2 * DAY)))!.release();
    expect(await g.lastRun(task)).toBe(T + 2 * DAY);
  });

  it('records the last success with a release or outside a claim, only ever later, and forgets both after their TTL', async () => {
    const [a, b] = await Promise.all([readyGate(), readyGate()]);
    const task = uniqueTask('success');
    expect(await b.lastSuccess(task)).toBeUndefined();
    await a.recordSuccess(task, 5_000, 60_000); // a triggered run, before the task's row exists
    expect(await b.lastSuccess(task)).toBe(5_000);
    await (await a.tryAcquire({ ...claim(task, 1000), slotAt: 1000, lastRunTtlMs: 60_000 }))!.release(4_000);
    expect(await b.lastSuccess(task)).toBe(5_000);
    expect(await b.lastRun(task)).toBe(1000);
    await (await a.tryAcquire({ ...claim(task, 2000), slotAt: 2000, lastRunTtlMs: 60_000 }))!.release(6_000);
    expect(await b.lastSuccess(task)).toBe(6_000);
    await b.recordSuccess(task, 5_500, 60_000);
    expect(await a.lastSuccess(task)).toBe(6_000);
    // A short TTL: once it passed, the values count as none, and an older one may be written again.
    await (await a.tryAcquire({ ...claim(task, 3000), slotAt: 3000, lastRunTtlMs: 200 }))!.release(7_000);
    await sleep(300);
    expect(await b.lastRun(task)).toBeUndefined();
    expect(await b.lastSuccess(task)).toBeUndefined();
    await b.recordSuccess(task, 1_000, 60_000);
    expect(await a.lastSuccess(task)).toBe(1_000);
  });
});

describe('PostgresExclusiveTickGate: connections', () => {
  it("uses the app's pg.Pool as it is and never ends it; a pool of its own is ended by dispose", async () => {
    const appPool = new pg.Pool({ connectionString: url, max: 2, application_name: 'the-app' });
    try {
      const shared = gate(appPool);
      await shared.ready;
      const task = uniqueTask('app-pool');
      await (await shared.tryAcquire(claim(task, 1000)))!.release();
      await shared.dispose();
      expect((await appPool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

      const own = await readyGate();
      await (await own.tryAcquire(claim(task, 2000)))!.release();
      const open = () => rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'nest-hosting:exclusive-ticks'`);
      expect((await open())[0]!.n).toBeGreaterThan(0);
      await Promise.all(gates.splice(0).map((g) => g.dispose()));
      await eventually(open, (r) => r[0]!.n === 0, 10_000);
    } finally {
      await appPool.end();
    }
  });

  it('checks its connection as the host is built: a TypeError naming the option and the value', () => {
    const make = (connection: unknown) => () => new PostgresExclusiveTickGate({ connection: connection as PostgresConnectionOptions, logger });
    expect(make('mysql://db/app')).toThrow(
      new TypeError(
        'HostingModule.forRoot({ postgres }): the PostgreSQL URL "mysql://db/app" must start with postgres:// or postgresql://; write it as postgres://[user[:password]@]host[:port][/database]',
      ),
    );
    expect(make({ port: 0 })).toThrow(new TypeError('HostingModule.forRoot({ postgres }): the PostgreSQL option "port" must be an integer from 1 to 65535 (the default is 5432), got 0'));
    expect(make(42)).toThrow(TypeError);
    expect(make(42)).toThrow(/^HostingModule\.forRoot\(\{ postgres \}\): the PostgreSQL connection must be .*, got 42$/);
  });
});

describe('exclusiveTickRunner on PostgreSQL', () => {
  it('runs the tick on the instance that claims it, and skips it on the others', async () => {
    const name = uniqueTask('runner');
    const schedule = new FixedRateSchedule(1_000, 0);
    const runs: string[] = [];
    const instances = await Promise.all([readyGate(), readyGate(), readyGate()]);
    const runners = ['a', 'b', 'c'].map((instance, i) => exclusiveTickRunner({ name, schedule, jitterMs: 0 }, instances[i]!, () => runs.push(instance), logger));
    const outcomes = await Promise.all(runners.map((run) => run(tick(name, 5_000))));
    expect(runs).toHaveLength(1);
    expect(outcomes.filter((o) => o === SKIPPED_TICK)).toHaveLength(2);
  });

  it('releases the lease when the run throws, and passes the error on', async () => {
    const name = uniqueTask('throws');
    const run = exclusiveTickRunner({ name, schedule: new FixedRateSchedule(1_000, 0), jitterMs: 0 }, await readyGate(), () => {
      throw new Error('tick failed');
    }, logger);
    await expect(run(tick(name, 1_000))).rejects.toThrow('tick failed');
    expect(await rows(`SELECT holder FROM ${EXCLUSIVE_TASKS_TABLE} WHERE task = $1`, [name])).toEqual([{ holder: null }]);
  });

  it('skips ticks while PostgreSQL is unreachable (never runs unguarded), reports it once and down, and runs again when it is back', async () => {
    const unhandled = trackUnhandledRejections();
    try {
      const name = uniqueTask('skip');
      const g = gate(url, 300);
      await g.ready;
      let runs = 0;
      const run = exclusiveTickRunner({ name, schedule: new FixedRateSchedule(100, 0), jitterMs: 0 }, g, () => runs++, logger);
      await run(tick(name, 100));
      expect(runs).toBe(1);
      await server.stop();
      for (let slot = 2; slot <= 6; slot++) expect(await run(tick(name, slot * 100))).toBe(SKIPPED_TICK);
      expect(runs).toBe(1);
      expect(g.connections()).toEqual([{ name: 'postgres', state: 'down', since: expect.any(Date), lastError: expect.any(String) }]);
      const subject = EXCLUSIVE_TASK(name);
      const startOf = (message: string) => message.split(' (')[0]!;
      expect(logger.entries.filter((e) => e.message.startsWith(startOf(EXCLUSIVE_TICK_SKIPPED(subject, 'x', 'PostgreSQL'))))).toHaveLength(1);
      expect(logger.entries.filter((e) => e.message.startsWith(startOf(POSTGRES_UNREACHABLE('Exclusive periodic tasks', 'x'))))).toHaveLength(1);
      expect(logger.entries.filter((e) => /Redis/.test(e.message))).toEqual([]);

      await server.start();
      let slot = 7;
      await eventually(() => run(tick(name, slot++ * 100)), (outcome) => outcome !== SKIPPED_TICK);
      expect(runs).toBe(2);
      expect(g.connections()[0]!.state).toBe('up');
      const recovered = POSTGRES_RECOVERED('Exclusive periodic tasks', 0).replace(/ 0 ms$/, '');
      expect(logger.entries.filter((e) => e.level === 'log' && e.message.startsWith(recovered))).toHaveLength(1);
      const claimsBack = EXCLUSIVE_CLAIMS_WORK_AGAIN(subject, 0).replace(/ 0 ms$/, '');
      expect(logger.entries.filter((e) => e.level === 'log' && e.message.startsWith(claimsBack))).toHaveLength(1);
      expect(unhandled.rejections).toEqual([]);
    } finally {
      unhandled.dispose();
    }
  });

  it("says a refused claim in PostgreSQL's words (an error, not an outage), skips the tick, and runs the next once the claim works", async () => {
    const name = uniqueTask('refused');
    let runs = 0;
    const run = exclusiveTickRunner({ name, schedule: new FixedRateSchedule(100, 0), jitterMs: 0 }, await readyGate(), () => runs++, logger);
    await run(tick(name, 100));
    await inspect.query(`DROP TABLE ${EXCLUSIVE_SLOTS_TABLE}`);
    expect(await run(tick(name, 200))).toBe(SKIPPED_TICK);
    let slot = 3;
    await eventually(() => run(tick(name, slot++ * 100)), (outcome) => outcome !== SKIPPED_TICK);
    expect(runs).toBe(2);
    expect(logger.find('error', `Exclusive periodic task "${name}": PostgreSQL error: relation "${EXCLUSIVE_SLOTS_TABLE}" does not exist`)).toHaveLength(1);
    expect(logger.find('error', 'unreachable')).toEqual([]);
    expect(logger.entries.filter((e) => /Redis/.test(e.message))).toEqual([]);
  });

  it('marks its connection down when the server goes away between ticks, and up again when it is back, without a tick', async () => {
    const g = await readyGate();
    expect(g.connections()[0]!.state).toBe('up');
    await server.stop();
    await waitFor(() => g.connections()[0]!.state === 'down', 10_000, 'the gate down');
    await server.start();
    await waitFor(() => g.connections()[0]!.state === 'up', 15_000, 'the gate up again (its probe)');
    expect(logger.find('log', 'PostgreSQL is reachable again after')).toHaveLength(1);
  });
});
