/**
 * `npm run bench`: runs every bench/*.bench.ts in a child process of its own (one at a time, so
 * they do not disturb each other), prints each table, and rewrites BENCHMARKS.md.
 * Contract of a bench file: bench/bench-result.ts. `npm run bench -- schedule` runs the files
 * whose name contains "schedule" and leaves BENCHMARKS.md alone; `npm run bench -- --write idle lateness`
 * runs those whose name contains "idle" or "lateness" and puts their sections in BENCHMARKS.md,
 * keeping the others (bench/benchmarks-merge.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runInChild } from './bench-child.js';
import { SMOKE, type BenchResult } from './bench-result.js';
import { repoRoot } from '../test/support/paths.js';
import { reliabilitySection } from './soak-section.js';
import { byTitle, gapLine, mergeResults, targetRow } from './benchmarks-merge.js';

const benchDir = path.join(repoRoot, 'bench');
const write = process.argv.includes('--write');
const filter = process.argv.slice(2).filter((arg) => arg !== '--write');

/** Where the run writes: BENCHMARKS.md, or BENCHMARKS_FILE (the test suite's smoke run writes to a temporary file). */
const benchmarksFile = process.env.BENCHMARKS_FILE ?? path.join(repoRoot, 'BENCHMARKS.md');

const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');

function machine(loadAtStart: string): string {
  const cpu = os.cpus();
  const nestCore = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', '@nestjs', 'core', 'package.json'), 'utf8')).version;
  const schedule = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', '@nestjs', 'schedule', 'package.json'), 'utf8')).version;
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores; memory ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${os.type()} ${os.release()}`,
    `- Node ${process.version}; @nestjs/core ${nestCore}; @nestjs/schedule ${schedule} (anchor)`,
    `- Load average (1, 5, 15 min): ${loadAtStart} at the start of the run, ${loadAverage()} at its end`,
  ].join('\n');
}

async function main(): Promise<void> {
  const files = fs
    .readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts') && (filter.length === 0 || filter.some((word) => f.includes(word))))
    .sort();
  const results: BenchResult[] = [];
  const failures: string[] = [];
  const t0 = Date.now();
  const loadAtStart = loadAverage();
  for (const file of files) {
    process.stdout.write(`\n## ${file}\n`);
    const started = Date.now();
    try {
      const result = await runInChild<BenchResult>(path.join(benchDir, file));
      results.push(result);
      process.stdout.write(`${result.markdown}\n(${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    } catch (error) {
      failures.push(`${file}: ${(error as Error).message}`);
      process.stdout.write(`FAILED: ${(error as Error).message}\n`);
    }
  }
  results.sort((a, b) => byTitle(a.title, b.title));
  const targets = results.flatMap((r) => r.targets.map((t) => ({ ...t, section: r.title })));
  const md = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts). Each figure is measured in the same run as its anchor, beside the best',
    'hand-written code where there is one, and read as a difference or a ratio: absolute numbers vary from run to run and',
    'machine to machine. Every bench file runs in a process of its own. Each section states its rounds; a cell written',
    '"median (min–max)" is the median of the rounds and their range, and each target says which figure it is judged on.',
    '',
    ...(SMOKE ? ['**Smoke run (BENCH_SMOKE=1): tiny sizes, only to show that every bench still runs; its figures mean nothing.**', ''] : []),
    machine(loadAtStart),
    `- Whole run: ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    '',
    '## Targets',
    '',
    '| figure | target | measured | met |',
    '| --- | --- | --- | --- |',
    ...targets.map(targetRow),
    '',
    ...(targets.some((t) => !t.met)
      ? ['### Gaps', '', ...targets.filter((t) => !t.met).map(gapLine), '']
      : []),
    ...results.flatMap((r) => [`## ${r.title}`, '', r.method, '', r.markdown, '']),
    ...(failures.length ? ['## Failed benches', '', ...failures.map((f) => `- ${f.split('\n')[0]}`), ''] : []),
  ].join('\n');
  if (filter.length === 0) {
    // The "## Reliability" section is `npm run soak`'s (bench/soak.ts): kept as it was.
    const file = benchmarksFile;
    const reliability = fs.existsSync(file) ? reliabilitySection(fs.readFileSync(file, 'utf8')) : undefined;
    fs.writeFileSync(file, reliability ? `${md.trimEnd()}\n\n${reliability}` : md);
  } else if (write && results.length) {
    const file = benchmarksFile;
    const note = `- Sections written by a partial run (\`npm run bench -- --write ${filter.join(' ')}\`, ${new Date().toISOString()}, ${((Date.now() - t0) / 1000).toFixed(0)} s): ${results.map((r) => r.title).join('; ')}`;
    fs.writeFileSync(file, mergeResults(fs.readFileSync(file, 'utf8'), results, note));
    process.stdout.write(`\n(a filtered run with --write: ${results.map((r) => r.title).join('; ')} put in BENCHMARKS.md, the other sections kept)\n`);
  } else process.stdout.write('\n(a filtered run: BENCHMARKS.md left as it was; add --write to put its sections in)\n');
  process.stdout.write(`\n${targets.map((t) => `${t.met ? 'MET ' : 'GAP '} ${t.section}: ${t.target} — ${t.measured}`).join('\n')}\n`);
  if (failures.length) process.exitCode = 1;
}

void main();
