/**
 * The shared worker-features suite (test/queues/queue-worker-features.behaviour.ts: limiter,
 * RateLimitedError, timeoutMs, progress, cancel of a running item), run against the BullMQ backend
 * on a real PostgreSQL: the same application code as on memory and on Redis.
 */
import { describeQueueWorkerFeatures } from '../queues/queue-worker-features.behaviour.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';

describeQueueWorkerFeatures('bullmq on PostgreSQL', bullmqPostgresUnderTest().backend);
