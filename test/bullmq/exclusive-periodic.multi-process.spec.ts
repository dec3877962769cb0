/**
 * `@Periodic(..., { exclusive: true })` with three real app processes sharing one Redis
 * (test/fixtures/exclusive-periodic-app.ts): one run per tick across the instances.
 */
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { sleep, waitFor } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
const children: ChildApp[] = [];
let counter = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.dispose()));
});

async function instances(count: number, env: Record<string, string>): Promise<ChildApp[]> {
  const started = Array.from({ length: count }, () =>
    spawnChildApp(fixture('exclusive-periodic-app.ts'), { env: { REDIS_URL: redis.url, ...env } }),
  );
  children.push(...started);
  await Promise.all(started.map((child) => child.waitForOutput(/^READY \d+$/m)));
  return started;
}

interface Run {
  slot: string;
  pid: number;
  start: number;
  end?: number;
}

/** Every run the instances printed, with its start and (when finished) end time. */
function runs(children: ChildApp[]): Run[] {
  const all: Run[] = [];
  for (const child of children) {
    const output = child.output();
    const ends = new Map([...output.matchAll(/^END (\S+) (\d+) (\d+)$/gm)].map((m) => [m[1], Number(m[3])]));
    for (const m of output.matchAll(/^RUN (\S+) (\d+) (\d+)$/gm)) all.push({ slot: m[1], pid: Number(m[2]), start: Number(m[3]), end: ends.get(m[1]) });
  }
  return all.sort((a, b) => a.start - b.start);
}

const slotTime = (run: Run) => Date.parse(run.slot.slice(run.slot.lastIndexOf('@') + 1));

async function stopAll(children: ChildApp[]): Promise<void> {
  for (const child of children) child.kill('SIGTERM');
  const exits = await Promise.all(children.map((c) => c.exited));
  expect(exits).toEqual(children.map(() => ({ code: 0, signal: null })));
  for (const child of children) expect(child.output()).not.toMatch(/UNHANDLED|FAILED/);
}

describe('@Periodic({ exclusive: true }) across three instances', () => {
  it('runs each tick on exactly one instance, on a grid all instances share', async () => {
    const task = `report-${process.pid}-${++counter}`;
    const period = 200;
    const apps = await instances(3, { TASK: task, PERIOD_MS: String(period), RUN_MS: '20' });
    await waitFor(() => runs(apps).length >= 15, 20_000, '15 runs');
    await stopAll(apps);

    const all = runs(apps);
    const slots = all.map((r) => r.slot);
    expect(new Set(slots).size).toBe(slots.length); // no slot ran twice
    // Every slot sits on the epoch-anchored grid, and no slot between the first and the last was lost.
    const times = all.map(slotTime);
    expect(times.every((t) => t % period === 0)).toBe(true);
    const span = (times[times.length - 1] - times[0]) / period + 1;
    expect(times.length).toBeGreaterThanOrEqual(span - 1); // at most one slot lost to start-up timing
    expect(all.every((r) => r.slot.startsWith(`${task}@`))).toBe(true);
  });

  it('never overlaps runs across instances when a run outlives its period', async () => {
    const task = `slow-${process.pid}-${++counter}`;
    const apps = await instances(3, { TASK: task, PERIOD_MS: '150', RUN_MS: '400' });
    await waitFor(() => runs(apps).filter((r) => r.end).length >= 5, 20_000, '5 finished runs');
    await stopAll(apps);

    const finished = runs(apps).filter((r): r is Required<Run> => r.end !== undefined);
    for (let i = 1; i < finished.length; i++) expect(finished[i].start).toBeGreaterThanOrEqual(finished[i - 1].end);
    expect(new Set(finished.map((r) => r.slot)).size).toBe(finished.length);
  });

  it('when the instance running a tick is SIGKILLed, later ticks run on the others', async () => {
    const task = `crash-${process.pid}-${++counter}`;
    const apps = await instances(3, { TASK: task, PERIOD_MS: '200', RUN_MS: '1500' });
    await waitFor(() => runs(apps).length >= 1, 20_000, 'a first run');
    const holder = apps.find((child) => child.proc.pid === runs(apps)[0].pid)!;
    holder.kill('SIGKILL');
    await holder.exited;
    const killedAt = Date.now();
    const others = apps.filter((child) => child !== holder);
    // The dead holder's run lease lapses within max(period, 2 s); then the others go on.
    await waitFor(() => runs(others).some((r) => r.start > killedAt), 10_000, 'a run on another instance');
    const next = runs(others).find((r) => r.start > killedAt)!;
    expect(next.start - killedAt).toBeLessThan(4_000);
    await sleep(100);
    await stopAll(others);
  });
});
