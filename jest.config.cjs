// @ts-check
/**
 * Jest config for the Nest 11 run: plain CommonJS, ts-jest, the root node_modules.
 * `npm run test:nest11` runs it alone; `npm test` (scripts/test-all.mjs) runs it and then
 * the Nest 12 run (jest.esm.config.cjs), which reuses everything here.
 *
 * NEST_MAJOR/NEST_TEST_MODE are set on this (parent) process so that jest workers and the
 * child processes the tests spawn (test/support/child-app.ts) inherit them.
 */
process.env.NEST_MAJOR = '11';
process.env.NEST_TEST_MODE = 'cjs';

/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json', 'node'],
  // Sources use ESM-style relative imports with a `.js` extension (`./x.js` -> ./x.ts).
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // test/readme/*.spec.ts are README examples, written as an app imports the package: run them on src/.
    '^nest-hosting$': '<rootDir>/src/index.ts',
    '^nest-hosting/(health|dashboard|testing|opentelemetry)$': '<rootDir>/src/$1/index.ts',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
  },
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/dist/', '<rootDir>/compat/'],
  // Tests start real Nest apps, redis-server and child Node processes: 2 cores, 2 workers.
  maxWorkers: 2,
  testTimeout: 60_000,
  // No forceExit: a handle left open (a Redis client, a timer raced against a child's exit) is a
  // leak to fix, and jest's "A worker process has failed to exit gracefully" points at it.
  cacheDirectory: '<rootDir>/node_modules/.cache/jest-nest11',
};
