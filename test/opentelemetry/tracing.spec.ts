/**
 * Traces of the hosted work (`HostingOpenTelemetryModule.forRoot({ tracing })`), on the real
 * OpenTelemetry SDK with its in-memory exporter: a span per tick, background service run and queue
 * item (each attempt), active for the handler; `send <queue>` around `enqueue`, whose context
 * travels with the item (child or link).
 */
import { Injectable } from '@nestjs/common';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  BackgroundService,
  HostingModule,
  InjectQueue,
  Periodic,
  QueueWorker,
  WorkInterceptor,
  type JobContext,
  type WorkContext,
  type WorkNext,
  type TickContext,
  type WorkQueue,
} from '../../src/index.js';
import { HostingOpenTelemetryModule, HostingTracingInterceptor, type HostingOpenTelemetryOptions } from '../../src/opentelemetry/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startHostingApp, startOnTime, untilAborted, waitFor } from '../support/hosting-app.js';
import { installTracing, isChildOf, type InstalledTracing } from './tracing-sdk.js';

const T0 = Date.UTC(2026, 0, 1);
const app = () => trace.getTracer('app');

let tracing: InstalledTracing;
beforeEach(() => {
  tracing = installTracing();
});
afterEach(async () => {
  await tracing.uninstall();
});

const exceptions = (span: ReadableSpan) => span.events.filter((event) => event.name === 'exception');

describe('HostingOpenTelemetryModule tracing: ticks and background services', () => {
  it('makes one INTERNAL span per tick, a new trace each, with slot, lateness and missed ticks, active for the handler', async () => {
    const seen: Array<{ tick: number; lateness: number; missed: number; traceId?: string }> = [];
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'refresh' })
      async refresh(ctx: TickContext) {
        seen.push({ tick: ctx.tick, lateness: time.now() - ctx.scheduledAt.getTime(), missed: ctx.missedTicks, traceId: trace.getActiveSpan()?.spanContext().traceId });
        // The second run outlasts two slots: the next run starts late, with the slots it missed.
        const slow = ctx.tick === 2 ? new Promise<void>((resolve) => time.setTimeout(resolve, 2_500)) : undefined;
        await Promise.resolve();
        app().startActiveSpan('db query', (span) => span.end());
        await slow;
      }
    }
    const { moduleRef, registry } = await startOnTime(time, { imports: [HostingOpenTelemetryModule.forRoot({ metrics: false })], providers: [Jobs] });
    try {
      await time.advance(2_000);
      await time.advance(2_500);
      await registry.trigger('refresh');
    } finally {
      await moduleRef.close();
    }
    const ticks = tracing.spans('tick refresh');
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(ticks.length).toBe(seen.length);
    for (const [index, span] of ticks.entries()) {
      expect(span.kind).toBe(SpanKind.INTERNAL);
      expect(span.parentSpanContext).toBeUndefined(); // each tick its own trace, not the timer's leftover context
      expect(span.status.code).toBe(SpanStatusCode.UNSET); // success: left unset, as the specification asks of instrumentation
      expect(span.instrumentationScope.name).toBe('nest-hosting');
      expect(span.spanContext().traceId).toBe(seen[index].traceId);
      expect(span.attributes).toMatchObject({
        'nest_hosting.kind': 'periodic',
        'nest_hosting.name': 'refresh',
        'nest_hosting.tick': seen[index].tick,
        'nest_hosting.lateness_ms': seen[index].lateness,
      });
      // Said only when there is something to say.
      expect(span.attributes['nest_hosting.missed_ticks']).toBe(seen[index].missed > 0 ? seen[index].missed : undefined);
      expect(span.attributes['nest_hosting.triggered']).toBe(index === ticks.length - 1 ? true : undefined);
    }
    expect(ticks[0].attributes['nest_hosting.scheduled_at']).toBe(T0 + 1_000);
    expect(ticks[1].attributes['nest_hosting.scheduled_at']).toBe(T0 + 2_000);
    // The run after the long one started late and folded the slots it missed.
    const late = ticks[2];
    expect(late.attributes['nest_hosting.lateness_ms']).toBeGreaterThan(0);
    expect(late.attributes['nest_hosting.missed_ticks']).toBeGreaterThan(0);
    // The handler's own spans nest under the tick's span.
    const queries = tracing.spans('db query');
    expect(queries).toHaveLength(ticks.length);
    for (const [index, query] of queries.entries()) expect(isChildOf(query, ticks[index])).toBe(true);
  });

  it('records a failing tick as an error with its exception; a synchronous tick ends its span at once', async () => {
    let spansWhenSecondRan = -1;
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'broken' })
      broken() {
        throw new Error('the report query failed');
      }
      @Periodic(1_000, { name: 'quick' })
      quick(ctx: TickContext) {
        if (ctx.tick === 2) spansWhenSecondRan = tracing.spans('tick quick').length;
        return 'done';
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { imports: [HostingOpenTelemetryModule.forRoot({ metrics: false })], providers: [Jobs] });
    try {
      await time.advance(2_000);
    } finally {
      await moduleRef.close();
    }
    const [failed] = tracing.spans('tick broken');
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the report query failed' });
    expect(exceptions(failed)).toHaveLength(1);
    expect(exceptions(failed)[0].attributes).toMatchObject({ 'exception.type': 'Error', 'exception.message': 'the report query failed' });
    expect(spansWhenSecondRan).toBe(1);
    expect(tracing.spans('tick quick').every((span) => span.status.code === SpanStatusCode.UNSET)).toBe(true);
  });

  it("spans a background service's run; a run the host stopped is cancelled, not an error; a failed run is an error", async () => {
    let started = 0;
    @BackgroundService({ name: 'pump' })
    class Pump {
      async execute(signal: AbortSignal) {
        started++;
        app().startActiveSpan('poll', (span) => span.end());
        await untilAborted(signal);
        throw signal.reason; // how a service acknowledges the stop
      }
    }
    @BackgroundService({ name: 'crashy', onError: 'ignore' })
    class Crashy {
      async execute() {
        await Promise.resolve();
        throw new TypeError('cannot read the feed');
      }
    }
    const { app: moduleRef } = await startHostingApp({
      imports: [HostingOpenTelemetryModule.forRoot({ metrics: false })],
      providers: [Pump, Crashy],
    });
    try {
      await waitFor(() => started === 1 && tracing.spans('run crashy').length === 1, 10_000, 'both services to run');
      expect(tracing.spans('run pump')).toHaveLength(0); // still running: not ended
    } finally {
      await moduleRef.close();
    }
    const [pump] = tracing.spans('run pump');
    expect(pump.kind).toBe(SpanKind.INTERNAL);
    expect(pump.attributes).toMatchObject({ 'nest_hosting.kind': 'background', 'nest_hosting.name': 'pump', 'nest_hosting.cancelled': true });
    expect(pump.status.code).toBe(SpanStatusCode.UNSET);
    expect(exceptions(pump)).toHaveLength(0);
    expect(isChildOf(tracing.spans('poll')[0], pump)).toBe(true);
    const [crashy] = tracing.spans('run crashy');
    expect(crashy.status).toEqual({ code: SpanStatusCode.ERROR, message: 'cannot read the feed' });
    expect(crashy.attributes['nest_hosting.cancelled']).toBeUndefined();
    expect(exceptions(crashy)[0].attributes).toMatchObject({ 'exception.type': 'TypeError' });
  });
});

describe('HostingOpenTelemetryModule tracing: queue items (memory backend)', () => {
  /** A worker that fails the first `failures` attempts of each item and opens its own span. */
  function emailsApp(options: HostingOpenTelemetryOptions, failures = 0) {
    const handled: Array<{ ctx: JobContext; traceId?: string }> = [];
    @Injectable()
    class Emails {
      constructor(@InjectQueue('emails') readonly queue: WorkQueue<{ to: string }>) {}
      @QueueWorker('emails', { attempts: 3, backoff: { type: 'fixed', delayMs: 5 } })
      async send(_item: { to: string }, ctx: JobContext) {
        handled.push({ ctx, traceId: trace.getActiveSpan()?.spanContext().traceId });
        await Promise.resolve();
        app().startActiveSpan('smtp', (span) => span.end());
        if (ctx.attempt <= failures) throw new Error(`smtp refused try ${ctx.attempt}`);
      }
    }
    return { handled, Emails, imports: [HostingModule.registerQueue({ name: 'emails' }), HostingOpenTelemetryModule.forRoot({ metrics: false, ...options })] };
  }

  it('makes a CONSUMER span per attempt, a child of the PRODUCER span enqueue made inside the caller trace; failed attempts are errors', async () => {
    const { handled, Emails, imports } = emailsApp({}, 2);
    const { app: moduleRef } = await startHostingApp({ imports, providers: [Emails] });
    let id = '';
    let request!: ReadableSpan;
    try {
      await app().startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
        id = await moduleRef.get(Emails).queue.enqueue({ to: 'a@example.com' });
        span.end();
      });
      await waitFor(() => tracing.spans('process emails').length === 3, 10_000, 'three attempts');
      [request] = tracing.spans('POST /orders');
    } finally {
      await moduleRef.close();
    }
    const [send] = tracing.spans('send emails');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(isChildOf(send, request)).toBe(true);
    expect(send.attributes).toEqual({
      'messaging.system': 'nest-hosting',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'emails',
      'messaging.message.id': id,
    });
    expect(send.status.code).toBe(SpanStatusCode.UNSET);
    const attempts = tracing.spans('process emails');
    expect(attempts.map((span) => span.attributes['nest_hosting.attempt'])).toEqual([1, 2, 3]);
    for (const [index, span] of attempts.entries()) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(isChildOf(span, send)).toBe(true);
      expect(span.spanContext().traceId).toBe(handled[index].traceId);
      expect(span.attributes).toEqual({
        'messaging.system': 'nest-hosting',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': 'emails',
        'messaging.message.id': id,
        'nest_hosting.kind': 'queue',
        'nest_hosting.name': 'emails',
        'nest_hosting.attempt': index + 1,
      });
    }
    expect(attempts[0].status).toEqual({ code: SpanStatusCode.ERROR, message: 'smtp refused try 1' });
    expect(exceptions(attempts[0])).toHaveLength(1);
    expect(attempts[1].status).toEqual({ code: SpanStatusCode.ERROR, message: 'smtp refused try 2' });
    expect(attempts[2].status.code).toBe(SpanStatusCode.UNSET);
    expect(exceptions(attempts[2])).toHaveLength(0);
    // The handler's own spans nest under its attempt's span.
    const smtp = tracing.spans('smtp');
    expect(smtp).toHaveLength(3);
    for (const [index, span] of smtp.entries()) expect(isChildOf(span, attempts[index])).toBe(true);
    // The producer's trace context is what travels: W3C traceparent in the item's headers.
    expect(handled[0].ctx.headers.traceparent).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`);
  });

  it("parent: 'link' starts a new trace for the item, linked to the producer span", async () => {
    const { Emails, imports } = emailsApp({ tracing: { parent: 'link', tracerName: 'shop-worker' } });
    const { app: moduleRef } = await startHostingApp({ imports, providers: [Emails] });
    try {
      await app().startActiveSpan('POST /orders', async (span) => {
        await moduleRef.get(Emails).queue.enqueue({ to: 'a@example.com' });
        span.end();
      });
      await waitFor(() => tracing.spans('process emails').length === 1, 10_000, 'the item');
    } finally {
      await moduleRef.close();
    }
    const [send] = tracing.spans('send emails');
    const [processed] = tracing.spans('process emails');
    expect(processed.parentSpanContext).toBeUndefined();
    expect(processed.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(processed.links).toHaveLength(1);
    expect(processed.links[0].context).toMatchObject({ traceId: send.spanContext().traceId, spanId: send.spanContext().spanId });
    expect(processed.instrumentationScope.name).toBe('shop-worker');
    expect(isChildOf(tracing.spans('smtp')[0], processed)).toBe(true);
  });

  it('an item the host stopped at the shutdown deadline is cancelled, not an error', async () => {
    let started = false;
    @Injectable()
    class Slow {
      constructor(@InjectQueue('slow') readonly queue: WorkQueue<number>) {}
      @QueueWorker('slow')
      async handle(_item: number, ctx: JobContext) {
        started = true;
        await untilAborted(ctx.signal);
        throw ctx.signal.reason;
      }
    }
    const { app: moduleRef } = await startHostingApp({
      hosting: { shutdownTimeoutMs: 200 },
      imports: [HostingModule.registerQueue({ name: 'slow' }), HostingOpenTelemetryModule.forRoot({ metrics: false })],
      providers: [Slow],
    });
    try {
      await moduleRef.get(Slow).queue.enqueue(1);
      await waitFor(() => started, 10_000, 'the item to start');
    } finally {
      await moduleRef.close();
    }
    const [item] = tracing.spans('process slow');
    expect(item.attributes['nest_hosting.cancelled']).toBe(true);
    expect(item.status.code).toBe(SpanStatusCode.UNSET);
    expect(exceptions(item)).toHaveLength(0);
  });

  it('records a failed enqueue on its send span', async () => {
    @Injectable()
    class Producer {
      constructor(@InjectQueue('tiny') readonly queue: WorkQueue<number>) {}
    }
    const { app: moduleRef } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'tiny', capacity: 1, fullMode: 'reject' }), HostingOpenTelemetryModule.forRoot({ metrics: false })],
      providers: [Producer],
    });
    try {
      const queue = moduleRef.get(Producer).queue;
      await queue.enqueue(1);
      await expect(queue.enqueue(2)).rejects.toThrow();
    } finally {
      await moduleRef.close();
    }
    const sends = tracing.spans('send tiny');
    expect(sends.map((span) => span.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(exceptions(sends[1])).toHaveLength(1);
    expect(sends[1].attributes['messaging.message.id']).toBeUndefined();
  });

  it('is off with tracing: false', async () => {
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'refresh' })
      refresh() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, { imports: [HostingOpenTelemetryModule.forRoot({ tracing: false, metrics: false })], providers: [Jobs] });
    try {
      expect(() => moduleRef.get(HostingTracingInterceptor)).toThrow();
      await time.advance(1_000);
      expect(registry.get('refresh')?.runs).toBe(1);
    } finally {
      await moduleRef.close();
    }
    expect(tracing.spans()).toHaveLength(0);
  });
});

describe('HostingOpenTelemetryModule.forRoot({ tracing }) options', () => {
  it.each([
    [{ parent: 'sibling' }, `HostingOpenTelemetryModule.forRoot({ tracing }): option "parent" must be one of 'child', 'link', got "sibling"`],
    [{ tracerName: '' }, `HostingOpenTelemetryModule.forRoot({ tracing }): option "tracerName" must be a non-empty string, got ""`],
    [{ tracername: 'x' }, `HostingOpenTelemetryModule.forRoot({ tracing }): unknown option "tracername"; did you mean "tracerName"?`],
    ['yes', `HostingOpenTelemetryModule.forRoot({ tracing }): options must be an object, got "yes"`],
  ])('refuses %p with a TypeError naming the option and the value', (given, message) => {
    expect(() => HostingOpenTelemetryModule.forRoot({ tracing: given as never, metrics: false })).toThrow(TypeError);
    expect(() => HostingOpenTelemetryModule.forRoot({ tracing: given as never, metrics: false })).toThrow(message);
  });

  it("runs outermost: other interceptors and the handler run inside the unit's span", async () => {
    const seen: Array<string | undefined> = [];
    @WorkInterceptor({ order: -999 })
    class Inner implements WorkInterceptor {
      intercept(_work: WorkContext, next: WorkNext) {
        seen.push(trace.getActiveSpan()?.spanContext().spanId);
        return next();
      }
    }
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'refresh' })
      refresh() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { imports: [HostingOpenTelemetryModule.forRoot({ metrics: false })], providers: [Inner, Jobs] });
    try {
      await time.advance(1_000);
    } finally {
      await moduleRef.close();
    }
    expect(seen).toEqual([tracing.spans('tick refresh')[0].spanContext().spanId]);
  });
});
