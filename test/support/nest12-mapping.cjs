'use strict';
/**
 * The one place that says which imports are redirected to the Nest 12 toolchain in
 * compat/nest12/node_modules. Used by:
 *   - test/support/jest-nest12-resolver.cjs (the ESM jest run, jest.esm.config.cjs)
 *   - test/support/child-loader/esm-hooks.mjs (child processes spawned in the Nest 12 run)
 *   - test/support/nest-version.ts (the infra spec that proves which Nest is loaded)
 *
 * Redirected: every `@nestjs/<pkg>` import and its subpaths (`@nestjs/common/constants.js`),
 * plus `rxjs` and `reflect-metadata`, from ANY importer (tests, src/, and packages inside
 * node_modules), so the whole app shares one copy of Nest 12 and its peers.
 */
const fs = require('node:fs');
const path = require('node:path');
const { fileURLToPath } = require('node:url');

const repoRoot = path.resolve(__dirname, '..', '..');
const NEST12_ROOT = path.join(repoRoot, 'compat', 'nest12');
const NEST12_NODE_MODULES = path.join(NEST12_ROOT, 'node_modules');

const MAPPED = /^(?:@nestjs\/[^/]+|rxjs|reflect-metadata)(?:\/.*)?$/;

/** True when `specifier` must be resolved from compat/nest12 in the Nest 12 run. */
function isMappedToNest12(specifier) {
  return MAPPED.test(specifier);
}

/** `@nestjs/common/constants.js` -> `@nestjs/common`; `rxjs/operators` -> `rxjs`. */
function packageNameOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The command that installs the Nest 12 toolchain. */
const INSTALL_NEST12 = 'npm ci --prefix compat/nest12';

/**
 * Checks where a mapped import resolved (a path or a file: URL). Node's and jest's resolution
 * walk up from compat/nest12 to the root node_modules, which holds Nest 11: without this check a
 * clone without compat/nest12/node_modules would silently run the "Nest 12" run on Nest 11.
 * Throws (code MODULE_NOT_FOUND, so that Nest's optional-package probes read it as "not
 * installed") unless `resolved` lies in compat/nest12/node_modules.
 */
function assertResolvedInNest12(specifier, resolved) {
  const file = typeof resolved === 'string' && resolved.startsWith('file:') ? fileURLToPath(resolved) : String(resolved);
  if (file.startsWith(NEST12_NODE_MODULES + path.sep)) return;
  const installed = fs.existsSync(path.join(NEST12_NODE_MODULES, '@nestjs', 'core', 'package.json'));
  const error = new Error(
    installed
      ? `Nest 12 run: "${packageNameOf(specifier)}" is not installed in compat/nest12/node_modules (only ${file}, outside it, ` +
          `which would mix Nest 11 into the run); add it to compat/nest12/package.json and run ${INSTALL_NEST12}`
      : `Nest 12 run: compat/nest12/node_modules is missing, so "${specifier}" would load Nest 11 from ${file}; ` +
          `there is no fallback: install the Nest 12 toolchain with ${INSTALL_NEST12} (npm test does it for you)`,
  );
  error.code = 'MODULE_NOT_FOUND';
  throw error;
}

/**
 * Throws, with the command that fixes it, unless compat/nest12/node_modules holds Nest 12. Called
 * by jest.esm.config.cjs, so a clone without it fails before any test instead of running on Nest 11.
 */
function assertNest12Installed() {
  if (fs.existsSync(path.join(NEST12_NODE_MODULES, '@nestjs', 'core', 'package.json'))) return;
  throw new Error(
    `The Nest 12 run needs compat/nest12/node_modules, which is missing; there is no fallback to the ` +
      `root node_modules (Nest 11). Install it with: ${INSTALL_NEST12}   (npm test does this for you)`,
  );
}

module.exports = {
  repoRoot,
  NEST12_ROOT,
  NEST12_NODE_MODULES,
  INSTALL_NEST12,
  isMappedToNest12,
  packageNameOf,
  assertResolvedInNest12,
  assertNest12Installed,
};
