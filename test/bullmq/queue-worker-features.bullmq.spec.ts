/**
 * The shared worker-features suite (test/queues/queue-worker-features.behaviour.ts), run against
 * the BullMQ backend on a real redis-server: the same application code as on the memory backend.
 */
import { describeQueueWorkerFeatures } from '../queues/queue-worker-features.behaviour.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

let counter = 0;
describeQueueWorkerFeatures('bullmq', () => ({
  queueOptions: () => ({ backend: 'bullmq' }),
  hostingOptions: () => ({ redis: { host: redis.host, port: redis.port } }),
  uniqueName: (base) => `${base}-${process.pid}-${++counter}`,
  durable: true,
}));
