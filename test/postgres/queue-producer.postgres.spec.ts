/**
 * The shared producer suite (test/queues/queue-producer.behaviour.ts: delay, runAt, priority, id
 * dedup, enqueueMany, per-item attempts, cancel, dead letters), run against the BullMQ backend on a
 * real PostgreSQL: the application code is the same as on memory and on Redis.
 */
import { describeQueueProducerBehaviour } from '../queues/queue-producer.behaviour.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';

describeQueueProducerBehaviour('bullmq on PostgreSQL', bullmqPostgresUnderTest().backend);
