/**
 * The dashboard's dead-letter routes on a BullMQ queue (a real redis-server): the same JSON, newest
 * first, and redrive / discard acting on the queue's failed set.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { HostingModule, HostingRegistry, InjectQueue, QueueWorker, WorkQueue } from '../../src/index.js';
import { HostingDashboardModule } from '../../src/dashboard/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

const XSS = `<img src=x onerror="window.__xss=1">`;
const failing = new Set<string>();

@Injectable()
class Jobs {
  constructor(@InjectQueue('dl-jobs') readonly queue: WorkQueue<{ key: string }>) {}

  @QueueWorker('dl-jobs')
  work(job: { key: string }) {
    if (failing.has(job.key)) throw new Error(`${XSS} (${job.key})`);
  }
}

let redis: RedisServerHandle;
let app: INestApplication | undefined;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

afterEach(async () => {
  await app?.close();
  app = undefined;
});

it('lists a BullMQ queue’s failed jobs newest first, redrives one back into the queue and discards the rest', async () => {
  const moduleRef = await Test.createTestingModule({
    imports: [
      HostingModule.forRoot({ shutdownTimeoutMs: 5_000, redis: { host: redis.host, port: redis.port } }),
      HostingModule.registerQueue({ name: 'dl-jobs', backend: 'bullmq' }),
      HostingDashboardModule.register({ readOnly: false }),
    ],
    providers: [Jobs],
  })
    .setLogger(new CaptureLogger())
    .compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/hosting/queues/dl-jobs`;
  const registry = app.get(HostingRegistry);
  const jobs = app.get(Jobs).queue;
  const list = async () => (await (await fetch(`${url}/dead-letters.json`)).json()) as { total: number; items: Array<{ id: string; error: { message: string }; data: string }> };
  const post = async (route: string, body: unknown) =>
    (await fetch(`${url}/${route}`, { method: 'POST', headers: { 'X-Hosting-Dashboard': '1', 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).json();

  for (const key of ['a', 'b', 'c']) {
    failing.add(key);
    await jobs.enqueue({ key }, { id: key });
    await waitFor(() => registry.get('dl-jobs')!.failed === ['a', 'b', 'c'].indexOf(key) + 1, 30_000, `${key} to fail`);
  }
  const page = await list();
  expect(page.total).toBe(3);
  expect(page.items.map((item) => item.id)).toEqual(['c', 'b', 'a']);
  expect(page.items[0]).toMatchObject({ error: { message: `${XSS} (c)` }, data: JSON.stringify({ key: 'c' }) });

  failing.delete('b');
  expect(await post('dead-letters/redrive', { id: 'b' })).toEqual({ name: 'dl-jobs', action: 'redrive', id: 'b', count: 1 });
  await waitFor(() => registry.get('dl-jobs')!.processed === 1, 30_000, 'b handled');
  expect((await list()).items.map((item) => item.id)).toEqual(['c', 'a']);

  expect(await post('dead-letters/discard', {})).toEqual({ name: 'dl-jobs', action: 'discard', count: 2 });
  expect(await list()).toMatchObject({ total: 0, items: [] });
}, 60_000);
