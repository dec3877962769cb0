/** Runs a bench file's `run()` in a Node process of its own (bench/child.ts) and returns what it resolved. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../test/support/paths.js';

const loader = path.join(repoRoot, 'test', 'support', 'child-loader', 'register-cjs.cjs');

/** `file`'s `run()` in a fresh process (TypeScript through the repo's loader, `--expose-gc`, Nest 11). */
export function runInChild<R>(file: string, env: Record<string, string> = {}): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '-r', loader, path.join(repoRoot, 'bench', 'child.ts'), file], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NEST_MAJOR: '11', NEST_TEST_MODE: 'cjs', ...env },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) return reject(new Error(`${path.basename(file)} exited with ${code}:\n${out.slice(-2_000)}`));
      resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as R);
    });
  });
}
