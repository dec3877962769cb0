import { Injectable, SetMetadata, applyDecorators } from '@nestjs/common';
import type { ContextId } from '@nestjs/core';
import { WORK_INTERCEPTOR_METADATA } from '../hosting.constants.js';
import { INVALID_INTERCEPTOR, UNIT_REMOVED } from '../hosting.messages.js';
import { isAbortCaused } from '../errors/abort.js';
import { OptionsValidator } from '../validation/options-validator.js';
import type { ServiceKind } from '../interfaces/service-status.interface.js';
import type { TickContext } from '../scheduling/tick-context.js';
import type { JobContext } from '../queues/job-context.js';
import { OneCopy } from '../one-copy.js';

/**
 * One unit of work as an interceptor sees it: a tick of a `@Periodic` (or `@Delayed`) task, a run
 * of a background service's `execute`, or one delivery of a queue item.
 */
@OneCopy('WorkContext')
export class WorkContext {
  /** @internal made by the host for each unit of work */
  constructor(
    /** `'periodic'` (ticks of `@Periodic` and `@Delayed` tasks), `'background'` (an `execute` run) or `'queue'` (one delivery of an item). */
    readonly kind: ServiceKind,
    /** The task's, service's or queue's name, as `HostingRegistry` lists it. */
    readonly name: string,
    /** The unit's own context: the `TickContext`, the `JobContext`, or the background service's signal. */
    private readonly source: TickContext | JobContext | AbortSignal,
    /** Queue: the item being handled; undefined for the other kinds. */
    readonly data: unknown,
    /** The DI scope of the run when its provider is request-scoped (resolve scoped providers with `moduleRef.resolve(token, contextId)`); undefined for a static provider. */
    readonly contextId: ContextId | undefined,
    /** The host's stop (`HostLifetime.stopping`): its reason is the abort reason of the work it stops. */
    private readonly stopping?: AbortSignal,
  ) {}

  /**
   * Whether `error`, what the unit threw, is the unit giving up because the host stopped it (or
   * `HostingRegistry.remove` removed it): its signal aborted by that stop, and the error caused by
   * the abort. Such a run is cancelled, not failed, as the registry counts it; a tick that gave up
   * at its own `timeoutMs` failed.
   */
  endedByStop(error: unknown): boolean {
    // A job's signal is made on first read: ask whether it aborted without making one for nothing.
    if (this.kind === 'queue' && !(this.source as JobContext).aborted) return false;
    const signal = this.signal;
    if (!signal.aborted || !isAbortCaused(error, signal)) return false;
    // A service's and an item's signals abort only when the host stops them; a tick's also at its timeoutMs.
    if (this.kind !== 'periodic') return true;
    const reason: unknown = signal.reason;
    const stopping = this.stopping;
    return (stopping?.aborted === true && reason === stopping.reason) || reason === UNIT_REMOVED(this.name);
  }

  /** Periodic: the tick (its `scheduledAt`, `tick`, `missedTicks`, `triggered`). */
  get tick(): TickContext | undefined {
    return this.kind === 'periodic' ? (this.source as TickContext) : undefined;
  }

  /** Queue: the delivery (`id`, `attempt`, `headers` carried from `enqueue`). */
  get job(): JobContext | undefined {
    return this.kind === 'queue' ? (this.source as JobContext) : undefined;
  }

  /** The unit's signal: aborts when the host stops it (and, for a tick, at its `timeoutMs`). */
  get signal(): AbortSignal {
    const source = this.source;
    return this.kind === 'background' ? (source as AbortSignal) : (source as TickContext | JobContext).signal;
  }
}

/** What an interceptor calls to go on: the next interceptor, or the unit itself. Returns what it returned (a value, or a promise). Call it at most once. */
export type WorkNext = () => unknown;

/** What `interceptEnqueue` sees of one `WorkQueue.enqueue` call. */
export interface EnqueueContext {
  /** The queue's name. */
  readonly queue: string;
  /** The item as given to `enqueue` (`enqueueMany`: the array of items, which share one set of headers; `next` then resolves with their ids). */
  readonly data: unknown;
  /**
   * Text headers carried with the item to its delivery (`JobContext.headers`), on every backend:
   * a trace context, a request id. Write to it before calling `next`.
   */
  readonly headers: Record<string, string>;
}

/**
 * Runs around every unit of work of the host, as a Nest interceptor runs around a request:
 * tracing, metrics, a CLS context, error reporting, a tenant context. Register it with
 * `@WorkInterceptor()` on a provider, or in `HostingModule.forRoot({ interceptors })`.
 * `intercept` runs inside the unit's DI scope (opened before, ended after: its `onScopeEnd`
 * hooks run inside `next()`), sees the unit's kind, name and context, and its outcome: what
 * `next()` returns or throws (a promise that resolves or rejects, for asynchronous work).
 *
 * @example
 * ```ts
 * @WorkInterceptor()
 * export class TimingInterceptor implements WorkInterceptor {
 *   async intercept(work: WorkContext, next: WorkNext) {
 *     const started = performance.now();
 *     try {
 *       return await next();
 *     } finally {
 *       console.log(`${work.kind} ${work.name}: ${performance.now() - started} ms`);
 *     }
 *   }
 * }
 * ```
 */
export interface WorkInterceptor {
  /** Around one unit of work: return what `next()` returns (or a promise of it); throw to fail the unit. */
  intercept(work: WorkContext, next: WorkNext): unknown;
  /**
   * Around one `WorkQueue.enqueue`, in the producer's context (an HTTP request's trace, its CLS
   * store): write `enqueue.headers` to carry something to the item's delivery. Return `next()`
   * (the item's id), or a promise of it.
   */
  interceptEnqueue?(enqueue: EnqueueContext, next: () => Promise<string>): Promise<string>;
}

/** Options of `@WorkInterceptor()`. */
export interface WorkInterceptorOptions {
  /**
   * Place in the chain: lower runs outside (first in, last out). Interceptors given in
   * `HostingModule.forRoot({ interceptors })` come before all decorated ones, in their order;
   * decorated ones with the same `order` run in the order Nest found them.
   * @default 0
   */
  order?: number;
}

/** A class `@WorkInterceptor()` accepts: its instances have `intercept(work, next)`. */
export type WorkInterceptorClass = abstract new (...args: never[]) => WorkInterceptor;

/**
 * Registers a provider as an interceptor around every unit of work of the host (see the
 * `WorkInterceptor` interface). The class is also `@Injectable()`: list it in a module's
 * `providers`; it must be a singleton (scoped providers are resolved inside `intercept` through
 * `work.contextId`). A class without `intercept` does not compile; bad options throw a TypeError as
 * the class is defined, naming it.
 */
export function WorkInterceptor(options: WorkInterceptorOptions = {}): <C extends WorkInterceptorClass>(target: C) => void {
  return (target) => {
    const check = OptionsValidator.for(`@WorkInterceptor() on ${target.name}`, options, ['order']);
    const order = check.check<number>('order', (value) => typeof value === 'number' && Number.isFinite(value), 'a finite number');
    const intercept = (target.prototype as { intercept?: unknown }).intercept;
    if (typeof intercept !== 'function') throw new TypeError(INVALID_INTERCEPTOR(`@WorkInterceptor() on ${target.name}`, intercept));
    applyDecorators(Injectable(), SetMetadata(WORK_INTERCEPTOR_METADATA, { order: order ?? 0 }))(target);
  };
}
