/**
 * Figure 5a — in-memory queue throughput: 1,000,000 items through a static @QueueWorker at
 * concurrency 1 and 8, against p-queue with the same concurrency and a bare async loop over an
 * array; and peak memory with capacity 1,000 while a fast producer meets a slow consumer.
 *
 * Two ways of timing, each for the queue and for p-queue:
 * - drain: the items are queued before the clock starts (the worker paused through
 *   HostingRegistry, p-queue with autoStart false), as the bare loop's array is built before its
 *   clock starts: the rate at which the worker takes items through. The bare-loop target is
 *   judged on this like-for-like figure.
 * - end to end: enqueue and drain timed together (each `enqueue` returns a promise of the id).
 *
 * Every measurement runs in a fresh process (memory-queue.case.ts): in one process, p-queue's
 * million pending closures slowed whatever ran after them by up to half.
 */
import * as path from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { runInChild } from './bench-child.js';
import { fmt, median, table, type BenchResult } from './bench-result.js';
import type { MemoryFigure, QueueCase } from './memory-queue.case.js';

const ITEMS = 1_000_000;
const REPS = 5;
const caseFile = path.join(repoRoot, 'bench', 'memory-queue.case.ts');

async function measure(which: QueueCase): Promise<number> {
  const { rates } = await runInChild<{ rates: number[] }>(caseFile, { QUEUE_CASE: JSON.stringify(which) });
  return median(rates);
}

export async function run(): Promise<BenchResult> {
  const memory = await runInChild<MemoryFigure>(caseFile, { QUEUE_CASE: JSON.stringify({ kind: 'memory' } satisfies QueueCase) });
  const reps = REPS;
  const m = {
    bare: await measure({ kind: 'bare', reps }),
    pd1: await measure({ kind: 'p-queue', concurrency: 1, timing: 'drain', reps }),
    hd1: await measure({ kind: 'hosted', concurrency: 1, timing: 'drain', reps }),
    pd8: await measure({ kind: 'p-queue', concurrency: 8, timing: 'drain', reps }),
    hd8: await measure({ kind: 'hosted', concurrency: 8, timing: 'drain', reps }),
    pe1: await measure({ kind: 'p-queue', concurrency: 1, timing: 'end to end', reps }),
    he1: await measure({ kind: 'hosted', concurrency: 1, timing: 'end to end', reps }),
    pe8: await measure({ kind: 'p-queue', concurrency: 8, timing: 'end to end', reps }),
    he8: await measure({ kind: 'hosted', concurrency: 8, timing: 'end to end', reps }),
    hb: await measure({ kind: 'hosted', concurrency: 1, timing: 'end to end', capacity: 1_000, reps }),
  };
  const k = (rate: number) => `${fmt(rate / 1000, 0)}k`;
  const minVsP = Math.min(m.hd1 / m.pd1, m.hd8 / m.pd8, m.he1 / m.pe1, m.he8 / m.pe8);
  const vsBare = Math.min(m.hd1, m.hd8) / m.bare;
  const endToEndVsBare = Math.min(m.he1, m.he8) / m.bare;
  return {
    title: '5a. In-memory queue throughput and memory',
    method:
      `${ITEMS.toLocaleString()} items of an async no-op handler; each row is the median of ${reps} runs in a Node process of ` +
      'its own (no row pays for the garbage of another), a full GC before each clock starts. ' +
      '"Drain": the items are queued before the clock starts (the worker paused through `HostingRegistry`, p-queue with ' +
      '`autoStart: false`), as the bare loop\'s array is built before its clock starts; this like-for-like figure is the one ' +
      'the bare-loop target is judged on. "End to end": enqueueing is timed too; the queue is unbounded and filled without ' +
      'awaiting (as `p-queue.add` is); "bounded" awaits each `enqueue` into a queue of capacity 1,000. ' +
      'Memory: a producer of 1 KB items as fast as a capacity-1,000 `wait` queue takes them, four slow consumers (1 ms each), 5 s.',
    markdown:
      table(
        ['path', 'items/s', 'vs p-queue', 'vs bare loop'],
        [
          ['bare `for … await handle(item)` over an array (anchor)', k(m.bare), '', '1.00'],
          ['`p-queue`, concurrency 1, drain (anchor)', k(m.pd1), '1.00', fmt(m.pd1 / m.bare)],
          ['`@QueueWorker`, concurrency 1, drain', k(m.hd1), fmt(m.hd1 / m.pd1), fmt(m.hd1 / m.bare)],
          ['`p-queue`, concurrency 8, drain (anchor)', k(m.pd8), '1.00', fmt(m.pd8 / m.bare)],
          ['`@QueueWorker`, concurrency 8, drain', k(m.hd8), fmt(m.hd8 / m.pd8), fmt(m.hd8 / m.bare)],
          ['`p-queue`, concurrency 1, end to end (anchor)', k(m.pe1), '1.00', fmt(m.pe1 / m.bare)],
          ['`@QueueWorker`, concurrency 1, end to end', k(m.he1), fmt(m.he1 / m.pe1), fmt(m.he1 / m.bare)],
          ['`p-queue`, concurrency 8, end to end (anchor)', k(m.pe8), '1.00', fmt(m.pe8 / m.bare)],
          ['`@QueueWorker`, concurrency 8, end to end', k(m.he8), fmt(m.he8 / m.pe8), fmt(m.he8 / m.bare)],
          ['`@QueueWorker`, concurrency 1, bounded, end to end (await each enqueue)', k(m.hb), fmt(m.hb / m.pe1), fmt(m.hb / m.bare)],
        ],
      ) +
      `\n\nEnd to end (\`enqueue\` timed too, as a producer sees it): ${fmt(endToEndVsBare)}× the bare loop.` +
      `\n\nPeak RSS with capacity 1,000 (fast producer, slow consumer): ${fmt(memory.peakMb, 1)} MB from ${fmt(memory.baseMb, 1)} MB ` +
      `at the start, while ${memory.produced.toLocaleString()} items of 1 KB went through: bounded by the capacity.`,
    targets: [
      { target: 'at least as fast as p-queue (concurrency 1 and 8)', measured: `${fmt(minVsP)}× p-queue (the lowest of drain and end to end, both concurrencies)`, met: minVsP >= 1 },
      {
        target: 'at least half the rate of a bare async loop',
        measured: `${fmt(vsBare)}× the bare loop (drain, the lower of concurrency 1 and 8); end to end ${fmt(endToEndVsBare)}×`,
        met: vsBare >= 0.5,
        gap:
          vsBare >= 0.5
            ? undefined
            : 'per item the worker does what a loop does not: it takes the item from the channel, makes its JobContext and counts its status',
      },
      { target: 'memory bounded with capacity 1,000', measured: `peak RSS +${fmt(memory.peakMb - memory.baseMb, 1)} MB over ${memory.produced.toLocaleString()} items`, met: memory.peakMb - memory.baseMb < 100 },
    ],
  };
}
