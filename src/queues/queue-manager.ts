import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DUPLICATE_QUEUE, QUEUE_LANE_FAILED, stackOf } from '../hosting.messages.js';
import { HOSTING_OPTIONS } from '../hosting.module-definition.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import type { BullMqBackendOptions, QueueOptions } from '../interfaces/queue-options.interface.js';
import { HostedQueue } from './hosted-queue.js';
import { MemoryQueueBackend } from './memory/memory-queue-backend.js';
import type { QueueBackend } from './queue-backend.interface.js';
import { backendTypeOf, missingConnection, validateQueueOptions } from './queue-options.validation.js';
import { WorkQueue } from './work-queue.js';
import { queueConnectionOwner, queuePostgresOwner } from './bullmq/bullmq-options.validation.js';
import { PG_POSTGRES_TRUE_WITHOUT_ROOT } from './bullmq/bullmq-postgres.messages.js';
import type { ConnectionOptions } from '../interfaces/redis-connection.interface.js';
import type { PostgresConnectionOptions } from '../interfaces/postgres-connection.interface.js';
import { OneCopy } from '../one-copy.js';
import { TimeProvider } from '../time/time-provider.js';
import { WorkInterceptors } from '../interception/work-interceptors.js';

/** One `registerQueue` call: its options and where it was made (for the message when two conflict). */
interface Registration<T> {
  options: QueueOptions<T>;
  site: string;
  queue: Promise<WorkQueue<T>>;
}

/**
 * Creates the queues that `registerQueue` declares and keeps them for the host to run: one queue
 * per name per app, however many modules register it (identical registrations share it).
 */
@OneCopy('QueueManager')
@Injectable()
export class QueueManager {
  private readonly logger = new Logger('Hosting');
  private readonly queues = new Map<string, HostedQueue<unknown>>();
  private readonly registrations = new Map<string, Registration<unknown>>();

  constructor(
    @Inject(HOSTING_OPTIONS) private readonly hostingOptions: HostingOptions,
    private readonly time: TimeProvider,
    /** The host's interceptor chain, read by each `WorkQueue.enqueue` (filled at module init). */
    @Optional() private readonly interceptors: WorkInterceptors = new WorkInterceptors(),
  ) {}

  /**
   * The queue `options` declare. The name is claimed before anything is awaited, so two modules
   * registering one name get one queue; conflicting options fail, naming both registrations.
   */
  create<T>(options: QueueOptions<T>, site = 'an unknown place'): Promise<WorkQueue<T>> {
    validateQueueOptions(options as QueueOptions<unknown>);
    const existing = this.registrations.get(options.name) as Registration<T> | undefined;
    if (existing) {
      const conflict = firstDifference(existing.options, options);
      if (conflict) throw new Error(DUPLICATE_QUEUE(options.name, conflict, existing.options[conflict], existing.site, options[conflict], site));
      return existing.queue;
    }
    const queue = this.createHosted(options).then((hosted) => {
      this.queues.set(options.name, hosted as HostedQueue<unknown>);
      return new WorkQueue<T>(options.name, hosted.backend, this.interceptors, this.time, hosted.backendKind);
    });
    this.registrations.set(options.name, { options, site, queue } as Registration<unknown>);
    return queue;
  }

  get(name: string): HostedQueue<unknown> | undefined {
    return this.queues.get(name);
  }

  all(): HostedQueue<unknown>[] {
    return [...this.queues.values()];
  }

  private async createHosted<T>(options: QueueOptions<T>): Promise<HostedQueue<T>> {
    const backend = options.backend ?? 'memory';
    if (backendTypeOf(options) === 'bullmq') {
      const own = typeof backend === 'object' ? (backend as BullMqBackendOptions) : undefined;
      const store = storeOf(options as QueueOptions<unknown>, own, this.hostingOptions);
      const { BullMqQueueBackend } = await import('./bullmq/bullmq-queue-backend.js');
      const bull = new BullMqQueueBackend<T>({
        queueName: options.name,
        ...store,
        prefix: own?.prefix,
        lockDurationMs: own?.lockDurationMs,
        stalledIntervalMs: own?.stalledIntervalMs,
        enqueueTimeoutMs: own?.enqueueTimeoutMs,
        telemetry: own?.telemetry,
        removeOnComplete: own?.removeOnComplete,
        deadLetters: options.deadLetters,
        logger: this.logger,
      });
      // bullmq (or pg) missing, a PostgreSQL role that may not migrate or use BullMQ's schema: fail at start-up, saying how to fix it
      await bull.ready;
      return new HostedQueue(options, bull as QueueBackend<T>, 'bullmq', this.logger);
    }
    let hosted!: HostedQueue<T>;
    const memory = new MemoryQueueBackend<T>({
      name: options.name,
      capacity: options.capacity,
      fullMode: options.fullMode,
      onDropped: (item, reason) => hosted.callHook('onDropped', item, reason),
      onLaneFailed: (error) => this.logger.error(QUEUE_LANE_FAILED(options.name), stackOf(error)),
      time: this.time,
      deadLetters: options.deadLetters,
    });
    hosted = new HostedQueue(options, memory, 'memory', this.logger, this.time);
    return hosted;
  }
}

/**
 * Where a 'bullmq' queue keeps its jobs (`BullMqBackendOptions.postgres` says the rule): its own
 * `connection` (Redis) or `postgres` connection; `postgres: true`, forRoot's postgres; neither,
 * forRoot's redis, else forRoot's postgres. With the owner that start-up errors name.
 */
function storeOf(
  options: QueueOptions<unknown>,
  own: BullMqBackendOptions | undefined,
  root: HostingOptions | undefined,
): { connection: ConnectionOptions; connectionOwner: string } | { postgres: PostgresConnectionOptions; connectionOwner: string } {
  if (own?.connection !== undefined) return { connection: own.connection, connectionOwner: queueConnectionOwner(options.name) };
  if (own?.postgres !== undefined && own.postgres !== true) return { postgres: own.postgres, connectionOwner: queuePostgresOwner(options.name) };
  if (own?.postgres === true) {
    if (root?.postgres === undefined) throw new TypeError(PG_POSTGRES_TRUE_WITHOUT_ROOT(options.name));
    return { postgres: root.postgres, connectionOwner: 'HostingModule.forRoot({ postgres })' };
  }
  if (root?.redis !== undefined) return { connection: root.redis, connectionOwner: 'HostingModule.forRoot({ redis })' };
  if (root?.postgres !== undefined) return { postgres: root.postgres, connectionOwner: 'HostingModule.forRoot({ postgres })' };
  return missingConnection(options);
}

/** The first option two registrations of one queue disagree on, if any (the backend compared by meaning). */
function firstDifference<T>(a: QueueOptions<T>, b: QueueOptions<T>): keyof QueueOptions<T> | undefined {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as Array<keyof QueueOptions<T>>);
  for (const key of keys) {
    const same = key === 'backend' ? sameData(normalBackend(a.backend), normalBackend(b.backend)) : sameData(a[key], b[key]);
    if (!same) return key;
  }
  return undefined;
}

/** `'bullmq'`, `{ type: 'bullmq' }` and their memory twins (or no backend) mean the same. */
function normalBackend(backend: QueueOptions['backend']): object {
  if (backend === undefined || backend === 'memory') return { type: 'memory' };
  return typeof backend === 'string' ? { type: backend } : backend;
}

/** Equal as data: plain objects and arrays compared by content, anything else (functions, clients) by identity. */
function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  const plain = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && (Array.isArray(v) || [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null));
  if (!plain(a) || !plain(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if (!sameData(a[key], b[key])) return false;
  return true;
}
