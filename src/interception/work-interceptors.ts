import { Injectable } from '@nestjs/common';
import type { Around } from '../scopes/scoped-invoker.js';
import type { ServiceKind } from '../interfaces/service-status.interface.js';
import { INTERCEPTOR_NEXT_TWICE } from '../hosting.messages.js';
import { WorkContext, type EnqueueContext, type WorkInterceptor } from './work-interceptor.js';
import { isPending } from '../queues/queue-backend.interface.js';


/** One interceptor and where it came from (for messages). */
export interface RegisteredInterceptor {
  interceptor: WorkInterceptor;
  /** The class name, or `HostingModule.forRoot({ interceptors })[i]`. */
  source: string;
}

/**
 * The host's interceptor chain (one per app): filled at module init from `forRoot({ interceptors })`
 * and `@WorkInterceptor()` providers; units made while it is empty cost nothing extra (no `Around`).
 */
@Injectable()
export class WorkInterceptors {
  private work: readonly RegisteredInterceptor[] = [];
  private enqueueing: readonly RegisteredInterceptor[] = [];
  private stopping?: AbortSignal;

  /** Sets the chain, outermost first, and the host's stop signal (`WorkContext.endedByStop` compares with it). */
  set(chain: readonly RegisteredInterceptor[], stopping?: AbortSignal): void {
    this.work = chain;
    this.stopping = stopping;
    this.enqueueing = chain.filter((entry) => typeof entry.interceptor.interceptEnqueue === 'function');
  }

  /** The chain, outermost first. */
  list(): readonly RegisteredInterceptor[] {
    return this.work;
  }

  /** Whether an interceptor runs around enqueues (read by `WorkQueue.enqueue` per call). */
  get interceptsEnqueue(): boolean {
    return this.enqueueing.length > 0;
  }

  /** The `Around` of units of `kind` named `name`, or undefined when no interceptor is registered. */
  around(kind: ServiceKind, name: string): Around | undefined {
    const chain = this.work;
    if (chain.length === 0) return undefined;
    const queue = kind === 'queue';
    const stopping = this.stopping;
    return (request, first, contextId, call) => runChain(chain, new WorkContext(kind, name, request as never, queue ? first : undefined, contextId, stopping), call);
  }

  /** Runs `enqueue` inside the enqueue interceptors; the final step gets the headers they wrote (undefined when none). */
  enqueue<R = string>(queue: string, data: unknown, final: (headers: Record<string, string> | undefined) => Promise<R>): Promise<R> {
    const chain = this.enqueueing;
    const headers: Record<string, string> = {};
    const context: EnqueueContext = { queue, data, headers };
    const step = (index: number): (() => Promise<R>) => {
      let called = false;
      return () => {
        if (called) return Promise.reject(new Error(INTERCEPTOR_NEXT_TWICE(chain[index - 1].source, 'interceptEnqueue')));
        called = true;
        if (index === chain.length) {
          let any = false;
          for (const _ in headers) {
            any = true;
            break;
          }
          return final(any ? headers : undefined);
        }
        try {
          return Promise.resolve(chain[index].interceptor.interceptEnqueue!(context, step(index + 1) as () => Promise<never>) as Promise<R>);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    };
    return step(0)();
  }
}

/** Calls `chain[0]` with a `next` that calls `chain[1]`, …, and the last one's `next` calls `call`. */
function runChain(chain: readonly RegisteredInterceptor[], work: WorkContext, call: () => unknown): unknown {
  const step = (index: number): (() => unknown) => {
    if (index === chain.length) return once(call, chain[index - 1].source);
    return once(() => chain[index].interceptor.intercept(work, step(index + 1)), chain[index - 1].source);
  };
  return chain[0].interceptor.intercept(work, step(1));
}

/** `fn`, callable once: a second call throws naming the interceptor that made it. */
function once(fn: () => unknown, caller: string): () => unknown {
  let called = false;
  return () => {
    if (called) throw new Error(INTERCEPTOR_NEXT_TWICE(caller, 'intercept'));
    called = true;
    return fn();
  };
}

/**
 * Runs `run` (an interceptor's `next()`, or a call around it), calls `ended(failed, error)` once
 * what it returned has settled (at once when it is no promise; a synchronous throw too, then
 * rethrown), and returns what it returned: the interceptors that measure a unit share this.
 */
export function afterRun(run: () => unknown, ended: (failed: boolean, error: unknown) => void): unknown {
  let result: unknown;
  try {
    result = run();
  } catch (error) {
    ended(true, error);
    throw error;
  }
  if (!isPending(result)) {
    ended(false, undefined);
    return result;
  }
  return result.then(
    (value) => {
      ended(false, undefined);
      return value;
    },
    (error: unknown) => {
      ended(true, error);
      throw error;
    },
  );
}
