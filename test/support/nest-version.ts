/**
 * Which Nest is loaded in this jest run (or child process), found robustly:
 * resolve the package's entry file the way this run resolves it (the Nest 12 run through
 * test/support/nest12-mapping.cjs, the same mapping jest's resolver and the child-process
 * loader use), import that file by absolute path, and read the package.json of the package
 * that contains it. `sameAs` lets a caller check that the module reached by absolute path is
 * the very module its own `import ... from '@nestjs/core'` got (one copy of Nest).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { repoRoot } from './paths.js';

interface Nest12Mapping {
  NEST12_ROOT: string;
  isMappedToNest12(specifier: string): boolean;
  packageNameOf(specifier: string): string;
}

const requireFromRoot = createRequire(path.join(repoRoot, 'package.json'));
const mapping = requireFromRoot('./test/support/nest12-mapping.cjs') as Nest12Mapping;

/** The Nest major this run was configured for (jest config / spawnChildApp set NEST_MAJOR). */
export function expectedNestMajor(): number {
  const raw = process.env.NEST_MAJOR;
  if (!raw || !/^\d+$/.test(raw)) {
    throw new Error(`NEST_MAJOR is not set (got ${JSON.stringify(raw)}): run through jest.config.cjs or jest.esm.config.cjs`);
  }
  return Number(raw);
}

/** Where this run resolves `specifier` from: compat/nest12 in the Nest 12 run, the repo root otherwise. */
export function resolutionBase(specifier: string): string {
  return process.env.NEST_MAJOR === '12' && mapping.isMappedToNest12(specifier) ? mapping.NEST12_ROOT : repoRoot;
}

/** Absolute path of the file `specifier` (e.g. '@nestjs/core') resolves to in this run. */
export function resolveNestEntry(specifier: string): string {
  return createRequire(path.join(resolutionBase(specifier), 'package.json')).resolve(specifier);
}

export interface LoadedPackage {
  name: string;
  version: string;
  major: number;
  /** Folder holding the package's package.json. */
  packageDir: string;
  /** The entry file imported by absolute path. */
  entryFile: string;
  /** The module namespace/exports reached through `entryFile`. */
  exports: Record<string, unknown>;
}

/** Import `specifier`'s resolved entry file by absolute path and report its package version. */
export async function loadedPackage(specifier = '@nestjs/core'): Promise<LoadedPackage> {
  const name = mapping.packageNameOf(specifier);
  const entryFile = resolveNestEntry(specifier);
  let dir = path.dirname(entryFile);
  for (;;) {
    const pkgFile = path.join(dir, 'package.json');
    if (fs.existsSync(pkgFile)) {
      const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) {
        const exports = (await import(entryFile)) as Record<string, unknown>;
        return { name, version: pkg.version, major: Number(pkg.version.split('.')[0]), packageDir: dir, entryFile, exports };
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json named ${name} above ${entryFile}`);
    dir = parent;
  }
}
