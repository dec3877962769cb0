import type { LoggerService } from '@nestjs/common';
import type { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { REDIS_OUTAGE, watchRedisEvents, type ConnectionMonitor, type RedisEventSource } from '../../distributed/connection-monitor.js';
import { ErrorLogThrottle } from '../../distributed/error-log-throttle.js';
import { assertRedisConnection } from '../../distributed/redis-connection.js';
import { isRedisConnectionError } from '../../distributed/redis-outage-reporter.js';
import { ENQUEUE_TIMED_OUT, QUEUE_ENQUEUE_TIMED_OUT, QUEUE_UNAVAILABLE, REDIS_CONNECTION_FAILED, WORKER_SPINNING } from '../../distributed/redis.messages.js';
import type { QueueRateLimit } from '../../interfaces/queue-options.interface.js';
import type { ConnectionOptions } from '../../interfaces/redis-connection.interface.js';
import { BullMqCancelChannel } from './bullmq-cancel-channel.js';
import { bullMqConnections, type BullMqConnections } from './bullmq-connections.js';
import type { BullMqStore, CancelListener, ConnectionWatch, StoreMessages, WatchedKind, WatchHooks } from './bullmq-store.js';
import { assertJsonPayload } from './json-payload.js';
import { QueueWidePause } from './queue-wide-pause.js';

/** BullMQ's `RedisConnection` as far as the watch looks at it. */
interface BullRedisConnection extends RedisEventSource {
  /** Settles once the connection is initialised; rejects for good when it cannot be made. */
  client: Promise<unknown>;
  _client?: { status?: string };
}

/** Scripts of `removeKeepingIdTtl`: the PTTL of an id's deduplication key, and setting it back. */
const ID_TTL_READ = 'nestHostingIdTtl';
const ID_TTL_RESTORE = 'nestHostingIdTtlRestore';

/**
 * The queue-wide limit (`Queue.setGlobalRateLimit`, in BullMQ's queue meta) that `pauseAll` sets for
 * workers without a limiter of their own: no limit in practice, but BullMQ's fetch scripts check the
 * rate-limit key only under a limit, the worker's or the queue's. Set only around a pause, so that
 * the fetch pays for a limit (a counter increment per job, a few percent of raw throughput in figure
 * 5b) only then; set before the window, in the meta every fetch of every process reads in the same
 * script, so that no process starts a job inside the pause.
 */
const PAUSE_MAX = 2 ** 31 - 1;
/** `liftPause`'s script: removes the pause's queue-wide limit unless a window (a key at `Queue.rateLimit`'s value) still holds. */
const LIFT_PAUSE = 'nestHostingLiftPause';
const LIFT_PAUSE_LUA =
  "if redis.call('HGET', KEYS[1], 'max') == ARGV[1] and tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[1]) then " +
  "return redis.call('HDEL', KEYS[1], 'max', 'duration') end return 0";

const MESSAGES: StoreMessages = {
  unavailable: QUEUE_UNAVAILABLE,
  enqueueTimedOut: ENQUEUE_TIMED_OUT,
  queueEnqueueTimedOut: QUEUE_ENQUEUE_TIMED_OUT,
  connectionFailed: REDIS_CONNECTION_FAILED,
  workerSpinning: WORKER_SPINNING,
};

/** The watch of Redis connections: their clients report outages through their events. */
const watched = (unwatchers: Array<() => void>): ConnectionWatch => ({
  failed: () => false,
  succeeded: () => undefined,
  close: () => {
    for (const unwatch of unwatchers.splice(0)) unwatch();
  },
});

/** BullMQ on Redis: its default backend, connected as bullmq-connections.ts says. */
export class RedisStore implements BullMqStore {
  readonly storeName = 'Redis';
  readonly label = 'bullmq';
  readonly messages = MESSAGES;
  readonly outage = REDIS_OUTAGE;
  readonly producerConnection: unknown;
  readonly workerConnection: unknown;
  readonly ownsProducer: boolean;
  readonly ownsWorker: boolean;
  /** The worker's command and blocking connections, and the subscriber that hears cancels (bullmq-cancel-channel.ts). */
  readonly workerParts = ['main', 'blocking', 'cancel'] as const;
  readonly workerOptions = {};
  readonly unlimitedMax = Number.MAX_SAFE_INTEGER;

  /** A handler's `RateLimitedError` on workers without a limiter: a queue-wide limit for the pause only. */
  private readonly pause = new QueueWidePause(PAUSE_MAX, (queue) => this.liftPause(queue));
  private liftCommand = false;

  /** `@QueueWorker`'s limiter, or none (a queue-wide limit stands in around a pause: `PAUSE_MAX`). */
  limiterOf(limiter: QueueRateLimit | undefined): { max: number; duration: number } | undefined {
    return limiter ? { max: limiter.max, duration: limiter.durationMs } : undefined;
  }

  /** `Queue.rateLimit`, under a queue-wide limit for workers without one of their own (`QueueWidePause`). */
  pauseAll(queue: Queue, retryAfterMs: number, limited: boolean): Promise<void> {
    return this.pause.pause(queue, retryAfterMs, limited);
  }

  /**
   * Removes the queue-wide limit `pauseAll` set (one the app set itself stays), unless a window still
   * holds (another process's later pause: that one lifts it). Also run as a worker starts, for a
   * limit a process that died mid-pause left.
   */
  async liftPause(queue: Queue): Promise<void> {
    try {
      const client = await queue.getBackend().client;
      if (!this.liftCommand) {
        client.defineCommand(LIFT_PAUSE, { numberOfKeys: 2, lua: LIFT_PAUSE_LUA });
        this.liftCommand = true;
      }
      await client.runCommand(LIFT_PAUSE, [queue.keys.meta, queue.keys.limiter, PAUSE_MAX]);
    } catch {
      // Redis away: the limit stays until the next pause or worker start lifts it; it only counts jobs.
    }
  }
  private readonly clients: BullMqConnections;
  /** `removeKeepingIdTtl`'s two scripts are defined on the producer's client. */
  private idTtlCommands = false;

  /** `owner` names who gave `connection`, in start-up errors. */
  constructor(owner: string, connection: ConnectionOptions) {
    assertRedisConnection(owner, connection);
    this.clients = bullMqConnections(owner, connection);
    this.producerConnection = this.clients.producer;
    this.workerConnection = this.clients.worker;
    this.ownsProducer = this.clients.ownsProducer;
    this.ownsWorker = this.clients.ownsWorker;
  }

  backendFactory(): undefined {
    return undefined;
  }

  throttle(logger: LoggerService, subject: string): ErrorLogThrottle {
    return new ErrorLogThrottle(logger, subject);
  }

  /** Nothing to wait for: the worker's Redis client queues commands until it is connected. */
  opened(): Promise<void> {
    return Promise.resolve();
  }

  /** A worker starts: a stale queue-wide limit goes (`liftPause`); its connections do not depend on its concurrency. */
  workerStarting(queue: Queue): void {
    void this.liftPause(queue);
  }

  /** BullMQ's classes close their own connections; a pending lift is dropped. */
  dispose(): Promise<void> {
    this.pause.dispose();
    return Promise.resolve();
  }

  isConnectionError(error: unknown): boolean {
    return isRedisConnectionError(error);
  }

  checkItem(queue: string, item: unknown, root: string): void {
    assertJsonPayload(queue, item, root);
  }

  checkItemOptions(): void {
    // Redis keeps every option WorkQueue lets through.
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Feeds `monitor` from BullMQ's connections of `target` (the worker: its command connection as
   * part `main`, its blocking one as `blocking`): their events, and the outcome of their
   * initialisation, which fails for good when the client cannot be made (options ioredis refuses, a
   * Redis version BullMQ refuses). A BullMQ without that field leaves the part up.
   */
  watch(target: Queue | Worker | QueueEvents, kind: WatchedKind, monitor: ConnectionMonitor, hooks: WatchHooks): ConnectionWatch {
    const backend = target.getBackend() as unknown as Record<string, unknown> | undefined;
    const fields: Array<[string, string]> = kind === 'worker' ? [['connection', 'main'], ['blockingConnection', 'blocking']] : [['connection', 'main']];
    const unwatchers: Array<() => void> = [];
    for (const [field, part] of fields) {
      const connection = backend?.[field] as BullRedisConnection | undefined;
      const initialised = connection?.client;
      if (!connection || typeof connection.prependListener !== 'function' || typeof initialised?.then !== 'function') {
        monitor.partUp(part);
        continue;
      }
      const status = () => connection._client?.status;
      unwatchers.push(watchRedisEvents(connection, status, monitor, part, hooks.seen));
      initialised.then(
        () => {
          if (hooks.current() && (status() === 'ready' || status() === 'connect')) monitor.partUp(part);
        },
        (error: unknown) => {
          if (hooks.current()) hooks.initFailed(error, false);
        },
      );
    }
    return watched(unwatchers);
  }

  /** BullMQ's `moveToWait`: back to the front of the wait list. */
  async handBack(job: Job, token: string | undefined): Promise<void> {
    await job.moveToWait(token);
  }

  /** Nothing: BullMQ's own hand-back puts it at the front. */
  handBackLimited(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * `queue.remove(id)`, keeping what is left of an `idTtlMs`: BullMQ deletes a removed job's
   * deduplication key, but an id enqueued with `idTtlMs` stays taken that long whatever became of its
   * item (cancelled or discarded included). Two scripts: the key's PTTL, and setting it back.
   */
  async removeKeepingIdTtl(queue: Queue, id: string): Promise<number> {
    const key = `${queue.keys.de}:${id}`;
    const client = await queue.getBackend().client;
    if (!this.idTtlCommands) {
      client.defineCommand(ID_TTL_READ, { numberOfKeys: 1, lua: "return redis.call('PTTL', KEYS[1])" });
      client.defineCommand(ID_TTL_RESTORE, { numberOfKeys: 1, lua: "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')" });
      this.idTtlCommands = true;
    }
    const ttl = Number(await client.runCommand(ID_TTL_READ, [key]));
    const removed = await queue.remove(id);
    if (removed === 1 && ttl > 0) await client.runCommand(ID_TTL_RESTORE, [key, id, ttl]);
    return removed;
  }

  /** The last entry of the queue's event stream, asked on the producer's connection. */
  async lastEventId(queue: Queue): Promise<string> {
    const client = (await queue.getBackend().client) as unknown as { xrevrange(key: string, end: string, start: string, count: 'COUNT', n: number): Promise<Array<[string, string[]]>> };
    const [last] = await client.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1);
    return last?.[0] ?? '0';
  }

  /** A pub/sub channel per queue, heard on a duplicate of the producer's connection (bullmq-cancel-channel.ts). */
  listenForCancels(queue: Queue, onCancel: (id: string) => void, monitor: ConnectionMonitor, part: string, seen: WeakSet<object>, onError: (error: unknown) => void): CancelListener {
    const channel = new BullMqCancelChannel(this.cancelChannel(queue), onCancel);
    queue.getBackend().client.then(
      (client) => channel.start(client, monitor, part, seen, onError),
      (error: unknown) => {
        monitor.partDown(part, error);
        channel.giveUp();
      },
    );
    return channel;
  }

  /** Publishes on the producer's connection (no subscriber needed). */
  async publishCancel(queue: Queue, id: string): Promise<void> {
    await BullMqCancelChannel.publish(await queue.getBackend().client, this.cancelChannel(queue), id);
  }

  private cancelChannel(queue: Queue): string {
    return queue.toKey('nest-hosting:cancel');
  }
}
