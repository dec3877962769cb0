import { Injectable } from '@nestjs/common';
import { InjectQueue, WorkQueue } from '../../src/index.js';
import { Database } from '../database/database.js';
import { EMAILS_QUEUE, type EmailJob } from './email-job.js';

export interface OrderLine {
  sku: string;
  quantity: number;
}

export interface Order {
  id: number;
  customerEmail: string;
  items: Array<OrderLine & { priceCents: number }>;
  totalCents: number;
  createdAt: string;
  email: { status: 'pending' | 'sent'; subject: string; queuedAt: string; sentAt: string | null } | null;
}

export interface PendingEmail {
  orderId: number;
  recipient: string;
  subject: string;
}

/** The id of an order's email job: one job per order while it waits or runs (the queue refuses a second), whoever enqueues it. */
export const emailJobId = (orderId: number): string => `order-${orderId}`;

interface OrderRow {
  id: number;
  customer_email: string;
  items: string;
  total_cents: number;
  created_at: string;
  subject: string | null;
  queued_at: string | null;
  sent_at: string | null;
}

/** Orders and their confirmation emails, on the shared connection (each call is its own transaction). */
@Injectable()
export class OrdersRepository {
  constructor(
    private readonly db: Database,
    @InjectQueue(EMAILS_QUEUE) private readonly emails: WorkQueue<EmailJob>,
  ) {}

  /**
   * Stores the order, its pending email and the email's job in one transaction: the job goes to the
   * library's outbox table (`enqueue` with `transaction`), and the outbox relay hands it to the emails
   * queue once the transaction has committed. So no order ever lacks its email, whatever happens next
   * (a crash, a Redis outage, a shutdown), and no email goes out for an order that rolled back.
   * better-sqlite3 transactions are synchronous: `enqueue` writes the row before it returns (not
   * awaited here), and throws, rolling the order back, if it cannot.
   * `.immediate()` takes the write lock before the first read: a deferred transaction that
   * reads, then writes after another process (worker.ts) wrote, fails at once with
   * SQLITE_BUSY_SNAPSHOT, which busy_timeout does not cover.
   */
  place(customerEmail: string, lines: OrderLine[], now = new Date()): { orderId: number } | { unknownSkus: string[] } {
    const connection = this.db.connection;
    return connection.transaction(() => {
      const prices = new Map(
        (connection.prepare('SELECT sku, price_cents FROM catalog').all() as Array<{ sku: string; price_cents: number }>).map((r) => [r.sku, r.price_cents]),
      );
      const unknownSkus = lines.filter((l) => !prices.has(l.sku)).map((l) => l.sku);
      if (unknownSkus.length) return { unknownSkus };
      const items = lines.map((l) => ({ ...l, priceCents: prices.get(l.sku)! }));
      const total = items.reduce((sum, i) => sum + i.priceCents * i.quantity, 0);
      const { lastInsertRowid } = connection
        .prepare('INSERT INTO orders (customer_email, items, total_cents, created_at) VALUES (?, ?, ?, ?)')
        .run(customerEmail, JSON.stringify(items), total, now.toISOString());
      const orderId = Number(lastInsertRowid);
      connection
        .prepare('INSERT INTO emails (order_id, recipient, subject, queued_at) VALUES (?, ?, ?, ?)')
        .run(orderId, customerEmail, `Your order #${orderId} is confirmed`, now.toISOString());
      void this.emails.enqueue({ orderId }, { transaction: connection, id: emailJobId(orderId) });
      return { orderId };
    }).immediate();
  }

  find(id: number): Order | undefined {
    const row = this.db.connection
      .prepare(
        `SELECT o.*, e.subject, e.queued_at, e.sent_at FROM orders o LEFT JOIN emails e ON e.order_id = o.id WHERE o.id = ?`,
      )
      .get(id) as OrderRow | undefined;
    if (!row) return undefined;
    return {
      id: row.id,
      customerEmail: row.customer_email,
      items: JSON.parse(row.items) as Order['items'],
      totalCents: row.total_cents,
      createdAt: row.created_at,
      email: row.queued_at
        ? { status: row.sent_at ? 'sent' : 'pending', subject: row.subject!, queuedAt: row.queued_at, sentAt: row.sent_at }
        : null,
    };
  }

  /** The email of an order, if it has not been sent yet. */
  pendingEmail(orderId: number): PendingEmail | undefined {
    return this.db.connection
      .prepare('SELECT order_id AS orderId, recipient, subject FROM emails WHERE order_id = ? AND sent_at IS NULL')
      .get(orderId) as PendingEmail | undefined;
  }

  /**
   * Records a delivery of the email and marks it sent, in one transaction; false when another
   * delivery had sent it already (a duplicate: still recorded, in `email_deliveries`).
   */
  markEmailSent(orderId: number, at = new Date()): boolean {
    const connection = this.db.connection;
    return connection.transaction(() => {
      connection.prepare('INSERT INTO email_deliveries (order_id, delivered_at) VALUES (?, ?)').run(orderId, at.toISOString());
      return connection.prepare('UPDATE emails SET sent_at = ? WHERE order_id = ? AND sent_at IS NULL').run(at.toISOString(), orderId).changes === 1;
    }).immediate();
  }

  /** Orders whose email is still pending and was queued before `before`. */
  pendingEmailsQueuedBefore(before: Date, limit = 500): number[] {
    return (
      this.db.connection
        .prepare('SELECT order_id FROM emails WHERE sent_at IS NULL AND queued_at < ? ORDER BY queued_at LIMIT ?')
        .all(before.toISOString(), limit) as Array<{ order_id: number }>
    ).map((r) => r.order_id);
  }
}
