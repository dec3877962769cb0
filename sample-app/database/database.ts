import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import BetterSqlite3 from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATABASE_FILE } from './database.constants.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS orders (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  customer_email TEXT    NOT NULL,
  items          TEXT    NOT NULL, -- JSON: [{ sku, quantity, priceCents }]
  total_cents    INTEGER NOT NULL,
  created_at     TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS emails (
  order_id   INTEGER PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
  recipient  TEXT    NOT NULL,
  subject    TEXT    NOT NULL,
  queued_at  TEXT    NOT NULL,
  sent_at    TEXT
);
-- The email's job is written with the order, in the same transaction, to the library's outbox table
-- (nest_hosting_outbox, made by HostingModule.forRoot({ outbox })); this hand-written one is gone.
DROP TABLE IF EXISTS email_outbox;
-- One row per delivery of an email (the SMTP call went out): more than one for an order is a duplicate.
CREATE TABLE IF NOT EXISTS email_deliveries (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id     INTEGER NOT NULL REFERENCES emails(order_id) ON DELETE CASCADE,
  delivered_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog (
  sku         TEXT PRIMARY KEY,
  name        TEXT    NOT NULL,
  price_cents INTEGER NOT NULL,
  synced_at   TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS daily_reports (
  day           TEXT PRIMARY KEY,
  orders        INTEGER NOT NULL,
  revenue_cents INTEGER NOT NULL,
  created_at    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS emails_pending ON emails (queued_at) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at);
CREATE INDEX IF NOT EXISTS email_deliveries_order ON email_deliveries (order_id);
INSERT OR IGNORE INTO catalog (sku, name, price_cents, synced_at) VALUES
  ('TEA-01', 'Sencha green tea, 100 g', 1290, '1970-01-01T00:00:00.000Z'),
  ('MUG-02', 'Stoneware mug', 1850, '1970-01-01T00:00:00.000Z'),
  ('KTL-03', 'Cast-iron kettle', 5400, '1970-01-01T00:00:00.000Z');
`;

/** Opens a connection to the shop's database file, with the settings every connection needs. */
export function openConnection(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL'); // readers never wait for the writer; several processes can share the file
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return db;
}

/** The shop's embedded database: one SQLite file, one shared connection, closed last at shutdown. */
@Injectable()
export class Database implements OnApplicationShutdown {
  readonly connection: BetterSqlite3.Database;
  private readonly logger = new Logger(Database.name);

  constructor(@Inject(DATABASE_FILE) readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.connection = openConnection(file);
    this.connection.exec(SCHEMA);
    this.logger.log(`SQLite database at ${file}`);
  }

  /** In onApplicationShutdown, not onModuleDestroy: in-flight work drains before this runs. */
  onApplicationShutdown(): void {
    this.connection.close();
  }
}
