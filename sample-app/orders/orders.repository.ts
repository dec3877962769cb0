import { Injectable } from '@nestjs/common';
import { Database } from '../database/database.js';

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
  constructor(private readonly db: Database) {}

  /**
   * Stores the order, its pending email and the email's outbox row in one transaction: no order
   * ever lacks its email, and an email that never reaches the queue is still found (`markQueued`).
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
      connection.prepare('INSERT INTO email_outbox (order_id, stored_at) VALUES (?, ?)').run(orderId, now.toISOString());
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
      connection.prepare('DELETE FROM email_outbox WHERE order_id = ?').run(orderId);
      return connection.prepare('UPDATE emails SET sent_at = ? WHERE order_id = ? AND sent_at IS NULL').run(at.toISOString(), orderId).changes === 1;
    }).immediate();
  }

  /** The email is in the queue now: out of the outbox. */
  markQueued(orderId: number): void {
    this.db.connection.prepare('DELETE FROM email_outbox WHERE order_id = ?').run(orderId);
  }

  /** Orders whose email is still pending and was queued before `before`. */
  pendingEmailsQueuedBefore(before: Date, limit = 500): number[] {
    return (
      this.db.connection
        .prepare('SELECT order_id FROM emails WHERE sent_at IS NULL AND queued_at < ? ORDER BY queued_at LIMIT ?')
        .all(before.toISOString(), limit) as Array<{ order_id: number }>
    ).map((r) => r.order_id);
  }

  /** Orders whose pending email was stored before `before` and never handed to the queue (still in the outbox). */
  unqueuedEmailsStoredBefore(before: Date, limit = 500): number[] {
    return (
      this.db.connection
        .prepare(
          `SELECT x.order_id FROM email_outbox x JOIN emails e ON e.order_id = x.order_id
           WHERE e.sent_at IS NULL AND x.stored_at < ? ORDER BY x.stored_at LIMIT ?`,
        )
        .all(before.toISOString(), limit) as Array<{ order_id: number }>
    ).map((r) => r.order_id);
  }
}
