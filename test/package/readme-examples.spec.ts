/**
 * Doc-tests: every ```ts block of README.md compiles in a consumer app that installed the packed
 * package (strict TypeScript; CommonJS + Nest 11 + node10 and nodenext resolution in the Nest 11
 * run, ESM + Nest 12 + nodenext in the Nest 12 run) and runs as written. The convention and the
 * markers are described in test/support/readme-blocks.ts.
 */
import { jest } from '@jest/globals';
import * as fs from 'node:fs';
import { createConsumer, type Consumer, type ConsumerKind } from '../support/packed-package.js';
import { getFreePort } from '../support/free-port.js';
import { fromRoot } from '../support/paths.js';
import {
  diagnosticsByFile,
  extractTsBlocks,
  RUNNER_FILE,
  RUNNER_SOURCE,
  runBlock,
  runMainBlock,
  runProblems,
  toReadmeLocation,
  type BlockRun,
  type ReadmeBlock,
} from '../support/readme-blocks.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(120_000);

const kind: ConsumerKind = process.env.NEST_MAJOR === '12' ? 'esm-nest12' : 'cjs-nest11';
const readme = fs.readFileSync(fromRoot('README.md'), 'utf8');
const blocks = extractTsBlocks(readme);

/** Blocks that must fail, so that a runner which passes everything is caught. */
const canaries = {
  typeError: `import { Injectable } from '@nestjs/common';
@Injectable()
export class Totals {
  sum(): number { return 'not a number'; }
}
`,
  // TS2729 under target ES2022+ (define semantics): the consumer must compile with such a target.
  fieldBeforeParameterProperty: `import { Injectable } from '@nestjs/common';
@Injectable()
export class Holder {
  private readonly value = this.source.length;
  constructor(private readonly source: string[]) {}
  get size() { return this.value; }
}
`,
  definitionTimeValidation: `import { Injectable } from '@nestjs/common';
import { Periodic } from 'nest-hosting';
@Injectable()
export class Job {
  @Periodic(0)
  async run() {}
}
`,
  startFailure: `import { Module } from '@nestjs/common';
import { BackgroundService, HostingModule } from 'nest-hosting';
@BackgroundService({ onError: 'stopHost' })
export class Broken {
  async execute(signal: AbortSignal) { throw new Error('broken on purpose'); }
}
@Module({ imports: [HostingModule.forRoot()], providers: [Broken] })
export class AppModule {}
`,
  // Constructor injection by type needs emitDecoratorMetadata in the consumer's format.
  decoratorMetadata: `import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { HostingModule, ScopeFactory } from 'nest-hosting';
@Injectable()
export class UsesScopes implements OnModuleInit {
  constructor(private readonly scopes: ScopeFactory) {}
  onModuleInit() {
    if (!(this.scopes instanceof ScopeFactory)) throw new Error('ScopeFactory was not injected: no decorator metadata');
    if (!Reflect.getMetadata('design:paramtypes', UsesScopes)) throw new Error('no design:paramtypes');
  }
}
@Module({ imports: [HostingModule.forRoot()], providers: [UsesScopes] })
export class AppModule {}
`,
  neverCloses: `import { Module, type OnModuleInit } from '@nestjs/common';
import { HostingModule } from 'nest-hosting';
@Module({ imports: [HostingModule.forRoot()] })
export class AppModule implements OnModuleInit {
  onModuleInit() { setInterval(() => undefined, 1_000); } // a leaked timer keeps the process alive
}
`,
};
const canaryFile = (name: keyof typeof canaries) => `readme/canary-${name}.ts`;

/** Runs tasks two at a time (2 cores), first come first served; a task that throws becomes a failed run. */
function twoAtATime(): (task: () => Promise<BlockRun>) => Promise<BlockRun> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } catch (error) {
      return { code: null, signal: null, stdout: '', stderr: `DOCTEST: the run could not start: ${String(error)}` };
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

describe('extractTsBlocks', () => {
  const md = [
    '# Title',
    '```ts',
    'export const a = 1;',
    '```',
    '## Part two',
    '```bash',
    'npm test',
    '```',
    '~~~TypeScript doctest:compile-only',
    'export const b = 2;',
    '~~~',
    '````md',
    '```ts',
    'not a block of its own',
    '```',
    '````',
    '```ts doctest:main',
    'export const c = 3;',
    '```',
  ].join('\n');

  it('takes every ts/typescript block, with its heading, index, line and markers', () => {
    const found = extractTsBlocks(md);
    expect(found.map((b) => [b.name, b.line, b.markers, b.code])).toEqual([
      ['Title #1', 2, [], 'export const a = 1;\n'],
      ['Part two #1', 9, ['compile-only'], 'export const b = 2;\n'],
      ['Part two #2', 17, ['main'], 'export const c = 3;\n'],
    ]);
    expect(new Set(found.map((b) => b.file)).size).toBe(3);
  });

  it('takes a fence nested in a list item, without its indentation', () => {
    const [nested] = extractTsBlocks('## List\n- step one:\n\n    ```ts\n    export const d = 4;\n    ```\n');
    expect([nested.name, nested.line, nested.code]).toEqual(['List #1', 4, 'export const d = 4;\n']);
  });

  it('refuses an unknown marker, an unclosed fence and tsx, so no block is skipped silently', () => {
    expect(() => extractTsBlocks('```ts doctest:skip\nx\n```')).toThrow(/README\.md:1: unknown doc-test marker "doctest:skip"/);
    expect(() => extractTsBlocks('```ts doctest:compile-onyl\nx\n```')).toThrow(/unknown doc-test marker/);
    expect(() => extractTsBlocks('# A\n```ts\nexport {};\n')).toThrow(/README\.md:2: code fence ``` is never closed/);
    expect(() => extractTsBlocks('```tsx\nx\n```')).toThrow(/tsx block/);
  });

  it('finds as many blocks in README.md as there are ts fences in it', () => {
    const fences = readme.split('\n').filter((l) => /^\s*(`{3,}|~{3,})\s*(ts|typescript|mts|cts|tsx)\b/i.test(l)).length;
    expect(blocks.length).toBe(fences);
    expect(blocks.length).toBeGreaterThan(10);
  });
});

describe(`README.md examples in a ${kind} consumer of the packed package`, () => {
  let consumer: Consumer;
  let diagnostics: Map<string, string[]>;
  let nodenextDiagnostics: Map<string, string[]> | undefined;
  let redis: RedisServerHandle | undefined;
  let env: NodeJS.ProcessEnv;
  /** Each block's run (and each canary's), started in beforeAll two at a time; the tests await them. */
  const runs = new Map<string, Promise<BlockRun>>();
  const runOf = (file: string): Promise<BlockRun> => {
    const run = runs.get(file);
    if (!run) throw new Error(`${file} was not run (beforeAll failed?)`);
    return run;
  };

  beforeAll(async () => {
    consumer = await createConsumer(kind);
    for (const block of blocks) if (!block.markers.includes('test')) consumer.write(block.file, block.code);
    for (const name of Object.keys(canaries) as (keyof typeof canaries)[]) consumer.write(canaryFile(name), canaries[name]);
    consumer.write(RUNNER_FILE, RUNNER_SOURCE);
    const [emitted, nodenext] = await Promise.all([
      consumer.tsc(),
      // The CommonJS consumer also compiles under nodenext resolution (type check only).
      kind === 'cjs-nest11'
        ? consumer.tsc(['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext'])
        : undefined,
    ]);
    diagnostics = diagnosticsByFile(emitted.output);
    nodenextDiagnostics = nodenext && diagnosticsByFile(nodenext.output);
    if (blocks.some((b) => b.code.includes('REDIS_URL'))) redis = await startRedisServer();
    env = { NO_COLOR: '1', SHUTDOWN_TIMEOUT_MS: '30000', ...(redis ? { REDIS_URL: redis.url } : {}) };

    const slot = twoAtATime();
    for (const block of blocks) {
      if (block.markers.includes('compile-only') || block.markers.includes('test') || diagnostics.has(block.file)) continue;
      runs.set(
        block.file,
        slot(async () =>
          block.markers.includes('main')
            ? runMainBlock(consumer, block.file, { ...env, PORT: String(await getFreePort()) })
            : runBlock(consumer, block.file, env),
        ),
      );
    }
    for (const name of ['definitionTimeValidation', 'startFailure', 'decoratorMetadata'] as const) {
      runs.set(canaryFile(name), slot(() => runBlock(consumer, canaryFile(name), env)));
    }
    // The canary can never exit by itself: the short limit cannot make its test flaky.
    runs.set(canaryFile('neverCloses'), slot(() => runBlock(consumer, canaryFile('neverCloses'), env, 5_000)));
  }, 600_000);

  afterAll(async () => {
    await Promise.all(runs.values());
    await redis?.stop();
    consumer?.dispose();
  });

  it('compiles with no diagnostic outside the blocks and the canaries', () => {
    const known = new Set([...blocks.map((b) => b.file), ...Object.keys(canaries).map((n) => canaryFile(n as keyof typeof canaries))]);
    for (const map of [diagnostics, nodenextDiagnostics]) {
      const other = [...(map ?? new Map<string, string[]>())].filter(([file]) => !known.has(file));
      expect(other).toEqual([]);
    }
  });

  describe('the runner fails what it must fail', () => {
    it('reports a type error of a block', () => {
      expect((diagnostics.get(canaryFile('typeError')) ?? []).join('\n')).toMatch(/TS2322/);
    });

    it('compiles with a target that reports TS2729 (a field initialiser reading a parameter property)', () => {
      expect((diagnostics.get(canaryFile('fieldBeforeParameterProperty')) ?? []).join('\n')).toMatch(/TS2729/);
    });

    it('fails a block whose classes fail validation as they are defined', async () => {
      const run = await runOf(canaryFile('definitionTimeValidation'));
      expect(runProblems(run, 'module').join('\n')).toMatch(/exit code 1[\s\S]*@Periodic on Job\.run/);
    });

    it('fails a block whose app logs an error and stops', async () => {
      const run = await runOf(canaryFile('startFailure'));
      expect(runProblems(run, 'module').join('\n')).toMatch(/error lines:[\s\S]*broken on purpose/);
    });

    it('fails a block whose process does not end after close()', async () => {
      const run = await runOf(canaryFile('neverCloses'));
      expect(run.signal ?? run.code).not.toBe(0);
      expect(runProblems(run, 'module')).not.toEqual([]);
    });

    it('runs decorated constructor injection (experimentalDecorators + emitDecoratorMetadata)', async () => {
      expect(diagnostics.get(canaryFile('decoratorMetadata'))).toBeUndefined();
      const run = await runOf(canaryFile('decoratorMetadata'));
      expect(runProblems(run, 'module')).toEqual([]);
    });
  });

  const describeBlock = (block: ReadmeBlock) =>
    `${block.name} (README.md:${block.line}${block.markers.length ? `, ${block.markers.map((m) => `doctest:${m}`).join(' ')}` : ''})`;

  for (const block of blocks) {
    it(describeBlock(block), async () => {
      if (block.markers.includes('test')) {
        // A test the suite runs: the README shows it exactly as it is in the repository.
        const named = /^\/\/ (test\/readme\/[\w.-]+\.spec\.ts)\n/.exec(block.code)?.[1];
        expect({ block: block.name, file: named }).toEqual({ block: block.name, file: expect.stringMatching(/^test\/readme\//) });
        expect(fs.readFileSync(fromRoot(named!), 'utf8')).toBe(block.code);
        return;
      }
      const compileErrors = (diagnostics.get(block.file) ?? []).map((d) => toReadmeLocation(block, d));
      const nodenextErrors = (nodenextDiagnostics?.get(block.file) ?? []).map((d) => `nodenext: ${toReadmeLocation(block, d)}`);
      expect({ block: block.name, compileErrors: [...compileErrors, ...nodenextErrors] }).toEqual({ block: block.name, compileErrors: [] });
      if (block.markers.includes('compile-only')) return;
      const run = await runOf(block.file);
      if (process.env.DOCTEST_SHOW) process.stdout.write(`=== ${block.name}\n${run.stdout}${run.stderr}\n`);
      expect({ block: block.name, problems: runProblems(run, block.markers.includes('main') ? 'main' : 'module'), stdout: run.stdout })
        .toEqual({ block: block.name, problems: [], stdout: run.stdout });
    });
  }
});
