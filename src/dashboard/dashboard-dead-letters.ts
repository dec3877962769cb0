import { inspect } from 'node:util';
import type { DeadLetter, DeadLetterPage } from '../interfaces/queue-options.interface.js';
import {
  DASHBOARD_CONFLICTING_ID,
  DASHBOARD_INVALID_BODY,
  DASHBOARD_INVALID_ID,
  DASHBOARD_INVALID_QUERY,
  DASHBOARD_MISSING_ID,
  DASHBOARD_UNKNOWN_PARAMETER,
} from './dashboard.messages.js';

/** One dead letter as `GET /<path>/queues/:name/dead-letters.json` lists it. */
export interface DashboardDeadLetter {
  /** The item's id (`redrive` / `discard` take it). */
  id: string;
  /** Tries made. */
  attempts: number;
  /** When its last try failed (an ISO string in the JSON). */
  failedAt: Date;
  /** The last try's error; `stack` only with `showErrorStacks: true`. */
  error: { name: string; message: string; stack?: string };
  /**
   * The item as JSON text, cut after 1,000 characters (then `dataTruncated` is true); a value JSON
   * cannot write (a cycle, a BigInt) is described as Node's `util.inspect` writes it.
   */
  data: string;
  /** Set when `data` was cut. */
  dataTruncated?: true;
}

/**
 * What `GET /<path>/queues/:name/dead-letters.json?offset=0&limit=20` returns: one page of the
 * queue's dead letters, newest first (`HostingRegistry.deadLetters`).
 */
export interface DashboardDeadLetters {
  /** The queue's name. */
  queue: string;
  /** Dead letters kept in all. */
  total: number;
  /** How many newer ones the page skipped (the query's `offset`, default 0). */
  offset: number;
  /** The most the page holds (the query's `limit`: 1 to 100, default 20). */
  limit: number;
  /** The page, newest first. */
  items: DashboardDeadLetter[];
}

export const DEFAULT_DEAD_LETTER_LIMIT = 20;
export const MAX_DEAD_LETTER_LIMIT = 100;
/** Characters of an item's JSON the list shows. */
export const DEAD_LETTER_DATA_CHARS = 1_000;
/** The largest offset a page may start at (a safe integer the registry can take). */
const MAX_OFFSET = 1_000_000_000;

/** The item as JSON text, and whether it was cut. Never throws. */
export function previewJson(value: unknown, chars: number): { text: string; truncated: boolean } {
  let text: string;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);
  } catch {
    try {
      text = inspect(value, { depth: 4, breakLength: Infinity, maxStringLength: chars, maxArrayLength: 100 });
    } catch {
      text = `(${typeof value})`;
    }
  }
  if (text.length <= chars) return { text, truncated: false };
  // Not between the two halves of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text[chars - 1]!) ? chars - 1 : chars;
  return { text: text.slice(0, end), truncated: true };
}

export function toDashboardDeadLetters(queue: string, page: DeadLetterPage, offset: number, limit: number, showErrorStacks: boolean): DashboardDeadLetters {
  return { queue, total: page.total, offset, limit, items: page.items.map((item) => toDashboardDeadLetter(item, showErrorStacks)) };
}

function toDashboardDeadLetter(item: DeadLetter, showErrorStacks: boolean): DashboardDeadLetter {
  const { text, truncated } = previewJson(item.data, DEAD_LETTER_DATA_CHARS);
  const { name, message, stack } = item.error;
  return {
    id: item.id,
    attempts: item.attempts,
    failedAt: item.failedAt,
    error: showErrorStacks && stack !== undefined ? { name, message, stack } : { name, message },
    data: text,
    ...(truncated ? { dataTruncated: true as const } : {}),
  };
}

type Query = Record<string, unknown> | undefined;

/** `offset` and `limit` of the list's query string, checked: 400 (a `TypeError` here) for anything else. */
export function pageOf(route: string, query: Query): { offset: number; limit: number } {
  refuseUnknown(route, query, ['offset', 'limit']);
  return {
    offset: integer(route, query, 'offset', 0, MAX_OFFSET) ?? 0,
    limit: integer(route, query, 'limit', 1, MAX_DEAD_LETTER_LIMIT) ?? DEFAULT_DEAD_LETTER_LIMIT,
  };
}

function integer(route: string, query: Query, name: string, min: number, max: number): number | undefined {
  const given = query?.[name];
  if (given === undefined) return undefined;
  const value = typeof given === 'string' && /^\d{1,10}$/.test(given) ? Number(given) : NaN;
  if (!(value >= min && value <= max)) throw new TypeError(DASHBOARD_INVALID_QUERY(route, name, `an integer from ${min} to ${max}`, given));
  return value;
}

function refuseUnknown(route: string, given: Query, known: readonly string[]): void {
  for (const key of Object.keys(given ?? {})) if (!known.includes(key)) throw new TypeError(DASHBOARD_UNKNOWN_PARAMETER(route, key, known));
}

/**
 * The item id a post names, in its JSON (or form) body `{ "id": "…" }` or its query string `?id=…`,
 * or undefined when it names none (then the action is on every dead letter). Unknown keys are
 * refused, so that a misspelt `id` cannot turn "this one" into "all of them".
 */
export function idOf(route: string, body: unknown, query: Query, required: boolean): string | undefined {
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) throw new TypeError(DASHBOARD_INVALID_BODY(route, body));
  const fields = (body ?? {}) as Record<string, unknown>;
  refuseUnknown(route, fields, ['id']);
  refuseUnknown(route, query, ['id']);
  const fromBody = checkedId(route, 'body', fields.id);
  const fromQuery = checkedId(route, 'query', query?.id);
  if (fromBody !== undefined && fromQuery !== undefined && fromBody !== fromQuery) throw new TypeError(DASHBOARD_CONFLICTING_ID(route, fromBody, fromQuery));
  const id = fromBody ?? fromQuery;
  if (required && id === undefined) throw new TypeError(DASHBOARD_MISSING_ID(route));
  return id;
}

function checkedId(route: string, where: 'body' | 'query', value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) throw new TypeError(DASHBOARD_INVALID_ID(route, where, value));
  return value;
}
