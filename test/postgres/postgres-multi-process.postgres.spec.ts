/**
 * Real app processes on one BullMQ queue on PostgreSQL (test/fixtures/postgres-worker-app.ts): no
 * job is lost when a worker process is SIGKILLed mid-job (another process completes it once the
 * killed one's claim lapses, and the cluster hears `stalled`), a cancel reaches the process that
 * runs the item (NOTIFY), and a worker process rides out a PostgreSQL restart: the job it was running
 * completes once, and it takes the items enqueued after.
 */
import type { QueueEvent } from '../../src/index.js';
import { BullMqQueueBackend } from '../../src/queues/bullmq/bullmq-queue-backend.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { waitFor } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';

const { postgres, url, uniqueName } = bullmqPostgresUnderTest();
const children: ChildApp[] = [];
type Item = { n: number; wait?: boolean; limit?: number; until?: number };
const producers: Array<BullMqQueueBackend<Item>> = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.dispose()));
  await Promise.all(producers.splice(0).map((p) => p.dispose()));
});

async function worker(queue: string, env: Record<string, string>): Promise<ChildApp> {
  const child = spawnChildApp(fixture('postgres-worker-app.ts'), {
    env: { POSTGRES_URL: url(), QUEUE: queue, LOCK_MS: '1000', STALLED_MS: '300', ...env },
  });
  children.push(child);
  await child.waitForOutput(/^READY \d+$/m, 30_000);
  return child;
}

async function producer(queue: string): Promise<BullMqQueueBackend<Item>> {
  const created = new BullMqQueueBackend<Item>({ queueName: queue, postgres: url(), logger: new CaptureLogger() });
  producers.push(created);
  await created.ready;
  return created;
}

/** `[jobId, n, pid, at]` of every line `<verb> <jobId> <n> <pid>[ <epochMs>]` a child printed. */
const lines = (child: ChildApp, verb: 'START' | 'DONE') =>
  [...child.output().matchAll(new RegExp(`^${verb} (\\S+) (\\d+) (\\d+)(?: (\\d+))?$`, 'gm'))].map((m) => ({ id: m[1], n: Number(m[2]), pid: Number(m[3]), at: Number(m[4]) }));

describe('BullMQ on PostgreSQL across processes', () => {
  it('a worker process SIGKILLed mid-job: another process completes that job, the cluster hears it stalled, and no item is lost', async () => {
    const queue = uniqueName('kill');
    const doomed = await worker(queue, { JOB_MS: '60000' });
    const emails = await producer(queue);
    const events: QueueEvent[] = [];
    emails.subscribe((event) => events.push(event));
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push(await emails.enqueue({ n }));
    await doomed.waitForOutput(/^START /m);
    const [inFlight] = lines(doomed, 'START');
    expect(inFlight.n).toBe(1);

    doomed.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    const rescuer = await worker(queue, { JOB_MS: '20' });
    await waitFor(() => lines(rescuer, 'DONE').length === 5, 30_000, 'all five items done by the rescuer');

    const done = lines(rescuer, 'DONE');
    expect(done.map((d) => d.n).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(done.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(done.find((d) => d.n === 1)!.id).toBe(inFlight.id); // the very job that was cut off
    expect(lines(doomed, 'DONE')).toEqual([]);
    await waitFor(() => events.some((e) => e.name === 'stalled' && e.id === inFlight.id), 15_000, 'the stalled event');
    expect(rescuer.output()).not.toMatch(/UNHANDLED/);
  }, 90_000);

  it('cancel(id) from another process aborts the running item where it runs (NOTIFY)', async () => {
    const queue = uniqueName('cancel');
    const runner = await worker(queue, {});
    const emails = await producer(queue);
    const id = await emails.enqueue({ n: 1, wait: true });
    await runner.waitForOutput(new RegExp(`^START ${id} 1 `, 'm'));
    expect(await emails.cancel(id)).toBe('aborted');
    await runner.waitForOutput(new RegExp(`^ABORTED ${id} QueueItemCancelledError \\d+$`, 'm'), 15_000);
    // The item is not a dead letter, and the worker goes on.
    const next = await emails.enqueue({ n: 2 });
    await runner.waitForOutput(new RegExp(`^DONE ${next} 2 `, 'm'), 15_000);
    expect((await emails.deadLetters(0, 10)).total).toBe(0);
    expect(runner.output()).not.toMatch(/UNHANDLED/);
  }, 60_000);

  it('RateLimitedError in one process holds back every worker process for retryAfterMs; the item runs after, its try not used', async () => {
    const queue = uniqueName('limited');
    const [a, b] = await Promise.all([worker(queue, { JOB_MS: '20' }), worker(queue, { JOB_MS: '20' })]);
    const emails = await producer(queue);
    // Limited when it starts within the next 3 s (it starts at once); its next start, after the 3.5 s window, runs it.
    const held = await emails.enqueue({ n: 1, limit: 3_500, until: Date.now() + 3_000 });
    await waitFor(() => /^LIMITED /m.test(a.output() + b.output()), 15_000, 'the rate limit');
    const [, , at] = /^LIMITED (\S+) (\d+) (\d+)$/m.exec(a.output() + b.output())!.map(String);
    const limitedAt = Number(at);
    // The window is in the database once the limited try went back (LIMITED is printed before it throws).
    const window = () => postgres().psql(`SELECT count(*) FROM bullmq.rate_limit WHERE queue = '${queue}' AND expire_at_ms > ${Date.now()}`, 'queues');
    await waitFor(() => window() === '1', 10_000, 'the window set');
    for (let n = 2; n <= 5; n++) await emails.enqueue({ n });
    await waitFor(() => lines(a, 'DONE').length + lines(b, 'DONE').length === 5, 20_000, 'every item');
    const starts = [...lines(a, 'START'), ...lines(b, 'START')];
    // Nothing started in either process inside the window (but the limited try itself).
    for (const start of starts.filter((s) => s.at > limitedAt)) expect(start.at).toBeGreaterThanOrEqual(limitedAt + 3_400);
    expect(starts.filter((s) => s.id === held)).toHaveLength(2); // limited once, then run
    expect(a.output() + b.output()).not.toMatch(/UNHANDLED/);
  }, 60_000);

  it('PostgreSQL restarted under a worker process: its connections go down and come back, the running job completes once, and the items enqueued after are done', async () => {
    const queue = uniqueName('restart');
    const survivor = await worker(queue, { JOB_MS: '2500', LOCK_MS: '30000', STALLED_MS: '30000' });
    const emails = await producer(queue);
    const first = await emails.enqueue({ n: 1 });
    await survivor.waitForOutput(new RegExp(`^START ${first} 1 `, 'm'));

    await postgres().stop();
    await survivor.waitForOutput(/^CONNECTIONS down down$/m, 20_000);
    await postgres().start();
    await waitFor(() => /CONNECTIONS down down[\s\S]*CONNECTIONS up up/.test(survivor.output()), 30_000, 'the connections back up');
    await waitFor(() => !producerDown(emails), 30_000, "the test's producer back up");

    const later = [await emails.enqueue({ n: 2 }), await emails.enqueue({ n: 3 })];
    await waitFor(() => lines(survivor, 'DONE').length === 3, 30_000, 'the running job and the two enqueued after');
    expect(lines(survivor, 'DONE').map((d) => d.id)).toEqual([first, ...later]);
    expect(lines(survivor, 'START').filter((s) => s.id === first)).toHaveLength(1); // not run twice
    expect(survivor.output()).not.toMatch(/UNHANDLED/);
  }, 120_000);
});

/** True while the backend's producer connection is down. */
function producerDown<T>(backend: BullMqQueueBackend<T>): boolean {
  return backend.connections().some((c) => c.name === 'producer' && c.state !== 'up');
}
