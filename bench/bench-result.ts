/**
 * The contract between a bench file and the runner (bench/run.ts): every `bench/*.bench.ts`
 * exports `run(): Promise<BenchResult>`; the runner calls it in a child process of its own.
 */
export interface BenchTarget {
  /** The target as the issue states it, e.g. "@Periodic last-tick lateness < 2 ms". */
  target: string;
  /** What this run measured, e.g. "0.4 ms". */
  measured: string;
  met: boolean;
  /** When not met: what else this run measured that shows the gap (per-round values); never an explanation the run did not measure. */
  gap?: string;
}

export interface BenchResult {
  /** Section title in BENCHMARKS.md. */
  title: string;
  /** How it was measured, one paragraph. */
  method: string;
  /** Markdown table(s) of the figures, each beside its anchor. */
  markdown: string;
  targets: BenchTarget[];
}

/** A markdown table from rows of cells. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

export const fmt = (n: number, digits = 2): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** "median (min–max)" of per-round values: how every row states its spread. */
export function spread(values: number[], digits = 2): string {
  if (values.length === 1) return fmt(values[0], digits);
  return `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

/**
 * True in the test suite's smoke run (test/bench/bench-smoke.spec.ts sets BENCH_SMOKE=1): every
 * bench file runs its whole code path with tiny sizes, so that it cannot rot; its figures mean nothing.
 */
export const SMOKE = process.env.BENCH_SMOKE === '1';

/** `full` in a real run, `smoke` in the smoke run. */
export const sized = <T>(full: T, smoke: T): T => (SMOKE ? smoke : full);
