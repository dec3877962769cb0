import type { LoggerService } from '@nestjs/common';
import { errorMessage } from '../errors/thrown-value.js';
import type { ConnectionState, ConnectionStatus } from '../interfaces/service-status.interface.js';
import { isRedisConnectionError } from './redis-outage-reporter.js';
import { REDIS_CONNECTION_LOST, REDIS_RECOVERED, REDIS_UNREACHABLE } from './redis.messages.js';

type PartState = 'connecting' | 'up' | 'down';

/** The two lines of an outage, worded for the store the connection goes to. */
export interface OutageMessages {
  /** Logged (as an error) when the connection goes down. */
  unreachable(subject: string, error: unknown): string;
  /** Logged when it is back, `downMs` later. */
  recovered(subject: string, downMs: number): string;
}

/** Outage lines of a connection to Redis. */
export const REDIS_OUTAGE: OutageMessages = { unreachable: REDIS_UNREACHABLE, recovered: REDIS_RECOVERED };

/**
 * The state of one named connection of a hosted unit (a BullMQ queue's `producer` or `worker`, the
 * `redis` of exclusive tasks), as `ServiceStatus.connections` reports it, and its outage log: one
 * line when it goes down, one when it is back (`<subject>: Redis is reachable again after N ms`;
 * `messages` words them for another store, such as PostgreSQL).
 *
 * A connection can be made of parts (the BullMQ worker's command and blocking connections): it is
 * up when every part is up, down while any part is down. `hold` keeps it down whatever its parts
 * do (a connection that cannot be made, a worker stopped for spinning) until `release`.
 */
export class ConnectionMonitor {
  private readonly parts = new Map<string, PartState>();
  private current: ConnectionState = 'connecting';
  private since = new Date();
  private cause?: unknown;
  private downAt = 0;
  private held?: string;
  private heldBefore = false;
  private closed = false;

  constructor(
    /** The connection's name in `ServiceStatus.connections`. */
    readonly name: string,
    /** Who is affected, in log lines: `Queue "emails" (bullmq) worker`. */
    private readonly subject: string,
    private readonly logger: LoggerService,
    partNames: readonly string[] = ['main'],
    private readonly messages: OutageMessages = REDIS_OUTAGE,
  ) {
    for (const part of partNames) this.parts.set(part, 'connecting');
  }

  get state(): ConnectionState {
    return this.current;
  }

  get isUp(): boolean {
    return this.current === 'up';
  }

  get isDown(): boolean {
    return this.current === 'down';
  }

  /** The error that keeps the connection down (undefined unless down). */
  get lastError(): unknown {
    return this.current === 'down' ? this.cause : undefined;
  }

  /** True once `close` was called: events are ignored from then on. */
  get isClosed(): boolean {
    return this.closed;
  }

  status(): ConnectionStatus {
    const status: ConnectionStatus = { name: this.name, state: this.current, since: this.since };
    if (this.current === 'down') status.lastError = this.held ?? errorMessage(this.cause);
    return status;
  }

  partUp(part = 'main'): void {
    if (this.closed || !this.parts.has(part)) return;
    this.parts.set(part, 'up');
    this.update();
  }

  partDown(part: string, error: unknown): void {
    if (this.closed || !this.parts.has(part)) return;
    this.parts.set(part, 'down');
    this.cause = error;
    this.update();
  }

  /** Down with `reason` in its status, whatever its parts do, until `release`. The caller logs why. */
  hold(reason: string, error: unknown): void {
    if (this.closed) return;
    this.held = reason;
    this.cause = error;
    this.update();
  }

  /** Ends a `hold`, for parts that start over (a new worker): they are `connecting` again. */
  release(): void {
    if (this.closed) return;
    this.held = undefined;
    for (const part of this.parts.keys()) this.parts.set(part, 'connecting');
    this.update();
  }

  /** The connection is being closed on purpose: later events (its own close) are not outages. */
  close(): void {
    this.closed = true;
  }

  private update(): void {
    const states = [...this.parts.values()];
    const next: ConnectionState =
      this.held !== undefined || states.includes('down') ? 'down' : states.every((s) => s === 'up') ? 'up' : 'connecting';
    if (next === this.current) return;
    const previous = this.current;
    const now = Date.now();
    this.current = next;
    this.since = new Date(now);
    if (next === 'down') {
      this.downAt = now;
      this.heldBefore = this.held !== undefined;
      if (!this.heldBefore) this.logger.error(this.messages.unreachable(this.subject, this.cause));
    } else if (previous === 'down' && next === 'up' && !this.heldBefore) {
      this.logger.log(this.messages.recovered(this.subject, now - this.downAt));
    }
  }
}

/** What `watchRedisEvents` listens to: an ioredis client, or BullMQ's `RedisConnection` around one. */
export interface RedisEventSource {
  prependListener(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Feeds one part of `monitor` from a Redis client's events. Listeners are prepended, so the state
 * is known before anyone else (BullMQ's `error` events) hears of an error; every error seen here
 * is added to `seen`, so that whoever hears it again can tell it was reported already.
 *
 * - `ready`: the part is up.
 * - `error` while the client is not ready (a refused connection, NOAUTH, WRONGPASS …): down.
 * - `close` followed by a reconnect (ioredis' status `reconnecting`): down. A close on purpose
 *   (`disconnect`, BullMQ's own interruptions of its blocking connection) is no outage.
 * - `error` on a ready client: handed to `onLiveError` (when it is no connection error).
 *
 * @param clientStatus the ioredis status of the client (`ready`, `reconnecting`, …); undefined
 *   when the client could not even be created (its failure is reported by whoever created it).
 * @returns a function that removes the listeners.
 */
export function watchRedisEvents(
  source: RedisEventSource,
  clientStatus: () => string | undefined,
  monitor: ConnectionMonitor,
  part: string,
  seen: WeakSet<object>,
  onLiveError?: (error: unknown) => void,
): () => void {
  let lastError: unknown;
  const onError = (error: unknown) => {
    if (typeof error === 'object' && error !== null) seen.add(error);
    const status = clientStatus();
    if (status === undefined) return;
    if (status === 'ready') {
      if (isRedisConnectionError(error)) lastError = error; // the close that follows reports it
      else onLiveError?.(error);
      return;
    }
    lastError = error;
    monitor.partDown(part, error);
  };
  const onClose = () => {
    if (clientStatus() === 'reconnecting') monitor.partDown(part, lastError ?? new Error(REDIS_CONNECTION_LOST()));
  };
  const onReady = () => {
    lastError = undefined;
    monitor.partUp(part);
  };
  source.prependListener('error', onError);
  source.prependListener('close', onClose);
  source.prependListener('ready', onReady);
  return () => {
    source.removeListener('error', onError);
    source.removeListener('close', onClose);
    source.removeListener('ready', onReady);
  };
}
