'use strict';
/**
 * Jest resolver for the Nest 12 (ESM) run, jest.esm.config.cjs.
 *
 * Any `@nestjs/*` (with subpaths), `rxjs` or `reflect-metadata` import, whoever makes it
 * (a test, src/, or a package in node_modules such as @nestjs/schedule), is resolved as if
 * it were imported from compat/nest12/package.json: jest's own resolver runs with
 * basedir = compat/nest12, so package "exports", conditions and "main" all apply normally,
 * and the result is always a file under compat/nest12/node_modules. There is no fallback to
 * the root node_modules (Nest 11): a package missing from compat/nest12 fails loudly
 * (or, for Nest's optional packages such as @nestjs/microservices, is "not installed"), and a
 * clone without compat/nest12/node_modules fails on the first import with the command that
 * installs it (assertResolvedInNest12 in nest12-mapping.cjs).
 */
const { NEST12_ROOT, assertResolvedInNest12, isMappedToNest12 } = require('./nest12-mapping.cjs');

module.exports = function nest12Resolver(request, options) {
  if (isMappedToNest12(request)) {
    // The default resolver walks up from compat/nest12 to the root node_modules (Nest 11): refuse that.
    const resolved = options.defaultResolver(request, { ...options, basedir: NEST12_ROOT });
    assertResolvedInNest12(request, resolved);
    return resolved;
  }
  return options.defaultResolver(request, options);
};
