#!/usr/bin/env node
/** `npm run bench`: bench/run.ts through the repo's TypeScript loader (decorator metadata included). */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const loader = path.join(root, 'test', 'support', 'child-loader', 'register-cjs.cjs');
const result = spawnSync(process.execPath, ['-r', loader, path.join(root, 'bench', 'run.ts'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
