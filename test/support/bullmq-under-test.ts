/**
 * The BullMQ side of the shared queue suites (test/queues/*.behaviour.ts): starts a redis-server
 * for the spec file (beforeAll/afterAll) and describes the backend to the suite. Call it at the top
 * level of a spec.
 */
import type { BackendUnderTest } from '../queues/work-queue.behaviour.js';
import { startRedisServer, type RedisServerHandle } from './redis-server.js';

export function bullmqUnderTest(): { backend: () => BackendUnderTest; redis: () => RedisServerHandle; uniqueName: (base: string) => string } {
  let redis: RedisServerHandle | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  let counter = 0;
  // Queues keep their keys in Redis between tests: every test gets names of its own.
  const uniqueName = (base: string) => `${base}-${process.pid}-${++counter}`;
  const server = () => {
    if (!redis) throw new Error('bullmqUnderTest: redis-server is not started yet (use it inside tests)');
    return redis;
  };
  return {
    redis: server,
    uniqueName,
    backend: () => ({
      queueOptions: () => ({ backend: 'bullmq' }),
      hostingOptions: () => ({ redis: { host: server().host, port: server().port } }),
      uniqueName,
      // Queued items stay in Redis at shutdown for the next process (BullMQ's own close), they do not drain.
      durable: true,
    }),
  };
}
