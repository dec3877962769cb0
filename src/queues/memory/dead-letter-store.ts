import { toError } from '../../errors/thrown-value.js';
import type { DeadLetter, DeadLetterPage, RetentionOptions } from '../../interfaces/queue-options.interface.js';
import type { TimeProvider } from '../../time/time-provider.js';
import type { ItemOptions } from '../queue-backend.interface.js';

/** Dead letters a memory queue keeps unless its `deadLetters` option says otherwise. */
export const DEFAULT_MEMORY_DEAD_LETTERS = 1000;

/** A dead letter as the memory backend keeps it: what `deadLetters` lists, and what `redrive` needs to put it back. */
export interface DeadLetterRecord<T> extends DeadLetter<T> {
  headers?: Readonly<Record<string, string>>;
  itemOptions?: ItemOptions;
}

/**
 * A memory queue's dead letters (items that failed their last try), oldest first in an array: the
 * newest `count` are kept (default 1000), and with `ageMs` only those younger than it (by the wall
 * clock of the host's `TimeProvider`, checked as the store is used). `onLetGo` hears of each letter
 * the bounds push out (its id is free again).
 */
export class DeadLetterStore<T> {
  private letters: DeadLetterRecord<T>[] = [];
  private readonly count: number;
  private readonly ageMs: number | undefined;

  constructor(
    retention: RetentionOptions,
    private readonly time: TimeProvider,
    private readonly onLetGo: (letter: DeadLetterRecord<T>) => void,
  ) {
    this.ageMs = retention.ageMs;
    // Only an age given: bounded by age alone (as BullMQ's removeOnFail { age }).
    this.count = retention.count ?? (retention.ageMs !== undefined ? Infinity : DEFAULT_MEMORY_DEAD_LETTERS);
  }

  /** Dead letters kept now. */
  get size(): number {
    this.prune();
    return this.letters.length;
  }

  /** Keeps a failed item; `thrown` is normalised to `{ name, message, stack }`. */
  add(
    id: string,
    data: T,
    thrown: unknown,
    attempts: number,
    headers: Readonly<Record<string, string>> | undefined,
    itemOptions: ItemOptions | undefined,
  ): void {
    const error = toError(thrown);
    this.letters.push({
      id,
      data,
      error: { name: error.name, message: error.message, ...(error.stack !== undefined && { stack: error.stack }) },
      attempts,
      failedAt: new Date(this.time.now()),
      ...(headers !== undefined && { headers }),
      ...(itemOptions !== undefined && { itemOptions }),
    });
    this.prune();
  }

  /** A page, newest first, with the total kept. */
  page(offset: number, limit: number): DeadLetterPage<T> {
    this.prune();
    const letters = this.letters;
    const items: DeadLetter<T>[] = [];
    for (let i = letters.length - 1 - offset; i >= 0 && items.length < limit; i--) {
      const { id, data, error, attempts, failedAt } = letters[i];
      items.push({ id, data, error: { ...error }, attempts, failedAt: new Date(failedAt.getTime()) });
    }
    return { total: letters.length, items };
  }

  /** Whether a dead letter of this id is kept. */
  has(id: string): boolean {
    return this.letters.some((letter) => letter.id === id);
  }

  /** Removes and returns the letter `id` (none when unknown), or every letter (oldest first) when `id` is undefined. */
  take(id?: string): DeadLetterRecord<T>[] {
    this.prune();
    if (id === undefined) return this.letters.splice(0);
    const index = this.letters.findIndex((letter) => letter.id === id);
    return index < 0 ? [] : this.letters.splice(index, 1);
  }

  /** Puts back letters `take` returned (a redrive that could not finish), in order of failure. */
  restore(letters: readonly DeadLetterRecord<T>[]): void {
    if (letters.length === 0) return;
    this.letters = [...letters, ...this.letters].sort((a, b) => a.failedAt.getTime() - b.failedAt.getTime());
    this.prune();
  }

  /** Lets go of the letters past the bounds, oldest first. */
  private prune(): void {
    const letters = this.letters;
    let over = letters.length - this.count;
    if (this.ageMs !== undefined) {
      const oldestKept = this.time.now() - this.ageMs;
      let aged = 0;
      while (aged < letters.length && letters[aged].failedAt.getTime() <= oldestKept) aged++;
      over = Math.max(over, aged);
    }
    if (over <= 0) return;
    for (const letter of letters.splice(0, over)) this.onLetGo(letter);
  }
}
