/**
 * Tests against what `npm pack` ships, not against src/.
 *
 * `packedTarball()` copies what the package is built from (src/, package.json,
 * tsconfig*.json, scripts/, README.md, LICENSE, CHANGELOG.md, and whatever else "files"
 * names) into a private temp dir, runs `node scripts/build.mjs` there (so the repo's own
 * dist/, which other work may be rebuilding, is never read) and `npm pack`s the result.
 * The tarball is cached under node_modules/.cache/nest-hosting-pack/ by a hash of those
 * inputs: the first caller builds (~30 s), every later caller (other spec files, the other
 * jest run, other workers) gets the cached file. Concurrent callers wait on a lock directory.
 *
 * `createConsumer(kind)` makes a fresh app outside the repository (in os.tmpdir(), so no
 * node_modules above it hides a missing dependency) with the tarball extracted into
 * node_modules/nest-hosting and its dependencies symlinked in: Nest 11 from the root
 * node_modules for 'cjs-nest11', Nest 12 from compat/nest12/node_modules for 'esm-nest12'.
 *
 *   const consumer = await createConsumer(process.env.NEST_MAJOR === '12' ? 'esm-nest12' : 'cjs-nest11');
 *   consumer.write('main.ts', "import { HostingModule } from 'nest-hosting'; ...");
 *   expect((await consumer.tsc()).output).toBe('');   // main.ts -> main.js, next to it
 *   const run = await consumer.node('main.js');
 *   consumer.dispose();
 *
 * Set KEEP_CONSUMER=1 to keep the consumer folders (dispose() then prints where they are).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nest12Dir, repoRoot } from './paths.js';
import { killOnExit, killWithParent } from './process-guard.js';

export type ConsumerKind = 'cjs-nest11' | 'esm-nest12';

export type ConsumerModuleResolution = 'node10' | 'node16' | 'nodenext' | 'bundler';

export interface Consumer {
  /** Absolute path of the consumer app (a temp dir with package.json, tsconfig.json, node_modules/). */
  dir: string;
  kind: ConsumerKind;
  /** Writes a file relative to `dir` (folders created as needed). */
  write(relPath: string, content: string): void;
  /**
   * Runs the consumer's TypeScript (`tsc -p tsconfig.json --pretty false` plus `args`); never
   * throws. Every .ts file in the consumer is compiled next to itself (main.ts -> main.js);
   * with moduleResolution 'bundler' nothing is emitted (noEmit).
   */
  tsc(args?: string[]): Promise<{ code: number; output: string }>;
  /**
   * Runs `node <entry> ...args` in `dir` (a compiled .js entry); never throws. Killed with
   * SIGKILL after `timeoutMs` (default 60 000), which shows as `signal: 'SIGKILL'`.
   */
  node(
    entry: string,
    opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; args?: string[] },
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Kills what node() still runs and removes `dir`. */
  dispose(): void;
}

const CACHE_DIR = path.join(repoRoot, 'node_modules', '.cache', 'nest-hosting-pack');
/** Inputs of the packed package besides what package.json "files" names. */
const BUILD_INPUTS = ['src', 'package.json', 'scripts', 'README.md', 'LICENSE', 'CHANGELOG.md'];
const LOCK_STALE_MS = 10 * 60_000;

let tarballPromise: Promise<string> | undefined;
let tarballKey: string | undefined;

/**
 * The path of a .tgz made by `npm pack` from the current sources, built in a private temp
 * dir and cached by a hash of its inputs. Safe to call from both jest runs and several
 * workers at once.
 */
export function packedTarball(): Promise<string> {
  const inputs = packInputs();
  const key = hashInputs(inputs);
  if (!tarballPromise || tarballKey !== key) {
    tarballKey = key;
    tarballPromise = ensureTarball(key, inputs);
    tarballPromise.catch(() => {
      if (tarballKey === key) tarballPromise = undefined;
    });
  }
  return tarballPromise;
}

/** Relative paths (files and folders) that the build and `npm pack` read. */
function packInputs(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { files?: string[] };
  const tsconfigs = fs.readdirSync(repoRoot).filter((f) => /^tsconfig.*\.json$/.test(f));
  const listed = (pkg.files ?? [])
    .map((f) => f.replace(/^\.\//, '').replace(/\/+$/, ''))
    // dist is what the build makes; globs are not copied (name the file or folder instead).
    .filter((f) => f !== 'dist' && !f.startsWith('dist/') && !/[*?!]/.test(f));
  return [...new Set([...BUILD_INPUTS, ...tsconfigs, ...listed])]
    .filter((f) => fs.existsSync(path.join(repoRoot, f)))
    .sort();
}

function hashInputs(inputs: string[]): string {
  const hash = createHash('sha256');
  const add = (rel: string): void => {
    const abs = path.join(repoRoot, rel);
    const stat = fs.statSync(abs);
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(abs).sort()) add(path.join(rel, entry));
    } else if (stat.isFile()) {
      hash.update(`${rel}\0${stat.size}\0`);
      hash.update(fs.readFileSync(abs));
    }
  };
  for (const rel of inputs) add(rel);
  return hash.digest('hex').slice(0, 20);
}

async function ensureTarball(key: string, inputs: string[]): Promise<string> {
  const target = path.join(CACHE_DIR, `nest-hosting-${key}.tgz`);
  if (fs.existsSync(target)) return target;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const lock = path.join(CACHE_DIR, `${key}.lock`);
  for (;;) {
    if (fs.existsSync(target)) return target;
    try {
      fs.mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (lockIsStale(lock)) fs.rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      fs.writeFileSync(path.join(lock, 'owner'), String(process.pid));
      if (fs.existsSync(target)) return target;
      await buildAndPack(inputs, target);
      pruneCache(target);
      return target;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

function lockIsStale(lock: string): boolean {
  try {
    const owner = Number(fs.readFileSync(path.join(lock, 'owner'), 'utf8'));
    if (owner > 0) {
      try {
        process.kill(owner, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true; // its owner died mid-build
      }
    }
    return Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS;
  } catch {
    // no owner file yet: stale only when old (the owner may be about to write it)
    try {
      return Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS;
    } catch {
      return false;
    }
  }
}

async function buildAndPack(inputs: string[], target: string): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-pack-'));
  try {
    for (const rel of inputs) {
      fs.cpSync(path.join(repoRoot, rel), path.join(work, rel), { recursive: true });
    }
    // The build's tools (tsc, @types) come from the repo; npm pack never packs node_modules.
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(work, 'node_modules'), 'dir');
    await runOrThrow(process.execPath, [path.join('scripts', 'build.mjs')], work, 'node scripts/build.mjs');
    const out = path.join(work, '.pack');
    fs.mkdirSync(out);
    // Scripts are ignored: the build just ran; a "prepack" build would only repeat it.
    const packed = await runOrThrow(
      npmCommand(),
      ['pack', '--json', '--ignore-scripts', '--pack-destination', out],
      work,
      'npm pack',
    );
    const tgz = fs.readdirSync(out).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`packed-package: npm pack made no .tgz in ${out}\n${packed}`);
    const partial = `${target}.${process.pid}.partial`;
    fs.copyFileSync(path.join(out, tgz), partial);
    fs.renameSync(partial, target);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Tarballs of older source states, unused for a day, go. */
function pruneCache(keep: string): void {
  for (const f of fs.readdirSync(CACHE_DIR)) {
    const abs = path.join(CACHE_DIR, f);
    if (abs === keep || !f.endsWith('.tgz')) continue;
    try {
      if (Date.now() - fs.statSync(abs).mtimeMs > 24 * 3600_000) fs.rmSync(abs, { force: true });
    } catch {
      // another process pruned it
    }
  }
}

function npmCommand(): string {
  return process.platform === 'win32' ? 'npm.cmd' : 'npm';
}

function run(
  command: string,
  args: string[],
  cwd: string,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; live?: Set<ChildProcess> } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const [cmd, argv] = killWithParent(command, args);
    let proc: ChildProcess;
    try {
      proc = spawn(cmd, argv, { cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ code: null, signal: null, stdout: '', stderr: String(err) });
      return;
    }
    killOnExit(proc);
    opts.live?.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    proc.once('error', (err) => {
      stderr += String(err);
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      opts.live?.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function runOrThrow(command: string, args: string[], cwd: string, what: string): Promise<string> {
  const res = await run(command, args, cwd, { timeoutMs: 5 * 60_000 });
  if (res.code !== 0) {
    throw new Error(
      `packed-package: ${what} failed in ${cwd} (exit ${res.code ?? res.signal})\n${res.stdout}\n${res.stderr}`,
    );
  }
  return res.stdout;
}

/** What each consumer links in, by name: where from depends on the Nest major. */
const NEST_LINKED = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/testing',
  '@nestjs/config',
  '@nestjs/terminus',
  '@nestjs/platform-express',
  'rxjs',
  'reflect-metadata',
];
const ROOT_LINKED = ['cron', 'bullmq', 'ioredis', 'typescript', '@types/node', 'express', '@opentelemetry', 'bullmq-otel', 'nestjs-cls', 'better-sqlite3', '@types/better-sqlite3', 'pg', '@types/pg'];

function consumerTsconfig(kind: ConsumerKind, resolution: ConsumerModuleResolution): object {
  const esm = kind === 'esm-nest12';
  const module =
    resolution === 'node10'
      ? esm
        ? 'es2022'
        : 'commonjs'
      : resolution === 'bundler'
        ? 'preserve'
        : resolution; // node16 / nodenext: the format follows package.json "type"
  return {
    compilerOptions: {
      target: 'ES2022',
      module,
      moduleResolution: resolution,
      strict: true,
      noImplicitOverride: true,
      noUnusedLocals: false,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      esModuleInterop: true,
      // As `nest new` writes it; `tsc(['--skipLibCheck', 'false'])` type-checks the shipped .d.ts
      // too (and Nest's: about four times slower).
      skipLibCheck: true,
      forceConsistentCasingInFileNames: true,
      types: ['node'],
      ...(resolution === 'bundler' ? { noEmit: true } : {}),
    },
    include: ['**/*.ts'],
    exclude: ['node_modules'],
  };
}

/**
 * A fresh consumer app with the packed package installed. 'cjs-nest11': no "type" (CommonJS),
 * module commonjs + moduleResolution node10 unless another resolution is asked for;
 * 'esm-nest12': "type": "module", module/moduleResolution nodenext by default.
 * 'bundler' means module preserve and noEmit (type check only).
 */
export async function createConsumer(
  kind: ConsumerKind,
  options: { moduleResolution?: ConsumerModuleResolution } = {},
): Promise<Consumer> {
  const tarball = await packedTarball();
  const resolution = options.moduleResolution ?? (kind === 'esm-nest12' ? 'nodenext' : 'node10');
  const nestModules =
    kind === 'esm-nest12' ? path.join(nest12Dir, 'node_modules') : path.join(repoRoot, 'node_modules');
  if (!fs.existsSync(path.join(nestModules, '@nestjs', 'core'))) {
    throw new Error(
      `packed-package: no @nestjs/core in ${nestModules}` +
        (kind === 'esm-nest12' ? ' (run npm ci --prefix compat/nest12)' : ''),
    );
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nest-hosting-consumer-${kind}-`));
  const write = (relPath: string, content: string): void => {
    const abs = path.join(dir, relPath);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  };

  write(
    'package.json',
    `${JSON.stringify(
      {
        name: `consumer-${kind}`,
        version: '0.0.0',
        private: true,
        ...(kind === 'esm-nest12' ? { type: 'module' } : {}),
        dependencies: { 'nest-hosting': `file:${tarball}` },
      },
      null,
      2,
    )}\n`,
  );
  write('tsconfig.json', `${JSON.stringify(consumerTsconfig(kind, resolution), null, 2)}\n`);

  const installed = path.join(dir, 'node_modules', 'nest-hosting');
  fs.mkdirSync(installed, { recursive: true });
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], { encoding: 'utf8' });
  if (untar.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`packed-package: tar -xzf ${tarball} failed: ${untar.stderr}`);
  }
  const link = (name: string, from: string): void => {
    const source = path.join(from, name);
    if (!fs.existsSync(source)) return; // optional ones (express for Nest 12 lives inside compat)
    const dest = path.join(dir, 'node_modules', name);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.symlinkSync(source, dest, 'dir');
  };
  for (const name of NEST_LINKED) link(name, nestModules);
  for (const name of ROOT_LINKED) link(name, path.join(repoRoot, 'node_modules'));

  const live = new Set<ChildProcess>();
  const tscBin = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  return {
    dir,
    kind,
    write,
    async tsc(args = []) {
      const res = await run(process.execPath, [tscBin, '-p', 'tsconfig.json', '--pretty', 'false', ...args], dir, {
        live,
        timeoutMs: 5 * 60_000,
      });
      return { code: res.code ?? 1, output: `${res.stdout}${res.stderr}`.trim() };
    },
    node(entry, opts = {}) {
      return run(process.execPath, [entry, ...(opts.args ?? [])], dir, {
        env: opts.env,
        timeoutMs: opts.timeoutMs ?? 60_000,
        live,
      });
    },
    dispose() {
      for (const proc of live) proc.kill('SIGKILL');
      if (process.env.KEEP_CONSUMER) {
        process.stdout.write(`packed-package: kept consumer ${dir}\n`);
        return;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
