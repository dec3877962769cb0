/**
 * The shipped .d.ts (tsconfig.build.json: @internal members stripped) compile in a strict consumer
 * with skipLibCheck off and WITHOUT the optional peers ioredis and bullmq installed: the typed API
 * (queue definitions, decorators, ConnectionOptions) must not need them, and stripping must leave
 * nothing dangling. Built into a temp dir (never dist/, which other builds may be writing).
 *
 * The .d.ts do not depend on the Nest major, so this runs in the Nest 11 run only.
 */
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths.js';

const describeNest11 = process.env.NEST_MAJOR === '12' ? describe.skip : describe;
const tscBin = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

function tsc(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tscBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

const CONSUMER = `
import { Injectable, Module } from '@nestjs/common';
import {
  BackgroundService, CronExpression, HostingModule, InjectQueue, JobContext, Periodic, QueueWorker,
  ScopeFactory, TickContext, WorkQueue, defineQueue, type ConnectionOptions, type QueueOf,
} from 'nest-hosting';
import { HostingHealthIndicator } from 'nest-hosting/health';
import { HostingDashboardModule } from 'nest-hosting/dashboard';

interface EmailJob { to: string }
export const EMAILS = defineQueue<EmailJob>('emails');
const redis: ConnectionOptions = { host: 'cache', port: 6379, enableReadyCheck: false };

@Injectable()
export class Mailer {
  constructor(@InjectQueue(EMAILS) readonly emails: QueueOf<typeof EMAILS>) {}
  send(to: string): Promise<string> { return this.emails.enqueue({ to }); }
}

@Injectable()
export class Sender {
  @QueueWorker(EMAILS, { concurrency: 2 })
  async send(job: EmailJob, ctx: JobContext): Promise<void> { void [job.to, ctx.signal]; }

  @Periodic({ cron: CronExpression.EVERY_MINUTE })
  tick(ctx: TickContext): number { return ctx.tick; }
}

@BackgroundService()
export class Pump {
  async execute(signal: AbortSignal): Promise<void> { void signal; }
}

// Made in unit tests of worker and periodic methods:
export const job = new JobContext('emails', '1', 1, new AbortController().signal);
export const tick = new TickContext('t', 1, Date.now(), new AbortController(), 0, false);
export type Health = HostingHealthIndicator;

@Module({
  imports: [HostingModule.forRoot({ redis }), HostingModule.registerQueue(EMAILS, { capacity: 10 }), HostingDashboardModule.register()],
  providers: [Mailer, Sender, Pump],
})
export class AppModule {}

// Made by the library only (their constructors are @internal, not an implicit public one):
// @ts-expect-error -- WorkQueue
export const queue = new WorkQueue();
// @ts-expect-error -- ScopeFactory
export const scopes = new ScopeFactory();

// @ts-expect-error -- the worker's item type is checked against the definition
export class Wrong { @QueueWorker(EMAILS) send(job: { id: number }) { return job; } }
`;

describeNest11('the shipped .d.ts', () => {
  jest.setTimeout(300_000);
  let dir: string;
  let declarations: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-dts-'));
    declarations = path.join(dir, 'node_modules', 'nest-hosting', 'dist', 'cjs');
    const build = await tsc(['-p', 'tsconfig.build.json', '--emitDeclarationOnly', '--outDir', declarations], repoRoot);
    if (build.code !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${build.output}`);
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'node_modules', 'nest-hosting', 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, types: './dist/cjs/index.d.ts', typesVersions: { '*': { health: ['dist/cjs/health/index.d.ts'], dashboard: ['dist/cjs/dashboard/index.d.ts'] } } }));
    // What the consumer has installed: Nest and its peers, NOT ioredis nor bullmq.
    for (const name of ['@nestjs/common', '@nestjs/core', '@nestjs/terminus', '@types/node', 'rxjs', 'reflect-metadata']) {
      fs.mkdirSync(path.dirname(path.join(dir, 'node_modules', name)), { recursive: true });
      fs.symlinkSync(path.join(repoRoot, 'node_modules', name), path.join(dir, 'node_modules', name), 'dir');
    }
    fs.writeFileSync(path.join(dir, 'main.ts'), CONSUMER);
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keep no @internal member', () => {
    const files = fs.readdirSync(declarations, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.d.ts'));
    expect(files.length).toBeGreaterThan(20);
    const leaking = files.filter((file) => fs.readFileSync(path.join(declarations, file), 'utf8').includes('@internal'));
    expect(leaking).toEqual([]);
  });

  it('compile in a strict consumer with skipLibCheck off, without ioredis or bullmq installed', async () => {
    expect(fs.existsSync(path.join(dir, 'node_modules', 'ioredis'))).toBe(false);
    const run = await tsc(
      ['--noEmit', '--strict', '--skipLibCheck', 'false', '--experimentalDecorators', '--emitDecoratorMetadata', '--target', 'ES2022', '--module', 'commonjs', '--moduleResolution', 'node10', '--lib', 'ES2022,ESNext.Disposable', '--types', 'node', '--pretty', 'false', 'main.ts'],
      dir,
    );
    expect(run.output).toBe('');
    expect(run.code).toBe(0);
  });
});
