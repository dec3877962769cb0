/**
 * The shared WorkQueue behaviour suite (test/queues/work-queue.behaviour.ts), run against the
 * BullMQ backend on a real redis-server: the application code is the same as on the memory backend.
 */
import { describeWorkQueueBehaviour } from '../queues/work-queue.behaviour.js';
import { bullmqUnderTest } from '../support/bullmq-under-test.js';

describeWorkQueueBehaviour('bullmq', bullmqUnderTest().backend);
