import { Inject, Injectable, Logger } from '@nestjs/common';
import { DUPLICATE_QUEUE, INVALID_QUEUE_OPTION, QUEUE_LANE_FAILED, stackOf } from '../hosting.messages.js';
import { HOSTING_OPTIONS } from '../hosting.module-definition.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import type { BullMqBackendOptions, QueueOptions } from '../interfaces/queue-options.interface.js';
import { HostedQueue } from './hosted-queue.js';
import { MemoryQueueBackend } from './memory/memory-queue-backend.js';
import type { QueueBackend } from './queue-backend.interface.js';
import { validateQueueOptions } from './queue-options.validation.js';
import { WorkQueue } from './work-queue.js';

/** Creates the queues that `registerQueue` declares and keeps them for the host to run. */
@Injectable()
export class QueueManager {
  private readonly logger = new Logger('Hosting');
  private readonly queues = new Map<string, HostedQueue<unknown>>();

  constructor(@Inject(HOSTING_OPTIONS) private readonly hostingOptions: HostingOptions) {}

  async create<T>(options: QueueOptions<T>): Promise<WorkQueue<T>> {
    validateQueueOptions(options as QueueOptions<unknown>);
    if (this.queues.has(options.name)) throw new Error(DUPLICATE_QUEUE(options.name));
    const hosted: HostedQueue<T> = await this.createHosted(options);
    this.queues.set(options.name, hosted as HostedQueue<unknown>);
    return new WorkQueue<T>(options.name, hosted.backend);
  }

  get(name: string): HostedQueue<unknown> | undefined {
    return this.queues.get(name);
  }

  all(): HostedQueue<unknown>[] {
    return [...this.queues.values()];
  }

  private async createHosted<T>(options: QueueOptions<T>): Promise<HostedQueue<T>> {
    const backend = options.backend ?? 'memory';
    const type = typeof backend === 'object' ? backend.type : backend;
    if (type === 'bullmq') {
      const own = typeof backend === 'object' ? (backend as BullMqBackendOptions) : undefined;
      const connection = own?.connection ?? this.hostingOptions?.redis;
      if (!connection)
        throw new TypeError(INVALID_QUEUE_OPTION(options.name, 'backend', "given a connection, or HostingModule.forRoot({ redis }) set, for 'bullmq'", backend));
      const { BullMqQueueBackend } = await import('./bullmq/bullmq-queue-backend.js');
      const bull = new BullMqQueueBackend<T>({
        queueName: options.name,
        connection,
        prefix: own?.prefix,
        lockDurationMs: own?.lockDurationMs,
        stalledIntervalMs: own?.stalledIntervalMs,
        logger: this.logger,
      });
      await bull.ready; // bullmq missing: fail at start-up, with install guidance
      return new HostedQueue(options, bull as QueueBackend<T>, 'bullmq', this.logger);
    }
    let hosted!: HostedQueue<T>;
    const memory = new MemoryQueueBackend<T>({
      name: options.name,
      capacity: options.capacity,
      fullMode: options.fullMode,
      onDropped: (item, reason) => hosted.callHook('onDropped', item, reason),
      onLaneFailed: (error) => this.logger.error(QUEUE_LANE_FAILED(options.name), stackOf(error)),
    });
    hosted = new HostedQueue(options, memory, 'memory', this.logger);
    return hosted;
  }
}
