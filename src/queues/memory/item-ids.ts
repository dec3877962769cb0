import type { TimeProvider } from '../../time/time-provider.js';

/** One id given at enqueue: whether its item is still in the queue, and until when `idTtlMs` holds it anyway (monotonic ms). */
interface IdHold {
  live: boolean;
  until: number;
}

/** Entries kept before the first sweep of expired ones. */
const FIRST_SWEEP = 64;

/**
 * The ids given at enqueue (`EnqueueOptions.id`) of a memory queue, for deduplication: an id is taken
 * while its item waits, is delayed, runs, waits to retry or lies among the dead letters (`live`), and
 * with `idTtlMs` also until that long after its enqueue (on the host's monotonic clock). Ids whose hold
 * ran out are swept when the map has doubled since the last sweep (no timer per id).
 */
export class ItemIds {
  private readonly holds = new Map<string, IdHold>();
  private sweepAt = FIRST_SWEEP;

  constructor(private readonly time: TimeProvider) {}

  /** Ids held now (live or within their time to live). */
  get size(): number {
    return this.holds.size;
  }

  /** Takes `id` for a new item and returns true, or returns false when it is taken (the enqueue is a duplicate). */
  claim(id: string, ttlMs: number | undefined): boolean {
    const hold = this.holds.get(id);
    if (hold !== undefined && (hold.live || hold.until > this.time.monotonic())) return false;
    this.holds.set(id, { live: true, until: ttlMs === undefined ? 0 : this.time.monotonic() + ttlMs });
    if (this.holds.size >= this.sweepAt) this.sweep();
    return true;
  }

  /** The enqueue that claimed `id` did not get its item in (full, closed, aborted): as if it never came. */
  unclaim(id: string): void {
    this.holds.delete(id);
  }

  /** Whether an item of `id` is still in the queue. */
  isLive(id: string): boolean {
    return this.holds.get(id)?.live === true;
  }

  /** The item of `id` left the queue (completed, cancelled, discarded, evicted): free, unless its time to live holds it. */
  release(id: string): void {
    const hold = this.holds.get(id);
    if (hold === undefined) return;
    if (hold.until > this.time.monotonic()) hold.live = false;
    else this.holds.delete(id);
  }

  private sweep(): void {
    const now = this.time.monotonic();
    for (const [id, hold] of this.holds) if (!hold.live && hold.until <= now) this.holds.delete(id);
    this.sweepAt = Math.max(FIRST_SWEEP, this.holds.size * 2);
  }
}
