import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue, Periodic, WorkQueue, type TickContext } from '../../src/index.js';
import { config } from '../config.js';
import { EMAILS_QUEUE, type EmailJob } from './email-job.js';
import { OrdersRepository } from './orders.repository.js';

const STARTED_AT = new Date();
/** An email pending this long was lost by its queue (a crash, a deadline, a failed last attempt). */
const STALE_AFTER_MS = 5 * 60_000;

/**
 * The database is the source of truth, the queue only delivers: on start, and every minute after,
 * emails that are still pending from before this process started (or for too long) are queued again.
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
    const orderIds = this.orders.pendingEmailsQueuedBefore(cutoff);
    for (const orderId of orderIds) await this.emails.enqueue({ orderId }, { signal: ctx.signal });
    if (orderIds.length) this.logger.log(`Queued ${orderIds.length} pending confirmation email(s) again`);
  }
}
