/**
 * The packed tarball installed into a fresh app, as a user gets it: a CommonJS Nest 11 app in the
 * Nest 11 run, an ESM Nest 12 app in the Nest 12 run. A small real app importing from every entry
 * compiles under strict TypeScript with each module resolution such an app uses (CommonJS: node10,
 * as `"module": "commonjs"` implies, and nodenext; ESM: nodenext and bundler), then runs: a
 * periodic task ticks, a background service runs, a queue item is processed, the dashboard and
 * the health indicator answer over HTTP, and the app closes with exit code 0.
 */
import { jest } from '@jest/globals';
import { createConsumer, type Consumer, type ConsumerKind } from '../support/packed-package.js';

jest.setTimeout(120_000);

const kind: ConsumerKind = process.env.NEST_MAJOR === '12' ? 'esm-nest12' : 'cjs-nest11';
/** The first one is the consumer's default and is the one run; the others are compiled only. */
const RESOLUTIONS = kind === 'cjs-nest11' ? (['node10', 'nodenext'] as const) : (['nodenext', 'bundler'] as const);

const APP = `
import 'reflect-metadata';
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  InjectQueue,
  JobContext,
  Periodic,
  QueueWorker,
  TickContext,
  WorkQueue,
  type ServiceStatus,
} from 'nest-hosting';
import { HostingHealthIndicator } from 'nest-hosting/health';
import { HostingDashboardModule, type DashboardSnapshot } from 'nest-hosting/dashboard';

interface Greeting {
  to: string;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
const ticked = deferred();
const serviceRan = deferred();
const itemDone = deferred();

@Injectable()
export class Cleanup {
  @Periodic(3_600_000, { name: 'cleanup', runOnStart: true })
  async purge(ctx: TickContext): Promise<void> {
    console.log(\`TICK \${ctx.name} \${ctx.tick}\`);
    ticked.resolve();
  }
}

@Injectable()
export class Greeter {
  @QueueWorker('greetings')
  async greet(item: Greeting, ctx: JobContext): Promise<void> {
    console.log(\`ITEM hello \${item.to} (attempt \${ctx.attempt})\`);
    itemDone.resolve();
  }
}

@BackgroundService({ name: 'pump' })
export class Pump {
  constructor(@InjectQueue('greetings') private readonly greetings: WorkQueue<Greeting>) {}

  async execute(signal: AbortSignal): Promise<void> {
    console.log('SERVICE started');
    await this.greetings.enqueue({ to: 'world' }, { signal });
    serviceRan.resolve();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    console.log('SERVICE stopped');
  }
}

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly hosting: HostingHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.hosting.isReady('lifetime'), () => this.hosting.isHealthy('hosting')]);
  }
}

@Module({
  imports: [
    HostingModule.forRoot({ shutdownTimeoutMs: 10_000 }),
    HostingModule.registerQueue({ name: 'greetings', capacity: 10 }),
    HostingDashboardModule.register({ path: 'hosting' }),
    TerminusModule,
  ],
  controllers: [HealthController],
  providers: [Cleanup, Greeter, Pump, HostingHealthIndicator],
})
export class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  await Promise.all([ticked.promise, serviceRan.promise, itemDone.promise]);

  const names = app.get(HostingRegistry).list().map((s: ServiceStatus) => \`\${s.kind}:\${s.name}\`).sort();
  console.log(\`REGISTRY \${names.join(' ')}\`);

  const snapshot = (await (await fetch(\`\${url}/hosting/status.json\`)).json()) as DashboardSnapshot;
  console.log(\`DASHBOARD \${snapshot.host.state} \${snapshot.services.map((s) => s.name).sort().join(' ')}\`);
  const page = await fetch(\`\${url}/hosting\`);
  console.log(\`DASHBOARD PAGE \${page.status} \${page.headers.get('content-type')}\`);

  const health = await fetch(\`\${url}/health\`);
  const body = (await health.json()) as { status: string; info: Record<string, { status: string }> };
  console.log(\`HEALTH \${health.status} \${body.status} lifetime=\${body.info.lifetime?.status} hosting=\${body.info.hosting?.status}\`);

  await app.close();
  console.log('CLOSED');
}

main().catch((error: unknown) => {
  console.error('FAILED', error);
  process.exitCode = 1;
});
`;

/** The testing entry: virtual time from 'nest-hosting/testing' drives a cron task of the packed host. */
const VIRTUAL = `
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HostingModule, HostingRegistry, Periodic, TickContext, TimeProvider } from 'nest-hosting';
import { VirtualTime } from 'nest-hosting/testing';

const time = new VirtualTime({ now: new Date('2026-03-01T23:59:00Z') });

@Injectable()
export class Nightly {
  @Periodic({ cron: '0 0 * * *', timeZone: 'UTC' }, { name: 'nightly' })
  run(ctx: TickContext): void {
    console.log(\`NIGHTLY \${ctx.scheduledAt.toISOString()}\`);
  }
}

@Module({ imports: [HostingModule.forRoot({ timeProvider: time })], providers: [Nightly] })
export class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  console.log(\`SAME CLOCK \${app.get(TimeProvider) === time}\`);
  await time.advance(2 * 24 * 3_600_000);
  await app.get(HostingRegistry).whenIdle();
  console.log(\`RUNS \${app.get(HostingRegistry).get('nightly')?.runs}\`);
  await app.close();
}

main().catch((error: unknown) => {
  console.error('FAILED', error);
  process.exitCode = 1;
});
`;

const EXPECTED_OUTPUT = [
  'SERVICE started',
  'TICK cleanup 1',
  'ITEM hello world (attempt 1)',
  'REGISTRY background:pump periodic:cleanup queue:greetings',
  'DASHBOARD running cleanup greetings pump',
  'DASHBOARD PAGE 200 text/html; charset=utf-8',
  'HEALTH 200 ok lifetime=up hosting=up',
  'SERVICE stopped',
  'CLOSED',
];

describe(`the packed package in a fresh ${kind} app`, () => {
  const consumers = new Map<string, Consumer>();
  const compiled = new Map<string, { code: number; output: string }>();

  beforeAll(async () => {
    for (const resolution of RESOLUTIONS) {
      const consumer = await createConsumer(kind, { moduleResolution: resolution });
      consumer.write('main.ts', APP);
      consumer.write('virtual.ts', VIRTUAL);
      consumers.set(resolution, consumer);
    }
    // Both compiles at once (two cores). The default resolution's also type-checks the shipped
    // .d.ts files themselves (skipLibCheck off), as an app with a stricter tsconfig would.
    await Promise.all(
      [...consumers].map(async ([resolution, consumer]) =>
        compiled.set(resolution, await consumer.tsc(resolution === RESOLUTIONS[0] ? ['--skipLibCheck', 'false'] : [])),
      ),
    );
  }, 300_000);

  afterAll(() => {
    for (const consumer of consumers.values()) consumer.dispose();
  });

  it.each(RESOLUTIONS)('compiles under strict TypeScript with moduleResolution %s', (resolution) => {
    expect(compiled.get(resolution)).toEqual({ code: 0, output: '' });
  });

  const runnable = kind === 'cjs-nest11' ? RESOLUTIONS : RESOLUTIONS.slice(0, 1);
  it.each(runnable)(
    'runs (built with %s): ticks, serves, processes a queue item, answers health and dashboard, closes with exit code 0',
    async (resolution) => {
      const consumer = consumers.get(resolution)!;
      expect(compiled.get(resolution)?.code).toBe(0);
      const run = await consumer.node('main.js', { timeoutMs: 60_000 });
      const lines = run.stdout.split('\n').filter(Boolean);
      // The service, the tick and the item run concurrently: their order is not part of the contract.
      expect({ lines: [...lines].sort(), stderr: run.stderr, code: run.code, signal: run.signal }).toEqual({
        lines: [...EXPECTED_OUTPUT].sort(),
        stderr: '',
        code: 0,
        signal: null,
      });
      // The service saw its signal during close, before close returned.
      expect(lines.slice(-2)).toEqual(['SERVICE stopped', 'CLOSED']);
    },
  );

  it('runs a task on virtual time from nest-hosting/testing', async () => {
    const consumer = consumers.get(RESOLUTIONS[0])!;
    expect(compiled.get(RESOLUTIONS[0])?.code).toBe(0);
    const run = await consumer.node('virtual.js', { timeoutMs: 60_000 });
    expect({ stdout: run.stdout.split('\n').filter(Boolean), stderr: run.stderr, code: run.code }).toEqual({
      stdout: ['SAME CLOCK true', 'NIGHTLY 2026-03-02T00:00:00.000Z', 'NIGHTLY 2026-03-03T00:00:00.000Z', 'RUNS 2'],
      stderr: '',
      code: 0,
    });
  });

  it('fails to compile a wrong import or a misuse of the typings (the check can fail)', async () => {
    const consumer = consumers.get(RESOLUTIONS[0])!;
    consumer.write(
      'wrong.ts',
      [
        "import { HostingRegistry } from 'nest-hosting';",
        "import { HostingHealthIndicatorr } from 'nest-hosting/health';",
        "import { HostingDashboardModule } from 'nest-hosting/dashbord';",
        'export const typo = HostingHealthIndicatorr;',
        'export const module = HostingDashboardModule;',
        'export const misuse = (registry: HostingRegistry) => registry.launchEverything();',
        '',
      ].join('\n'),
    );
    const result = await consumer.tsc(['--noEmit']);
    expect(result.code).not.toBe(0);
    const errors = result.output
      .split('\n')
      .filter((line) => /error TS\d+/.test(line))
      .map((line) => line.replace(/^(wrong\.ts)\(\d+,\d+\): error (TS\d+):.*$/, '$1 $2'));
    expect(errors).toEqual(['wrong.ts TS2724', 'wrong.ts TS2307', 'wrong.ts TS2339']);
  });
});
