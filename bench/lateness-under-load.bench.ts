/**
 * Figure 8 — tick lateness under load: `@Periodic(50)` against a plain `setInterval(fn, 50)` while
 * the event loop runs a 5 ms synchronous chunk every 10 ms. Every measurement in a process of its
 * own (lateness-under-load.case.ts); the two alternate, round by round.
 * BENCH_LATENESS_SECONDS (default 20) and BENCH_LATENESS_ROUNDS (default 3) shorten it for a quick check.
 */
import * as path from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { runInChild } from './bench-child.js';
import { fmt, median, percentile, table, type BenchResult } from './bench-result.js';
import { BUSY_MS, LOAD_EVERY_MS, PERIOD, type LatenessCase, type LatenessFigure } from './lateness-under-load.case.js';

const caseFile = path.join(repoRoot, 'bench', 'lateness-under-load.case.ts');
const SECONDS = Number(process.env.BENCH_LATENESS_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_LATENESS_ROUNDS ?? 3);

interface RoundStats {
  p50: number;
  p99: number;
  max: number;
  /** Lateness of the last tick minus that of the first. */
  drift: number;
  /** Least-squares slope of lateness over the tick index, times the ticks in the run: the drift a line through all ticks puts on the run. */
  fittedDrift: number;
  /** p99 of lateness with that line's slope taken out (the jitter without the drift). */
  p99Detrended: number;
  loadPercent: number;
  clockShiftMs: number;
}

function stats(f: LatenessFigure): RoundStats {
  const l = f.lateness;
  const n = l.length;
  const meanK = (n - 1) / 2;
  const meanL = l.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  l.forEach((v, k) => {
    num += (k - meanK) * (v - meanL);
    den += (k - meanK) ** 2;
  });
  const slope = den ? num / den : 0;
  return {
    p50: percentile(l, 50),
    p99: percentile(l, 99),
    max: Math.max(...l),
    drift: l[n - 1] - l[0],
    fittedDrift: slope * (n - 1),
    p99Detrended: percentile(l.map((v, k) => v - slope * k), 99),
    loadPercent: f.loadPercent,
    clockShiftMs: f.clockShiftMs,
  };
}

/** "median (min–max)" over the rounds. */
function spread(values: number[], digits = 2): string {
  return `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

export async function run(): Promise<BenchResult> {
  const cases: LatenessCase[] = ['periodic', 'setInterval'];
  const rounds: Record<LatenessCase, RoundStats[]> = { periodic: [], setInterval: [] };
  let ticks = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...cases].reverse() : cases;
    for (const which of order) {
      const figure = await runInChild<LatenessFigure>(caseFile, { LATENESS_CASE: which, LATENESS_SECONDS: String(SECONDS) });
      ticks = figure.lateness.length;
      rounds[which].push(stats(figure));
    }
  }
  const col = (which: LatenessCase, key: keyof RoundStats) => rounds[which].map((s) => s[key]);
  const cells = (which: LatenessCase) => (['p50', 'p99', 'max', 'drift', 'fittedDrift', 'p99Detrended'] as const).map((key) => spread(col(which, key)));
  const m = (which: LatenessCase, key: keyof RoundStats) => median(col(which, key));
  const periodicDrift = m('periodic', 'fittedDrift');
  const driftMet = Math.abs(periodicDrift) < 1;
  const p99Met = m('periodic', 'p99') <= m('setInterval', 'p99');
  const load = [...col('periodic', 'loadPercent'), ...col('setInterval', 'loadPercent')];
  const shifts = [...col('periodic', 'clockShiftMs'), ...col('setInterval', 'clockShiftMs')].map(Math.abs);
  return {
    title: '8. Tick lateness under load',
    method:
      `A ${PERIOD} ms schedule for ${SECONDS} s (${ticks} ticks) while a \`setInterval(…, ${LOAD_EVERY_MS})\` runs a ${BUSY_MS} ms ` +
      `synchronous busy loop (measured: the load kept the event loop busy ${fmt(Math.min(...load), 0)}–${fmt(Math.max(...load), 0)}% of the time). ` +
      'Lateness of a tick = its time (`performance.timeOrigin + performance.now()`) − its slot: `ctx.scheduledAt` for ' +
      `\`@Periodic\`, start + k·${PERIOD} ms for \`setInterval\`, so drift accumulates into it. Drift: lateness of the last tick ` +
      'minus the first, and the least-squares slope of lateness over the ticks times the run (the "fitted" drift); "detrended p99" ' +
      'takes that slope out. Each measurement in a Node process of its own, the two alternating; ' +
      `rounds: ${ROUNDS}; cells: median (min–max) over the rounds. The wall clock (\`scheduledAt\`) moved at most ` +
      `${fmt(Math.max(...shifts), 0)} ms against the monotonic clock during a run (Date.now resolution 1 ms).`,
    markdown: table(
      ['scheduler', 'p50 lateness (ms)', 'p99 lateness (ms)', 'max lateness (ms)', 'drift, last − first (ms)', 'drift, fitted (ms)', 'detrended p99 (ms)'],
      [
        [`plain \`setInterval(fn, ${PERIOD})\` (anchor)`, ...cells('setInterval')],
        [`\`@Periodic(${PERIOD})\``, ...cells('periodic')],
      ],
    ),
    targets: [
      {
        target: '`@Periodic` under load: no accumulated drift (fitted drift over the run within ±1 ms)',
        measured: `${fmt(periodicDrift)} ms over ${ticks} ticks (setInterval: ${fmt(m('setInterval', 'fittedDrift'))} ms); last − first ${fmt(m('periodic', 'drift'))} ms`,
        met: driftMet,
        gap: driftMet ? undefined : 'see the drift columns: each round is listed as min–max',
      },
      {
        target: '`@Periodic` p99 lateness under load no worse than `setInterval`\'s',
        measured: `${fmt(m('periodic', 'p99'))} ms vs ${fmt(m('setInterval', 'p99'))} ms (detrended: ${fmt(m('periodic', 'p99Detrended'))} vs ${fmt(m('setInterval', 'p99Detrended'))} ms)`,
        met: p99Met,
        gap: p99Met ? undefined : 'see the p99 columns: each round is listed as min–max',
      },
    ],
  };
}
