/**
 * Module customization hooks for the Nest 12 child (registered by register-esm.mjs).
 * They run on Node's loader thread and apply to every `import` (and the entry file), from
 * any importer, node_modules included; `require()` calls made by CommonJS packages (nestjs-cls)
 * do not go through them: register-esm.mjs sends those to Nest 12 too.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const { NEST12_ROOT, assertResolvedInNest12, isMappedToNest12 } = require('../nest12-mapping.cjs');
const { transpile } = require('./transpile.cjs');

const NEST12_PARENT_URL = pathToFileURL(`${NEST12_ROOT}${sep}package.json`).href;
const isTsUrl = (url) => url.startsWith('file:') && url.endsWith('.ts') && !url.endsWith('.d.ts');

export async function resolve(specifier, context, nextResolve) {
  if (isMappedToNest12(specifier)) {
    // Resolve as if imported from compat/nest12/package.json: Nest 12 and its peers only
    // (never the root node_modules' Nest 11, which Node's lookup would reach by walking up).
    const resolved = await nextResolve(specifier, { ...context, parentURL: NEST12_PARENT_URL });
    assertResolvedInNest12(specifier, resolved.url);
    return resolved;
  }
  const parentURL = context.parentURL;
  if (
    parentURL &&
    isTsUrl(parentURL) &&
    (specifier.startsWith('./') || specifier.startsWith('../')) &&
    specifier.endsWith('.js')
  ) {
    const asJs = new URL(specifier, parentURL);
    if (!existsSync(asJs)) {
      const asTs = new URL(specifier.slice(0, -3) + '.ts', parentURL);
      if (existsSync(asTs)) return { url: asTs.href, format: 'module', shortCircuit: true };
    }
  }
  if (isTsUrl(specifier) || (/^(\/|\.\.?\/)/.test(specifier) && specifier.endsWith('.ts'))) {
    // An explicit .ts path (the entry file, or `import('./x.ts')`).
    const url = new URL(specifier, parentURL ?? pathToFileURL(`${process.cwd()}${sep}`).href);
    return { url: url.href, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (isTsUrl(url)) {
    const filename = fileURLToPath(url);
    if (filename.includes(`${sep}node_modules${sep}`)) {
      throw new Error(`child-loader: refusing to transpile ${filename} (inside node_modules)`);
    }
    const source = await readFile(filename, 'utf8');
    return { format: 'module', source: transpile(source, filename, 'esm'), shortCircuit: true };
  }
  return nextLoad(url, context);
}
