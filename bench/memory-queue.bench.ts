/**
 * Figure 5a — in-memory queue throughput: a static @QueueWorker beside p-queue with the same
 * concurrency and the same handler body, and a bare `for … await handle(item)` loop over an array;
 * and peak memory with capacity 1,000 while a fast producer meets a slow consumer.
 *
 * - End to end (what a producer sees: enqueueing timed with the handling) at concurrency 1 and 8,
 *   with a no-op handler: the bare-loop target is judged on it; and the same with `tryEnqueue`
 *   (library only: p-queue has no such call), judged against the bare loop and the drain figure.
 * - Bounded: the producer awaits room before each item, into capacity 1,000 — `await enqueue` on
 *   the library's side, p-queue's own `await queue.onSizeLessThan(1000)` before each `add`.
 * - Drain (information): the items are queued before the clock starts.
 * - Yielding handlers (one `setImmediate`, one 1 ms timer) at concurrency 1 and 8: what the word
 *   concurrency promises, handlers that wait run side by side.
 *
 * Every measurement runs in a fresh process (memory-queue.case.ts); a round measures every case
 * once, in an order reversed every other round, so library and anchor alternate. Each row shows
 * the median and range over the rounds; ratios are per round (library and anchor of one round),
 * and targets are judged on their medians.
 */
import * as path from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { runInChild } from './bench-child.js';
import { SMOKE, fmt, median, sized, spread, table, type BenchResult } from './bench-result.js';
import { CAPACITY, type CaseRate, type MemoryFigure, type QueueCase, type Timing, type Work } from './memory-queue.case.js';

const ROUNDS = sized(5, 1);
/** More rounds of the three cases the bare-loop target is judged on (bare loop, library end to end at concurrency 1 and 8): cheap, and the noisiest ratio. */
const EXTRA_BARE_ROUNDS = sized(10, 1);
const NO_OP_ITEMS = sized(400_000, 2_000);
const BOUNDED_ITEMS = sized(200_000, 2_000);
const IMMEDIATE_ITEMS = sized(50_000, 200);
const TIMER_ITEMS = sized(2_000, 20);
const MEMORY_SECONDS = sized(5, 0.3);
const caseFile = path.join(repoRoot, 'bench', 'memory-queue.case.ts');

/** One row: the library and p-queue on the same case. */
interface Row {
  label: string;
  concurrency: number;
  timing: Timing;
  work: Work;
  items: number;
  /** Part of the "at least as fast as p-queue" target (the drain rows are information). */
  judged: boolean;
  /** False: p-queue has no counterpart (`tryEnqueue`); the row is judged against the bare loop only. */
  pQueue?: false;
}

const rows: Row[] = [
  { label: 'no-op, end to end', concurrency: 1, timing: 'end to end', work: 'no-op', items: NO_OP_ITEMS, judged: true },
  { label: 'no-op, end to end', concurrency: 8, timing: 'end to end', work: 'no-op', items: NO_OP_ITEMS, judged: true },
  { label: 'no-op, end to end, `tryEnqueue`', concurrency: 1, timing: 'try', work: 'no-op', items: NO_OP_ITEMS, judged: false, pQueue: false },
  { label: 'no-op, end to end, `tryEnqueue`', concurrency: 8, timing: 'try', work: 'no-op', items: NO_OP_ITEMS, judged: false, pQueue: false },
  { label: `no-op, bounded (await room, capacity ${CAPACITY.toLocaleString()})`, concurrency: 1, timing: 'bounded', work: 'no-op', items: BOUNDED_ITEMS, judged: true },
  { label: '`setImmediate` handler, end to end', concurrency: 1, timing: 'end to end', work: 'immediate', items: IMMEDIATE_ITEMS, judged: true },
  { label: '`setImmediate` handler, end to end', concurrency: 8, timing: 'end to end', work: 'immediate', items: IMMEDIATE_ITEMS, judged: true },
  // Bound by the timer on both sides (about 1 item per ms and lane): judged on the speed-up concurrency gives, not against p-queue.
  { label: '1 ms timer handler, end to end', concurrency: 1, timing: 'end to end', work: 'timer', items: TIMER_ITEMS, judged: false },
  { label: '1 ms timer handler, end to end', concurrency: 8, timing: 'end to end', work: 'timer', items: TIMER_ITEMS, judged: false },
  { label: 'no-op, drain (information)', concurrency: 1, timing: 'drain', work: 'no-op', items: NO_OP_ITEMS, judged: false },
  { label: 'no-op, drain (information)', concurrency: 8, timing: 'drain', work: 'no-op', items: NO_OP_ITEMS, judged: false },
];

const caseOf = (row: Row, kind: 'hosted' | 'p-queue'): QueueCase => ({ kind, concurrency: row.concurrency, timing: row.timing, work: row.work, items: row.items });
const bareCase: QueueCase = { kind: 'bare', items: NO_OP_ITEMS };

/** Runs `cases` (one process each; one process for all of them in the smoke run) and returns their results in order. */
async function measure(cases: QueueCase[]): Promise<Array<CaseRate | MemoryFigure>> {
  if (SMOKE) return (await runInChild<{ results: Array<CaseRate | MemoryFigure> }>(caseFile, { QUEUE_CASES: JSON.stringify(cases) })).results;
  const results: Array<CaseRate | MemoryFigure> = [];
  for (const which of cases) results.push(...(await runInChild<{ results: Array<CaseRate | MemoryFigure> }>(caseFile, { QUEUE_CASES: JSON.stringify([which]) })).results);
  return results;
}

/** Per-round values of a library / anchor pair. */
interface Measured {
  library: number[];
  anchor: number[];
  /** The library's first (cold) run in each process, no-op handler only. */
  libraryCold: number[];
}

const rowIndex = (timing: Timing, work: Work, concurrency: number) => rows.findIndex((r) => r.timing === timing && r.work === work && r.concurrency === concurrency);
const e2e1 = rowIndex('end to end', 'no-op', 1);
const e2e8 = rowIndex('end to end', 'no-op', 8);
const timer1 = rowIndex('end to end', 'timer', 1);
const timer8 = rowIndex('end to end', 'timer', 8);
const try1 = rowIndex('try', 'no-op', 1);
const try8 = rowIndex('try', 'no-op', 8);
const drain1 = rowIndex('drain', 'no-op', 1);
const drain8 = rowIndex('drain', 'no-op', 8);
/** The library cases that run the extra rounds beside the bare loop: what the bare-loop and drain-figure targets are judged on. */
const bareJudged = [e2e1, e2e8, try1, try8, drain1, drain8];

export async function run(): Promise<BenchResult> {
  const measured: Measured[] = rows.map(() => ({ library: [], anchor: [], libraryCold: [] }));
  const bare: number[] = [];
  const bareCold: number[] = [];
  const putBare = (r: CaseRate) => (bare.push(r.rate), bareCold.push(r.coldRate!));
  let refused = 0;
  const putLibrary = (i: number) => (r: CaseRate) => (
    measured[i].library.push(r.rate), r.coldRate !== undefined && measured[i].libraryCold.push(r.coldRate), (refused += r.refused ?? 0)
  );
  for (let round = 0; round < ROUNDS; round++) {
    // Every case once; the order reversed every other round, so that library and anchor alternate.
    const order: Array<{ which: QueueCase; put: (r: CaseRate) => void }> = [{ which: bareCase, put: putBare }];
    rows.forEach((row, i) => {
      if (row.pQueue !== false) order.push({ which: caseOf(row, 'p-queue'), put: (r) => measured[i].anchor.push(r.rate) });
      order.push({ which: caseOf(row, 'hosted'), put: putLibrary(i) });
    });
    if (round % 2 === 1) order.reverse();
    const results = await measure(order.map((o) => o.which));
    results.forEach((result, i) => order[i].put(result as CaseRate));
  }
  for (let round = 0; round < EXTRA_BARE_ROUNDS; round++) {
    // After the full rounds, so that the first ROUNDS values of every list are paired by round.
    const order: Array<{ which: QueueCase; put: (r: CaseRate) => void }> = [{ which: bareCase, put: putBare }];
    for (const i of bareJudged) order.push({ which: caseOf(rows[i], 'hosted'), put: putLibrary(i) });
    if (round % 2 === 0) order.reverse();
    const results = await measure(order.map((o) => o.which));
    results.forEach((result, i) => order[i].put(result as CaseRate));
  }
  const [memory] = (await measure([{ kind: 'memory', seconds: MEMORY_SECONDS }])) as MemoryFigure[];

  /** Per-round a ÷ b, over the rounds that measured both. */
  const ratios = (a: number[], b: number[]) => a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / b[i]);
  const vsAnchor = measured.map((m) => ratios(m.library, m.anchor));
  const vsBare = measured.map((m) => ratios(m.library, bare));
  const coldVsBare = (i: number) => ratios(measured[i].libraryCold, bareCold);
  const k = (values: number[]) => spread(values.map((v) => v / 1000), median(values) >= 10_000 ? 0 : 2);
  const speedUp = (side: keyof Measured) => ratios(measured[timer8][side], measured[timer1][side]);

  const judged = rows.map((row, i) => ({ row, ratio: median(vsAnchor[i]) })).filter((r) => r.row.judged);
  const lowest = judged.reduce((a, b) => (b.ratio < a.ratio ? b : a));
  const bare1 = median(vsBare[e2e1]);
  const bare8 = median(vsBare[e2e8]);
  const bareMet = Math.min(bare1, bare8) >= 0.5;
  const tryBare1 = median(vsBare[try1]);
  const tryBare8 = median(vsBare[try8]);
  const tryHalfMet = Math.min(tryBare1, tryBare8) >= 0.5;
  const allRounds = ROUNDS + EXTRA_BARE_ROUNDS;
  const perRound = (values: number[]) => values.map((v) => fmt(v)).join(', ');

  return {
    title: '5a. In-memory queue throughput and memory',
    method:
      `${ROUNDS} rounds; a round runs every case once, each in a Node process of its own (no case pays for the garbage or the JIT state ` +
      'of another), in an order reversed every other round, so that library and anchor alternate. In each process the case first runs ' +
      'untimed under one rule for every side (warm-up: with the no-op handler, full-size runs until at least three ran and a second ' +
      'passed, at most ten, so that the timed run is a warm process\'s, as in a server that has served a while; the first of them is ' +
      'kept as the cold figure; with the yielding handlers, one run of a tenth), then a full GC before the timed run. ' +
      `The cases the bare-loop targets are judged on (the bare loop; the library end to end with \`enqueue\` and with \`tryEnqueue\`, and drain, ` +
      `at concurrency 1 and 8) run ${EXTRA_BARE_ROUNDS} more rounds after those, ${allRounds} in all; the ratios to p-queue are over the ${ROUNDS} rounds that measured it. ` +
      'The library is a static `@QueueWorker` on the ' +
      'memory backend; the anchor is `p-queue` with the same concurrency and the same handler body, and, for the no-op handler, a bare ' +
      '`for … await handle(item)` loop over an array built before its clock starts. "End to end": the producer calls `enqueue` ' +
      '(`add`) for every item without awaiting, and the clock runs until the last item is handled. ' +
      '"End to end, `tryEnqueue`" (library only: p-queue has no such call) is the same with the producer calling `queue.tryEnqueue(i)` for ' +
      'every item into the unbounded queue (a call that returns false is counted and its item not waited for), judged per round against ' +
      'the bare loop like the end-to-end rows (issue 14 asked it to reach the drain figure\'s target, half the bare loop), and shown beside the drain rows\' ratio (information: ' +
      'a drain times the consumer only, end to end times the producer too). ' +
      '"Bounded": the producer awaits ' +
      `room before each item, \`await enqueue\` into capacity ${CAPACITY.toLocaleString()} (\`fullMode: 'wait'\`) beside p-queue's own ` +
      `\`await queue.onSizeLessThan(${CAPACITY})\` before each \`add\`. "Drain" (information): the items are queued before the clock starts ` +
      '(the worker paused through `HostingRegistry`, p-queue with `autoStart: false`). Handlers: an async no-op ' +
      `(${NO_OP_ITEMS.toLocaleString()} items; bounded ${BOUNDED_ITEMS.toLocaleString()}), one \`setImmediate\` ` +
      `(${IMMEDIATE_ITEMS.toLocaleString()} items), one 1 ms \`setTimeout\` (${TIMER_ITEMS.toLocaleString()} items). Cells: median ` +
      '(min–max) over the rounds; ratios are taken per round (library ÷ anchor of the same round) and every target is judged on the ' +
      `median of its per-round ratios. Memory: a producer of 1 KB items as fast as a capacity-${CAPACITY.toLocaleString()} \`wait\` queue ` +
      `takes them, four slow consumers (1 ms each), ${MEMORY_SECONDS} s.`,
    markdown:
      table(
        ['case', 'concurrency', '`@QueueWorker`, thousand items/s', '`p-queue` (anchor), thousand items/s', 'vs p-queue', 'vs bare loop'],
        [
          ['bare `for … await handle(item)` over an array, no-op (anchor)', 1, k(bare), '', '', '1.00'],
          ...rows.map((row, i) => [
            row.label,
            row.concurrency,
            k(measured[i].library),
            row.pQueue === false ? '' : k(measured[i].anchor),
            row.pQueue === false ? '' : spread(vsAnchor[i]),
            row.work === 'no-op' && row.timing !== 'bounded' ? spread(vsBare[i]) : '',
          ]),
        ],
      ) +
      `\n\nEnd to end (\`enqueue\` timed too, as a producer sees it), per-round ratio to the bare loop: concurrency 1 ${spread(vsBare[e2e1])}, ` +
      `concurrency 8 ${spread(vsBare[e2e8])}. The first run in each fresh process (cold JIT, not judged), ` +
      `per-round ratio of the library's first run to the bare loop's first run: concurrency 1 ${spread(coldVsBare(e2e1))}, concurrency 8 ${spread(coldVsBare(e2e8))}.` +
      `\n\nEnd to end with \`tryEnqueue\`, per-round ratio to the bare loop: concurrency 1 ${spread(vsBare[try1])}, concurrency 8 ${spread(vsBare[try8])}; ` +
      `drain, per-round ratio to the bare loop over the same ${allRounds} rounds: concurrency 1 ${spread(vsBare[drain1])}, concurrency 8 ${spread(vsBare[drain8])}; ` +
      `per-round ratio \`tryEnqueue\` ÷ \`enqueue\`, end to end: concurrency 1 ${spread(ratios(measured[try1].library, measured[e2e1].library))}, ` +
      `concurrency 8 ${spread(ratios(measured[try8].library, measured[e2e8].library))}. \`tryEnqueue\` calls that returned false, over every run: ${refused.toLocaleString()}.` +
      `\n\nConcurrency 8 ÷ concurrency 1 with the 1 ms timer handler (per round): \`@QueueWorker\` ${spread(speedUp('library'))}×, ` +
      `\`p-queue\` ${spread(speedUp('anchor'))}×.` +
      `\n\nPeak RSS with capacity ${CAPACITY.toLocaleString()} (fast producer, slow consumer): ${fmt(memory.peakMb, 1)} MB from ${fmt(memory.baseMb, 1)} MB ` +
      `at the start, while ${memory.produced.toLocaleString()} items of 1 KB went through.`,
    targets: [
      {
        target: 'at least as fast as p-queue (no-op end to end at concurrency 1 and 8, bounded beside `onSizeLessThan`, `setImmediate` handler at concurrency 1 and 8)',
        measured: `lowest median per-round ratio ${fmt(lowest.ratio, 3)}× p-queue (${lowest.row.label}, concurrency ${lowest.row.concurrency})`,
        met: lowest.ratio >= 1,
        gap: lowest.ratio >= 1 ? undefined : `per-round ratios of that case: ${perRound(vsAnchor[rows.indexOf(lowest.row)])}`,
      },
      {
        target: 'with a handler that waits 1 ms, concurrency 8 moves at least 7× the items of concurrency 1 (8 lanes at once)',
        measured: `${fmt(median(speedUp('library')))}× (p-queue: ${fmt(median(speedUp('anchor')))}×)`,
        met: median(speedUp('library')) >= 7,
        gap: median(speedUp('library')) >= 7 ? undefined : `per round: ${perRound(speedUp('library'))}`,
      },
      {
        target: 'at least half the rate of a bare `for … await` loop, end to end (enqueue included), concurrency 1 and 8',
        measured: `median per-round ratio ${fmt(bare1, 3)}× (concurrency 1), ${fmt(bare8, 3)}× (concurrency 8)`,
        met: bareMet,
        gap: bareMet ? undefined : `per-round ratios: concurrency 1 ${perRound(vsBare[e2e1])}; concurrency 8 ${perRound(vsBare[e2e8])}`,
      },
      {
        target: 'at least half the rate of a bare `for … await` loop, end to end with `tryEnqueue`, concurrency 1 and 8',
        measured: `median per-round ratio ${fmt(tryBare1, 3)}× (concurrency 1), ${fmt(tryBare8, 3)}× (concurrency 8)`,
        met: tryHalfMet,
        gap: tryHalfMet ? undefined : `per-round ratios: concurrency 1 ${perRound(vsBare[try1])}; concurrency 8 ${perRound(vsBare[try8])}`,
      },
      {
        target: `memory bounded with capacity ${CAPACITY.toLocaleString()}`,
        measured: `peak RSS +${fmt(memory.peakMb - memory.baseMb, 1)} MB over ${memory.produced.toLocaleString()} items`,
        met: memory.peakMb - memory.baseMb < 100,
      },
    ],
  };
}
