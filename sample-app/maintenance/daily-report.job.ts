import { Injectable, Logger } from '@nestjs/common';
import { Periodic, type TickContext } from '../../src/index.js';
import { config } from '../config.js';
import { Database } from '../database/database.js';

/** Every morning, yesterday's orders and revenue, written once per day (idempotent on re-runs). */
@Injectable()
export class DailyReportJob {
  private readonly logger = new Logger(DailyReportJob.name);

  constructor(private readonly db: Database) {}

  @Periodic({ cron: config.reportCron, timeZone: config.timeZone, name: 'reports.daily', exclusive: config.sharedStore !== undefined })
  report(ctx: TickContext): void {
    const end = new Date(Date.UTC(ctx.scheduledAt.getUTCFullYear(), ctx.scheduledAt.getUTCMonth(), ctx.scheduledAt.getUTCDate()));
    const start = new Date(end.getTime() - 86_400_000);
    const day = start.toISOString().slice(0, 10);
    const { orders, revenue } = this.db.connection
      .prepare('SELECT COUNT(*) AS orders, COALESCE(SUM(total_cents), 0) AS revenue FROM orders WHERE created_at >= ? AND created_at < ?')
      .get(start.toISOString(), end.toISOString()) as { orders: number; revenue: number };
    this.db.connection
      .prepare('INSERT OR REPLACE INTO daily_reports (day, orders, revenue_cents, created_at) VALUES (?, ?, ?, ?)')
      .run(day, orders, revenue, new Date().toISOString());
    this.logger.log(`Daily report for ${day}: ${orders} order(s), ${(revenue / 100).toFixed(2)} EUR`);
  }
}
