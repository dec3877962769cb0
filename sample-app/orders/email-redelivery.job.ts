import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue, Periodic, WorkQueue, type TickContext } from '../../src/index.js';
import { config } from '../config.js';
import { EMAILS_QUEUE, type EmailJob } from './email-job.js';
import { OrdersRepository } from './orders.repository.js';

const STARTED_AT = new Date();
/** An email pending this long was lost by its queue (a crash, a deadline, a failed last attempt). */
const STALE_AFTER_MS = 5 * 60_000;
/** An outbox row this old is not the request that stored it, about to queue it: its enqueue failed. */
const OUTBOX_GRACE_MS = 10_000;

/**
 * The database is the source of truth, the queue only delivers: on start, and every minute after,
 * emails that are still pending from before this process started (or for too long) are queued again,
 * and so are emails left in the outbox (their enqueue failed: Redis unreachable, shutting down).
 * With Redis the task is exclusive, and any process's tick empties the outbox: its start time does not matter.
 */
@Injectable()
export class EmailRedeliveryJob {
  private readonly logger = new Logger(EmailRedeliveryJob.name);

  constructor(
    private readonly orders: OrdersRepository,
    @InjectQueue(EMAILS_QUEUE) private readonly emails: WorkQueue<EmailJob>,
  ) {}

  @Periodic({ every: 60_000, runOnStart: true, name: 'emails.redeliver', exclusive: config.redisUrl !== undefined })
  async redeliver(ctx: TickContext): Promise<void> {
    const cutoff = new Date(Math.max(STARTED_AT.getTime(), Date.now() - STALE_AFTER_MS));
    const unqueued = this.orders.unqueuedEmailsStoredBefore(new Date(Date.now() - OUTBOX_GRACE_MS));
    const orderIds = [...new Set([...this.orders.pendingEmailsQueuedBefore(cutoff), ...unqueued])];
    for (const orderId of orderIds) {
      await this.emails.enqueue({ orderId }, { signal: ctx.signal });
      this.orders.markQueued(orderId);
    }
    if (orderIds.length) this.logger.log(`Queued ${orderIds.length} pending confirmation email(s) again`);
  }
}
