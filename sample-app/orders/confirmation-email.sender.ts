import { Injectable, Logger } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueWorker, type JobContext } from '../../src/index.js';
import { config } from '../config.js';
import { EMAILS_QUEUE, type EmailJob } from './email-job.js';
import { OrdersRepository } from './orders.repository.js';

/**
 * Sends order confirmations from the emails queue. Idempotent: an email already marked sent is
 * skipped, so a redelivered job (after a crash, or on two processes) sends nothing twice.
 */
@Injectable()
export class ConfirmationEmailSender {
  private readonly logger = new Logger(ConfirmationEmailSender.name);

  constructor(
    private readonly orders: OrdersRepository,
    private readonly cls: ClsService,
  ) {}

  @QueueWorker(EMAILS_QUEUE, { concurrency: 2, attempts: 3, backoff: { type: 'exponential', delayMs: 500 } })
  async send(job: EmailJob, ctx: JobContext): Promise<void> {
    const email = this.orders.pendingEmail(job.orderId);
    if (!email) return; // sent already
    // The id of the HTTP request that placed the order (x-request-id), carried in the job by RequestIdInterceptor.
    this.logger.log(`Sending "${email.subject}" to ${email.recipient} (request ${this.cls.getId()})`);
    await sleep(config.emailSendMs, undefined, { signal: ctx.signal }); // the SMTP call; aborted only at the shutdown deadline
    if (this.orders.markEmailSent(job.orderId)) this.logger.log(`Sent confirmation of order #${job.orderId}`);
    else this.logger.warn(`Confirmation of order #${job.orderId} went out twice: another delivery had sent it meanwhile`);
  }
}
