/**
 * The shared WorkQueue behaviour suite (test/queues/work-queue.behaviour.ts), run against the
 * BullMQ backend on a real redis-server: the application code is the same as on the memory backend.
 */
import { describeWorkQueueBehaviour } from '../queues/work-queue.behaviour.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

let counter = 0;
describeWorkQueueBehaviour('bullmq', () => ({
  queueOptions: () => ({ backend: 'bullmq' }),
  hostingOptions: () => ({ redis: { host: redis.host, port: redis.port } }),
  uniqueName: (base) => `${base}-${process.pid}-${++counter}`,
  // Queued items stay in Redis at shutdown for the next process (BullMQ's own close), they do not drain.
  durable: true,
}));
