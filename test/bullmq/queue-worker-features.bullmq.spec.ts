/**
 * The shared worker-features suite (test/queues/queue-worker-features.behaviour.ts), run against
 * the BullMQ backend on a real redis-server: the same application code as on the memory backend.
 */
import { describeQueueWorkerFeatures } from '../queues/queue-worker-features.behaviour.js';
import { bullmqUnderTest } from '../support/bullmq-under-test.js';

describeQueueWorkerFeatures('bullmq', bullmqUnderTest().backend);
