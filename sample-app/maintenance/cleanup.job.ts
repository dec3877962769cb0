import { Injectable, Logger } from '@nestjs/common';
import { Periodic, type TickContext } from '../../src/index.js';
import { config } from '../config.js';
import { UnitOfWork } from '../database/unit-of-work.js';

/**
 * Purges orders past their retention period whose email went out. `UnitOfWork` is
 * request-scoped, so each tick gets a fresh one: both deletes commit together, or neither does.
 */
@Injectable()
export class CleanupJob {
  private readonly logger = new Logger(CleanupJob.name);

  constructor(private readonly work: UnitOfWork) {}

  @Periodic({ every: config.cleanupEveryMs, name: 'orders.cleanup', exclusive: config.sharedStore !== undefined })
  purge(ctx: TickContext): void {
    const cutoff = new Date(ctx.scheduledAt.getTime() - config.retentionDays * 86_400_000).toISOString();
    const db = this.work.connection;
    const old = `SELECT o.id FROM orders o JOIN emails e ON e.order_id = o.id WHERE o.created_at < ? AND e.sent_at IS NOT NULL`;
    const emails = db.prepare(`DELETE FROM emails WHERE order_id IN (${old})`).run(cutoff).changes;
    const orders = db.prepare(`DELETE FROM orders WHERE created_at < ? AND id NOT IN (SELECT order_id FROM emails)`).run(cutoff).changes;
    if (orders || emails) this.logger.log(`Purged ${orders} order(s) and ${emails} email(s) older than ${config.retentionDays} days`);
  }
}
