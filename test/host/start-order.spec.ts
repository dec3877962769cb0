import { Injectable, Module, type INestApplicationContext, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  HostLifetime,
  InjectQueue,
  Periodic,
  QueueWorker,
  type WorkQueue,
} from '../../src/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { startHostingApp, untilAborted, waitFor } from '../support/hosting-app.js';

/**
 * Hosted work starts only once every module's onApplicationBootstrap hook has settled, the app's
 * own included (HostingModule is global, so Nest calls its hook among the first), and a pause
 * made before start holds.
 */

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What hosted work saw when it first ran: was the app's cache warm yet? */
interface Seen {
  tick?: boolean;
  execute?: boolean;
  item?: boolean;
}

function buildApp() {
  const seen: Seen = {};
  const order: string[] = [];
  let warmUpEntered!: () => void;
  const entered = new Promise<void>((resolve) => (warmUpEntered = resolve));
  let finishWarmUp!: () => void;
  const warmUpDone = new Promise<void>((resolve) => (finishWarmUp = resolve));

  /** The app's own cache, warmed up asynchronously in its onApplicationBootstrap. */
  @Injectable()
  class Cache implements OnApplicationBootstrap {
    warm = false;
    async onApplicationBootstrap() {
      warmUpEntered();
      await warmUpDone;
      this.warm = true;
      order.push('cache warm');
    }
  }

  @Injectable()
  class Jobs {
    constructor(private readonly cache: Cache) {}
    @Periodic(3_600_000, { runOnStart: true })
    refresh() {
      seen.tick ??= this.cache.warm;
      order.push('tick');
    }
  }

  @BackgroundService()
  class Pump {
    constructor(private readonly cache: Cache) {}
    async execute(signal: AbortSignal) {
      seen.execute = this.cache.warm;
      order.push('execute');
      await untilAborted(signal);
    }
  }

  @Injectable()
  class Mailer implements OnModuleInit {
    constructor(
      private readonly cache: Cache,
      @InjectQueue('start-order') private readonly queue: WorkQueue<string>,
    ) {}
    async onModuleInit() {
      await this.queue.enqueue('first'); // queued before start: delivered once hosted work starts
    }
    @QueueWorker('start-order')
    send() {
      seen.item ??= this.cache.warm;
      order.push('item');
    }
  }

  @Module({
    imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name: 'start-order' })],
    providers: [Cache, Jobs, Pump, Mailer],
  })
  class AppModule implements OnApplicationBootstrap {
    onApplicationBootstrap() {
      order.push('root module hook');
    }
  }
  return { AppModule, seen, order, entered, finishWarmUp };
}

type Create = (root: new () => unknown, logger: CaptureLogger) => Promise<{ app: INestApplicationContext; init: () => Promise<unknown> }>;

const ways: Array<[string, Create]> = [
  [
    'NestFactory.createApplicationContext',
    async (root, logger) => {
      const app = await NestFactory.createApplicationContext(root, { logger, abortOnError: false });
      return { app, init: () => app.init() };
    },
  ],
  [
    'NestFactory.create',
    async (root, logger) => {
      const app = await NestFactory.create(root, { logger, abortOnError: false });
      return { app, init: () => app.init() };
    },
  ],
  [
    'Test.createTestingModule().createNestApplication()',
    async (root, logger) => {
      const moduleRef = await Test.createTestingModule({ imports: [root] }).setLogger(logger).compile();
      const app = moduleRef.createNestApplication({ logger });
      return { app, init: () => app.init() };
    },
  ],
  [
    'Test.createTestingModule().compile().init()',
    async (root, logger) => {
      const moduleRef = await Test.createTestingModule({ imports: [root] }).setLogger(logger).compile();
      return { app: moduleRef, init: () => moduleRef.init() };
    },
  ],
];

describe('hosted work starts after the app has bootstrapped', () => {
  it.each(ways)('%s: no tick, execute or queue item runs before the app’s own async onApplicationBootstrap has settled', async (_, create) => {
    const { AppModule, seen, order, entered, finishWarmUp } = buildApp();
    const logger = new CaptureLogger();
    // createApplicationContext and create call init() themselves (through the ready promise); the others on init().
    const creating = create(AppModule, logger);
    const starting = creating.then(({ init }) => init());
    await entered; // Nest is awaiting the app's warm-up now
    // Give the old behaviour every chance to show: hosted work started with HostingModule's hook
    // would have run its first tick inline and execute/the first item on the following turns.
    for (let i = 0; i < 5; i++) await nextTurn();
    expect(order).toEqual([]);
    finishWarmUp();
    await starting;
    const { app } = await creating;
    try {
      await app.get(HostLifetime).started;
      await waitFor(() => seen.tick !== undefined && seen.execute !== undefined && seen.item !== undefined, 10_000, 'hosted work to run');
      expect(seen).toEqual({ tick: true, execute: true, item: true });
      // The root module's own hook still runs, once, before hosted work starts.
      expect(order.filter((o) => o === 'root module hook')).toHaveLength(1);
      expect(order.indexOf('root module hook')).toBeLessThan(order.indexOf('tick'));
      expect(order.slice(0, 2)).toEqual(['cache warm', 'root module hook']);
    } finally {
      await app.close();
    }
    expect(logger.errors()).toEqual([]);
  });

  it('HostLifetime.started resolves only after the app’s bootstrap hooks', async () => {
    const { AppModule, entered, finishWarmUp, order } = buildApp();
    const logger = new CaptureLogger();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).setLogger(logger).compile();
    let startedWhileWarming: boolean | undefined;
    void moduleRef.get(HostLifetime).started.then(() => (startedWhileWarming ??= !order.includes('cache warm')));
    const init = moduleRef.init();
    await entered;
    for (let i = 0; i < 5; i++) await nextTurn();
    finishWarmUp();
    await init;
    await moduleRef.get(HostLifetime).started;
    expect(startedWhileWarming).toBe(false);
    await moduleRef.close();
  });

  it('an app whose own bootstrap hook fails starts no hosted work', async () => {
    let ticks = 0;
    @Injectable()
    class Jobs {
      @Periodic(3_600_000, { runOnStart: true })
      refresh() {
        ticks++;
      }
    }
    @Injectable()
    class Broken implements OnApplicationBootstrap {
      onApplicationBootstrap() {
        throw new Error('warm-up failed');
      }
    }
    const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot()], providers: [Jobs, Broken] })
      .setLogger(new CaptureLogger())
      .compile();
    await expect(moduleRef.init()).rejects.toThrow('warm-up failed');
    await nextTurn();
    expect(ticks).toBe(0);
    await moduleRef.close().catch(() => undefined); // close() rethrows the failed init
  });
});

describe('a pause made before start holds', () => {
  it('pause() in onModuleInit holds a runOnStart first tick until resume()', async () => {
    const ticks: number[] = [];
    @Injectable()
    class Jobs implements OnModuleInit {
      constructor(private readonly registry: HostingRegistry) {}
      onModuleInit() {
        this.registry.pause('Jobs.warm');
      }
      @Periodic(3_600_000, { runOnStart: true })
      warm() {
        ticks.push(Date.now());
      }
    }
    const { app } = await startHostingApp({ providers: [Jobs] });
    try {
      const registry = app.get(HostingRegistry);
      await app.get(HostLifetime).started;
      for (let i = 0; i < 5; i++) await nextTurn();
      expect(ticks).toHaveLength(0);
      expect(registry.get('Jobs.warm')).toMatchObject({ paused: true, runs: 0, nextRunAt: undefined });
      registry.resume('Jobs.warm');
      await waitFor(() => ticks.length === 1, 10_000, 'the held first tick');
      await waitFor(() => registry.get('Jobs.warm')?.state === 'idle');
      // After the held first tick, the schedule goes on: the next slot is a period away.
      expect(registry.get('Jobs.warm')!.nextRunAt!.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    } finally {
      await app.close();
    }
  });

  it('pause() in onModuleInit holds a task without runOnStart: nothing armed until resume()', async () => {
    @Injectable()
    class Jobs implements OnModuleInit {
      constructor(private readonly registry: HostingRegistry) {}
      onModuleInit() {
        this.registry.pause('Jobs.hourly');
      }
      @Periodic(3_600_000)
      hourly() {}
    }
    const { app } = await startHostingApp({ providers: [Jobs] });
    try {
      const registry = app.get(HostingRegistry);
      await app.get(HostLifetime).started;
      expect(registry.get('Jobs.hourly')).toMatchObject({ paused: true, runs: 0, nextRunAt: undefined });
      registry.resume('Jobs.hourly');
      expect(registry.get('Jobs.hourly')).toMatchObject({ paused: false, runs: 0 });
      expect(registry.get('Jobs.hourly')!.nextRunAt).toBeInstanceOf(Date);
    } finally {
      await app.close();
    }
  });
});
