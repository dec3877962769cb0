import type { ConnectionStatus } from '../interfaces/service-status.interface.js';
import type { StoreName } from './store-name.js';

/** A claim on one run of an exclusive task, held while the run lasts. */
export interface TickLease {
  /**
   * Ends the claim so that the next tick can run anywhere. Idempotent; never rejects. `succeededAt`
   * (epoch ms), given when the run succeeded, becomes the task's last success across instances
   * (see `ExclusiveTickGate.lastSuccess`), unless a later one is recorded already.
   */
  release(succeededAt?: number): Promise<void>;
}

/** What a claim needs to know about the tick. */
export interface TickClaim {
  /** The task's name: one run of it at a time across all instances. */
  task: string;
  /** The slot, stable across instances (`TickContext.slotKey`): run at most once. */
  slotKey: string;
  /** How long the slot stays claimed, so that instances whose clocks lag do not run it again. */
  slotTtlMs: number;
  /** How long a run's claim lasts without renewal (renewed at half of it); bounds the wait after a crash. */
  leaseMs: number;
  /**
   * The slot's instant (epoch ms): when the lease is released it becomes the task's last run slot,
   * unless a later one is recorded already (see `ExclusiveTickGate.lastRun`).
   */
  slotAt?: number;
  /** How long the last run slot is kept after it was written. */
  lastRunTtlMs?: number;
}

/**
 * Decides which instance runs a tick of an exclusive periodic task. The narrow interface lets the
 * timer stay free of the store; `RedisExclusiveTickGate` and `PostgresExclusiveTickGate` implement it.
 */
export interface ExclusiveTickGate {
  /** The store the instances share, as the lines about its outages name it (`exclusiveTickRunner`). */
  readonly store: StoreName;
  /**
   * Resolves with a lease when this instance won the tick; with `undefined` when another instance
   * has the slot or is still running the task. Rejects when the store cannot be reached (or refuses
   * the claim): the tick is skipped, and the runner says so.
   */
  tryAcquire(claim: TickClaim): Promise<TickLease | undefined>;
  /**
   * The latest slot whose run settled on any instance (epoch ms), undefined when none is recorded.
   * Rejects when the store cannot be reached.
   */
  lastRun?(task: string): Promise<number | undefined>;
  /**
   * The latest successful run of the task on any instance (epoch ms, when it finished), undefined
   * when none is recorded. Rejects when the store cannot be reached.
   */
  lastSuccess?(task: string): Promise<number | undefined>;
  /**
   * Records a success of the task outside a claim (a run triggered here), kept `ttlMs`; only ever
   * later. Never rejects.
   */
  recordSuccess?(task: string, succeededAt: number, ttlMs: number): Promise<void>;
  /** The state of the gate's connection(s) to its store, for the status of exclusive tasks. */
  connections?(): ConnectionStatus[];
  /** Releases the connection. Idempotent. */
  dispose(): Promise<void>;
}
