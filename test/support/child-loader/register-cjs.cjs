'use strict';
/**
 * `node -r test/support/child-loader/register-cjs.cjs entry.ts`: the Nest 11 (CommonJS)
 * child. `.ts` files outside node_modules are transpiled to CommonJS, and ESM-style relative
 * imports (`./x.js`) find `./x.ts`. Packages, @nestjs/* included, resolve normally from the
 * root node_modules (Nest 11).
 */
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { transpile } = require('./transpile.cjs');

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolveTsForJs(request, parent, isMain, options) {
  if (
    parent &&
    typeof parent.filename === 'string' &&
    parent.filename.endsWith('.ts') &&
    (request.startsWith('./') || request.startsWith('../')) &&
    request.endsWith('.js')
  ) {
    const asJs = path.resolve(path.dirname(parent.filename), request);
    if (!fs.existsSync(asJs)) {
      const asTs = asJs.slice(0, -3) + '.ts';
      if (fs.existsSync(asTs)) return asTs;
    }
  }
  return originalResolve.call(this, request, parent, isMain, options);
};

Module._extensions['.ts'] = function loadTs(module, filename) {
  if (filename.includes(`${path.sep}node_modules${path.sep}`)) {
    throw new Error(`child-loader: refusing to transpile ${filename} (inside node_modules)`);
  }
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename, 'cjs'), filename);
};
