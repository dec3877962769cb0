/**
 * Repository paths that work in BOTH jest runs (CommonJS/Nest 11 and ESM/Nest 12) and in
 * child processes started by child-app.ts.
 *
 * Do not use `__dirname`/`__filename` in tests: they do not exist in the ESM run. Do not use
 * `import.meta` either: it does not compile in the CommonJS run. Build paths from here.
 *
 * `repoRoot` is found from `process.cwd()` (jest and spawnChildApp both run with the repo
 * root, or a folder inside it, as cwd) by walking up to the package.json named nest-hosting.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRepoRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'nest-hosting') return dir;
      } catch {
        // not JSON: keep walking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `test/support/paths.ts: no package.json named "nest-hosting" at or above ${start}; ` +
          'run jest (and child processes) from inside the repository',
      );
    }
    dir = parent;
  }
}

/** Absolute path of the repository root (where package.json "nest-hosting" is). */
export const repoRoot: string = findRepoRoot(process.cwd());
/** Absolute path of test/. */
export const testDir: string = path.join(repoRoot, 'test');
/** Absolute path of test/fixtures/. */
export const fixturesDir: string = path.join(testDir, 'fixtures');
/** Absolute path of compat/nest12 (the Nest 12 toolchain). */
export const nest12Dir: string = path.join(repoRoot, 'compat', 'nest12');

/** `fromRoot('test', 'fixtures', 'x.ts')` -> absolute path inside the repository. */
export function fromRoot(...segments: string[]): string {
  return path.join(repoRoot, ...segments);
}

/** `fixture('child-hello.ts')` -> absolute path of test/fixtures/child-hello.ts. */
export function fixture(...segments: string[]): string {
  return path.join(fixturesDir, ...segments);
}
