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
const path = require('node:path');

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

module.exports = { repoRoot, NEST12_ROOT, NEST12_NODE_MODULES, isMappedToNest12, packageNameOf };
