/**
 * Run a TypeScript entry file as a real child Node process (lifecycle and signal tests),
 * with the same Nest as the jest run that spawns it:
 *
 *   - Nest 11 run (jest.config.cjs, NEST_MAJOR=11): `node -r child-loader/register-cjs.cjs entry.ts`
 *     -> CommonJS, @nestjs/* from the root node_modules.
 *   - Nest 12 run (jest.esm.config.cjs, NEST_MAJOR=12): `node --import child-loader/register-esm.mjs entry.ts`
 *     -> ES modules; a module.register() resolve hook sends every @nestjs/*, rxjs and
 *     reflect-metadata import (from any importer) to compat/nest12/node_modules.
 *
 * Nothing is compiled ahead of time: .ts files are transpiled on load (TypeScript's
 * transpileModule with the repo tsconfig, decorator metadata included, cached on disk).
 *
 *   const child = spawnChildApp(fixture('child-hello.ts'), { env: { FOO: '1' } });
 *   await child.waitForOutput(/READY/);
 *   child.kill('SIGTERM');
 *   expect(await child.exited).toEqual({ code: 0, signal: null });
 *
 * Entry files run with the repo root as cwd; they must not use __dirname/import.meta either
 * (use ./paths.ts). NEST_MAJOR and NEST_TEST_MODE are passed to the child.
 * Children still running when the jest worker exits, or dies, are SIGKILLed (process-guard.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './paths.js';
import { killOnExit, killWithParent } from './process-guard.js';

export interface SpawnChildAppOptions {
  /** Extra environment variables (merged over this process's env). */
  env?: Record<string, string | undefined>;
  /** Arguments passed to the entry file (process.argv.slice(2)). */
  args?: string[];
  /** Extra Node flags, e.g. ['--max-old-space-size=64']. */
  nodeArgs?: string[];
  /** Which Nest to run under; default: this run's NEST_MAJOR (11 when unset). */
  nestMajor?: 11 | 12;
  /** Working directory; default: the repo root. */
  cwd?: string;
  /** Echo the child's output to this process's stdout/stderr as it comes (debugging). */
  echo?: boolean;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildApp {
  readonly proc: ChildProcess;
  /** The node command line used (for error messages). */
  readonly command: string[];
  /** Everything the child wrote to stdout and stderr so far, interleaved as received. */
  output(): string;
  /** Resolves with the match once output() matches; rejects on timeout or if the child exits first. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Send a signal (default SIGTERM). Returns false if the child has already exited. */
  kill(signal?: NodeJS.Signals): boolean;
  /** Settles once the child has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** SIGKILL the child if it is still running and wait for it (for afterEach). */
  dispose(): Promise<ChildExit>;
}

const loaderDir = path.join(repoRoot, 'test', 'support', 'child-loader');
function currentNestMajor(): 11 | 12 {
  return process.env.NEST_MAJOR === '12' ? 12 : 11;
}

export function spawnChildApp(entryFile: string, opts: SpawnChildAppOptions = {}): ChildApp {
  const entry = path.resolve(repoRoot, entryFile);
  if (!fs.existsSync(entry)) throw new Error(`spawnChildApp: no such entry file ${entry}`);
  const nestMajor = opts.nestMajor ?? currentNestMajor();
  if (nestMajor === 12 && !fs.existsSync(path.join(repoRoot, 'compat', 'nest12', 'node_modules', '@nestjs', 'core'))) {
    throw new Error('spawnChildApp: compat/nest12/node_modules is missing: run `npm ci --prefix compat/nest12`');
  }
  const loaderArgs =
    nestMajor === 12
      ? ['--import', pathToFileURL(path.join(loaderDir, 'register-esm.mjs')).href]
      : ['-r', path.join(loaderDir, 'register-cjs.cjs')];
  const command = [process.execPath, '--enable-source-maps', ...(opts.nodeArgs ?? []), ...loaderArgs, entry, ...(opts.args ?? [])];

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NEST_MAJOR: String(nestMajor),
    NEST_TEST_MODE: nestMajor === 12 ? 'esm' : 'cjs',
    ...opts.env,
  };
  // jest's own --experimental-vm-modules must not leak into the child through NODE_OPTIONS.
  if (env.NODE_OPTIONS) {
    env.NODE_OPTIONS = env.NODE_OPTIONS.replace(/--experimental-vm-modules/g, '').trim() || undefined;
  }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];

  // Killed with this process even if the jest worker dies without running exit handlers.
  const [file, fileArgs] = killWithParent(command[0]!, command.slice(1));
  const proc = spawn(file, fileArgs, {
    cwd: opts.cwd ?? repoRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  killOnExit(proc);

  let out = '';
  const listeners = new Set<() => void>();
  const onData = (stream: NodeJS.WriteStream) => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    if (opts.echo) stream.write(text);
    for (const l of [...listeners]) l();
  };
  proc.stdout!.on('data', onData(process.stdout));
  proc.stderr!.on('data', onData(process.stderr));

  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once('error', (err) => {
      out += `\n[spawnChildApp] spawn error: ${err.message}\n`;
      exitInfo = { code: null, signal: null };
      resolve(exitInfo);
    });
    // 'close' (not 'exit'): all output has been read by then.
    proc.once('close', (code, signal) => {
      exitInfo = { code, signal };
      for (const l of [...listeners]) l();
      resolve(exitInfo);
    });
  });

  const describe = (): string =>
    `child ${command.slice(1).join(' ')}\n--- output so far ---\n${out}\n--- end of output ---`;

  return {
    proc,
    command,
    output: () => out,
    waitForOutput(pattern, timeoutMs = 30_000) {
      const regex = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
      return new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = (): void => {
          const match = out.match(regex);
          if (match) {
            finish();
            resolve(match);
          } else if (exitInfo) {
            finish();
            reject(new Error(`waitForOutput(${regex}): the child exited (${JSON.stringify(exitInfo)}) first.\n${describe()}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`waitForOutput(${regex}): not seen within ${timeoutMs} ms.\n${describe()}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (exitInfo || proc.exitCode !== null || proc.signalCode !== null) return false;
      return proc.kill(signal);
    },
    exited,
    async dispose() {
      if (!exitInfo && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
}
