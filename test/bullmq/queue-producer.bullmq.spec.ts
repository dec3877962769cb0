/**
 * The shared producer suite (test/queues/queue-producer.behaviour.ts: delay, runAt, priority, id
 * dedup, enqueueMany, per-item attempts, cancel, dead letters), run against the BullMQ backend on a
 * real redis-server: the application code is the same as on the memory backend.
 */
import { describeQueueProducerBehaviour } from '../queues/queue-producer.behaviour.js';
import { bullmqUnderTest } from '../support/bullmq-under-test.js';

describeQueueProducerBehaviour('bullmq', bullmqUnderTest().backend);
