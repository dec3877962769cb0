/**
 * The dual-package hazard (issue 10, item 2). The package ships two full builds, dist/cjs and
 * dist/esm; an ES-module app whose CommonJS dependency also requires nest-hosting loads both.
 * Every class that carries identity (injectables, modules, errors, contexts) must still exist
 * once per process (src/one-copy.ts), so that DI by class and `instanceof` work across them.
 *
 * The consumer (test/support/packed-package.ts, Nest 11 in the Nest 11 run, Nest 12 in the
 * Nest 12 run) holds an ES-module app (fixtures/dual-package/app, compiled with nodenext) and
 * node_modules/dual-dep, a CommonJS library (fixtures/dual-package/dep, compiled with
 * module commonjs): the library declares a provider injecting HostingRegistry by type, a queue
 * with @InjectQueue / @QueueWorker, a @Periodic task and HostingHealthIndicator.
 */
import { jest } from '@jest/globals';
import { Inject, Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as hosting from '../../src/index.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../../src/one-copy.js';
import { createConsumer, type Consumer } from '../support/packed-package.js';
import { fromRoot, repoRoot } from '../support/paths.js';

jest.setTimeout(300_000);

const nest12 = process.env.NEST_MAJOR === '12';
const fixtures = fromRoot('test', 'package', 'fixtures', 'dual-package');
const readFixture = (...segments: string[]): string => fs.readFileSync(path.join(fixtures, ...segments), 'utf8');

const compilerOptions = {
  target: 'ES2022',
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  skipLibCheck: true,
  declaration: true,
  types: ['node'],
};

let consumer: Consumer;

/** Runs the consumer's tsc on `project`; resolves with its output ('' when it compiled cleanly). */
async function tsc(project: string): Promise<string> {
  const res = await consumer.node('node_modules/typescript/bin/tsc', { args: ['-p', project, '--pretty', 'false'], timeoutMs: 240_000 });
  return `${res.code === 0 ? '' : `exit ${res.code ?? res.signal}\n`}${res.stdout}${res.stderr}`.trim();
}

/** The `RESULT {json}` line of `node <entry>`. */
async function runApp(entry = 'main.js'): Promise<Record<string, unknown>> {
  const res = await consumer.node(entry, { timeoutMs: 120_000 });
  const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`node ${entry} printed no RESULT line (exit ${res.code ?? res.signal})\n${res.stdout}\n${res.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>;
}

/** What app.ts's run() reports when one copy of every class is shared by the app and its library. */
const shared = {
  classCount: expect.any(Number),
  differingClasses: [],
  registryIsShared: true,
  paramtypeIsTheClass: true,
  depParamtypeIsTheClass: true,
  registryInstanceOf: true,
  healthInstanceOf: true,
  healthReady: { lifetime: { status: 'up', state: 'running' } },
  tickName: 'dep-tick',
  tickInstanceOf: true,
  tickStatusKind: 'periodic',
  queueInstanceOf: true,
  enqueuedId: 'string',
  job: { n: 7 },
  jobCtxInstanceOf: true,
  errorIsEsmClass: true,
  errorIsCjsClass: true,
};

beforeAll(async () => {
  consumer = await createConsumer(nest12 ? 'esm-nest12' : 'cjs-nest11');
  consumer.write('package.json', `${JSON.stringify({ name: 'dual-app', version: '0.0.0', private: true, type: 'module' }, null, 2)}\n`);
  // The CommonJS library, compiled as such a library usually is (module commonjs, node10).
  consumer.write('dep-src/index.ts', readFixture('dep', 'index.ts'));
  consumer.write('node_modules/dual-dep/package.json', readFixture('dep', 'package.json'));
  consumer.write(
    'tsconfig.dep.json',
    JSON.stringify({
      compilerOptions: { ...compilerOptions, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, rootDir: 'dep-src', outDir: 'node_modules/dual-dep' },
      files: ['dep-src/index.ts'],
    }),
  );
  // The ES-module app.
  for (const file of ['app.ts', 'main.ts', 'main-cjs-first.ts', 'dual.test.mjs', 'jest.config.cjs']) consumer.write(file, readFixture('app', file));
  consumer.write('tsconfig.json', JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['main.ts', 'main-cjs-first.ts', 'app.ts'] }));
  expect(await tsc('tsconfig.dep.json')).toBe('');
  // Also proves that the typings keep WorkQueue<T>'s item type (app.ts: typeChecks).
  expect(await tsc('tsconfig.json')).toBe('');
});

afterAll(() => consumer?.dispose());

it('keys the shared classes by the version in package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
  expect({ PACKAGE_NAME, PACKAGE_VERSION }).toEqual({ PACKAGE_NAME: pkg.name, PACKAGE_VERSION: pkg.version });
});

it('puts @OneCopy(name) first on the class it names (decorators apply bottom-up)', () => {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.name.endsWith('.ts')) files.push(abs);
    }
  };
  walk(fromRoot('src'));
  const misplaced: string[] = [];
  let count = 0;
  for (const file of files) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const name = /^@OneCopy\('(\w+)'\)$/.exec(line)?.[1];
      if (!name) return;
      count++;
      const classLine = lines.slice(i + 1).find((l) => !l.startsWith('@') && !l.startsWith(' ') && !l.startsWith('}') && !l.startsWith(')'));
      const first = !lines[i - 1]?.startsWith('@');
      if (!first || !new RegExp(`^export (abstract )?class ${name}[ <]`).test(classLine ?? ''))
        misplaced.push(`${path.relative(repoRoot, file)}:${i + 1} ${line} -> ${classLine ?? '(no class)'}`);
    });
  }
  expect(misplaced).toEqual([]);
  expect(count).toBeGreaterThanOrEqual(15);
});

it.each([
  ['the ESM build', 'main.js'],
  ['the CommonJS build', 'main-cjs-first.js'],
])(`in Node, an ES-module app and its CommonJS library share every class of the package (Nest ${nest12 ? '12, required through require(esm)' : '11'}; %s loaded first)`, async (_first, entry) => {
  const result = await runApp(entry);
  expect(result).toEqual(shared);
  expect(result.classCount).toBeGreaterThanOrEqual(15);
  // TypeScript emitted the class itself for `constructor(readonly registry: HostingRegistry)`.
  expect(fs.readFileSync(path.join(consumer.dir, 'app.js'), 'utf8')).toMatch(/design:paramtypes", \[HostingRegistry,/);
});

it(`under jest in ESM mode, ${nest12 ? 'a CommonJS library cannot load Nest 12 at all (jest cannot require an ES module)' : 'the app and its CommonJS library share every class of the package'}`, async () => {
  const res = await consumer.node(path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js'), {
    args: ['--config', 'jest.config.cjs', '--ci', '--no-watchman'],
    env: { NODE_OPTIONS: '--experimental-vm-modules --disable-warning=ExperimentalWarning' },
    timeoutMs: 180_000,
  });
  const file = path.join(consumer.dir, 'jest-result.json');
  if (!fs.existsSync(file)) throw new Error(`the consumer's jest wrote no result (exit ${res.code ?? res.signal})\n${res.stdout}\n${res.stderr}`);
  const result = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (nest12) {
    // What a user sees (README, "One copy in memory"): the library's require('@nestjs/common') fails
    // before nest-hosting is reached, so no second copy can load.
    expect(result).toEqual({ loadFailed: expect.stringMatching(/^Must use import to load ES Module: .*@nestjs[\\/]common[\\/]/) });
  } else {
    expect(result).toEqual(shared);
  }
});

it('in this jest run, the packed build and src/ are one copy: DI by class and instanceof work across them', async () => {
  const entry = path.join(consumer.dir, 'node_modules', 'nest-hosting', 'dist', nest12 ? 'esm' : 'cjs', 'index.js');
  const packed = (await import(entry)) as typeof hosting;
  const classes = Object.entries(hosting).filter(([, value]) => typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value)));
  expect(classes.length).toBeGreaterThanOrEqual(15);
  expect(classes.filter(([name, value]) => (packed as unknown as Record<string, unknown>)[name] !== value).map(([name]) => name)).toEqual([]);

  @Injectable()
  class UsesPacked {
    constructor(
      @Inject(packed.HostingRegistry) readonly registry: hosting.HostingRegistry,
      @Inject(packed.getQueueToken('dual')) readonly queue: hosting.WorkQueue<number>,
    ) {}
  }
  const moduleRef = await Test.createTestingModule({
    imports: [hosting.HostingModule.forRoot(), packed.HostingModule.registerQueue({ name: 'dual' })],
    providers: [UsesPacked],
  }).compile();
  await moduleRef.init();
  try {
    const uses = moduleRef.get(UsesPacked);
    expect(uses.registry).toBe(moduleRef.get(hosting.HostingRegistry));
    expect(uses.queue).toBeInstanceOf(hosting.WorkQueue);
    await expect(uses.registry.trigger('no-such-task')).rejects.toBeInstanceOf(packed.UnknownServiceError);
  } finally {
    await moduleRef.close();
  }
});

it('keeps two different versions of the package apart', async () => {
  // npm nests a library's own version when it differs from the app's.
  const nested = path.join(consumer.dir, 'node_modules', 'dual-dep', 'node_modules', 'nest-hosting');
  fs.cpSync(path.join(consumer.dir, 'node_modules', 'nest-hosting'), nested, { recursive: true });
  try {
    for (const rel of ['package.json', 'dist/cjs/one-copy.js', 'dist/esm/one-copy.js']) {
      const file = path.join(nested, rel);
      const text = fs.readFileSync(file, 'utf8');
      const bumped = text.replace(`"version": "${PACKAGE_VERSION}"`, `"version": "${PACKAGE_VERSION}-other"`).replace(`'${PACKAGE_VERSION}'`, `'${PACKAGE_VERSION}-other'`);
      expect(bumped).not.toBe(text);
      fs.writeFileSync(file, bumped);
    }
    const result = await runApp();
    expect(result).toEqual({ startFailed: expect.stringMatching(/^Nest can't resolve dependencies/), classCount: expect.any(Number), differingClasses: expect.any(Array) });
    // Every class differs: nothing of one version leaks into the other.
    expect((result.differingClasses as string[]).length).toBe(result.classCount);
  } finally {
    fs.rmSync(path.join(consumer.dir, 'node_modules', 'dual-dep', 'node_modules'), { recursive: true, force: true });
  }
});
