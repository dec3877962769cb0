import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue, Periodic, WorkQueue, type TickContext } from '../../src/index.js';
import { config } from '../config.js';
import { EMAILS_QUEUE, type EmailJob } from './email-job.js';
import { emailJobId, OrdersRepository } from './orders.repository.js';

const STARTED_AT = new Date();
/** An email pending this long was lost by its queue (a crash, a deadline). */
const STALE_AFTER_MS = 5 * 60_000;

/**
 * The outbox gets every email to the queue (it commits with its order); the queue itself may still
 * lose one: the in-memory queue forgets what it held at a crash or past the shutdown deadline. The
 * database is the source of truth, so on start, and every minute after, emails still pending from
 * before this process started (or for too long) are queued again, with the job id the order's
 * transaction gave them: one still in the queue (waiting, running, or a dead letter, which the
 * dashboard redrives) is not added twice, and the worker is idempotent anyway.
 * With Redis the task is exclusive: one process per minute does it.
 */
@Injectable()
export class EmailRecoveryJob {
  private readonly logger = new Logger(EmailRecoveryJob.name);

  constructor(
    private readonly orders: OrdersRepository,
    @InjectQueue(EMAILS_QUEUE) private readonly emails: WorkQueue<EmailJob>,
  ) {}

  @Periodic({ every: 60_000, runOnStart: true, name: 'emails.recover', exclusive: config.sharedStore !== undefined })
  async recover(ctx: TickContext): Promise<void> {
    const cutoff = new Date(Math.max(STARTED_AT.getTime(), Date.now() - STALE_AFTER_MS));
    const orderIds = this.orders.pendingEmailsQueuedBefore(cutoff);
    for (const orderId of orderIds) await this.emails.enqueue({ orderId }, { signal: ctx.signal, id: emailJobId(orderId) });
    if (orderIds.length) this.logger.log(`Queued ${orderIds.length} pending confirmation email(s) again`);
  }
}
