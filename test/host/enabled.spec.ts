import { Injectable, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  Periodic,
  QueueWorker,
  ServiceStateError,
  TimeProvider,
  getQueueToken,
  type HostingOptions,
  type TickContext,
  type WorkQueue,
} from '../../src/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { INVALID_OPTION_AT, QUEUE_WITHOUT_WORKER, QUEUE_WORKER_DISABLED, UNKNOWN_OPTION } from '../../src/hosting.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

/** What ran, shared by the classes below (reset before each test). */
const ran = { ticks: 0, executes: 0, items: [] as number[] };
beforeEach(() => {
  ran.ticks = 0;
  ran.executes = 0;
  ran.items = [];
});

async function start(hosting: DynamicModule, providers: unknown[], queueName = 'jobs', time: TimeProvider = new VirtualTime({ now: T0 })) {
  const logger = new CaptureLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [hosting, HostingModule.registerQueue({ name: queueName }), TerminusModule.forRoot({ logger: false })],
    providers: [HostingHealthIndicator, ...(providers as never[])],
  })
    .overrideProvider(TimeProvider)
    .useValue(time)
    .setLogger(logger)
    .compile();
  await moduleRef.init();
  return {
    moduleRef,
    logger,
    registry: moduleRef.get(HostingRegistry),
    queue: moduleRef.get<WorkQueue<number>>(getQueueToken(queueName)),
    health: moduleRef.get(HostingHealthIndicator),
  };
}

describe('enabled: false on a unit', () => {
  @Injectable()
  class Tasks {
    @Periodic(1_000, { enabled: false })
    tick() {
      ran.ticks++;
    }
    @QueueWorker('jobs', { enabled: false })
    handle(item: number) {
      ran.items.push(item);
    }
  }
  @BackgroundService({ enabled: false, name: 'pump' })
  class Pump {
    execute() {
      ran.executes++;
    }
  }

  it('is not started, is listed as disabled, refuses actions, and does not make health fail', async () => {
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry, queue, logger, health } = await start(HostingModule.forRoot(), [Tasks, Pump], 'jobs', time);
    try {
      await queue.enqueue(7);
      await time.advance(60_000);
      expect(ran).toEqual({ ticks: 0, executes: 0, items: [] });
      expect(registry.get('Tasks.tick')).toMatchObject({ kind: 'periodic', state: 'disabled', runs: 0, schedule: 'every 1000 ms' });
      expect(registry.get('pump')).toMatchObject({ kind: 'background', state: 'disabled', runs: 0 });
      // The queue still takes items; none is consumed here (memory: they wait), and start-up warned.
      expect(registry.get('jobs')).toMatchObject({ kind: 'queue', state: 'disabled', depth: 1, processed: 0 });
      expect(logger.find('warn', QUEUE_WORKER_DISABLED('jobs', 'Tasks.handle', false))).toHaveLength(1);
      expect(logger.find('warn', QUEUE_WITHOUT_WORKER('jobs'))).toHaveLength(0);
      expect(logger.find('log', 'Disabled in this process (enabled: false): pump, Tasks.tick')).toHaveLength(1);
      await expect(registry.trigger('Tasks.tick')).rejects.toBeInstanceOf(ServiceStateError);
      expect(() => registry.pause('Tasks.tick')).toThrow(ServiceStateError);
      expect(() => registry.restart('pump')).toThrow(ServiceStateError);
      expect(health.isHealthy('hosting', { overduePeriods: 0 })).toEqual({ hosting: { status: 'up', services: 3 } });
    } finally {
      await moduleRef.close();
    }
  });
});

describe('HostingModule.forRoot({ enabled })', () => {
  @Injectable()
  class Tasks {
    @Periodic(1_000)
    tick(ctx: TickContext) {
      ran.ticks = ctx.tick;
    }
    @QueueWorker('jobs')
    handle(item: number) {
      ran.items.push(item);
    }
  }
  @BackgroundService()
  class Pump {
    execute() {
      ran.executes++;
    }
  }

  it('turns each kind off for the process; the kinds left on run', async () => {
    const time = new VirtualTime({ now: T0 });
    const web = await start(HostingModule.forRoot({ enabled: { periodic: false, background: false, queueWorkers: false } }), [Tasks, Pump], 'jobs', time);
    try {
      await web.queue.enqueue(1);
      await time.advance(5_000);
      expect(ran).toEqual({ ticks: 0, executes: 0, items: [] });
      expect(web.registry.list().map((s) => [s.name, s.state])).toEqual([
        ['Pump', 'disabled'],
        ['Tasks.tick', 'disabled'],
        ['jobs', 'disabled'],
      ]);
    } finally {
      await web.moduleRef.close();
    }
    const worker = await start(HostingModule.forRoot({ enabled: { periodic: true, background: false } }), [Tasks, Pump], 'jobs', time);
    try {
      await worker.queue.enqueue(2);
      await time.advance(5_000);
      await worker.registry.whenIdle();
      expect(ran).toEqual({ ticks: 5, executes: 0, items: [2] });
      expect(worker.registry.get('Pump')?.state).toBe('disabled');
    } finally {
      await worker.moduleRef.close();
    }
  });

  it('forRootAsync binds "true"/"false" from configuration', async () => {
    const time = new VirtualTime({ now: T0 });
    const env = { PERIODIC: 'false', BACKGROUND: ' TRUE ' };
    const hosting = HostingModule.forRootAsync({
      useFactory: (): HostingOptions => ({ enabled: { periodic: env.PERIODIC, background: env.BACKGROUND } as never }),
    });
    const { moduleRef, registry } = await start(hosting, [Tasks, Pump], 'jobs', time);
    try {
      await time.advance(3_000);
      expect(registry.get('Tasks.tick')?.state).toBe('disabled');
      expect(ran.ticks).toBe(0);
      expect(ran.executes).toBe(1);
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses a bad switch, naming the entry point, the option and the value', async () => {
    const failure = (options: unknown) =>
      start(HostingModule.forRootAsync({ useFactory: () => options as HostingOptions }), [], 'jobs').then(
        () => 'started',
        (error: Error) => error.message,
      );
    expect(await failure({ enabled: { periodic: 'nope' } })).toContain(INVALID_OPTION_AT('HostingModule.forRootAsync', 'enabled.periodic', 'a boolean', 'nope'));
    expect(await failure({ enabled: { queueWorker: false } })).toContain(
      UNKNOWN_OPTION('HostingModule.forRootAsync', 'enabled.queueWorker', 'enabled.queueWorkers', [
        'enabled.periodic',
        'enabled.delayed',
        'enabled.background',
        'enabled.queueWorkers',
      ]),
    );
    expect(() => HostingModule.forRoot({ enabled: false as never })).toThrow(INVALID_OPTION_AT('HostingModule.forRoot', 'enabled', 'an object', false));
    expect(() => HostingModule.forRoot({ enabled: { periodic: 'false' as never } })).toThrow(
      INVALID_OPTION_AT('HostingModule.forRoot', 'enabled.periodic', 'a boolean', 'false'),
    );
  });
});

describe('one codebase as a web-only and a worker-only process on BullMQ', () => {
  let redis: RedisServerHandle;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('the web process enqueues and does not consume; the worker process consumes', async () => {
    const queueName = `orders-${process.pid}`;
    @Injectable()
    class OrderTasks {
      @Periodic(50)
      tick() {
        ran.ticks++;
      }
      @QueueWorker(queueName)
      handle(item: number) {
        ran.items.push(item);
      }
    }
    const app = async (enabled: HostingOptions['enabled']) => {
      const logger = new CaptureLogger();
      const moduleRef = await Test.createTestingModule({
        imports: [
          HostingModule.forRoot({ redis: redis.url, shutdownTimeoutMs: 5_000, enabled }),
          HostingModule.registerQueue({ name: queueName, backend: 'bullmq' }),
        ],
        providers: [OrderTasks],
      })
        .setLogger(logger)
        .compile();
      await moduleRef.init();
      return { moduleRef, logger, registry: moduleRef.get(HostingRegistry), queue: moduleRef.get<WorkQueue<number>>(getQueueToken(queueName)) };
    };
    const web = await app({ periodic: false, queueWorkers: false });
    let worker: Awaited<ReturnType<typeof app>> | undefined;
    try {
      expect(web.logger.find('log', QUEUE_WORKER_DISABLED(queueName, 'OrderTasks.handle', true))).toHaveLength(1);
      expect(web.logger.find('warn', queueName)).toHaveLength(0);
      for (const item of [1, 2, 3]) await web.queue.enqueue(item);
      expect(web.registry.get(queueName)?.state).toBe('disabled');
      worker = await app({});
      await waitFor(() => ran.items.length === 3, 20_000, 'the worker process to consume the items');
      expect(ran.items.sort()).toEqual([1, 2, 3]);
      expect(worker.registry.get(queueName)).toMatchObject({ state: 'running', processed: 3 });
      expect(web.registry.get(queueName)).toMatchObject({ processed: 0 });
      await waitFor(() => ran.ticks > 0, 10_000, 'the worker process to tick');
      expect(web.registry.get('OrderTasks.tick')).toMatchObject({ state: 'disabled', runs: 0 });
    } finally {
      await web.moduleRef.close();
      await worker?.moduleRef.close();
    }
  }, 60_000);
});
