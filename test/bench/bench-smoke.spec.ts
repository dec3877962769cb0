/**
 * `npm run bench` cannot rot: the whole runner (bench/run.ts) with every bench/*.bench.ts, each
 * in its own process with tiny sizes (BENCH_SMOKE=1), writing to a temporary file instead of
 * BENCHMARKS.md. Its figures mean nothing; what is checked is that every bench runs to the end
 * and hands in a complete section: its method, its table, and targets each with what was measured.
 *
 * The benches run on Nest 11 whatever the test run's major (bench/bench-child.ts), so this runs
 * in the Nest 11 run only.
 */
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths.js';

const describeNest11 = process.env.NEST_MAJOR === '12' ? describe.skip : describe;

jest.setTimeout(600_000);

function runBench(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'bench.mjs')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describeNest11('npm run bench, smoke run (BENCH_SMOKE=1)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  const out = path.join(dir, 'BENCHMARKS.md');
  const real = path.join(repoRoot, 'BENCHMARKS.md');
  let run: { code: number | null; output: string };
  let written: string;
  let realBefore: string;

  beforeAll(async () => {
    realBefore = fs.readFileSync(real, 'utf8');
    run = await runBench({ BENCH_SMOKE: '1', BENCHMARKS_FILE: out });
    written = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs every bench file to the end and writes where it is told, not BENCHMARKS.md', () => {
    expect({ code: run.code, tail: run.code === 0 ? '' : run.output.slice(-4_000) }).toEqual({ code: 0, tail: '' });
    expect(written).not.toContain('## Failed benches');
    expect(fs.readFileSync(real, 'utf8')).toBe(realBefore);
    expect(written).toContain('Smoke run (BENCH_SMOKE=1)');
    expect(written).toMatch(/- Node v\d+.*\n- Load average \(1, 5, 15 min\): [\d.]+, [\d.]+, [\d.]+ at the start of the run/);
  });

  it('hands in a section per bench file: a method paragraph and a table', () => {
    const files = fs.readdirSync(path.join(repoRoot, 'bench')).filter((f) => f.endsWith('.bench.ts'));
    const sections = written.split(/^## /m).slice(1).filter((s) => /^\d+[a-z]?\. /.test(s));
    expect(sections).toHaveLength(files.length);
    for (const section of sections) {
      const [title, , method, , ...rest] = section.split('\n');
      expect({ title, method: method.length > 40, table: rest.some((line) => line.startsWith('| --- |')) }).toEqual({ title, method: true, table: true });
    }
  });

  it('lists every target with what the run measured, each as met or not', () => {
    const table = written.slice(written.indexOf('## Targets'), written.indexOf('\n## ', written.indexOf('## Targets') + 1));
    const rows = table.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| figure') && !line.startsWith('| ---'));
    expect(rows.length).toBeGreaterThanOrEqual(15);
    for (const row of rows) {
      const [figure, target, measured, met] = row.slice(2, -2).split(' | ');
      expect({ row, ok: figure.length > 0 && target.length > 0 && measured.trim().length > 0 && /^(yes|\*\*no\*\*)$/.test(met ?? '') }).toEqual({ row, ok: true });
    }
  });
});
