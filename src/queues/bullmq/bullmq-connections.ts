import type { ConnectionOptions as BullConnection } from 'bullmq';
import { isRedisClient, toRedisClientOptions, type RedisClientLike } from '../../distributed/redis-connection.js';
import type { ConnectionOptions } from '../../interfaces/redis-connection.interface.js';

/** What a queue's producer (`Queue`) and its worker (`Worker`) connect with. */
export interface BullMqConnections {
  producer: BullConnection;
  worker: BullConnection;
  /** False when the producer uses the app's ioredis instance (the app closes it). */
  ownsProducer: boolean;
  /** False when the worker uses the app's client as is (an ioredis Cluster). */
  ownsWorker: boolean;
}

/**
 * The connections of one queue (`owner` names who gave `connection`, in errors). Options and URLs
 * become connections that BullMQ creates and closes: the producer fails fast while Redis is down (`enableOfflineQueue: false`, as BullMQ
 * advises for producers), the worker waits and retries. An ioredis instance is shared by the
 * producer as given (the app owns it), and by the worker for its commands when it has
 * `maxRetriesPerRequest: null` (BullMQ's rule for a worker's connection; it then duplicates the
 * instance for its blocking one); otherwise the worker connects with a copy of its options and that
 * setting, which ioredis does not default to.
 */
export function bullMqConnections(owner: string, connection: ConnectionOptions): BullMqConnections {
  if (isRedisClient(connection)) {
    const client = connection as RedisClientLike & { isCluster?: boolean };
    const shared = Boolean(client.isCluster) || !client.options || client.options.maxRetriesPerRequest === null;
    const worker = shared ? client : { ...client.options, maxRetriesPerRequest: null };
    return { producer: client as BullConnection, worker: worker as BullConnection, ownsProducer: false, ownsWorker: !shared };
  }
  const producer = toRedisClientOptions(owner, connection, { enableOfflineQueue: false });
  const worker = toRedisClientOptions(owner, connection, { maxRetriesPerRequest: null });
  return {
    producer: { ...producer.options, ...(producer.url ? { url: producer.url } : {}) } as BullConnection,
    worker: { ...worker.options, ...(worker.url ? { url: worker.url } : {}) } as BullConnection,
    ownsProducer: true,
    ownsWorker: true,
  };
}
