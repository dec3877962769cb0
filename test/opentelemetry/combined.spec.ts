/**
 * `HostingOpenTelemetryModule.forRoot()` with tracing and metrics both on (the default): one
 * interceptor takes both, and every unit gets its span and its measurements, on the real SDK.
 */
import { Injectable } from '@nestjs/common';
import { SpanStatusCode, metrics, type Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { HostingModule, InjectQueue, Periodic, QueueWorker, WorkInterceptor, type WorkContext, type WorkNext, type WorkQueue } from '../../src/index.js';
import { HostingOpenTelemetryModule } from '../../src/opentelemetry/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startOnTime, untilAborted } from '../support/hosting-app.js';
import { installTracing, isChildOf, type InstalledTracing } from './tracing-sdk.js';

/** A reader collected on demand: the SDK's own aggregation, read without an exporter. */
class OnDemandReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const T0 = Date.UTC(2026, 0, 1);
let tracing: InstalledTracing;
let reader: OnDemandReader;
let provider: MeterProvider;

beforeEach(() => {
  tracing = installTracing();
  reader = new OnDemandReader();
  provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
});
afterEach(async () => {
  await tracing.uninstall();
  metrics.disable();
  await provider.shutdown();
});

/** The data points of the metric `name`, by their attributes. */
async function points(name: string): Promise<Array<DataPoint<unknown>>> {
  const { resourceMetrics } = await reader.collect();
  const found = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === name);
  return (found?.dataPoints ?? []) as Array<DataPoint<unknown>>;
}

const matching = (all: Array<DataPoint<unknown>>, attributes: Attributes) =>
  all.filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value));

describe('HostingOpenTelemetryModule.forRoot(): tracing and metrics together', () => {
  it('gives every tick its span and its measurements, with other interceptors running inside the span', async () => {
    let calls = 0;
    const seenInside: boolean[] = [];
    @WorkInterceptor()
    class Inner implements WorkInterceptor {
      intercept(_work: WorkContext, next: WorkNext) {
        seenInside.push(tracing.exporter.getFinishedSpans().length < calls + 1);
        return next();
      }
    }
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'flaky' })
      async flaky() {
        if (++calls % 2 === 0) throw new Error(`run ${calls} failed`);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { imports: [HostingOpenTelemetryModule.forRoot()], providers: [Jobs, Inner] });
    try {
      await time.advance(4_000);
    } finally {
      await moduleRef.close();
    }
    const spans = tracing.spans('tick flaky');
    expect(spans).toHaveLength(4);
    expect(spans.map((span) => span.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR, SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(seenInside).toEqual([true, true, true, true]);
    const runs = await points('nest_hosting.runs');
    const unit = { 'nest_hosting.kind': 'periodic', 'nest_hosting.unit': 'flaky' };
    expect(matching(runs, { ...unit, 'nest_hosting.outcome': 'success' }).map((p) => p.value)).toEqual([2]);
    expect(matching(runs, { ...unit, 'nest_hosting.outcome': 'failure' }).map((p) => p.value)).toEqual([2]);
    const durations = matching(await points('nest_hosting.run.duration'), unit) as Array<DataPoint<Histogram>>;
    expect(durations.reduce((sum, point) => sum + point.value.count, 0)).toBe(4);
    const lateness = matching(await points('nest_hosting.tick.lateness'), { 'nest_hosting.unit': 'flaky' }) as Array<DataPoint<Histogram>>;
    expect(lateness[0].attributes).toEqual({ 'nest_hosting.unit': 'flaky' });
    expect(lateness.map((point) => point.value.count)).toEqual([4]);
  });

  it('carries the trace from enqueue to the item and counts the item; a service cancelled at stop is neither an error nor a failure', async () => {
    @Injectable()
    class Emails {
      constructor(@InjectQueue('emails') readonly queue: WorkQueue<{ n: number }>) {}
      @QueueWorker('emails')
      async send() {}
    }
    @Injectable()
    class Pump {
      async execute(signal: AbortSignal) {
        await untilAborted(signal);
        throw signal.reason;
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, {
      imports: [HostingModule.registerQueue({ name: 'emails' }), HostingOpenTelemetryModule.forRoot()],
      providers: [Emails, Pump],
    });
    registry.addBackgroundService('pump', (signal) => moduleRef.get(Pump).execute(signal));
    try {
      await moduleRef.get(Emails).queue.enqueue({ n: 1 });
      await registry.whenIdle();
    } finally {
      await moduleRef.close();
    }
    const [send] = tracing.spans('send emails');
    const [processed] = tracing.spans('process emails');
    expect(isChildOf(processed, send)).toBe(true);
    const runs = await points('nest_hosting.runs');
    expect(matching(runs, { 'nest_hosting.unit': 'emails', 'nest_hosting.outcome': 'success' }).map((p) => p.value)).toEqual([1]);
    expect(matching(runs, { 'nest_hosting.unit': 'pump', 'nest_hosting.outcome': 'cancelled' }).map((p) => p.value)).toEqual([1]);
    expect(matching(runs, { 'nest_hosting.unit': 'pump', 'nest_hosting.outcome': 'failure' })).toEqual([]);
    const [pump] = tracing.spans('run pump');
    expect(pump.status.code).toBe(SpanStatusCode.UNSET);
    expect(pump.attributes['nest_hosting.cancelled']).toBe(true);
  });
});
