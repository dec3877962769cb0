import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromRoot } from '../support/paths.js';

/**
 * `npm run test:nest12` on a clone without compat/nest12/node_modules must fail at once with the
 * command that installs it: node's and jest's lookup would otherwise walk up from compat/nest12
 * to the root node_modules and run the "Nest 12" run on Nest 11 without a word.
 */
describe('the Nest 12 run without compat/nest12', () => {
  let clone: string | undefined;
  afterEach(() => {
    if (clone) fs.rmSync(clone, { recursive: true, force: true });
    clone = undefined;
  });

  it('fails loudly, naming the fix, instead of falling back to Nest 11', () => {
    clone = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-no-nest12-'));
    const copy = (...parts: string[]) => {
      fs.mkdirSync(path.join(clone!, ...parts.slice(0, -1)), { recursive: true });
      fs.copyFileSync(fromRoot(...parts), path.join(clone!, ...parts));
    };
    copy('package.json');
    copy('jest.config.cjs');
    copy('jest.esm.config.cjs');
    copy('test', 'support', 'nest12-mapping.cjs');
    copy('test', 'support', 'jest-nest12-resolver.cjs');
    fs.symlinkSync(fromRoot('node_modules'), path.join(clone, 'node_modules'), 'dir'); // Nest 11 is right there
    const run = spawnSync(
      process.execPath,
      ['--experimental-vm-modules', fromRoot('node_modules', 'jest', 'bin', 'jest.js'), '--config', path.join(clone, 'jest.esm.config.cjs')],
      { cwd: clone, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 120_000 },
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('compat/nest12/node_modules, which is missing; there is no fallback');
    expect(run.stderr).toContain('npm ci --prefix compat/nest12');
  });
});
