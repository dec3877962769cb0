/**
 * A BullMQ worker may throw anything: every job fails (or is retried) normally, with a readable
 * failedReason in Redis, and onFailed gets an Error. BullMQ itself reads `.message` of what it is
 * given: `throw undefined` used to leave the job active with its lock held and failed=0, a thrown
 * string became failedReason null, `{ message }` objects showed `[object Object]` elsewhere.
 */
import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { HostingModule, HostingRegistry, InjectQueue, QueueWorker, ThrownValueError, type WorkQueue } from '../../src/index.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(60_000);

const QUEUE = `thrown-${process.pid}`;
const nullPrototype = Object.assign(Object.create(null) as object, { code: 42 });
const THROWN: Record<string, () => unknown> = {
  undefined: () => undefined,
  null: () => null,
  string: () => 'the string itself',
  messageObject: () => ({ message: 'boom' }),
  nullPrototype: () => nullPrototype,
  number: () => 42,
};

@Injectable()
class Producer {
  constructor(@InjectQueue(QUEUE) readonly queue: WorkQueue<{ kind: string }>) {}
}

const tries = new Map<string, number>();
@Injectable()
class Thrower {
  @QueueWorker(QUEUE, { attempts: 2, concurrency: 3 })
  handle(item: { kind: string }) {
    tries.set(item.kind, (tries.get(item.kind) ?? 0) + 1);
    throw THROWN[item.kind]!();
  }
}

describe('a BullMQ worker that throws a value that is not an Error', () => {
  let redis: RedisServerHandle;
  let started: HostingApp;
  let inspect: Queue;
  const failures: Array<{ item: { kind: string }; error: unknown; attempts: number }> = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    inspect = new Queue(QUEUE, { connection: { host: redis.host, port: redis.port } });
    started = await startHostingApp({
      hosting: { redis: { host: redis.host, port: redis.port } },
      imports: [
        HostingModule.registerQueue<{ kind: string }>({
          name: QUEUE,
          backend: 'bullmq',
          onFailed: (item, error, { attempts }) => failures.push({ item, error, attempts }),
        }),
      ],
      providers: [Producer, Thrower],
    });
  });

  afterAll(async () => {
    await started?.app.close();
    await inspect?.close();
    await redis?.stop();
  });

  it('fails each job after its retries, with a readable failedReason, and hands onFailed an Error', async () => {
    const producer = started.app.get(Producer);
    const ids = new Map<string, string>();
    for (const kind of Object.keys(THROWN)) ids.set(kind, await producer.queue.enqueue({ kind }));
    await waitFor(() => failures.length === ids.size, 20_000, 'every job failed');

    const expected: Record<string, string | RegExp> = {
      undefined: 'a non-Error value was thrown: undefined',
      null: 'a non-Error value was thrown: null',
      string: 'the string itself',
      messageObject: 'boom',
      nullPrototype: /^a non-Error value was thrown: \[Object: null prototype\] \{ code: 42 \}$/,
      number: 'a non-Error value was thrown: 42',
    };
    for (const [kind, id] of ids) {
      const job = await inspect.getJob(id);
      expect([kind, await job!.getState()]).toEqual([kind, 'failed']);
      expect([kind, job!.attemptsMade]).toEqual([kind, 2]); // retried as configured
      expect(tries.get(kind)).toBe(2);
      if (typeof expected[kind] === 'string') expect([kind, job!.failedReason]).toEqual([kind, expected[kind]]);
      else expect(job!.failedReason).toMatch(expected[kind]);
      const failure = failures.find((f) => f.item.kind === kind)!;
      expect(failure.error).toBeInstanceOf(ThrownValueError);
      expect((failure.error as Error).message).toBe(job!.failedReason);
      expect(failure.attempts).toBe(2);
    }
    expect((failures.find((f) => f.item.kind === 'messageObject')!.error as ThrownValueError).thrown).toEqual({ message: 'boom' });
    expect(await inspect.getActiveCount()).toBe(0); // no job left active with its lock held
    const status = started.app.get(HostingRegistry).get(QUEUE)!;
    expect(status.failed).toBe(ids.size);
    expect(started.logger.errors().map((e) => e.message).filter((m) => m.includes('[object Object]'))).toEqual([]);
  });
});
