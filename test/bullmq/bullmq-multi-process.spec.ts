/**
 * Several real app processes on one BullMQ queue (test/fixtures/bullmq-worker-app.ts): nothing is
 * lost when a worker process is killed mid-job or stopped gracefully.
 */
import { BullMqQueueBackend } from '../../src/queues/bullmq/bullmq-queue-backend.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
const children: ChildApp[] = [];
const producers: Array<BullMqQueueBackend<number>> = [];
let counter = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.dispose()));
  await Promise.all(producers.splice(0).map((p) => p.dispose()));
});

async function worker(queue: string, env: Record<string, string>): Promise<ChildApp> {
  const child = spawnChildApp(fixture('bullmq-worker-app.ts'), {
    env: { REDIS_URL: redis.url, QUEUE: queue, LOCK_MS: '1000', STALLED_MS: '300', ...env },
  });
  children.push(child);
  await child.waitForOutput(/^READY \d+$/m);
  return child;
}

function producer(queue: string): BullMqQueueBackend<number> {
  const created = new BullMqQueueBackend<number>({ queueName: queue, connection: redis.url, logger: new CaptureLogger() });
  producers.push(created);
  return created;
}

/** `[jobId, item, pid]` of every line `<verb> <jobId> <item> <pid>` a child printed. */
const lines = (child: ChildApp, verb: 'START' | 'DONE') =>
  [...child.output().matchAll(new RegExp(`^${verb} (\\S+) (\\d+) (\\d+)$`, 'gm'))].map((m) => ({ id: m[1], item: Number(m[2]), pid: Number(m[3]) }));

describe('BullMQ queue across processes', () => {
  it('a worker process SIGKILLed mid-job: another process completes that job, and no item is lost', async () => {
    const queue = `kill-${process.pid}-${++counter}`;
    const doomed = await worker(queue, { JOB_MS: '60000' });
    const ids: string[] = [];
    const emails = producer(queue);
    for (let item = 1; item <= 5; item++) ids.push(await emails.enqueue(item));
    await doomed.waitForOutput(/^START /m);
    const [inFlight] = lines(doomed, 'START');
    expect(inFlight.item).toBe(1);

    doomed.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    const rescuer = await worker(queue, { JOB_MS: '20' });
    await waitFor(() => lines(rescuer, 'DONE').length === 5, 20_000, 'all five items done by the rescuer');

    const done = lines(rescuer, 'DONE');
    expect(done.map((d) => d.item).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(done.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(done.find((d) => d.item === 1)!.id).toBe(inFlight.id); // the very job that was cut off
    expect(lines(doomed, 'DONE')).toEqual([]);
    expect(rescuer.output()).not.toMatch(/UNHANDLED/);
  });

  it('SIGTERM mid-job: the running item finishes before the process exits; the queued ones go to the other process', async () => {
    const queue = `term-${process.pid}-${++counter}`;
    const leaving = await worker(queue, { JOB_MS: '800' });
    const emails = producer(queue);
    for (let item = 1; item <= 4; item++) await emails.enqueue(item);
    await leaving.waitForOutput(/^START /m);
    leaving.kill('SIGTERM');
    expect(await leaving.exited).toEqual({ code: 0, signal: null });
    expect(lines(leaving, 'DONE').map((d) => d.item)).toEqual([1]);
    expect(leaving.output()).not.toMatch(/UNHANDLED/);

    const staying = await worker(queue, { JOB_MS: '20' });
    await waitFor(() => lines(staying, 'DONE').length === 3, 20_000, 'the three queued items');
    expect(lines(staying, 'DONE').map((d) => d.item)).toEqual([2, 3, 4]);
    expect(lines(staying, 'START').map((d) => d.item)).toEqual([2, 3, 4]); // item 1 did not run twice
  });

  it('two worker processes share the load of one queue, each item handled once', async () => {
    const queue = `share-${process.pid}-${++counter}`;
    const [a, b] = await Promise.all([worker(queue, { JOB_MS: '30' }), worker(queue, { JOB_MS: '30' })]);
    const emails = producer(queue);
    for (let item = 1; item <= 40; item++) await emails.enqueue(item);
    await waitFor(() => lines(a, 'DONE').length + lines(b, 'DONE').length === 40, 20_000, 'forty items');
    const items = [...lines(a, 'DONE'), ...lines(b, 'DONE')].map((d) => d.item).sort((x, y) => x - y);
    expect(items).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(lines(a, 'DONE').length).toBeGreaterThan(0);
    expect(lines(b, 'DONE').length).toBeGreaterThan(0);
  });
});
