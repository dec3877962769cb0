import type { LoggerService } from '@nestjs/common';
import { errorMessage } from '../errors/thrown-value.js';
import { stackOf } from '../hosting.messages.js';
import { REDIS_ERROR, REDIS_ERROR_REPEATED } from './redis.messages.js';

/** How often repeats of one error are summed up in one log line. */
export const ERROR_LOG_INTERVAL_MS = 10_000;
/** Distinct errors tracked at once; more are summed up together. */
const MAX_DISTINCT = 20;
const OTHERS = '(other errors)';

interface Seen {
  error: unknown;
  count: number;
  timer: NodeJS.Timeout;
}

/**
 * Logs Redis errors at a bounded rate, whatever rate they come at: the first occurrence of an
 * error is logged at once (with its stack); repeats within the next interval are only counted,
 * and summed up in one line at its end (`… happened 1234 more times in the last 10 s: …`).
 * Errors are told apart by name and message, digits ignored (job ids, ports, counts).
 */
export class ErrorLogThrottle {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly logger: LoggerService,
    /** Who is affected, e.g. `Queue "emails" (bullmq) worker`. */
    private readonly subject: string,
    private readonly intervalMs = ERROR_LOG_INTERVAL_MS,
  ) {}

  report(error: unknown): void {
    let key = keyOf(error);
    if (!this.seen.has(key) && this.seen.size >= MAX_DISTINCT) key = OTHERS;
    const entry = this.seen.get(key);
    if (entry) {
      entry.count++;
      entry.error = error;
      return;
    }
    this.logger.error(REDIS_ERROR(this.subject, error), stackOf(error));
    const timer = setInterval(() => this.flush(key), this.intervalMs);
    timer.unref();
    this.seen.set(key, { error, count: 0, timer });
  }

  /** Logs the repeats counted so far and stops the timers. */
  dispose(): void {
    for (const key of [...this.seen.keys()]) this.flush(key, true);
  }

  private flush(key: string, last = false): void {
    const entry = this.seen.get(key);
    if (!entry) return;
    if (entry.count > 0) this.logger.error(REDIS_ERROR_REPEATED(this.subject, entry.error, entry.count, this.intervalMs));
    if (entry.count === 0 || last) {
      clearInterval(entry.timer);
      this.seen.delete(key);
    } else {
      entry.count = 0;
    }
  }
}

function keyOf(error: unknown): string {
  let name: string;
  try {
    const raw = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : typeof error;
    name = typeof raw === 'string' ? raw : '';
  } catch {
    name = 'object';
  }
  return `${name}: ${errorMessage(error)}`.replace(/\d+/g, '#').slice(0, 300);
}
