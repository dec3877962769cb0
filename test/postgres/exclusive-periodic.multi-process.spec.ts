/**
 * `@Periodic(..., { exclusive: true })` on PostgreSQL with three real app processes sharing one
 * database (test/fixtures/postgres-exclusive-app.ts): one run per slot across the instances, as
 * the runs themselves record it in a table; runs never overlap; an instance SIGKILLed mid-run is
 * taken over once its run lease lapses.
 */
import { jest } from '@jest/globals';
import pg from 'pg';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { sleep } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';
import { startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';

jest.setTimeout(120_000);

let server: PostgresServerHandle;
let url: string;
let db: pg.Pool;
const children: ChildApp[] = [];
let counter = 0;

beforeAll(async () => {
  server = await startPostgresServer();
  url = await server.createDatabase('exclusive_processes');
  db = new pg.Pool({ connectionString: url, max: 2 });
  db.on('error', () => undefined); // a connection still closing when the server stops at the end
  await db.query('CREATE TABLE exclusive_runs (slot_key text NOT NULL, pid int NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz)');
});

afterAll(async () => {
  await db?.end();
  await server?.destroy();
});

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.dispose()));
});

async function instances(count: number, env: Record<string, string>): Promise<ChildApp[]> {
  const started = Array.from({ length: count }, () =>
    spawnChildApp(fixture('postgres-exclusive-app.ts'), { env: { POSTGRES_URL: url, ...env } }),
  );
  children.push(...started);
  await Promise.all(started.map((child) => child.waitForOutput(/^READY \d+$/m, 60_000)));
  return started;
}

interface Run {
  slot: string;
  pid: number;
  start: number;
  end: number | null;
}

/** Every run of `task` the instances recorded, in the order they started (the database's clock). */
async function runs(task: string): Promise<Run[]> {
  const { rows } = await db.query<{ slot_key: string; pid: number; start: string; end: string | null }>(
    `SELECT slot_key, pid, (extract(epoch FROM started_at) * 1000)::bigint AS start, (extract(epoch FROM ended_at) * 1000)::bigint AS "end"
     FROM exclusive_runs WHERE slot_key LIKE $1 ORDER BY started_at`,
    [`${task}@%`],
  );
  return rows.map((r) => ({ slot: r.slot_key, pid: r.pid, start: Number(r.start), end: r.end === null ? null : Number(r.end) }));
}

/** Polls `runs(task)` until `accept` holds. */
async function runsUntil(task: string, accept: (all: Run[]) => boolean, timeoutMs: number, what: string): Promise<Run[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await runs(task);
    if (accept(all)) return all;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${all.length} runs so far)`);
    await sleep(100);
  }
}

const slotTime = (run: Run) => Date.parse(run.slot.slice(run.slot.lastIndexOf('@') + 1));

async function stopAll(apps: ChildApp[]): Promise<void> {
  for (const child of apps) child.kill('SIGTERM');
  const exits = await Promise.all(apps.map((c) => c.exited));
  expect(exits).toEqual(apps.map(() => ({ code: 0, signal: null })));
  for (const child of apps) expect(child.output()).not.toMatch(/UNHANDLED|FAILED|ERROR/);
}

describe('@Periodic({ exclusive: true }) on PostgreSQL across three instances', () => {
  it('runs each slot on exactly one instance, on a grid all instances share (the runs table holds no slot twice)', async () => {
    const task = `report-${process.pid}-${++counter}`;
    const period = 200;
    const apps = await instances(3, { TASK: task, PERIOD_MS: String(period), RUN_MS: '20' });
    await runsUntil(task, (all) => all.length >= 20 && new Set(all.map((r) => r.pid)).size >= 2, 45_000, '20 runs on at least two instances');
    await stopAll(apps);

    const duplicates = await db.query(`SELECT slot_key, count(*)::int AS n FROM exclusive_runs WHERE slot_key LIKE $1 GROUP BY slot_key HAVING count(*) > 1`, [`${task}@%`]);
    expect(duplicates.rows).toEqual([]); // no slot ran twice
    const all = await runs(task);
    const times = all.map(slotTime).sort((a, b) => a - b);
    expect(times.every((t) => t % period === 0)).toBe(true);
    // No slot between the first and the last was lost (one may be, to start-up timing).
    const span = (times[times.length - 1]! - times[0]!) / period + 1;
    expect(times.length).toBeGreaterThanOrEqual(span - 1);
    expect(new Set(all.map((r) => r.pid)).size).toBeGreaterThanOrEqual(2); // the instances share the work
  });

  it("never overlaps runs across instances when a run outlives its period (the app's own pg.Pool)", async () => {
    const task = `slow-${process.pid}-${++counter}`;
    const apps = await instances(3, { TASK: task, PERIOD_MS: '150', RUN_MS: '400', APP_POOL: '1' });
    await runsUntil(task, (all) => all.filter((r) => r.end !== null).length >= 5, 45_000, '5 finished runs');
    await stopAll(apps);

    const finished = (await runs(task)).filter((r) => r.end !== null);
    for (let i = 1; i < finished.length; i++) expect(finished[i]!.start).toBeGreaterThanOrEqual(finished[i - 1]!.end!);
    expect(new Set(finished.map((r) => r.slot)).size).toBe(finished.length);
  });

  it('when the instance running a slot is SIGKILLed, a later slot runs on another instance once the lease lapses (within max(period, 2 s))', async () => {
    const task = `crash-${process.pid}-${++counter}`;
    const apps = await instances(3, { TASK: task, PERIOD_MS: '200', RUN_MS: '5000' });
    const [first] = await runsUntil(task, (all) => all.length >= 1, 45_000, 'a first run');
    const holder = apps.find((child) => child.proc.pid === first!.pid)!;
    holder.kill('SIGKILL');
    await holder.exited;
    const killedAt = Date.now();
    const others = apps.filter((child) => child !== holder);
    const after = await runsUntil(task, (all) => all.some((r) => r.pid !== holder.proc.pid), 15_000, 'a run on another instance');
    const takenOver = Date.now() - killedAt;
    // The lease is 2 s here (max(period, 2 s)), renewed every second: it lapses at most 2 s after the kill,
    // and the next slot (200 ms later at most) claims it. Generous margin for a busy machine.
    expect(takenOver).toBeLessThan(6_000);
    const next = after.find((r) => r.pid !== holder.proc.pid)!;
    expect(slotTime(next)).toBeGreaterThan(slotTime(first!));
    expect(new Set(after.map((r) => r.slot)).size).toBe(after.length);
    await stopAll(others);
  });
});
