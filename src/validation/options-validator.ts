import { MAX_DURATION_MS } from '../hosting.constants.js';
import { INVALID_OPTION_AT, NOT_AN_OPTIONS_OBJECT, UNKNOWN_OPTION } from '../hosting.messages.js';

/** Bounds of a duration option, in milliseconds. */
export interface DurationRule {
  /** Smallest value accepted. @default 0 */
  min?: number;
  /** Zero refused (any positive value accepted). @default false */
  positive?: boolean;
  /** Largest value accepted. @default MAX_DURATION_MS (100 years) */
  max?: number;
}

/** True for a finite number of milliseconds within `rule`. */
export function isDuration(value: unknown, rule: DurationRule = {}): value is number {
  const { min = 0, max = MAX_DURATION_MS, positive = false } = rule;
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max && (!positive || value > 0);
}

/**
 * How a value from configuration binds to a number, as .NET's configuration binder does: a number
 * as is, or a string holding a finite decimal number (trimmed: `" 30000 "`, `"1.5"`, `"-2"`, `"1e3"`);
 * anything else (`""`, `"abc"`, `"1e400"`, `"0x10"`, `"12ms"`) is returned unchanged, so the check
 * that follows refuses it quoting the value as given.
 */
export function bindNumber(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) return value;
  const number = Number(text);
  return Number.isFinite(number) ? number : value;
}

/** How a value from configuration binds to a boolean: a boolean as is, or `"true"`/`"false"` (any case, trimmed). */
export function bindBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim().toLowerCase();
  return text === 'true' ? true : text === 'false' ? false : value;
}

/**
 * How values are read. `'code'`: as given (options written in TypeScript: a string where a number
 * belongs is a mistake). `'configuration'`: numbers and booleans may also be strings, bound as .NET
 * binds configuration (`bindNumber`, `bindBoolean`); what a `forRootAsync` factory returns from
 * `ConfigService` or `process.env`.
 */
export type OptionsSource = 'code' | 'configuration';

/** How a duration rule reads in a message: `a number of milliseconds from 1 to 3153600000000 (100 years)`. */
export function describeDuration(rule: DurationRule = {}): string {
  const { min = 0, max = MAX_DURATION_MS, positive = false } = rule;
  const upper = max === MAX_DURATION_MS ? `${max} (100 years)` : max === 2 ** 31 - 1 ? `${max} (2^31−1, Node's longest timer)` : String(max);
  return positive && min <= 0 ? `a positive number of milliseconds up to ${upper}` : `a number of milliseconds from ${min} to ${upper}`;
}

/** The known key closest to `key` (case-insensitive, edit distance), if one is close enough to be a typo. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Checks one options object of one entry point, so every entry point refuses bad input the same
 * way: a `TypeError` that names the entry point (`where`), the option and the value received, and
 * for an unknown key the closest known one. Each check returns the value (or undefined when unset).
 *
 * @example
 * ```ts
 * const check = OptionsValidator.for('HostingModule.forRoot', options, KNOWN_KEYS);
 * const shutdownTimeoutMs = check.duration('shutdownTimeoutMs') ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
 * ```
 */
export class OptionsValidator {
  private constructor(
    /** The entry point, as messages name it: `HostingModule.forRoot`, `@Periodic on Job.run`. */
    readonly where: string,
    private readonly options: Record<string, unknown>,
    /** Prefix of nested option names: `restart.` for `{ restart: { … } }`. */
    private readonly path: string,
    /** Whether numbers and booleans may be given as strings (configuration). */
    readonly source: OptionsSource,
  ) {}

  /**
   * Starts checking `options` (undefined means none were given). Refuses anything that is not a
   * plain object, and every key not in `known`. `source: 'configuration'` binds numeric and
   * boolean strings (see `OptionsSource`); the checks then return the bound values.
   */
  static for(where: string, options: unknown, known: readonly string[], path = '', source: OptionsSource = 'code'): OptionsValidator {
    if (options === undefined) return new OptionsValidator(where, {}, path, source);
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      if (path) throw new TypeError(INVALID_OPTION_AT(where, path.slice(0, -1), 'an object', options));
      throw new TypeError(NOT_AN_OPTIONS_OBJECT(where, options));
    }
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) {
        const closest = closestKey(key, known);
        throw new TypeError(UNKNOWN_OPTION(where, path + key, closest && path + closest, known.map((k) => path + k)));
      }
    }
    return new OptionsValidator(where, options as Record<string, unknown>, path, source);
  }

  /** The raw value of `key`. */
  get(key: string): unknown {
    return this.options[key];
  }

  /** Checks a nested options object (`restart: { … }`) the same way. */
  nested(key: string, known: readonly string[]): OptionsValidator {
    return OptionsValidator.for(this.where, this.options[key], known, `${this.path}${key}.`, this.source);
  }

  /** Throws the entry point's `TypeError` for `key`. */
  fail(key: string, expected: string, value: unknown = this.options[key]): never {
    throw new TypeError(INVALID_OPTION_AT(this.where, this.path + key, expected, value));
  }

  /** A value that passes `ok`, or unset. `bind`: how a configuration value is read first (the message quotes it as given). */
  check<V>(key: string, ok: (value: unknown) => boolean, expected: string, bind?: (value: unknown) => unknown): V | undefined {
    const given = this.options[key];
    const value = bind && this.source === 'configuration' ? bind(given) : given;
    if (value !== undefined && !ok(value)) this.fail(key, expected, given);
    return value as V | undefined;
  }

  /** A duration in milliseconds within `rule` (0 to 100 years by default), or unset. */
  duration(key: string, rule: DurationRule = {}): number | undefined {
    return this.check<number>(key, (v) => isDuration(v, rule), describeDuration(rule), bindNumber);
  }

  boolean(key: string): boolean | undefined {
    return this.check<boolean>(key, (v) => typeof v === 'boolean', 'a boolean', bindBoolean);
  }

  nonEmptyString(key: string): string | undefined {
    return this.check<string>(key, (v) => typeof v === 'string' && v.length > 0, 'a non-empty string');
  }

  positiveInteger(key: string): number | undefined {
    return this.check<number>(key, (v) => Number.isSafeInteger(v) && (v as number) > 0, 'a positive integer', bindNumber);
  }

  oneOf<V extends string>(key: string, values: readonly V[]): V | undefined {
    return this.check<V>(key, (v) => values.includes(v as V), `one of ${values.map((v) => `'${v}'`).join(', ')}`);
  }

  func<F>(key: string): F | undefined {
    return this.check<F>(key, (v) => typeof v === 'function', 'a function');
  }
}
