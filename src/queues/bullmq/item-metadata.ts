import type { BackoffOptions } from '../../interfaces/queue-options.interface.js';
import type { ItemOptions } from '../queue-backend.interface.js';

/**
 * What a BullMQ job carries beside its data, in its `opts.telemetry.metadata` (one JSON text that
 * BullMQ keeps with the job and leaves alone under `omitContext`):
 *
 * - the headers enqueue interceptors wrote, as string properties (`{"traceparent":"00-…"}`), as
 *   before this format existed: jobs written then still read the same;
 * - when the item has options of its own that BullMQ has no field for (or that the worker must
 *   tell from its own policy), ONE more property, written first: `"nest-hosting/item"` whose value is
 *   an object `{ attempts?, backoff?: { type, delayMs }, timeoutMs? }`. Its value is not a string, so
 *   `JobContext.headers` (which keeps string values only) never shows it, on old code too; and a `/`
 *   cannot appear in an HTTP header name, so no propagated header takes its place.
 *
 * `attempts` / `backoff` there mean "the item set its own": they win over the worker's policy
 * (the job's native `opts.attempts` / `opts.backoff` say the same to BullMQ and its tools, but cannot
 * tell an item's own from the policy a producer with a worker recorded).
 */
export const ITEM_OPTIONS_KEY = 'nest-hosting/item';
const PREFIX = `{${JSON.stringify(ITEM_OPTIONS_KEY)}:`;

/** The part of `ItemOptions` that rides in the metadata (BullMQ keeps the rest natively: delay, priority, jobId). */
export type CarriedItemOptions = Pick<ItemOptions, 'attempts' | 'backoff' | 'timeoutMs'>;

/** The carried part of `options`, or undefined when it has none. */
export function carriedItemOptions(options: ItemOptions): CarriedItemOptions | undefined {
  const { attempts, backoff, timeoutMs } = options;
  if (attempts === undefined && backoff === undefined && timeoutMs === undefined) return undefined;
  return {
    ...(attempts !== undefined && { attempts }),
    ...(backoff !== undefined && { backoff: { type: backoff.type, delayMs: backoff.delayMs } }),
    ...(timeoutMs !== undefined && { timeoutMs }),
  };
}

/** The metadata text of a job with `headers` and `item` options (either may be missing; undefined when both are). */
export function encodeMetadata(headers: Readonly<Record<string, string>> | undefined, item: CarriedItemOptions | undefined): string | undefined {
  if (item === undefined) return headers === undefined ? undefined : JSON.stringify(headers);
  // The item's options first (`decodeItemOptions` finds them with one `startsWith`), and set again
  // after the headers: a header of that name keeps the first position but not its value.
  const carried: Record<string, unknown> = { [ITEM_OPTIONS_KEY]: item, ...headers };
  carried[ITEM_OPTIONS_KEY] = item;
  return JSON.stringify(carried);
}

const isBackoff = (value: unknown): value is BackoffOptions =>
  typeof value === 'object' &&
  value !== null &&
  ((value as BackoffOptions).type === 'fixed' || (value as BackoffOptions).type === 'exponential') &&
  typeof (value as BackoffOptions).delayMs === 'number';
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;

/**
 * The item's own options from a job's metadata text, or undefined when it carries none. Costs a
 * `startsWith` for jobs without them (every job enqueued with headers only, or none).
 */
export function decodeItemOptions(metadata: string | undefined): CarriedItemOptions | undefined {
  if (metadata === undefined || !metadata.startsWith(PREFIX)) return undefined;
  let parsed: unknown;
  try {
    parsed = (JSON.parse(metadata) as Record<string, unknown>)[ITEM_OPTIONS_KEY];
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { attempts, backoff, timeoutMs } = parsed as Record<string, unknown>;
  const options: CarriedItemOptions = {};
  if (isCount(attempts)) options.attempts = attempts;
  if (isBackoff(backoff)) options.backoff = { type: backoff.type, delayMs: backoff.delayMs };
  if (isCount(timeoutMs)) options.timeoutMs = timeoutMs;
  return options.attempts === undefined && options.backoff === undefined && options.timeoutMs === undefined ? undefined : options;
}
