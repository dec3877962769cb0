import { PAYLOAD_NOT_JSON } from '../../distributed/redis.messages.js';
import { PG_PAYLOAD_NOT_JSON } from './bullmq-postgres.messages.js';

/**
 * BullMQ stores a job's data as JSON: whatever does not survive `JSON.parse(JSON.stringify(x))`
 * unchanged would reach the worker in another shape (a Date as a string, a Map as `{}`, NaN as
 * null) or fail deep inside BullMQ without naming the queue (a cycle, a BigInt). This finds the
 * first such value in one walk, so `enqueue` can refuse the item before any Redis round trip.
 *
 * Accepted: plain objects (prototype `Object.prototype` or `null`), arrays, strings, finite
 * numbers, booleans, `null`, and `undefined` as an object property (JSON leaves the key out, and
 * reading it back gives `undefined` again). `root` names the item in the message (`items[3]` for a batch).
 *
 * `postgres`: BullMQ's PostgreSQL backend keeps the item as `jsonb`, which also refuses text with a
 * NUL character or a lone UTF-16 surrogate (in values and keys), and hands an item that is `null`
 * itself to the worker as `{}` (a `null` inside an item is kept). jsonb does not keep the order of
 * an object's keys either (the worker gets equal data, keys sorted); that is not refused.
 */
export function assertJsonPayload(queue: string, item: unknown, root = 'item', postgres = false): void {
  const message = postgres ? PG_PAYLOAD_NOT_JSON : PAYLOAD_NOT_JSON;
  if (item === undefined) throw new TypeError(message(queue, root, 'is undefined', postgres ? 'pass a value' : 'pass null or a value'));
  if (item === null && postgres) throw new TypeError(message(queue, root, "is null, which BullMQ's PostgreSQL backend hands to the worker as {}", 'wrap it ({ value: null }) or pass another value'));
  const problem = walk(item, [], [], root, postgres);
  if (problem) throw new TypeError(message(queue, problem.path, problem.what, problem.fix));
}

/** A UTF-16 surrogate without its other half (code units, no `u` flag). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/;

/** What jsonb refuses in a string (a value, or a key when `key`), or undefined. */
function textProblem(text: string, path: string, key: boolean): Problem | undefined {
  const what = key ? 'has a key that contains' : 'contains';
  if (text.includes('\u0000')) return { path, what: `${what} a NUL character (\\u0000), which PostgreSQL's jsonb cannot store`, fix: 'remove it, or pass the text encoded (base64)' };
  if (LONE_SURROGATE.test(text)) return { path, what: `${what} a lone UTF-16 surrogate, which PostgreSQL's jsonb refuses`, fix: 'pass well-formed text (text.toWellFormed())' };
  return undefined;
}

interface Problem {
  path: string;
  what: string;
  fix: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The path of the value `keys` lead to from the item, as code would write it: `item.lines[2]["unit price"]`. */
function pathOf(keys: ReadonlyArray<string | number>, root: string): string {
  let path = root;
  for (const key of keys) path += typeof key === 'number' ? `[${key}]` : IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return path;
}

/**
 * `value` is not undefined here; `keys` lead to it from the item and `ancestors` are the objects on
 * the way (cycle detection). Both are pushed and popped as it goes, and the path is written only for
 * a value it refuses: every enqueue walks its item, few are refused.
 */
function walk(value: unknown, keys: Array<string | number>, ancestors: object[], root: string, postgres: boolean): Problem | undefined {
  switch (typeof value) {
    case 'string':
      return postgres ? textProblem(value, pathOf(keys, root), false) : undefined;
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : { path: pathOf(keys, root), what: `is ${value}, which JSON turns into null`, fix: 'pass a finite number, or null (or a string such as "Infinity") on purpose' };
    case 'bigint': {
      const path = pathOf(keys, root);
      return { path, what: 'is a BigInt, which JSON cannot encode', fix: `pass it as a string (${path}.toString()) and BigInt(…) it in the worker` };
    }
    case 'symbol':
      return { path: pathOf(keys, root), what: 'is a symbol, which JSON leaves out', fix: 'pass a string instead' };
    case 'function':
      return { path: pathOf(keys, root), what: 'is a function, which JSON leaves out', fix: 'pass data only, and let the worker hold the code' };
    case 'undefined':
      return { path: pathOf(keys, root), what: 'is undefined inside an array, which JSON turns into null', fix: 'pass null, or leave the element out' };
    default:
      break;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (ancestors.includes(object)) {
    return { path: pathOf(keys, root), what: 'refers back to an object that contains it (a cycle), which JSON cannot encode', fix: 'pass a tree: replace the back reference with an id' };
  }
  if (Array.isArray(object)) {
    if (Object.getPrototypeOf(object) !== Array.prototype) return classInstance(pathOf(keys, root), object);
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      keys.push(i);
      const problem = walk(object[i], keys, ancestors, root, postgres);
      if (problem) return problem;
      keys.pop();
    }
    ancestors.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto !== Object.prototype && proto !== null) return classInstance(pathOf(keys, root), object);
  if (Object.getOwnPropertySymbols(object).length > 0) {
    return { path: pathOf(keys, root), what: 'has symbol keys, which JSON leaves out', fix: 'use string keys' };
  }
  ancestors.push(object);
  for (const key in object) {
    const child = (object as Record<string, unknown>)[key];
    if (child === undefined) continue; // left out by JSON, read back as undefined: the same
    keys.push(key);
    const problem = (postgres ? textProblem(key, pathOf(keys, root), true) : undefined) ?? walk(child, keys, ancestors, root, postgres);
    if (problem) return problem;
    keys.pop();
  }
  ancestors.pop();
  return undefined;
}

function classInstance(path: string, value: object): Problem {
  if (value instanceof Date) {
    return { path, what: 'is a Date, which JSON turns into a string', fix: `pass ${path}.toISOString() and new Date(…) it in the worker` };
  }
  if (value instanceof Map) {
    return { path, what: 'is a Map, which JSON turns into {}', fix: `pass Object.fromEntries(${path}) (string keys) or [...${path}] (entries)` };
  }
  if (value instanceof Set) return { path, what: 'is a Set, which JSON turns into {}', fix: `pass [...${path}]` };
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return { path, what: 'is binary data, which JSON does not keep as such', fix: `pass it as a base64 string (Buffer.from(…).toString('base64'))` };
  }
  let name = 'an object with a prototype';
  try {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof ctor === 'string' && ctor) name = `${/^[AEIOU]/.test(ctor) ? 'an' : 'a'} ${ctor} instance`;
  } catch {
    // a getter that throws: keep the generic name
  }
  return {
    path,
    what: `is ${name}, which JSON turns into a plain object without its prototype (methods, getters and class identity are lost)`,
    fix: 'pass a plain object with the data (e.g. { ...value } or a DTO) and rebuild the instance in the worker',
  };
}
