import { IndexedHeap } from './indexed-heap.js';

/** A prioritized item as `RankedItems` holds it: in the heap (by priority, then arrival) and in the list of arrival. */
interface RankedEntry<T> {
  readonly item: T;
  readonly tag: number;
  readonly priority: number;
  /** Arrival order among ranked items: first in, first out within one priority. */
  readonly seq: number;
  /** Where the entry sits in the heap. */
  index: number;
  older: RankedEntry<T> | undefined;
  newer: RankedEntry<T> | undefined;
}

const before = <T>(a: RankedEntry<T>, b: RankedEntry<T>): boolean => a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);

/**
 * The prioritized items of a `MemoryChannel`: lower priority first, first in first out within one
 * priority (a binary heap, O(log n)), and also linked in arrival order so that the longest waiting
 * and the most recently written item are at hand for the drop modes (O(1) to find, O(log n) to take).
 * Only items written with a priority live here; the channel's plain items never touch it.
 */
export class RankedItems<T> {
  private readonly heap = new IndexedHeap<RankedEntry<T>>(before);
  private oldest: RankedEntry<T> | undefined;
  private newest: RankedEntry<T> | undefined;
  private seq = 0;

  get length(): number {
    return this.heap.length;
  }

  /** The tag of the item `shift` takes next; check `length > 0` first. */
  get headTag(): number {
    return this.heap.peek().tag;
  }

  /** The tag of the longest-waiting item; check `length > 0` first. */
  get oldestTag(): number {
    return this.oldest!.tag;
  }

  /** The tag of the most recently written item; check `length > 0` first. */
  get newestTag(): number {
    return this.newest!.tag;
  }

  push(item: T, tag: number, priority: number): void {
    const entry: RankedEntry<T> = { item, tag, priority, seq: this.seq++, index: 0, older: this.newest, newer: undefined };
    if (this.newest === undefined) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
    this.heap.push(entry);
  }

  /** Takes the first item (lowest priority number, then earliest); check `length > 0` first. */
  shift(): T {
    return this.remove(this.heap.peek());
  }

  /** Takes the longest-waiting item, whatever its priority; check `length > 0` first. */
  takeOldest(): T {
    return this.remove(this.oldest!);
  }

  /** Takes the most recently written item; check `length > 0` first. */
  takeNewest(): T {
    return this.remove(this.newest!);
  }

  /** Takes the longest-waiting item that `match` accepts, if any (O(n)). */
  removeWhere(match: (item: T, tag: number) => boolean): { item: T; tag: number } | undefined {
    for (let entry = this.oldest; entry !== undefined; entry = entry.newer) {
      if (match(entry.item, entry.tag)) {
        this.remove(entry);
        return { item: entry.item, tag: entry.tag };
      }
    }
    return undefined;
  }

  /** Takes every item, in the order `shift` would have. */
  takeAll(): T[] {
    const all = this.heap.takeAll();
    this.oldest = this.newest = undefined;
    return all.map((entry) => entry.item);
  }

  private remove(entry: RankedEntry<T>): T {
    if (entry.older === undefined) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
    this.heap.remove(entry);
    return entry.item;
  }
}
