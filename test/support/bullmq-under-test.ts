/**
 * The BullMQ side of the shared queue suites (test/queues/*.behaviour.ts): starts a redis-server
 * (`bullmqUnderTest`) or a PostgreSQL server with a database of the spec file's own
 * (`bullmqPostgresUnderTest`) for the spec file (beforeAll/afterAll) and describes the backend to
 * the suite. Call it at the top level of a spec.
 */
import type { BackendUnderTest } from '../queues/work-queue.behaviour.js';
import { startPostgresServer, type PostgresServerHandle } from './postgres-server.js';
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

/**
 * BullMQ on PostgreSQL (BullMQ's PostgreSQL backend): one server per spec file, and one database in
 * it (`database`); queues select it with `backend: 'bullmq'` under `forRoot({ postgres: url })`.
 */
export function bullmqPostgresUnderTest(database = 'queues'): {
  backend: () => BackendUnderTest;
  postgres: () => PostgresServerHandle;
  url: () => string;
  uniqueName: (base: string) => string;
} {
  let server: PostgresServerHandle | undefined;
  let url: string | undefined;
  beforeAll(async () => {
    server = await startPostgresServer();
    url = await server.createDatabase(database);
  }, 60_000);
  afterAll(async () => {
    await server?.destroy();
  });
  let counter = 0;
  // Queues keep their jobs in the database between tests: every test gets names of its own.
  const uniqueName = (base: string) => `${base}-${process.pid}-${++counter}`;
  const started = () => {
    if (!server || !url) throw new Error('bullmqPostgresUnderTest: PostgreSQL is not started yet (use it inside tests)');
    return { server, url };
  };
  return {
    postgres: () => started().server,
    url: () => started().url,
    uniqueName,
    backend: () => ({
      queueOptions: () => ({ backend: 'bullmq' }),
      hostingOptions: () => ({ postgres: started().url }),
      uniqueName,
      // Queued items stay in the database at shutdown for the next process, as on Redis.
      durable: true,
    }),
  };
}
