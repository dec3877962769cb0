import { PAYLOAD_NOT_JSON } from '../../distributed/redis.messages.js';

/**
 * BullMQ stores a job's data as JSON: whatever does not survive `JSON.parse(JSON.stringify(x))`
 * unchanged would reach the worker in another shape (a Date as a string, a Map as `{}`, NaN as
 * null) or fail deep inside BullMQ without naming the queue (a cycle, a BigInt). This finds the
 * first such value in one walk, so `enqueue` can refuse the item before any Redis round trip.
 *
 * Accepted: plain objects (prototype `Object.prototype` or `null`), arrays, strings, finite
 * numbers, booleans, `null`, and `undefined` as an object property (JSON leaves the key out, and
 * reading it back gives `undefined` again).
 */
export function assertJsonPayload(queue: string, item: unknown): void {
  if (item === undefined) throw new TypeError(PAYLOAD_NOT_JSON(queue, 'item', 'is undefined', 'pass null or a value'));
  if (survivesJson(item, [])) return; // every enqueue: one walk that builds no path
  const problem = walk(item, 'item', []);
  if (problem) throw new TypeError(PAYLOAD_NOT_JSON(queue, problem.path, problem.what, problem.fix));
}

/** True when `walk` would find no problem; the same rules without the paths (only a refused item pays for those). */
function survivesJson(value: unknown, ancestors: object[]): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (ancestors.includes(value)) return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    ancestors.push(value);
    for (let i = 0; i < value.length; i++) if (!survivesJson(value[i], ancestors)) return false;
    ancestors.pop();
    return true;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if ((proto !== Object.prototype && proto !== null) || Object.getOwnPropertySymbols(value).length > 0) return false;
  ancestors.push(value);
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (child !== undefined && !survivesJson(child, ancestors)) return false;
  }
  ancestors.pop();
  return true;
}

interface Problem {
  path: string;
  what: string;
  fix: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const keyPath = (path: string, key: string): string => (IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);

/** `value` is not undefined here; `ancestors` are the objects on the path to it (cycle detection). */
function walk(value: unknown, path: string, ancestors: object[]): Problem | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : { path, what: `is ${value}, which JSON turns into null`, fix: 'pass a finite number, or null (or a string such as "Infinity") on purpose' };
    case 'bigint':
      return { path, what: 'is a BigInt, which JSON cannot encode', fix: `pass it as a string (${path}.toString()) and BigInt(…) it in the worker` };
    case 'symbol':
      return { path, what: 'is a symbol, which JSON leaves out', fix: 'pass a string instead' };
    case 'function':
      return { path, what: 'is a function, which JSON leaves out', fix: 'pass data only, and let the worker hold the code' };
    case 'undefined':
      return { path, what: 'is undefined inside an array, which JSON turns into null', fix: 'pass null, or leave the element out' };
    default:
      break;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (ancestors.includes(object)) {
    return { path, what: 'refers back to an object that contains it (a cycle), which JSON cannot encode', fix: 'pass a tree: replace the back reference with an id' };
  }
  if (Array.isArray(object)) {
    if (Object.getPrototypeOf(object) !== Array.prototype) return classInstance(path, object);
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      const problem = walk(object[i], `${path}[${i}]`, ancestors);
      if (problem) return problem;
    }
    ancestors.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto !== Object.prototype && proto !== null) return classInstance(path, object);
  if (Object.getOwnPropertySymbols(object).length > 0) {
    return { path, what: 'has symbol keys, which JSON leaves out', fix: 'use string keys' };
  }
  ancestors.push(object);
  for (const key in object) {
    const child = (object as Record<string, unknown>)[key];
    if (child === undefined) continue; // left out by JSON, read back as undefined: the same
    const problem = walk(child, keyPath(path, key), ancestors);
    if (problem) return problem;
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
