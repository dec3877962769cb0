import { Injectable, Module, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { HostingModule, HostingRegistry, HostLifetime, Periodic, type TickContext } from '../../src/index.js';
import { SHUTDOWN_ABANDONED } from '../../src/hosting.messages.js';
import { sleep, startHostingApp, waitFor } from '../support/hosting-app.js';

const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('graceful shutdown of periodic work', () => {
  it('app.close() resolves only after the running tick finished, and the tick saw its signal abort', async () => {
    const events: string[] = [];
    @Injectable()
    class Report {
      @Periodic(20)
      async build(ctx: TickContext) {
        if (ctx.tick > 1) return;
        events.push('started');
        await sleep(300);
        events.push(`finished, aborted=${ctx.signal.aborted}`);
      }
    }
    const { app } = await startHostingApp({ providers: [Report] });
    await waitFor(() => events.length === 1);
    await app.close();
    expect(events).toEqual(['started', 'finished, aborted=true']);
    expect(app.get(HostingRegistry).get('Report.build')?.state).toBe('stopped');
  });

  it('a tick that ignores its signal does not hold close() past shutdownTimeoutMs', async () => {
    let started = false;
    @Injectable()
    class Stuck {
      @Periodic(20)
      async hang() {
        started = true;
        await new Promise(() => undefined);
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Stuck], hosting: { shutdownTimeoutMs: 250 } });
    await waitFor(() => started);
    const t0 = Date.now();
    await app.close();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(logger.find('error', SHUTDOWN_ABANDONED(250, ['Stuck.hang']))).toHaveLength(1);
  });

  it('starts no tick once shutdown began and leaves no timer behind', async () => {
    const baseline = activeTimers();
    let runs = 0;
    @Injectable()
    class Busy {
      @Periodic(5)
      a() {
        runs++;
      }
      @Periodic({ every: 2 ** 35 })
      b() {}
      @Periodic({ cron: '* * * * * *' })
      c() {}
    }
    const { app } = await startHostingApp({ providers: [Busy] });
    await waitFor(() => runs >= 2);
    await app.close();
    const after = runs;
    await sleep(100);
    expect(runs).toBe(after);
    expect(activeTimers()).toBeLessThanOrEqual(baseline);
  });

  it('drains in beforeApplicationShutdown: resources closed in onApplicationShutdown are still open for in-flight work', async () => {
    const seen: string[] = [];
    @Injectable()
    class DataSource implements OnApplicationShutdown {
      open = true;
      onApplicationShutdown() {
        this.open = false;
        seen.push('datasource closed');
      }
    }
    @Injectable()
    class Cache implements OnModuleDestroy {
      open = true;
      onModuleDestroy() {
        this.open = false;
      }
    }
    @Injectable()
    class Writer {
      constructor(
        private readonly db: DataSource,
        private readonly cache: Cache,
      ) {}
      @Periodic(20)
      async write(ctx: TickContext) {
        if (ctx.tick > 1) return;
        seen.push('tick started');
        await sleep(200);
        seen.push(`tick wrote: db open=${this.db.open}, cache open=${this.cache.open}`);
      }
    }
    @Module({ providers: [DataSource, Cache, Writer] })
    class FeatureModule {}
    const { app } = await startHostingApp({ imports: [FeatureModule] });
    const lifetime = app.get(HostLifetime);
    await waitFor(() => seen.length === 1);
    let stoppedResolved = false;
    void lifetime.stopped.then(() => (stoppedResolved = true));
    await app.close();
    // onModuleDestroy runs before the drain (documented); onApplicationShutdown after it
    expect(seen).toEqual(['tick started', 'tick wrote: db open=true, cache open=false', 'datasource closed']);
    expect(lifetime.stopping.aborted).toBe(true);
    await lifetime.stopped;
    expect(stoppedResolved).toBe(true);
  });

  it('forRootAsync takes its options from a factory', async () => {
    let started = false;
    @Injectable()
    class Config {
      shutdownMs = 150;
    }
    @Module({ providers: [Config], exports: [Config] })
    class ConfigModule {}
    @Injectable()
    class Stuck {
      @Periodic(10)
      async hang() {
        started = true;
        await new Promise(() => undefined);
      }
    }
    const { app, logger } = await startHostingApp({
      hostingModule: HostingModule.forRootAsync({
        imports: [ConfigModule],
        inject: [Config],
        useFactory: (config: Config) => ({ shutdownTimeoutMs: config.shutdownMs }),
      }),
      providers: [Stuck],
    });
    await waitFor(() => started);
    await app.close();
    expect(logger.find('error', SHUTDOWN_ABANDONED(150, ['Stuck.hang']))).toHaveLength(1);
  });
});
