'use strict';
/**
 * TypeScript -> JavaScript for child processes (see ../child-app.ts), with the compiler
 * options of the repo's tsconfig.json (experimentalDecorators, emitDecoratorMetadata,
 * target, useDefineForClassFields, ...) and only `module` changed: CommonJS for the Nest 11
 * child, ES2022 for the Nest 12 child. No type checking (ts.transpileModule, like
 * isolatedModules): so a type-only import used in a decorated constructor must be written
 * `import type` (or be a class).
 *
 * Results are cached on disk (node_modules/.cache/nest-hosting-child-ts), keyed by the
 * source, the options and the TypeScript version, so a warm child does not even load the
 * compiler.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { repoRoot } = require('../nest12-mapping.cjs');

const cacheDir = path.join(repoRoot, 'node_modules', '.cache', 'nest-hosting-child-ts');
let ts;
let baseOptions;
let tsVersion;

function typescript() {
  if (!ts) ts = require(require.resolve('typescript', { paths: [repoRoot] }));
  return ts;
}

function typescriptVersion() {
  if (!tsVersion) {
    const pkg = require.resolve('typescript/package.json', { paths: [repoRoot] });
    tsVersion = JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
  }
  return tsVersion;
}

function compilerOptions() {
  if (!baseOptions) {
    const t = typescript();
    const configFile = path.join(repoRoot, 'tsconfig.json');
    const read = t.readConfigFile(configFile, t.sys.readFile);
    if (read.error) throw new Error(t.flattenDiagnosticMessageText(read.error.messageText, '\n'));
    const parsed = t.parseJsonConfigFileContent(read.config, t.sys, repoRoot, undefined, configFile);
    baseOptions = {
      ...parsed.options,
      declaration: false,
      declarationMap: false,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: true,
      noEmit: false,
      incremental: false,
      composite: false,
    };
    delete baseOptions.outDir;
    delete baseOptions.rootDir;
    delete baseOptions.tsBuildInfoFile;
  }
  return baseOptions;
}

/** @param {'cjs'|'esm'} mode */
function transpile(source, filename, mode) {
  const tsconfigText = fs.readFileSync(path.join(repoRoot, 'tsconfig.json'), 'utf8');
  const key = crypto
    .createHash('sha256')
    .update([mode, typescriptVersion(), tsconfigText, filename, source].join('\0'))
    .digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // miss
  }
  const t = typescript();
  const options = { ...compilerOptions() };
  if (mode === 'esm') {
    options.module = t.ModuleKind.ES2022;
    options.moduleResolution = t.ModuleResolutionKind.Bundler;
  } else {
    options.module = t.ModuleKind.CommonJS;
    options.moduleResolution = t.ModuleResolutionKind.Node10;
  }
  const out = t.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: false });
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    fs.writeFileSync(tmp, out.outputText);
    fs.renameSync(tmp, cached); // atomic: concurrent children never read half a file
  } catch {
    // a read-only tree just means no cache
  }
  return out.outputText;
}

module.exports = { transpile };
