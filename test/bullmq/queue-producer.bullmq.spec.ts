/**
 * The shared producer suite (test/queues/queue-producer.behaviour.ts: delay, runAt, priority, id
 * dedup, enqueueMany, per-item attempts, cancel, dead letters), run against the BullMQ backend on a
 * real redis-server: the application code is the same as on the memory backend.
 */
import { describeQueueProducerBehaviour } from '../queues/queue-producer.behaviour.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

let counter = 0;
describeQueueProducerBehaviour('bullmq', () => ({
  queueOptions: () => ({ backend: 'bullmq' }),
  hostingOptions: () => ({ redis: { host: redis.host, port: redis.port } }),
  uniqueName: (base) => `${base}-${process.pid}-${++counter}`,
  durable: true,
}));
