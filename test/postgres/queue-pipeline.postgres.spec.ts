/**
 * The queue pipeline on BullMQ's PostgreSQL backend (real PostgreSQL): the shared suite
 * (test/queues/queue-pipeline.behaviour.ts), with what differs from memory, as on Redis: events are
 * the whole cluster's (BullMQ's QueueEvents, read from the database's event table), so a process
 * that does not run the worker hears them, and the process that runs it hears each once.
 */
import { describeQueuePipeline } from '../queues/queue-pipeline.behaviour.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';

describeQueuePipeline('bullmq on PostgreSQL', bullmqPostgresUnderTest().backend);
