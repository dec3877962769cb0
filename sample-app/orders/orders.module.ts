import { Module } from '@nestjs/common';
import { HostingModule } from '../../src/index.js';
import { config } from '../config.js';
import { ConfirmationEmailSender } from './confirmation-email.sender.js';
import { EMAILS_QUEUE } from './email-job.js';
import { EmailRecoveryJob } from './email-recovery.job.js';
import { OrdersRepository } from './orders.repository.js';

/**
 * Orders and their confirmation emails: in memory by default; with REDIS_URL in Redis, else with
 * POSTGRES_URL in PostgreSQL (BullMQ either way: 'bullmq' takes forRoot's redis, else its postgres),
 * shared by every process. Emails are enqueued through the outbox (HostingModule.forRoot({ outbox }) in worker.module.ts).
 */
const emailsQueue = config.sharedStore
  ? HostingModule.registerQueue({ name: EMAILS_QUEUE, backend: 'bullmq' })
  : HostingModule.registerQueue({ name: EMAILS_QUEUE, capacity: 1_000, fullMode: 'wait' });

@Module({
  imports: [emailsQueue],
  providers: [OrdersRepository, ConfirmationEmailSender, EmailRecoveryJob],
  exports: [OrdersRepository, emailsQueue],
})
export class OrdersModule {}
