import { watchRedisEvents, type ConnectionMonitor } from '../../distributed/connection-monitor.js';

/** The part of an ioredis client (as BullMQ hands it out) the channel uses. */
interface PubSubClient {
  status?: string;
  duplicate(options?: Record<string, unknown>): PubSubClient;
  subscribe(channel: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  prependListener(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  disconnect(): void;
}

/**
 * How `WorkQueue.cancel(id)` reaches the process that runs job `id`: a Redis pub/sub channel per
 * queue (`<prefix>:<queue>:nest-hosting:cancel`, the message is the job id). Every process with a
 * worker on the queue subscribes on ONE connection of its own (a duplicate of the queue's producer
 * connection, in subscriber mode: one more Redis connection per process and queue with a worker);
 * cancelling publishes on the producer's connection (no new one). The channel carries nothing but
 * cancels, so a busy queue costs its workers nothing here (BullMQ's event stream, read by
 * `QueueEvents`, would make every worker process read every job's events). A cancel published while
 * the subscriber is disconnected is not seen (pub/sub keeps no backlog): its item runs to its end.
 * The worker takes its first item only once the first SUBSCRIBE is confirmed (`listening`).
 */
export class BullMqCancelChannel {
  private subscriber?: PubSubClient;
  private unwatch?: () => void;
  private closed = false;
  private heard!: () => void;
  /** Settles when the first SUBSCRIBE is confirmed, or failed (then reported through `onError`). */
  readonly listening = new Promise<void>((resolve) => (this.heard = resolve));

  constructor(
    /** The channel's name. */
    readonly channel: string,
    /** Called with each cancelled job id published on the channel (by any process, this one included). */
    private readonly onCancel: (id: string) => void,
  ) {}

  /** True while the subscriber is connected. */
  get isReady(): boolean {
    return this.subscriber?.status === 'ready';
  }

  /**
   * Subscribes on a duplicate of `client`, feeding `part` of `monitor` from its connection events
   * (`seen`: the errors already reported). `onError` hears a failed subscribe.
   */
  start(client: unknown, monitor: ConnectionMonitor, part: string, seen: WeakSet<object>, onError: (error: unknown) => void): void {
    if (this.closed || this.subscriber) return;
    // The producer's connection fails commands at once while down; a subscriber waits and resubscribes.
    const subscriber = (client as PubSubClient).duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    this.unwatch = watchRedisEvents(subscriber, () => subscriber.status, monitor, part, seen, onError);
    subscriber.on('message', (channel, message) => {
      if (channel === this.channel) this.onCancel(message);
    });
    subscriber.subscribe(this.channel).then(
      () => {
        if (subscriber.status === 'ready') monitor.partUp(part);
        this.heard();
      },
      (error: unknown) => {
        if (!this.closed) onError(error);
        this.heard(); // the worker runs all the same: only cancels of running items go unheard
      },
    );
  }

  /** No subscriber could be made (the producer's client failed): the worker runs without hearing cancels. */
  giveUp(): void {
    this.heard();
  }

  /** Publishes a cancel of `id` on `channel` through `client` (the producer's connection: no subscriber needed). */
  static async publish(client: unknown, channel: string, id: string): Promise<void> {
    await (client as PubSubClient).publish(channel, id);
  }

  close(): void {
    this.closed = true;
    this.unwatch?.();
    this.subscriber?.disconnect();
  }
}
