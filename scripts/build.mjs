#!/usr/bin/env node
/**
 * `npm run build`: src/ -> dist/cjs (CommonJS, tsconfig.build.json) and dist/esm
 * (ES modules, tsconfig.build.esm.json), each with its .d.ts, then a package.json in each
 * output folder telling Node which module system its .js files use.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

fs.rmSync(path.join(repoRoot, 'dist'), { recursive: true, force: true });

// The two builds are independent: run them side by side (half the wall time on two cores).
const builds = ['tsconfig.build.json', 'tsconfig.build.esm.json'].map(
  (project) =>
    new Promise((resolve) => {
      const started = Date.now();
      const child = spawn(process.execPath, [tsc, '-p', project], { cwd: repoRoot, stdio: 'inherit' });
      child.once('error', (error) => resolve({ project, status: null, signal: String(error), started }));
      child.once('exit', (status, signal) => resolve({ project, status, signal, started }));
    }),
);
let failed = 0;
for (const { project, status, signal, started } of await Promise.all(builds)) {
  if (status !== 0) {
    console.error(`build: tsc -p ${project} failed (exit ${status ?? signal})`);
    failed = status || 1;
  } else {
    console.log(`build: tsc -p ${project} ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}
if (failed) process.exit(failed);

fs.writeFileSync(path.join(repoRoot, 'dist', 'esm', 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
fs.writeFileSync(path.join(repoRoot, 'dist', 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
console.log('build: wrote dist/esm/package.json {"type":"module"} and dist/cjs/package.json {"type":"commonjs"}');
