import { inspect, types } from 'node:util';
import { OneCopy } from '../one-copy.js';

/**
 * What the host reports when a unit of work threw something that is not an `Error` (a string,
 * `null`, a plain or null-prototype object …): the value itself is kept in `thrown`, as .NET wraps
 * such throws in `RuntimeWrappedException`. Logs, `ServiceStatus.lastError`, `onFailed`, health,
 * the dashboard and BullMQ's `failedReason` all see this error instead of the raw value.
 *
 * @example
 * ```ts
 * onFailed: (item, error) => {
 *   if (error instanceof ThrownValueError) console.warn('a handler threw a non-Error:', error.thrown);
 * }
 * ```
 */
@OneCopy('ThrownValueError')
export class ThrownValueError extends Error {
  override readonly name = 'ThrownValueError';

  /** Wraps `thrown`; the message describes it (a string is used as is). */
  constructor(readonly thrown: unknown) {
    super(describeThrown(thrown));
    // Its frames would point at the library, not at the code that threw: the message is the story.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** True for an `Error` of any realm (Jest's sandbox, a vm context, Node's own AbortError). */
export function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/**
 * The one normalisation of thrown values: an `Error` (of any realm) is returned as it is, anything
 * else is wrapped in a `ThrownValueError`. Never throws, whatever the value (getters that throw,
 * proxies, null prototypes included).
 */
export function toError(value: unknown): Error {
  if (isError(value)) return value;
  return new ThrownValueError(value);
}

/** The message of a thrown value, for one-line log messages and status fields. Never throws. */
export function errorMessage(value: unknown): string {
  if (isError(value)) {
    const message = safely(() => value.message);
    return typeof message === 'string' ? message : describeThrown(value);
  }
  return describeThrown(value);
}

/** What a log line carries for a thrown value: its stack, or its description. Never throws. */
export function errorStack(value: unknown): string {
  const error = toError(value);
  const stack = safely(() => error.stack);
  return typeof stack === 'string' && stack ? stack : `${safely(() => error.name) ?? 'Error'}: ${errorMessage(value)}`;
}

/** `{ message, stack }` of a thrown value, as `ServiceStatus.lastError` holds it. Never throws. */
export function errorSummary(value: unknown): { message: string; stack?: string } {
  const message = errorMessage(value);
  const stack = isError(value) ? safely(() => value.stack) : undefined;
  return typeof stack === 'string' ? { message, stack } : { message };
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && !isError(value)) {
    const message = safely(() => (value as { message?: unknown }).message);
    if (typeof message === 'string' && message) return message;
  }
  const shown = safely(() => inspect(value, { depth: 2, breakLength: Infinity, maxStringLength: 500, maxArrayLength: 20 }));
  return `a non-Error value was thrown: ${typeof shown === 'string' ? shown : `(${typeof value} that cannot be displayed)`}`;
}

function safely<R>(read: () => R): R | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
