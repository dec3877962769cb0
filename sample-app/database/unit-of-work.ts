import { Injectable, Scope } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';
import type { OnScopeEnd } from '../../src/index.js';
import { Database, openConnection } from './database.js';

/**
 * One transaction per DI scope (a tick, a queue item, an HTTP request): work done through
 * `connection` commits when the scope ends well and rolls back when it failed.
 *
 * It opens its own connection, so that its transaction never captures the statements of other
 * work running meanwhile on the shared one. better-sqlite3 is synchronous: keep the work inside
 * the transaction free of long awaits, as a held write lock makes other writers wait.
 */
@Injectable({ scope: Scope.REQUEST })
export class UnitOfWork implements OnScopeEnd {
  private db?: BetterSqlite3.Database;

  constructor(private readonly database: Database) {}

  /** The connection inside this unit's transaction, begun on first use. */
  get connection(): BetterSqlite3.Database {
    if (!this.db) {
      this.db = openConnection(this.database.file);
      this.db.exec('BEGIN IMMEDIATE');
    }
    return this.db;
  }

  /** Commit on success, roll back on failure (`error` is the unit of work's error). */
  onScopeEnd(error?: unknown): void {
    if (!this.db) return;
    try {
      this.db.exec(error ? 'ROLLBACK' : 'COMMIT');
    } finally {
      this.db.close();
      this.db = undefined;
    }
  }
}
