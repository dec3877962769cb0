/** An entry of an `IndexedHeap`: it knows where it sits, so that any entry can be removed in O(log n). */
export interface HeapEntry {
  index: number;
}

/**
 * A binary min-heap of entries ordered by `before`, each keeping its own position (`index`), so that
 * an entry found by other means (a cancel, a drop mode) leaves it in O(log n). The memory backend's
 * delayed items and prioritized items use it.
 */
export class IndexedHeap<E extends HeapEntry> {
  private readonly entries: E[] = [];

  constructor(private readonly before: (a: E, b: E) => boolean) {}

  get length(): number {
    return this.entries.length;
  }

  /** The first entry; check `length > 0` first. */
  peek(): E {
    return this.entries[0];
  }

  push(entry: E): void {
    entry.index = this.entries.length;
    this.entries.push(entry);
    this.up(entry.index);
  }

  /** Removes `entry` (which must be in the heap). */
  remove(entry: E): void {
    const heap = this.entries;
    const last = heap.pop()!;
    if (last === entry) return;
    heap[entry.index] = last;
    last.index = entry.index;
    this.down(last.index);
    this.up(last.index);
  }

  /** The first entry, in heap (array) order, that `match` accepts (O(n)). */
  find(match: (entry: E) => boolean): E | undefined {
    return this.entries.find(match);
  }

  /** Removes every entry and returns them in order. */
  takeAll(): E[] {
    return this.entries.splice(0).sort((a, b) => (this.before(a, b) ? -1 : 1));
  }

  private up(index: number): void {
    const heap = this.entries;
    const entry = heap[index];
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex];
      if (!this.before(entry, parent)) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = entry;
    entry.index = index;
  }

  private down(index: number): void {
    const heap = this.entries;
    const entry = heap[index];
    const length = heap.length;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && this.before(heap[child + 1], heap[child])) child++;
      if (!this.before(heap[child], entry)) break;
      heap[index] = heap[child];
      heap[index].index = index;
      index = child;
    }
    heap[index] = entry;
    entry.index = index;
  }
}
