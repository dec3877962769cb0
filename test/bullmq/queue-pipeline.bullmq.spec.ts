/**
 * The queue pipeline on the BullMQ backend (real redis-server): the shared suite
 * (test/queues/queue-pipeline.behaviour.ts), with what differs from memory: events are the whole
 * cluster's (BullMQ's QueueEvents), so a process that does not run the worker hears them, and the
 * process that runs it hears each once (not its own and the cluster's).
 */
import { describeQueuePipeline } from '../queues/queue-pipeline.behaviour.js';
import { bullmqUnderTest } from '../support/bullmq-under-test.js';

describeQueuePipeline('bullmq', bullmqUnderTest().backend);
