/**
 * The shared WorkQueue behaviour suite (test/queues/work-queue.behaviour.ts), run against the
 * BullMQ backend on a real PostgreSQL (BullMQ's PostgreSQL backend): the application code is the
 * same as on memory and on Redis.
 */
import { describeWorkQueueBehaviour } from '../queues/work-queue.behaviour.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';

describeWorkQueueBehaviour('bullmq on PostgreSQL', bullmqPostgresUnderTest().backend);
