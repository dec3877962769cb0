#!/usr/bin/env node
/**
 * `npm run lint`: ESLint over the whole project (eslint.config.mjs: type-aware typescript-eslint,
 * strictest in src/), then a self-check that the rules this project relies on really fire.
 * `npm test` (scripts/test-all.mjs) runs it before the jest runs and counts it as one test.
 *
 *   npm run lint                  everything
 *   npm run lint -- src test/host only those paths (the self-check still runs)
 *   npm run lint -- --fix         apply ESLint's fixes
 *
 * The self-check lints probe texts in memory (never written to disk) under the names of real
 * files, so they get the rule set of their folder: a floating promise, a promise passed where a
 * void callback is expected, `await` on a non-promise and an `any` must each be reported in src/;
 * in test/ the promise rules hold too but `any` is allowed. A config that silently stopped
 * type-aware linting (a wrong glob, a lost parserOptions) fails here instead of passing everything.
 *
 * Exit code 0 when clean and the self-check passed, 1 otherwise (2 when ESLint itself crashed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const fix = args.includes('--fix');
const patterns = args.filter((a) => !a.startsWith('--'));

/** The probe: each line trips one rule (the line numbers are what the self-check looks for). */
const PROBE = [
  'export async function lintProbe(work: () => Promise<void>, value: any): Promise<unknown> {', // 1: no-explicit-any (src only)
  '  work();', // 2: no-floating-promises
  '  [1, 2].forEach(async () => work());', // 3: no-misused-promises
  '  await 42;', // 4: await-thenable
  '  return value as unknown;',
  '}',
  '',
].join('\n');

const EXPECTED_PROMISE_RULES = [
  { rule: '@typescript-eslint/no-floating-promises', line: 2 },
  { rule: '@typescript-eslint/no-misused-promises', line: 3 },
  { rule: '@typescript-eslint/await-thenable', line: 4 },
];
const EXPLICIT_ANY = { rule: '@typescript-eslint/no-explicit-any', line: 1 };

/** A real .ts file under `dir` (the probe borrows its name, never its content). */
function someTsFile(dir) {
  const found = fs
    .readdirSync(path.join(repoRoot, dir), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.spec.ts') || (dir === 'src' && f === 'index.ts'))
    .sort();
  const pick = found.includes('index.ts') ? 'index.ts' : found[0];
  if (!pick) throw new Error(`lint self-check: no .ts file under ${dir}/ to lint the probe as`);
  return path.join(repoRoot, dir, pick);
}

async function selfCheck(eslint) {
  const problems = [];
  const cases = [
    { dir: 'src', expect: [...EXPECTED_PROMISE_RULES, EXPLICIT_ANY], forbid: [] },
    { dir: 'test', expect: EXPECTED_PROMISE_RULES, forbid: [EXPLICIT_ANY.rule] },
  ];
  for (const c of cases) {
    const filePath = someTsFile(c.dir);
    const [result] = await eslint.lintText(PROBE, { filePath });
    const seen = result?.messages ?? [];
    const where = `${path.relative(repoRoot, filePath)} (probe text)`;
    const fatal = seen.find((m) => m.fatal || !m.ruleId);
    if (fatal) {
      problems.push(`${where}: ${fatal.message}`);
      continue;
    }
    for (const e of c.expect) {
      if (!seen.some((m) => m.ruleId === e.rule && m.line === e.line)) problems.push(`${where}: expected ${e.rule} on line ${e.line}, not reported`);
    }
    for (const rule of c.forbid) {
      if (seen.some((m) => m.ruleId === rule)) problems.push(`${where}: ${rule} is reported, but ${c.dir}/ should allow it`);
    }
  }
  return problems;
}

const started = Date.now();
try {
  const eslint = new ESLint({ cwd: repoRoot, fix, errorOnUnmatchedPattern: false });
  const results = await eslint.lintFiles(patterns.length ? patterns : ['.']);
  if (fix) await ESLint.outputFixes(results);
  const formatter = await eslint.loadFormatter('stylish');
  const report = await formatter.format(results);
  if (report.trim()) console.log(report);
  const errors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
  const warnings = results.reduce((n, r) => n + r.warningCount, 0);

  const selfProblems = await selfCheck(eslint);
  for (const p of selfProblems) console.log(`lint self-check failed: ${p}`);

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const summary =
    `lint: ${results.length} files, ${errors} errors, ${warnings} warnings; ` +
    `self-check ${selfProblems.length ? `FAILED (${selfProblems.length})` : 'passed'}; ${seconds} s`;
  console.log(summary);
  process.exitCode = errors > 0 || selfProblems.length > 0 ? 1 : 0;
} catch (error) {
  console.error('lint: ESLint crashed:');
  console.error(error);
  process.exitCode = 2;
}
