/**
 * `node --import <file URL of this> entry.ts`: the Nest 12 (ESM) child. Registers
 * esm-hooks.mjs (Node >= 20.6 `module.register`), which transpiles `.ts` to ES modules,
 * maps `./x.js` to `./x.ts`, and resolves every `@nestjs/*`, `rxjs` and `reflect-metadata`
 * import from compat/nest12/node_modules, the same mapping as the Nest 12 jest run.
 *
 * Those hooks do not see `require()`: a CommonJS package that requires Nest (nestjs-cls:
 * `require('@nestjs/core')` for `HttpAdapterHost` and `ModuleRef`) would get Nest 11 from the
 * root node_modules, whose classes Nest 12's injector does not know. So CommonJS resolution of
 * the same specifiers is sent to compat/nest12 as well (Node >= 20.19 `require()`s Nest 12's ES
 * modules, and shares them with the `import`s).
 */
import Module, { createRequire, register } from 'node:module';
import * as path from 'node:path';

register('./esm-hooks.mjs', import.meta.url);

const require = createRequire(import.meta.url);
const { NEST12_ROOT, assertResolvedInNest12, isMappedToNest12 } = require('../nest12-mapping.cjs');
const fromNest12 = { id: NEST12_ROOT, filename: path.join(NEST12_ROOT, 'package.json'), paths: Module._nodeModulePaths(NEST12_ROOT) };
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolveNest12(request, parent, isMain, options) {
  if (!isMappedToNest12(request)) return originalResolve.call(this, request, parent, isMain, options);
  const resolved = originalResolve.call(this, request, fromNest12, isMain, options);
  assertResolvedInNest12(request, resolved);
  return resolved;
};
