import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { HostingModule, QueueWorker } from '../../src/index.js';
import { UNKNOWN_QUEUE } from '../../src/hosting.messages.js';
import { compileHostingApp } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

/**
 * Nest runs no shutdown hook after a failed init (and `app.close()` rethrows the failure), so a
 * start-up that fails in the host must close the Redis connections it opened itself: otherwise
 * they stay open, and reconnect for the life of the process once Redis goes away.
 */
let redis: RedisServerHandle;
let probe: Redis;
beforeAll(async () => {
  redis = await startRedisServer();
  probe = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
  await probe.connect();
});
afterAll(async () => {
  await probe?.quit();
  await redis?.stop();
});

/** Connections to this Redis other than the probe's own. */
async function otherClients(): Promise<number> {
  const list = String(await probe.call('CLIENT', 'LIST'));
  return list.split('\n').filter((line) => line.trim() !== '').length - 1;
}

/** Polls `check` until true (generous: a busy 2-core box). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a start-up that fails in the host', () => {
  it('closes the queues’ Redis connections before rethrowing', async () => {
    @Injectable()
    class Worker {
      @QueueWorker('emials')
      handle() {}
    }
    const { app } = await compileHostingApp({
      hosting: { redis: { host: redis.host, port: redis.port } },
      imports: [HostingModule.registerQueue({ name: 'emails', backend: 'bullmq' })],
      providers: [Worker],
    });
    // The queue's producer connects as the queue is created (before init): wait until it has.
    await until(async () => (await otherClients()) >= 1, 'the queue to connect');
    await expect(app.init()).rejects.toThrow(UNKNOWN_QUEUE('Worker.handle', 'emials', ['emails']));
    await app.close().catch(() => undefined); // rethrows the failed init; runs no hook
    await until(async () => (await otherClients()) === 0, 'the queue connections to close');
  });
});
