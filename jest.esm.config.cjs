// @ts-check
/**
 * Jest config for the Nest 12 run: the SAME test files as jest.config.cjs, in ESM mode.
 * Nest 12 is ESM-only ("type": "module"), which jest 30 on Node 20 loads only in ESM mode.
 *
 *   node --experimental-vm-modules node_modules/jest/bin/jest.js --config jest.esm.config.cjs
 *   (npm run test:nest12; npm test runs it after the Nest 11 run)
 *
 * Nest 12 lives in compat/nest12/node_modules (npm ci --prefix compat/nest12). The resolver
 * test/support/jest-nest12-resolver.cjs sends every `@nestjs/*` import (subpaths included),
 * plus `rxjs` and `reflect-metadata`, there, whoever imports it (tests, src/, and packages
 * inside node_modules such as @nestjs/schedule), so the whole app shares one copy of Nest 12.
 * Type checking (ts-jest) uses the same mapping through `paths`, i.e. the Nest 12 typings.
 */
const base = require('./jest.config.cjs');

// No compat/nest12/node_modules: fail here, with the fix, rather than resolve Nest 11 from the root.
require('./test/support/nest12-mapping.cjs').assertNest12Installed();

process.env.NEST_MAJOR = '12';
process.env.NEST_TEST_MODE = 'esm';

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  extensionsToTreatAsEsm: ['.ts'],
  resolver: '<rootDir>/test/support/jest-nest12-resolver.cjs',
  transform: {
    '^.+\\.ts$': [
      // ts-jest, plus type errors reported in ESM mode too (see the file).
      '<rootDir>/test/support/ts-jest-esm-transformer.cjs',
      {
        useESM: true,
        // Merged over <rootDir>/tsconfig.json.
        tsconfig: {
          module: 'ES2022',
          moduleResolution: 'bundler',
          paths: {
            '@nestjs/*': ['./compat/nest12/node_modules/@nestjs/*'],
            rxjs: ['./compat/nest12/node_modules/rxjs'],
            'rxjs/*': ['./compat/nest12/node_modules/rxjs/*'],
            'reflect-metadata': ['./compat/nest12/node_modules/reflect-metadata'],
            'nest-hosting': ['./src/index.ts'],
            'nest-hosting/*': ['./src/*/index.ts'],
          },
        },
      },
    ],
  },
  cacheDirectory: '<rootDir>/node_modules/.cache/jest-nest12',
};
