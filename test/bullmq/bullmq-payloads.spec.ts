/**
 * BullMQ stores items as JSON. An item that would not come back as it was given is refused by
 * `enqueue` (before any Redis round trip) with a TypeError that names the queue, the path inside
 * the item, what is wrong and what to pass instead. It used to change shape silently (a Date
 * became a string, a Map {}, NaN null) or fail with a raw TypeError that named nothing.
 * The memory backend hands items over by reference and is not affected.
 */
import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { HostingModule, InjectQueue, QueueWorker, type WorkQueue } from '../../src/index.js';
import { getFreePort } from '../support/free-port.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(60_000);

const QUEUE = `payloads-${process.pid}`;
const MEMORY = `payloads-memory-${process.pid}`;

@Injectable()
class Producer {
  constructor(
    @InjectQueue(QUEUE) readonly queue: WorkQueue<unknown>,
    @InjectQueue(MEMORY) readonly memory: WorkQueue<unknown>,
  ) {}
}

const received: unknown[] = [];
const inMemory: unknown[] = [];
@Injectable()
class Workers {
  @QueueWorker(QUEUE)
  handle(item: unknown) {
    received.push(item);
  }

  @QueueWorker(MEMORY)
  handleMemory(item: unknown) {
    inMemory.push(item);
  }
}

class Customer {
  constructor(readonly name: string) {}
}

const circular: Record<string, unknown> = { order: { id: 1 } };
(circular.order as Record<string, unknown>).parent = circular;

function start(redisPort: number): Promise<HostingApp> {
  return startHostingApp({
    hosting: { redis: { host: '127.0.0.1', port: redisPort }, shutdownTimeoutMs: 5_000 },
    imports: [HostingModule.registerQueue({ name: QUEUE, backend: 'bullmq' }), HostingModule.registerQueue({ name: MEMORY })],
    providers: [Producer, Workers],
  });
}

describe('BullMQ payloads', () => {
  let redis: RedisServerHandle;
  let started: HostingApp;
  beforeAll(async () => {
    redis = await startRedisServer();
    started = await start(redis.port);
  });
  afterAll(async () => {
    await started?.app.close();
    await redis?.stop();
  });

  it.each([
    ['a Date', { customer: { createdAt: new Date(0) } }, 'item.customer.createdAt is a Date, which JSON turns into a string', 'pass item.customer.createdAt.toISOString()'],
    ['a Map', { lines: new Map([['a', 1]]) }, 'item.lines is a Map, which JSON turns into {}', 'Object.fromEntries(item.lines)'],
    ['a Set', { tags: new Set(['x']) }, 'item.tags is a Set, which JSON turns into {}', 'pass [...item.tags]'],
    ['a class instance', { customer: new Customer('Ada') }, 'item.customer is a Customer instance, which JSON turns into a plain object', 'pass a plain object'],
    ['a function', { callback: () => 1 }, 'item.callback is a function, which JSON leaves out', 'pass data only'],
    ['NaN', { total: NaN }, 'item.total is NaN, which JSON turns into null', 'finite number'],
    ['Infinity', { lines: [{ qty: Infinity }] }, 'item.lines[0].qty is Infinity, which JSON turns into null', 'finite number'],
    ['a symbol', { kind: Symbol('k') }, 'item.kind is a symbol, which JSON leaves out', 'pass a string'],
    ['undefined in an array', { ids: [1, undefined, 3] }, 'item.ids[1] is undefined inside an array, which JSON turns into null', 'pass null'],
    ['a BigInt', { amount: 10n }, 'item.amount is a BigInt, which JSON cannot encode', 'item.amount.toString()'],
    ['a cycle', circular, 'item.order.parent refers back to an object that contains it (a cycle)', 'replace the back reference with an id'],
    ['a key that is no identifier', { 'first name': new Date(0) }, 'item["first name"] is a Date', 'toISOString()'],
    ['undefined itself', undefined, 'item is undefined', 'pass null or a value'],
    ['a Date itself', new Date(0), 'item is a Date', 'pass item.toISOString()'],
  ])('refuses %s, naming the queue, the path and the fix', async (_label, item, what, fix) => {
    const promise = started.app.get(Producer).queue.enqueue(item);
    await expect(promise).rejects.toBeInstanceOf(TypeError);
    const message = await promise.catch((error: Error) => error.message);
    expect(message.startsWith(`WorkQueue.enqueue on queue "${QUEUE}" (bullmq): ${what}`)).toBe(true);
    expect(message).toContain(fix);
  });

  it('lets JSON data through, and it reaches the worker as it was given', async () => {
    const items = [
      { plain: { nested: [1, 'two', true, null, { deep: -0.5 }] } },
      Object.assign(Object.create(null) as object, { nullPrototype: true }),
      ['an', 'array'],
      'a string',
      42,
      false,
      null,
    ];
    for (const item of items) await started.app.get(Producer).queue.enqueue(item);
    await waitFor(() => received.length === items.length, 15_000, 'all delivered');
    expect(received).toEqual(items.map((item) => JSON.parse(JSON.stringify(item))));
  });

  it('allows undefined as a property value: the key is left out and reads back as undefined', async () => {
    received.length = 0;
    await started.app.get(Producer).queue.enqueue({ id: 7, note: undefined });
    await waitFor(() => received.length === 1, 15_000, 'delivered');
    expect(received[0]).toEqual({ id: 7 });
    expect((received[0] as { note?: unknown }).note).toBeUndefined();
  });

  it('leaves the memory backend alone: items are handed over by reference', async () => {
    const item = { at: new Date(0), lines: new Map([['a', 1]]) };
    await started.app.get(Producer).memory.enqueue(item);
    await waitFor(() => inMemory.length === 1, 5_000, 'delivered');
    expect(inMemory[0]).toBe(item);
  });
});

describe('BullMQ payload checks need no Redis', () => {
  it('refuses a bad item at once even when Redis is unreachable (no round trip first)', async () => {
    const started = await start(await getFreePort());
    try {
      const startedAt = Date.now();
      await expect(started.app.get(Producer).queue.enqueue({ at: new Date() })).rejects.toThrow(
        `WorkQueue.enqueue on queue "${QUEUE}" (bullmq): item.at is a Date`,
      );
      expect(Date.now() - startedAt).toBeLessThan(2_500); // under the 5 s enqueue timeout
    } finally {
      await started.app.close();
    }
  });
});
