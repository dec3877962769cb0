#!/usr/bin/env node
/**
 * `npm test`: the whole suite twice, on both supported Nest majors.
 *
 *   1. Nest 11: jest --config jest.config.cjs              (CommonJS, root node_modules)
 *   2. Nest 12: node --experimental-vm-modules jest --config jest.esm.config.cjs
 *               (ESM, @nestjs/* from compat/nest12/node_modules; installed here with
 *                `npm ci --prefix compat/nest12` when missing)
 *
 * Before them, lint (scripts/lint.mjs: type-aware ESLint over the project plus its self-check),
 * counted as one test; it runs on the full suite only (no extra arguments, no `--nest=`), and
 * `--no-lint` skips it. `npm run lint` runs it alone.
 *
 * Extra arguments go to both jest runs: `npm test -- test/infra`, `npm test -- -t "restart"`.
 * `--nest=11` or `--nest=12` (consumed here) runs only that one.
 * Ends with one line `N passed, N failed[, N skipped]` summing lint and both runs (a test file
 * that fails to load counts as one failure), and exits non-zero if lint or either run failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const jestBin = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js');

let only;
let noLint = false;
const jestArgs = [];
for (const arg of process.argv.slice(2)) {
  const m = /^--nest=(11|12)$/.exec(arg);
  if (m) only = m[1];
  else if (arg === '--no-lint') noLint = true;
  else jestArgs.push(arg);
}
const lint = !noLint && !only && jestArgs.length === 0;

function onPath(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    if (!dir) return false;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// Apps under test must not report to a real systemd (the systemd tests set their own socket).
delete process.env.NOTIFY_SOCKET;
delete process.env.WATCHDOG_USEC;
delete process.env.WATCHDOG_PID;

// What the tests run besides Node: a real redis-server (BullMQ), Debian's PostgreSQL server
// (initdb + postgres, in /usr/lib/postgresql/<major>/bin: test/support/postgres-server.ts), Debian's
// chromium (the dashboard in a browser) and systemd-notify (the systemd integration). A fresh
// machine gets them from apt.
const hasPostgres = () =>
  Boolean(process.env.POSTGRES_BIN_DIR) ||
  onPath('initdb') ||
  (fs.existsSync('/usr/lib/postgresql') && fs.readdirSync('/usr/lib/postgresql').some((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)));
const systemPackages = [
  { cmd: 'redis-server', pkg: 'redis-server', skip: Boolean(process.env.REDIS_SERVER_BIN) },
  { cmd: 'initdb', pkg: 'postgresql', skip: hasPostgres() },
  { cmd: 'chromium', pkg: 'chromium' },
  { cmd: 'systemd-notify', pkg: 'systemd' },
].filter((p) => !p.skip && !onPath(p.cmd));

if (systemPackages.length > 0 && onPath('apt-get') && (process.getuid?.() === 0 || onPath('sudo'))) {
  const pkgs = systemPackages.map((p) => p.pkg);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  console.error(`Installing what the tests need: apt-get install -y ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => spawnSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: 'inherit', env }).status === 0;
  if (!(run(['apt-get', 'update', '-q']) && run(['apt-get', 'install', '-y', '-q', ...pkgs]))) {
    console.error('apt-get failed: the tests that need those packages will fail.');
  }
}

if (!onPath('redis-server') && !process.env.REDIS_SERVER_BIN) {
  const bar = '!'.repeat(78);
  console.error(
    [
      '',
      bar,
      '!!  WARNING: redis-server IS NOT ON PATH.',
      '!!',
      '!!  Every Redis-backed test (BullMQ queues, distributed locks, the redis-server',
      '!!  helper\'s own spec) WILL FAIL in this run. They are not skipped.',
      '!!',
      '!!  Install it and run again:',
      '!!      sudo apt-get update && sudo apt-get install -y redis-server',
      '!!  (or set REDIS_SERVER_BIN=/path/to/redis-server). .ci/run installs it itself.',
      bar,
      '',
    ].join('\n'),
  );
}

if (!fs.existsSync(jestBin)) {
  console.error(`jest is not installed (${jestBin}): run \`npm ci\` first.`);
  process.exit(1);
}

const runs = [
  { major: '11', label: 'Nest 11 (CommonJS)', config: 'jest.config.cjs', nodeArgs: [] },
  {
    major: '12',
    label: 'Nest 12 (ESM)',
    config: 'jest.esm.config.cjs',
    nodeArgs: ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning'],
  },
].filter((r) => !only || r.major === only);

function ensureNest12() {
  const marker = path.join(repoRoot, 'compat', 'nest12', 'node_modules', '@nestjs', 'core', 'package.json');
  if (fs.existsSync(marker)) return true;
  console.error('compat/nest12/node_modules is missing: npm ci --prefix compat/nest12');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['ci', '--prefix', 'compat/nest12', '--no-audit', '--no-fund'], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  return res.status === 0 && fs.existsSync(marker);
}

function runJest(run, outputFile) {
  const args = [...run.nodeArgs, jestBin, '--config', run.config, '--json', '--outputFile', outputFile, ...jestArgs];
  console.error(`\n=== ${run.label}: node ${args.map((a) => (a === jestBin ? 'node_modules/jest/bin/jest.js' : a)).join(' ')}\n`);
  return runNode(args);
}

/** Runs `node args…` with our stdio, forwarding SIGINT/SIGTERM; resolves its exit code. */
function runNode(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: 'inherit' });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];
let exitCode = 0;

// Lint first: type-aware ESLint needs no build, and a run with nothing else competing for the
// two cores is the fastest place for it (see scripts/lint.mjs).
if (lint) {
  const started = Date.now();
  console.error('\n=== Lint: node scripts/lint.mjs\n');
  const code = await runNode([path.join(repoRoot, 'scripts', 'lint.mjs')]);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const ok = code === 0;
  lines.push(`Lint (ESLint, type-aware): ${ok ? 'passed' : `failed, exit code ${code}`} (counted as 1 test); ${seconds} s`);
  if (ok) totals.passed += 1;
  else {
    totals.failed += 1;
    exitCode = 1;
  }
} else {
  lines.push(`Lint: skipped (${noLint ? '--no-lint' : 'a narrowed run'}; npm run lint runs it)`);
}

for (const run of runs) {
  const started = Date.now();
  if (run.major === '12' && !ensureNest12()) {
    lines.push(`${run.label}: could not install compat/nest12 (npm ci --prefix compat/nest12 failed)`);
    totals.failed += 1;
    exitCode = 1;
    continue;
  }
  const outputFile = path.join(tmp, `nest${run.major}.json`);
  const code = await runJest(run, outputFile);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  let result;
  try {
    result = JSON.parse(fs.readFileSync(outputFile, 'utf8'));
  } catch {
    result = undefined;
  }
  if (!result) {
    lines.push(`${run.label}: jest exited with code ${code} and wrote no results (counted as 1 failure) in ${seconds} s`);
    totals.failed += 1;
    exitCode = exitCode || code || 1;
    continue;
  }
  const brokenSuites = result.numRuntimeErrorTestSuites ?? 0;
  const passed = result.numPassedTests ?? 0;
  let failed = (result.numFailedTests ?? 0) + brokenSuites;
  const skipped = (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
  let note = '';
  if (code !== 0 && failed === 0) {
    failed = 1; // e.g. "No tests found", or a crash after the tests: never report 0 failed for a failed run
    note = ' (jest failed without a failing test: counted as 1 failure)';
  }
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  if (code !== 0) exitCode = exitCode || code;
  lines.push(
    `${run.label}: ${passed} tests passed, ${failed} failed, ${skipped} skipped; ` +
      `${result.numTotalTestSuites} files${brokenSuites ? `, ${brokenSuites} of them failed to run` : ''}; ` +
      `jest exit code ${code}${note}; ${seconds} s`,
  );
}
fs.rmSync(tmp, { recursive: true, force: true });

console.log('');
for (const line of lines) console.log(line);
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(exitCode);
