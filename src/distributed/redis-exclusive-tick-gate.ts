import type { LoggerService } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ConnectionOptions } from '../interfaces/redis-connection.interface.js';
import type { ConnectionStatus } from '../interfaces/service-status.interface.js';
import { errorMessage } from '../errors/thrown-value.js';
import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';
import { ConnectionMonitor, watchRedisEvents } from './connection-monitor.js';
import { ErrorLogThrottle } from './error-log-throttle.js';
import type { ExclusiveTickGate, TickClaim, TickLease } from './exclusive-tick-gate.js';
import { loadIoRedis } from './load-optional.js';
import { assertRedisConnection, isRedisClient, toRedisClientOptions } from './redis-connection.js';
import { EXCLUSIVE_LEASE_LOST, REDIS_CONNECTION_FAILED } from './redis.messages.js';

const OWNER = 'HostingModule.forRoot({ redis })';
const SUBJECT = 'Exclusive periodic tasks';

/** Options of `RedisExclusiveTickGate`. */
export interface RedisExclusiveTickGateOptions {
  /** `HostingOptions.redis`: a URL, ioredis options, or an ioredis instance (used as is, left open). */
  connection: ConnectionOptions;
  /** Prefix of the gate's keys. @default 'hosting' */
  prefix?: string;
  logger: LoggerService;
  /** Longest wait for a connection before a tick counts Redis as unreachable. @default 2000 */
  connectWaitMs?: number;
}

/** Longest wait for one Redis command of the gate (owned client) before the tick counts Redis as unreachable. */
const COMMAND_TIMEOUT_MS = 2_000;

// Claims the slot and the task's run lease together, or neither: a tick that finds the task still
// running elsewhere leaves its slot free for the coalesced run that follows (PeriodicTimer semantics).
const ACQUIRE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
// Ends the run lease and records the slot as the task's last run (only ever later: instances whose
// clocks lag, or a catch-up of an older slot, never move it back).
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then
  local last = tonumber(redis.call('GET', KEYS[2]))
  if not last or last < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
end
if ARGV[4] ~= '' then
  local done = tonumber(redis.call('GET', KEYS[3]))
  if not done or done < tonumber(ARGV[4]) then redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3]) end
end
return 1`;
// Records the task's last success (only ever later), with its TTL.
const SUCCEEDED = `
local done = tonumber(redis.call('GET', KEYS[1]))
if not done or done < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`;

/**
 * One run per tick across instances, with three Redis keys per task:
 * - `<prefix>:{exclusive:<task>}:slot:<slot>` — `SET NX PX`: the first instance to claim a slot
 *   runs it; the key expires on its own, so a crashed holder never blocks later slots.
 * - `<prefix>:{exclusive:<task>}:running` — the run lease, renewed at half its TTL while the run
 *   lasts and deleted when it ends: while it exists no instance starts the task, so runs never
 *   overlap across instances either. After a crash it lapses within `leaseMs`.
 * - `<prefix>:{exclusive:<task>}:last` — the latest slot whose run settled (epoch ms), written
 *   with the lease's release; an instance that starts reads it to find slots the cluster missed.
 * - `<prefix>:{exclusive:<task>}:succeeded` — when the task's latest successful run finished (epoch
 *   ms), written with the release of a run that succeeded (or after a triggered run), kept as long
 *   as `last`: every instance's missed-run check reads it, so a task another instance runs is not late here.
 * The braces keep both keys of a task in one Redis Cluster slot.
 */
export class RedisExclusiveTickGate implements ExclusiveTickGate {
  readonly store = 'Redis';
  /** Settles once ioredis is loaded; rejects with install guidance when it is missing. */
  readonly ready: Promise<void>;
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly prefix: string;
  private readonly connectWaitMs: number;
  /** The gate's one connection, `redis` in the status of exclusive tasks. */
  private readonly monitor: ConnectionMonitor;
  private readonly errors: ErrorLogThrottle;
  private readonly seenErrors = new WeakSet<object>();
  private unwatch?: () => void;
  private readonly client: Promise<Redis>;
  private readonly ownsClient: boolean;
  private disposed?: Promise<void>;
  /** Renewal timers of the runs in progress, stopped on dispose. */
  private readonly renewals = new Set<NodeJS.Timeout>();

  constructor(private readonly options: RedisExclusiveTickGateOptions) {
    assertRedisConnection(OWNER, options.connection);
    this.prefix = options.prefix ?? 'hosting';
    this.connectWaitMs = Math.min(Math.max(options.connectWaitMs ?? 2_000, 1), MAX_TIMER_DELAY_MS); // one Node timer
    this.monitor = new ConnectionMonitor('redis', SUBJECT, options.logger);
    this.errors = new ErrorLogThrottle(options.logger, SUBJECT);
    this.ownsClient = !isRedisClient(options.connection);
    this.client = this.connect();
    this.ready = this.client.then(() => undefined);
    this.ready.catch(() => undefined); // surfaced by tryAcquire and by whoever awaits `ready`
  }

  async tryAcquire(claim: TickClaim): Promise<TickLease | undefined> {
    const { task, slotKey, slotTtlMs, leaseMs } = claim;
    const client = await this.client;
    await this.whenReady(client);
    const keys = this.keys(task);
    const won = await client.eval(ACQUIRE, 2, keys.slot(slotKey), keys.running, this.owner, Math.ceil(slotTtlMs), Math.ceil(leaseMs));
    return won === 1 ? this.lease(client, claim, keys) : undefined;
  }

  async lastRun(task: string): Promise<number | undefined> {
    const client = await this.client;
    await this.whenReady(client);
    const value = await client.get(this.keys(task).last);
    return value === null ? undefined : Number(value);
  }

  async lastSuccess(task: string): Promise<number | undefined> {
    const client = await this.client;
    await this.whenReady(client);
    const value = await client.get(this.keys(task).succeeded);
    return value === null ? undefined : Number(value);
  }

  async recordSuccess(task: string, succeededAt: number, ttlMs: number): Promise<void> {
    try {
      const client = await this.client;
      await this.whenReady(client);
      await client.eval(SUCCEEDED, 1, this.keys(task).succeeded, String(succeededAt), Math.ceil(ttlMs));
    } catch {
      // Redis unreachable: the success stays local (the ticks report the outage).
    }
  }

  /** The state of the gate's connection, shown in the status of every exclusive task. */
  connections(): ConnectionStatus[] {
    return [this.monitor.status()];
  }

  dispose(): Promise<void> {
    for (const renewal of this.renewals) clearInterval(renewal);
    this.renewals.clear();
    this.monitor.close();
    this.errors.dispose();
    this.disposed ??= this.client.then(
      async (client) => {
        this.unwatch?.();
        if (!this.ownsClient) return;
        if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
        else client.disconnect();
      },
      () => undefined,
    );
    return this.disposed;
  }

  private async connect(): Promise<Redis> {
    const RedisClient = await loadIoRedis();
    let client: Redis;
    if (this.ownsClient) {
      // No offline queue: a claim sent late, after an outage, could win a slot whose time has passed.
      // A command timeout too: a Redis that hangs must not hold a tick (and the shutdown) for ever.
      const { url, options } = toRedisClientOptions(
        OWNER,
        this.options.connection,
        { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
        { commandTimeout: COMMAND_TIMEOUT_MS, connectionName: 'nest-hosting:exclusive-ticks' },
      );
      try {
        client = url ? new RedisClient(url, options) : new RedisClient(options);
      } catch (error) {
        // Options that ioredis itself refuses: no retry can heal that, so it is said once.
        this.monitor.hold(errorMessage(error), error);
        this.options.logger.error(REDIS_CONNECTION_FAILED(SUBJECT, error));
        throw error;
      }
    } else {
      client = this.options.connection as Redis;
    }
    const current = client;
    this.unwatch = watchRedisEvents(current, () => current.status, this.monitor, 'main', this.seenErrors, (error) => this.errors.report(error));
    if (client.status === 'ready') this.monitor.partUp();
    return client;
  }

  /** Claims are sent only on a ready connection, never queued offline (see `connect`). */
  private async whenReady(client: Redis): Promise<void> {
    if (client.status === 'ready') return;
    if (client.status === 'wait') client.connect().catch(() => undefined); // a lazyConnect instance
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(Object.assign(new Error(`Redis is unreachable (no connection within ${this.connectWaitMs} ms)`), { code: 'ETIMEDOUT' }));
      }, this.connectWaitMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  }

  private keys(task: string) {
    const base = `${this.prefix}:{exclusive:${task}}`;
    return { running: `${base}:running`, last: `${base}:last`, succeeded: `${base}:succeeded`, slot: (slotKey: string) => `${base}:slot:${slotKey}` };
  }

  private lease(client: Redis, { task, leaseMs, slotAt, lastRunTtlMs }: TickClaim, keys: { running: string; last: string; succeeded: string }): TickLease {
    const key = keys.running;
    let released: Promise<void> | undefined;
    let warned = false;
    const renew = setInterval(() => {
      client.eval(RENEW, 1, key, this.owner, Math.ceil(leaseMs)).catch((error: unknown) => {
        if (warned) return;
        warned = true;
        this.options.logger.warn(EXCLUSIVE_LEASE_LOST(task, error));
      });
    }, Math.max(leaseMs / 2, 50));
    renew.unref();
    this.renewals.add(renew);
    return {
      release: (succeededAt?: number) => {
        clearInterval(renew);
        this.renewals.delete(renew);
        const recorded = slotAt === undefined ? '' : String(slotAt);
        const ttl = Math.ceil(lastRunTtlMs ?? leaseMs);
        const succeeded = succeededAt === undefined ? '' : String(succeededAt);
        released ??= client.eval(RELEASE, 3, key, keys.last, keys.succeeded, this.owner, recorded, ttl, succeeded).then(
          () => undefined,
          () => undefined, // the lease lapses on its own
        );
        return released;
      },
    };
  }
}
