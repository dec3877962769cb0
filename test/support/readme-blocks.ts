/**
 * Doc-tests of README.md: every ```ts block is extracted, written as its own module into a
 * consumer app that installed the packed package (test/support/packed-package.ts), compiled
 * there under strict TypeScript and executed. test/package/readme-examples.spec.ts drives it.
 *
 * The convention for README blocks (README.md's "Developing" section says it in short):
 * - A ```ts (or ```typescript) block is a complete module: its own `import` lines, every user
 *   class it uses declared in it (small and realistic), the root module exported as `AppModule`
 *   when it is meant to start. The runner then starts it (`NestFactory.createApplicationContext`,
 *   or `NestFactory.create` when a module of it has controllers), waits for `HostLifetime.started`,
 *   gives hosted work a moment, closes it, and expects exit code 0, no error-level log line and
 *   nothing on stderr. A block without `AppModule` is imported (decorators run, so class-definition
 *   validation runs).
 * - Markers go after the language, in the info string (GitHub ignores them):
 *   ```` ```ts doctest:main ```` — an entry point (a `main.ts`): it runs as a process with `PORT`
 *   set to a free port; once Nest logs "successfully started" it gets SIGTERM and must exit 0.
 *   ```` ```ts doctest:compile-only ```` — compiled but not executed (for what no test can run).
 *   ```` ```ts doctest:test ```` — a Jest test file (the README's Testing section): its first line
 *   is `// test/readme/<name>.spec.ts`, and that file in this repository must hold exactly the
 *   block's code; the suite runs it (on both Nest majors, 'nest-hosting' mapped to src/).
 *   Any other `doctest:` word fails the extraction, so a typo cannot skip a block.
 * - Blocks run with `SHUTDOWN_TIMEOUT_MS=30000` and, when a block mentions `REDIS_URL`, with
 *   `REDIS_URL` pointing at a throw-away redis-server.
 * - `DOCTEST_SHOW=1 npx jest … readme-examples` prints each block's output.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Consumer } from './packed-package.js';
import { killOnExit, killWithParent } from './process-guard.js';

export const DOCTEST_MARKERS = ['compile-only', 'main', 'test'] as const;
export type DoctestMarker = (typeof DOCTEST_MARKERS)[number];

/** Languages whose fenced blocks are doc-tested. */
const TS_LANGUAGES = new Set(['ts', 'typescript', 'mts', 'cts', 'tsx']);

export interface ReadmeBlock {
  /** 1-based position among the tested blocks of the file. */
  index: number;
  /** The nearest heading above the block, without the `#`s (the title for the first section). */
  heading: string;
  /** 1-based position among the tested blocks under that heading. */
  indexInSection: number;
  /** 1-based line of the opening fence in the markdown file. */
  line: number;
  /** The info string as written (`ts doctest:main`). */
  info: string;
  markers: DoctestMarker[];
  code: string;
  /** `Scopes #2`: what tests are named after. */
  name: string;
  /** Path of the block's module in the consumer, e.g. `readme/b07-scopes-2.ts`. */
  file: string;
}

/**
 * Every fenced block whose language is ts/typescript (case-insensitive), in order. Throws on an
 * unknown `doctest:` marker, a block left open, or a tested block in a format the runner does not
 * handle (tsx), so no block is skipped without an explicit marker.
 */
export function extractTsBlocks(markdown: string, fileName = 'README.md'): ReadmeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: ReadmeBlock[] = [];
  const perHeading = new Map<string, number>();
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const heading_ = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(lines[i]);
    if (heading_) {
      heading = heading_[2];
      continue;
    }
    // Any indentation: a fence nested in a list item may be indented by more than 3 spaces.
    const open = /^([ \t]*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, infoRaw] = open;
    const info = infoRaw.trim();
    const close = new RegExp(`^[ \\t]*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end])) end++;
    if (end >= lines.length) throw new Error(`${fileName}:${i + 1}: code fence ${fence} is never closed`);
    const words = info.split(/\s+/).filter(Boolean);
    const lang = (words[0] ?? '').toLowerCase();
    if (TS_LANGUAGES.has(lang)) {
      if (lang === 'tsx') throw new Error(`${fileName}:${i + 1}: a tsx block cannot be doc-tested; use ts`);
      const markers: DoctestMarker[] = [];
      for (const word of words.slice(1)) {
        if (!word.toLowerCase().startsWith('doctest:')) continue;
        const marker = word.slice('doctest:'.length) as DoctestMarker;
        if (!DOCTEST_MARKERS.includes(marker)) {
          throw new Error(
            `${fileName}:${i + 1}: unknown doc-test marker "${word}" (known: ${DOCTEST_MARKERS.map((m) => `doctest:${m}`).join(', ')})`,
          );
        }
        markers.push(marker);
      }
      if (markers.includes('main') && markers.includes('compile-only')) {
        throw new Error(`${fileName}:${i + 1}: doctest:main and doctest:compile-only exclude each other`);
      }
      const code = lines
        .slice(i + 1, end)
        .map((l) => (indent && l.startsWith(indent) ? l.slice(indent.length) : l))
        .join('\n');
      const inSection = (perHeading.get(heading) ?? 0) + 1;
      perHeading.set(heading, inSection);
      const index = blocks.length + 1;
      const slug = heading.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'top';
      blocks.push({
        index,
        heading,
        indexInSection: inSection,
        line: i + 1,
        info,
        markers,
        code: `${code}\n`,
        name: `${heading || '(top)'} #${inSection}`,
        file: `readme/b${String(index).padStart(2, '0')}-${slug}-${inSection}.ts`,
      });
    }
    i = end;
  }
  return blocks;
}

/**
 * tsc output (`--pretty false`) grouped by file (relative to the consumer, `/` separators);
 * diagnostics that name no file are under ''.
 */
export function diagnosticsByFile(output: string): Map<string, string[]> {
  const byFile = new Map<string, string[]>();
  let last: string[] | undefined;
  for (const line of output.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const m = /^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+: .*)$/.exec(line);
    const key = m ? m[1].split(path.sep).join('/') : /^(error|warning) TS\d+/.test(line) ? '' : undefined;
    if (key === undefined) {
      // continuation of the previous message; anything else (a crash of tsc) counts as file-less
      if (last) last.push(line);
      else byFile.set('', [...(byFile.get('') ?? []), line]);
      continue;
    }
    const entry = byFile.get(key) ?? [];
    entry.push(line);
    byFile.set(key, entry);
    last = entry;
  }
  return byFile;
}

/** A diagnostic of a block's file with the README line it points at. */
export function toReadmeLocation(block: ReadmeBlock, diagnostic: string): string {
  const m = /^.+?\((\d+),(\d+)\): (.*)$/.exec(diagnostic);
  return m ? `README.md:${block.line + Number(m[1])}:${m[2]}: ${m[3]}` : diagnostic;
}

/**
 * The in-consumer runner, compiled with the blocks (so it has the consumer's module format and
 * shares its copy of Nest and nest-hosting). `DOCTEST_BLOCK` is the compiled block to run.
 */
export const RUNNER_FILE = 'readme/doctest-runner.ts';
export const RUNNER_SOURCE = `import 'reflect-metadata';
import type { LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HostLifetime } from 'nest-hosting';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

const say = (line: string) => process.stdout.write(\`\${line}\\n\`);
const text = (value: unknown): string =>
  value instanceof Error ? (value.stack ?? String(value)) : typeof value === 'string' ? value : JSON.stringify(value);

/** One line per entry, level first, so that error lines are easy to find. */
class LineLogger implements LoggerService {
  private line(level: string, message: unknown, rest: unknown[]) {
    say(\`[\${level}] \${[message, ...rest].map(text).join(' | ')}\`);
  }
  log(message: unknown, ...rest: unknown[]) { this.line('LOG', message, rest); }
  warn(message: unknown, ...rest: unknown[]) { this.line('WARN', message, rest); }
  error(message: unknown, ...rest: unknown[]) { this.line('ERROR', message, rest); }
  fatal(message: unknown, ...rest: unknown[]) { this.line('FATAL', message, rest); }
  debug(message: unknown, ...rest: unknown[]) { this.line('DEBUG', message, rest); }
  verbose(message: unknown, ...rest: unknown[]) { this.line('VERBOSE', message, rest); }
}

/** Whether the module graph declares a controller (then the app needs the HTTP platform). */
function hasControllers(entry: unknown, seen = new Set<unknown>()): boolean {
  if (entry === null || entry === undefined || seen.has(entry)) return false;
  seen.add(entry);
  const meta = (key: string, target: object): unknown[] => (Reflect.getMetadata(key, target) as unknown[] | undefined) ?? [];
  if (typeof entry === 'function') {
    return meta('controllers', entry).length > 0 || meta('imports', entry).some((i) => hasControllers(i, seen));
  }
  if (typeof entry === 'object' && 'module' in entry) {
    const dynamic = entry as { module: unknown; controllers?: unknown[]; imports?: unknown[] };
    return (dynamic.controllers?.length ?? 0) > 0 || hasControllers(dynamic.module, seen) ||
      (dynamic.imports ?? []).some((i) => hasControllers(i, seen));
  }
  return false;
}

async function main(): Promise<void> {
  const file = process.env.DOCTEST_BLOCK;
  if (!file) throw new Error('DOCTEST_BLOCK is not set');
  const mod = (await import(typeof require === 'function' ? file : pathToFileURL(file).href)) as Record<string, unknown>;
  say('DOCTEST imported');
  const AppModule = mod.AppModule as Type | undefined;
  if (AppModule === undefined) return;
  const logger = new LineLogger();
  const http = hasControllers(AppModule);
  const app = http
    ? await NestFactory.create(AppModule, { logger, abortOnError: false })
    : await NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
  await app.init();
  say(\`DOCTEST started (\${http ? 'NestFactory.create' : 'NestFactory.createApplicationContext'})\`);
  let lifetime: HostLifetime | undefined;
  try {
    lifetime = app.get(HostLifetime, { strict: false });
  } catch {
    lifetime = undefined;
  }
  if (lifetime) await lifetime.started;
  await delay(200); // hosted work's first turns: execute loops, runOnStart ticks, queue workers
  await app.close();
  say('DOCTEST closed');
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(\`DOCTEST unhandled rejection: \${text(reason)}\\n\`);
  process.exitCode = 1;
});
main().catch((error: unknown) => {
  process.stderr.write(\`DOCTEST FAILED: \${text(error)}\\n\`);
  process.exitCode = 1;
});
`;

/** Path of a compiled consumer file (the consumer compiles next to the source: `readme/x.ts` → `readme/x.js`). */
export function compiledPath(consumer: Consumer, file: string): string {
  return path.join(consumer.dir, file.replace(/\.ts$/, '.js'));
}

export interface BlockRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a compiled block through the runner. */
export function runBlock(consumer: Consumer, file: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<BlockRun> {
  return consumer.node(compiledPath(consumer, RUNNER_FILE), {
    env: { ...env, DOCTEST_BLOCK: compiledPath(consumer, file) },
    timeoutMs,
  });
}

/**
 * Runs a `doctest:main` block as its own process with `PORT` set: waits until Nest logs that the
 * application started (or the process ends), sends SIGTERM and waits for the exit.
 */
export function runMainBlock(consumer: Consumer, file: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<BlockRun> {
  return new Promise((resolve) => {
    const [command, args] = killWithParent(process.execPath, [compiledPath(consumer, file)]);
    const child = spawn(command, args, { cwd: consumer.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const timer = setTimeout(() => {
      stderr += `\nDOCTEST: no exit within ${timeoutMs} ms; killed\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!signalled && /successfully started/.test(stdout)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (!signalled) stderr += '\nDOCTEST: the process ended before Nest logged "successfully started"\n';
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What is wrong with a block's run: empty when it started and closed cleanly. */
export function runProblems(run: BlockRun, kind: 'module' | 'main'): string[] {
  const problems: string[] = [];
  if (run.code !== 0 || run.signal !== null) problems.push(`exit code ${run.code}, signal ${run.signal} (expected 0)`);
  if (run.stderr.trim()) problems.push(`stderr:\n${run.stderr.trim()}`);
  // The runner's logger writes `[ERROR] …`; Nest's own ConsoleLogger (doctest:main) writes errors to stderr.
  const errorLines = run.stdout.split('\n').filter((l) => /^\[(ERROR|FATAL)\]/.test(l));
  if (errorLines.length) problems.push(`error lines:\n${errorLines.join('\n')}`);
  if (kind === 'module' && !/^DOCTEST imported$/m.test(run.stdout)) problems.push('the block was not imported');
  if (kind === 'module' && /^DOCTEST started/m.test(run.stdout) && !/^DOCTEST closed$/m.test(run.stdout)) {
    problems.push('the app started but did not close');
  }
  return problems;
}
