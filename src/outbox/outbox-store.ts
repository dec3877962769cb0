import type { BackoffOptions } from '../interfaces/queue-options.interface.js';
import type { OutboxWrite } from '../interfaces/outbox-options.interface.js';

/** An item's own options as a row keeps them (`delayMs`/`runAt` are the row's `run_at`; the id is `item_id`). */
export interface StoredItemOptions {
  priority?: number;
  idTtlMs?: number;
  attempts?: number;
  backoff?: BackoffOptions;
  timeoutMs?: number;
}

/** One unrelayed row, as the relay reads it. */
export interface OutboxRow {
  /** The row's id: a number on SQLite, a bigint's text on PostgreSQL. */
  id: number | string;
  queue: string;
  itemId: string;
  orderingKey: string | null;
  /** The item, as JSON text (parsed by the relay, row by row: a row it cannot read holds back its key, not the relay). */
  payload: string;
  /** Headers, as JSON text. */
  headers: string | null;
  /** `StoredItemOptions`, as JSON text. */
  options: string | null;
  /** Epoch ms before which the item must not run. */
  runAt?: number;
}

/**
 * One unrelayed row as both stores select it: the table's columns by name, `run_at` already in epoch
 * ms (each store converts its own type in SQL), the id as the store's driver gives it.
 */
export interface RawOutboxRow {
  id: number | string;
  queue: string;
  item_id: string;
  ordering_key: string | null;
  payload: string;
  headers: string | null;
  options: string | null;
  run_at: number | null;
}

/** A row as `read` returns it. */
export function toOutboxRow(raw: RawOutboxRow): OutboxRow {
  return {
    id: raw.id,
    queue: raw.queue,
    itemId: raw.item_id,
    orderingKey: raw.ordering_key,
    payload: raw.payload,
    headers: raw.headers,
    options: raw.options,
    runAt: raw.run_at ?? undefined,
  };
}

/** Rows a read leaves out: held back after a failed enqueue (by id, or by queue and ordering key), or naming a queue this app lacks. */
export interface OutboxExclusions {
  ids: ReadonlyArray<number | string>;
  queues: readonly string[];
  keys: ReadonlyArray<readonly [queue: string, key: string]>;
}

/** Unrelayed rows, counted. */
export interface OutboxCounts {
  pending: number;
  /** Epoch ms of the oldest unrelayed row's write. */
  oldestAt?: number;
}

/** What the relay learns of its claim: it relays (`leader`), another process does (`standby`). */
export type OutboxClaim = 'leader' | 'standby';

/** Thrown by a store while it cannot run a statement now and should be asked again soon (an app's transaction open on the shared SQLite connection, SQLITE_BUSY). */
export class OutboxBusyError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'OutboxBusyError';
  }
}

/** The outbox table on one database: the writer's side (`writer`) and the relay's. */
export interface OutboxStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The table as written in messages and status. */
  readonly table: string;
  /** Settles once the table exists (created at start-up when missing); rejects with the SQL to run by hand. */
  readonly ready: Promise<void>;
  /** Checks the app's transaction handle (a TypeError naming `where` otherwise) and returns how to write one row in it. */
  writer(where: string, transaction: unknown): OutboxWrite;
  /** Called (once per transaction) when a row written in this process committed or rolled back, if the store can tell. */
  onLocalWrite?: (ended: Promise<void>) => void;
  /** Called when another process's commit is announced (PostgreSQL's NOTIFY). */
  onNotified?: () => void;
  /** Claims (or renews) the relay's lease or lock for `holder`. */
  claim(holder: string, now: number, leaseMs: number): Promise<OutboxClaim>;
  /** The first `limit` unrelayed rows in id order, leaving out `exclusions`. */
  read(exclusions: OutboxExclusions, limit: number): Promise<OutboxRow[]>;
  /** Marks rows relayed at `now`, or deletes them when `keep` is false. */
  markRelayed(ids: ReadonlyArray<number | string>, now: number, keep: boolean): Promise<void>;
  /** Counts a failed enqueue on the row (`relay_attempts`, `last_error`). */
  recordFailure(id: number | string, error: string): Promise<void>;
  /** Deletes up to `limit` rows relayed before `cutoff`; resolves with how many. */
  sweep(cutoff: number, limit: number): Promise<number>;
  counts(): Promise<OutboxCounts>;
  /** After a failure: drops the relay's connection (PostgreSQL), so that the next claim starts over. */
  reset(): Promise<void>;
  /** Gives up the claim of `holder` (at stop). */
  release(holder: string): Promise<void>;
  /** Closes what the store opened itself (the relay's own PostgreSQL pool), after the host stopped. */
  dispose(): Promise<void>;
}

/** `name` quoted as an SQL identifier (each part of `schema.table`). */
export function quoteName(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/** The columns an outbox table must have (an existing table without them is someone else's). */
export const OUTBOX_COLUMNS = ['id', 'queue', 'item_id', 'ordering_key', 'payload', 'headers', 'options', 'run_at', 'created_at', 'relayed_at', 'relay_attempts', 'last_error'] as const;
