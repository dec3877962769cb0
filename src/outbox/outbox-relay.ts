import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import { errorMessage, errorSummary } from '../errors/thrown-value.js';
import { stackOf } from '../hosting.messages.js';
import { isPostgresConnectionError } from '../distributed/postgres-outage.js';
import { POSTGRES_RECOVERED, POSTGRES_UNREACHABLE } from '../distributed/postgres.messages.js';
import type { OutboxRelayStatus, OutboxStatus } from '../interfaces/outbox-options.interface.js';
import type { ConnectionStatus, ServiceState } from '../interfaces/service-status.interface.js';
import type { ItemOptions, QueueBackend } from '../queues/queue-backend.interface.js';
import { DisabledUnit } from '../registry/disabled-unit.js';
import type { HostedUnit, StopRequest } from '../registry/hosted-unit.js';
import type { TimeProvider, TimerHandle } from '../time/time-provider.js';
import type { ResolvedOutboxOptions } from './outbox-options.validation.js';
import { OUTBOX_RELAY_NAME } from './outbox.constants.js';
import { OutboxBusyError, type OutboxExclusions, type OutboxRow, type OutboxStore, type StoredItemOptions } from './outbox-store.js';
import {
  OUTBOX_ENQUEUE_FAILED,
  OUTBOX_RELAY_FAILED,
  OUTBOX_RELAY_LEADER,
  OUTBOX_RELEASE_FAILED,
  OUTBOX_UNKNOWN_QUEUE,
} from './outbox.messages.js';

/** A failed enqueue holds its key (or row) back this long, doubling per failure up to the maximum. */
const HOLD_FIRST_MS = 1_000;
const HOLD_MAX_MS = 30_000;
/** After a failure of the store itself (reading, marking), the relay waits this long, doubling up to the maximum. */
const FAILURE_MAX_MS = 30_000;
/** While the shared SQLite connection is inside an app's transaction (or locked by another process): look again this soon. */
const BUSY_RETRY_MS = 20;
/** Relayed rows deleted per statement by the cleanup. */
const SWEEP_BATCH = 1_000;

interface Hold {
  until: number;
  failures: number;
  /** The row that failed (its id), for rows without a key. */
  id?: number | string;
  queue: string;
  key?: string;
}

/** What the relay asks of the app's queues: the backend of a queue this app registers. */
export type QueueLookup = (name: string) => QueueBackend<unknown> | undefined;

/**
 * The outbox relay, a hosted unit (kind `'background'`, `outbox.relay`): while the host runs, it
 * claims the relay's lease (one relaying process per table), reads unrelayed rows in id order,
 * hands each to its queue with the row's item id (a repeated relay of a row that is still in its
 * queue adds nothing: the queue deduplicates the id), then marks (or deletes) the rows it handed.
 * Rows of one queue and ordering key go one at a time, in id order: a failed enqueue holds back
 * that key's later rows, and only those. It sleeps until a row is written in this process (SQLite),
 * a NOTIFY arrives (PostgreSQL), a held key is due again, or `pollIntervalMs` passes.
 */
export class OutboxRelay implements HostedUnit {
  readonly kind = 'background';
  readonly name = OUTBOX_RELAY_NAME;
  private readonly controller = new AbortController();
  private readonly holder = `${os.hostname()}:${process.pid}:${randomUUID()}`;
  private readonly leaseMs: number;
  private state: ServiceState = 'starting';
  private running?: Promise<void>;
  private leader = false;
  private woken = false;
  private wakeSleeper?: () => void;
  private working = false;
  private readonly localWrites = new Set<Promise<void>>();
  private idleWaiters: Array<() => void> = [];
  private readonly holds = new Map<string, Hold>();
  private readonly unknownQueues = new Set<string>();
  private counted?: { pending: number; oldestAt?: number; at: number };
  private nextSweepAt = 0;
  private relayed = 0;
  private failures = 0;
  private consecutiveFailures = 0;
  private lastError?: OutboxRelayStatus['lastError'];
  private lastStartedAt?: number;
  private lastFinishedAt?: number;
  private connection?: { state: ConnectionStatus['state']; since: number; lastError?: string };

  constructor(
    private readonly store: OutboxStore,
    private readonly queueOf: QueueLookup,
    private readonly options: ResolvedOutboxOptions,
    private readonly time: TimeProvider,
    private readonly logger: LoggerService,
  ) {
    // A lease that outlives a few polls: a crashed relay's rows wait at most this long (plus a poll) for another process.
    this.leaseMs = Math.max(5_000, 5 * options.pollIntervalMs);
    if (store.kind === 'postgres') this.connection = { state: 'connecting', since: time.now() };
    store.onNotified = () => this.wake();
    store.onLocalWrite = (ended) => this.afterLocalWrite(ended);
  }

  start(): void {
    // Never inline with start-up (as a background service's execute).
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.loop());
  }

  stop(request: StopRequest): Promise<void> | undefined {
    if (!this.running) {
      this.state = 'stopped';
      return undefined;
    }
    this.state = 'stopping';
    this.controller.abort(request.reason);
    this.wakeSleeper?.();
    return this.running.then(() => {
      this.state = 'stopped';
      this.settleIdle();
    });
  }

  /** A pass in progress, a wake-up not yet handled, or a row written here whose transaction has not ended yet. */
  busyWork(): Promise<void> | undefined {
    if (!this.isBusy()) return undefined;
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Looks for rows now (a row was committed). */
  wake(): void {
    if (this.controller.signal.aborted) return;
    this.woken = true;
    this.wakeSleeper?.();
  }

  status(): OutboxRelayStatus {
    const now = this.time.now();
    const counted = this.counted;
    const outbox: OutboxStatus = {
      store: this.store.kind,
      table: this.store.table,
      leader: this.leader,
      relayed: this.relayed,
      heldBack: this.holds.size,
      unknownQueues: [...this.unknownQueues],
    };
    if (counted) {
      outbox.pending = counted.pending;
      outbox.checkedAt = new Date(counted.at);
      if (counted.oldestAt !== undefined) {
        outbox.oldestPendingAt = new Date(counted.oldestAt);
        outbox.oldestPendingAgeMs = Math.max(0, now - counted.oldestAt);
      }
    }
    const connection = this.connection;
    return {
      name: this.name,
      kind: 'background',
      state: this.state,
      runs: this.relayed,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      lastStartedAt: this.lastStartedAt === undefined ? undefined : new Date(this.lastStartedAt),
      lastFinishedAt: this.lastFinishedAt === undefined ? undefined : new Date(this.lastFinishedAt),
      lastDurationMs: this.lastStartedAt === undefined || this.lastFinishedAt === undefined ? undefined : this.lastFinishedAt - this.lastStartedAt,
      lastError: this.lastError,
      missedTicks: 0,
      ...(connection && {
        connections: [{ name: 'postgres', state: connection.state, since: new Date(connection.since), ...(connection.lastError !== undefined && { lastError: connection.lastError }) }],
      }),
      outbox,
    };
  }

  private async loop(): Promise<void> {
    const signal = this.controller.signal;
    let storeFailures = 0;
    while (!signal.aborted) {
      let waitMs = this.options.pollIntervalMs;
      this.working = true;
      this.woken = false;
      try {
        await this.store.ready;
        const claim = await this.store.claim(this.holder, this.time.now(), this.leaseMs);
        this.setLeader(claim === 'leader');
        if (this.leader) {
          this.lastStartedAt = this.time.now();
          try {
            await this.relayPass(signal);
          } finally {
            this.lastFinishedAt = this.time.now();
          }
          await this.sweepIfDue();
        }
        await this.count();
        this.connectionUp();
        storeFailures = 0;
        waitMs = this.nextWait(waitMs);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof OutboxBusyError) {
          waitMs = Math.min(waitMs, BUSY_RETRY_MS);
        } else {
          storeFailures++;
          waitMs = Math.min(this.options.pollIntervalMs * 2 ** (storeFailures - 1), Math.max(FAILURE_MAX_MS, this.options.pollIntervalMs));
          this.storeFailed(error, waitMs, storeFailures === 1);
          this.setLeader(false);
          await this.store.reset().catch(() => undefined);
        }
      } finally {
        this.working = false;
      }
      if (signal.aborted) break;
      await this.sleep(waitMs);
    }
    this.working = false;
    try {
      await this.store.release(this.holder);
    } catch (error) {
      this.logger.warn(OUTBOX_RELEASE_FAILED(this.store.table, error));
    }
    this.leader = false;
  }

  /** Relays what is unrelayed, page by page; every page is read from the start (leaving out held keys), so a key's rows go in id order. */
  private async relayPass(signal: AbortSignal): Promise<void> {
    const { batchSize, keepRelayedMs } = this.options;
    const startedAt = this.time.now();
    for (;;) {
      const rows = await this.store.read(this.exclusions(), batchSize);
      if (signal.aborted) return;
      if (rows.length === 0) break;
      const relayed: Array<number | string> = [];
      const groups = new Map<string, OutboxRow[]>();
      for (const row of rows) {
        const key = row.orderingKey === null ? `#${row.id}` : JSON.stringify([row.queue, row.orderingKey]);
        const group = groups.get(key);
        if (group) group.push(row);
        else groups.set(key, [row]);
      }
      await Promise.all([...groups.values()].map((group) => this.relayGroup(group, relayed, signal)));
      if (relayed.length) {
        await this.store.markRelayed(relayed, this.time.now(), keepRelayedMs > 0);
        this.relayed += relayed.length;
        this.consecutiveFailures = 0;
      }
      if (signal.aborted) return;
      if (rows.length < batchSize) break;
      // A pass of many pages renews the lease as it goes.
      if ((await this.store.claim(this.holder, this.time.now(), this.leaseMs)) !== 'leader') {
        this.setLeader(false);
        return;
      }
    }
    // Every row was looked at: a hold that was due and is still there had no row left to try (relayed elsewhere, or gone).
    for (const [key, hold] of this.holds) if (hold.until <= startedAt) this.holds.delete(key);
  }

  /** Hands one key's rows to their queue, in order; stops at the first that fails (the key is then held back). */
  private async relayGroup(rows: OutboxRow[], relayed: Array<number | string>, signal: AbortSignal): Promise<void> {
    for (const row of rows) {
      if (signal.aborted) return;
      const backend = this.queueOf(row.queue);
      if (!backend) {
        if (!this.unknownQueues.has(row.queue)) {
          this.unknownQueues.add(row.queue);
          this.logger.error(OUTBOX_UNKNOWN_QUEUE(row.queue, this.store.table));
        }
        return;
      }
      try {
        const payload: unknown = JSON.parse(row.payload);
        const headers = row.headers === null ? undefined : (JSON.parse(row.headers) as Record<string, string>);
        await backend.enqueue(payload, signal, headers, this.itemOptions(row));
      } catch (error) {
        if (signal.aborted) return;
        this.enqueueFailed(row, error);
        await this.store.recordFailure(row.id, errorMessage(error)).catch(() => undefined);
        return;
      }
      relayed.push(row.id);
      if (this.holds.size) this.holds.delete(this.holdKey(row));
    }
  }

  /** The row's item options as the backend takes them: its id (stable across relays), its delay from now. */
  private itemOptions(row: OutboxRow): ItemOptions {
    const stored = row.options === null ? undefined : (JSON.parse(row.options) as StoredItemOptions);
    const delayMs = row.runAt === undefined ? 0 : Math.max(0, Math.round(row.runAt - this.time.now()));
    return { ...stored, id: row.itemId, ...(delayMs > 0 && { delayMs }) };
  }

  private holdKey(row: { id?: number | string; queue: string; orderingKey?: string | null; key?: string }): string {
    const key = row.orderingKey ?? row.key;
    return key === null || key === undefined ? `#${row.id}` : JSON.stringify([row.queue, key]);
  }

  private enqueueFailed(row: OutboxRow, error: unknown): void {
    const holdKey = this.holdKey(row);
    const failures = (this.holds.get(holdKey)?.failures ?? 0) + 1;
    const holdMs = Math.min(HOLD_FIRST_MS * 2 ** (failures - 1), HOLD_MAX_MS);
    this.holds.set(holdKey, {
      until: this.time.now() + holdMs,
      failures,
      queue: row.queue,
      ...(row.orderingKey === null ? { id: row.id } : { key: row.orderingKey }),
    });
    this.failures++;
    this.consecutiveFailures++;
    this.lastError = { ...errorSummary(error), at: new Date(this.time.now()) };
    if (failures === 1) this.logger.warn(OUTBOX_ENQUEUE_FAILED(row.queue, row.orderingKey ?? undefined, error, holdMs));
  }

  /**
   * Keys and rows held back, and queues this app lacks: left out of reads. A hold that is due is read
   * again, and stays (with its failure count, for the next backoff) until its row is relayed.
   */
  private exclusions(): OutboxExclusions {
    const now = this.time.now();
    const ids: Array<number | string> = [];
    const keys: Array<readonly [string, string]> = [];
    for (const hold of this.holds.values()) {
      if (hold.until <= now) continue;
      if (hold.key === undefined) ids.push(hold.id!);
      else keys.push([hold.queue, hold.key]);
    }
    return { ids, queues: [...this.unknownQueues], keys };
  }

  /** Until the next poll, or the first held key that is due again, or the next cleanup. */
  private nextWait(pollMs: number): number {
    const now = this.time.now();
    let wait = pollMs;
    for (const hold of this.holds.values()) if (hold.until > now) wait = Math.min(wait, hold.until - now);
    if (this.leader && this.options.keepRelayedMs > 0) wait = Math.min(wait, Math.max(0, this.nextSweepAt - now));
    return wait;
  }

  /** Deletes rows relayed more than `keepRelayedMs` ago, at most once per min(keepRelayedMs, 1 min) (at least 1 s apart). */
  private async sweepIfDue(): Promise<void> {
    const { keepRelayedMs } = this.options;
    if (keepRelayedMs === 0) return;
    const now = this.time.now();
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + Math.min(Math.max(keepRelayedMs, 1_000), 60_000);
    while ((await this.store.sweep(now - keepRelayedMs, SWEEP_BATCH)) === SWEEP_BATCH) {
      if (this.controller.signal.aborted) return;
    }
  }

  /** Counts unrelayed rows for status, at most once per min(pollIntervalMs, 1 s). */
  private async count(): Promise<void> {
    const now = this.time.now();
    if (this.counted && now - this.counted.at < Math.min(this.options.pollIntervalMs, 1_000)) return;
    const counts = await this.store.counts();
    this.counted = { ...counts, at: now };
  }

  private setLeader(leader: boolean): void {
    if (leader && !this.leader) this.logger.log(OUTBOX_RELAY_LEADER(this.store.table));
    this.leader = leader;
    if (this.state !== 'stopping' && this.state !== 'stopped') this.state = leader ? 'running' : 'idle';
  }

  private storeFailed(error: unknown, retryMs: number, first: boolean): void {
    this.failures++;
    this.consecutiveFailures++;
    this.lastError = { ...errorSummary(error), at: new Date(this.time.now()) };
    const connection = this.connection;
    if (connection && isPostgresConnectionError(error)) {
      if (connection.state !== 'down') {
        this.connection = { state: 'down', since: this.time.now(), lastError: errorMessage(error) };
        this.logger.error(POSTGRES_UNREACHABLE(`Outbox relay (${this.store.table})`, error));
      }
    } else if (first) {
      this.logger.error(OUTBOX_RELAY_FAILED(this.store.table, error, retryMs), stackOf(error));
    }
  }

  private connectionUp(): void {
    const connection = this.connection;
    if (!connection || connection.state === 'up') return;
    const now = this.time.now();
    if (connection.state === 'down') this.logger.log(POSTGRES_RECOVERED(`Outbox relay (${this.store.table})`, now - connection.since));
    this.connection = { state: 'up', since: now };
  }

  /** Waits `ms` on the host's clock, or until woken or stopped. */
  private sleep(ms: number): Promise<void> {
    if (this.woken || this.controller.signal.aborted) return Promise.resolve();
    this.settleIdle();
    return new Promise<void>((resolve) => {
      let timer: TimerHandle | undefined;
      const done = () => {
        timer?.clear();
        this.wakeSleeper = undefined;
        resolve();
      };
      this.wakeSleeper = done;
      timer = this.time.setTimeout(done, ms);
    });
  }

  /** A row written in this process: the relay looks once its transaction has ended (SQLite). */
  private afterLocalWrite(ended: Promise<void>): void {
    this.localWrites.add(ended);
    void ended.then(() => {
      this.localWrites.delete(ended);
      this.wake();
      this.settleIdle();
    });
  }

  private isBusy(): boolean {
    if (this.localWrites.size > 0) return true;
    if (!this.running || this.state === 'stopped') return false;
    return this.working || this.woken;
  }

  private settleIdle(): void {
    if (this.isBusy() || this.idleWaiters.length === 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** The relay of a process that only writes (`outbox.relay: false`): listed as disabled, with what it knows of the outbox. */
export class DisabledOutboxRelay extends DisabledUnit {
  constructor(private readonly store: OutboxStore) {
    super(OUTBOX_RELAY_NAME, 'background');
  }

  override status(): OutboxRelayStatus {
    return {
      ...super.status(),
      outbox: { store: this.store.kind, table: this.store.table, leader: false, relayed: 0, heldBack: 0, unknownQueues: [] },
    };
  }
}
