// @ts-check
/**
 * ESLint (flat config) for nest-hosting. `npm run lint` runs it alone; `npm test`
 * (scripts/test-all.mjs) runs it before the jest runs and counts it as one test.
 *
 * Type-aware (typescript-eslint's project service: each file is checked with its nearest
 * tsconfig.json): recommendedTypeChecked plus the promise rules everywhere; src/ and sample-app/
 * strictest (no `any`, no-unsafe-*), test/ and bench/ without the `any` rules; plain recommended
 * rules for the JavaScript scripts and configs. Whole project: about 20 s of CPU, one core
 * (most of it is building the TypeScript program; see scripts/lint.mjs).
 */
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals for the JavaScript files (the `globals` package is not a dependency here). */
const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'AbortController', 'AbortSignal', 'fetch',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
    'queueMicrotask', 'structuredClone', 'performance', 'TextEncoder', 'TextDecoder',
  ].map((name) => [name, 'readonly']),
);

/** Promise rules that matter everywhere: a lost rejection is a crash or a silent hang. */
const promiseRules = {
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': 'error',
  '@typescript-eslint/await-thenable': 'error',
};

export default defineConfig(
  globalIgnores([
    'dist/', 'coverage/', 'compat/', 'node_modules/', 'sample-app/data/', 'tmp/',
    // Consumer projects the package tests copy out and compile against the packed tarball
    // ('nest-hosting' resolves only there).
    'test/package/fixtures/',
  ]),

  // JavaScript: scripts/, the jest configs and test/support's loaders (Node, no type checking).
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: nodeGlobals },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // .cjs files get require/module/exports from ESLint's commonjs source type; add the rest.
  {
    files: ['**/*.cjs'],
    languageOptions: { globals: { __dirname: 'readonly', __filename: 'readonly' } },
  },

  // Playwright's page.evaluate callbacks run in the browser.
  {
    files: ['scripts/docs-screenshot.mjs'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly' } },
  },

  // TypeScript everywhere (src/, test/, bench/, sample-app/): type-aware, each file with its
  // nearest tsconfig.json. The promise rules hold everywhere; the rest is graded below.
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      ...promiseRules,
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Rejecting with an AbortSignal's `reason` (typed `any`) or a caught `unknown` passes the
      // original failure on unchanged; wrapping it would hide the abort reason callers test for.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Flags the `!` on indexed reads (`strings[i]!`), kept so the code stays correct under
      // `noUncheckedIndexedAccess`; an extra assertion never changes behaviour.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Nest lifecycle hooks and interface methods are `async` without awaiting by design
      // (`async onModuleInit()`, `async execute()` that returns at once).
      '@typescript-eslint/require-await': 'off',
      // `let x!: T` assigned once, after closures that read it were created (a backend whose
      // callbacks reach the queue that wraps it), cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },

  // src/ (the published package) and sample-app/ (the code users copy): no `any` anywhere (a
  // public `any` switches off the user's type checking); values typed `any` by Nest, Reflect or
  // JSON.parse are narrowed where they enter.
  {
    files: ['src/**/*.ts', 'sample-app/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },

  // Tests, fixtures and benchmarks: the promise rules and the recommended ones, but
  // `any` is allowed (tests poke at internals, parse JSON and pass deliberately wrong input),
  // and the no-unsafe-* family, which only polices `any`, is off with it.
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
