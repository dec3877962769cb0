/**
 * How many Redis connections BullMQ queues with a worker hold in one process (README "Redis
 * connections per queue and process"), counted by the server (`CLIENT LIST`), on a real
 * redis-server: four per queue from a URL or options; with the app's ioredis instance, the
 * producers share it (BullMQ's `Queue` uses an instance as it is), so three per queue and the
 * instance; with an instance that has `maxRetriesPerRequest: null`, the workers' commands share it
 * too (two per queue and the instance), and items still run.
 */
import { Injectable, type Type } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { getQueueToken, HostingModule, HostingRegistry, QueueWorker, type WorkQueue } from '../../src/index.js';
import { startHostingApp, waitFor, waitForAsync, type HostingApp } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
let admin: Redis;
let counter = 0;
/** Items the workers handled, as `<queue>:<item>`. */
const handled: string[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  admin = new Redis({ host: redis.host, port: redis.port, connectionName: 'test-admin' });
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

/** The server's clients other than this test's admin connection, opened after the client with id `after` (ids only grow). */
async function clients(after = lastId): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((line) => line.trim() !== '' && !/ name=test-admin /.test(line) && Number(/(?:^| )id=(\d+)/.exec(line)?.[1]) > after);
}

/** The newest client id (clients of an earlier test may still be closing: they are not counted). */
let lastId = 0;
beforeEach(async () => {
  const ids = ((await admin.client('LIST')) as string).split('\n').map((line) => Number(/(?:^| )id=(\d+)/.exec(line)?.[1] ?? 0));
  lastId = Math.max(...ids);
});

/** `count` queues on BullMQ, each with a `@QueueWorker`, under `forRoot({ redis: connection })`; resolves once every queue's connections are up. */
async function appWithQueues(connection: string | Redis, count: number): Promise<{ started: HostingApp; names: string[] }> {
  const names = Array.from({ length: count }, () => `conn-${process.pid}-${++counter}`);
  const workers: Type[] = names.map((name) => {
    @Injectable()
    class Worker {
      @QueueWorker(name)
      handle(item: string): void {
        handled.push(`${name}:${item}`);
      }
    }
    return Worker;
  });
  const started = await startHostingApp({
    hosting: { redis: connection },
    imports: names.map((name) => HostingModule.registerQueue({ name, backend: 'bullmq' })),
    providers: workers,
  });
  const registry = started.app.get(HostingRegistry);
  const up = () =>
    names.every((name) => {
      const connections = registry.get(name)?.connections ?? [];
      return connections.length > 0 && connections.every((c) => c.state === 'up');
    });
  await waitFor(up, 30_000, "every queue's connections up");
  // The last to come: each worker's blocking connection (BullMQ names it `bull:<base64 of the queue
  // name>`) and each cancel subscriber's SUBSCRIBE (the monitor counts it up once connected).
  await waitForAsync(async () => {
    const listed = await clients();
    const blocking = names.every((name) => listed.some((line) => line.includes(` name=bull:${Buffer.from(name).toString('base64')}`)));
    return blocking && listed.filter((line) => / cmd=subscribe /.test(line)).length === names.length;
  }, 30_000, "every worker's blocking connection and cancel subscription");
  return { started, names };
}

/**
 * Three queues on the app's ioredis instance made with `options`: `expected` connections, the
 * instance's included; an item runs on every queue; after close only the instance is left, open.
 */
async function countOnInstance(options: RedisOptions, expected: number): Promise<void> {
  const instance = new Redis({ host: redis.host, port: redis.port, ...options });
  try {
    const { started, names } = await appWithQueues(instance, 3);
    try {
      expect((await clients()).length).toBe(expected);
      for (const name of names) await started.app.get<WorkQueue<string>>(getQueueToken(name)).enqueue('x');
      await waitFor(() => names.every((name) => handled.includes(`${name}:x`)), 30_000, 'every queue to handle its item');
    } finally {
      await started.app.close();
    }
    await waitForAsync(async () => (await clients()).length === 1, 30_000, 'the app to close its own connections (not the instance)');
    expect(instance.status).toBe('ready');
  } finally {
    instance.disconnect();
  }
}

describe('Redis connections of BullMQ queues with a worker, in one process', () => {
  it('from a URL: four per queue (producer, the worker\'s command and blocking connections, the cancel subscriber)', async () => {
    const { started } = await appWithQueues(redis.url, 3);
    try {
      expect((await clients()).length).toBe(12);
    } finally {
      await started.app.close();
    }
    await waitForAsync(async () => (await clients()).length === 0, 30_000, 'the app to close its connections');
  });

  it("from the app's ioredis instance: the producers share it, so three per queue and the instance; items run; the app keeps it open after close", async () => {
    await countOnInstance({}, 10);
  });

  it("from an ioredis instance with maxRetriesPerRequest: null: the producers and the workers' commands share it, so two per queue and the instance; items run", async () => {
    await countOnInstance({ maxRetriesPerRequest: null }, 7);
  });
});
