#!/usr/bin/env node
/**
 * `npm run soak`: bench/soak.ts (the fault-injection soak of the sample app on Redis) through the
 * repo's TypeScript loader. The npm script passes `--write` (the "## Reliability" section of
 * BENCHMARKS.md); run without it (tests do), BENCHMARKS.md is left alone. Arguments go through:
 * `npm run soak -- --minutes 10 --rate 20 --nest 12`.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const loader = path.join(root, 'test', 'support', 'child-loader', 'register-cjs.cjs');
const result = spawnSync(process.execPath, ['-r', loader, path.join(root, 'bench', 'soak.ts'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
