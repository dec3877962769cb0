import { Inject, Injectable, Optional, type Provider } from '@nestjs/common';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { toError } from '../errors/thrown-value.js';
import { WorkInterceptor, type EnqueueContext, type WorkContext, type WorkNext } from '../interception/work-interceptor.js';
import { afterRun } from '../interception/work-interceptors.js';
import { OneCopy } from '../one-copy.js';
import { QueueManager } from '../queues/queue-manager.js';
import { TimeProvider } from '../time/time-provider.js';
import { OptionsValidator } from '../validation/options-validator.js';

/** Options of `HostingOpenTelemetryModule.forRoot({ tracing })`. */
export interface HostingTracingOptions {
  /**
   * How a queue item's span relates to the span that enqueued it (its trace context travels in the
   * item's headers): `'child'` continues the producer's trace (the item's span is a child of
   * `send <queue>`); `'link'` starts a new trace whose root span links to the producer's span (for
   * items handled long after they were enqueued, or fanned out by the thousand).
   * @default 'child'
   */
  parent?: 'child' | 'link';
  /** The name of the tracer the spans come from (`trace.getTracer(tracerName)`). @default 'nest-hosting' */
  tracerName?: string;
}

const KNOWN_OPTIONS = ['parent', 'tracerName'] as const;
/** @internal the DI token of the validated tracing options */
export const HOSTING_TRACING_OPTIONS = 'nest-hosting:HostingTracingOptions';

type Resolved = Required<HostingTracingOptions>;

/** `messaging.system` of a queue: BullMQ's own name, or the library's for its memory queues. */
const systemOf = (backend: 'memory' | 'bullmq' | undefined): string => (backend === 'bullmq' ? 'bullmq' : 'nest-hosting');


/** The spans of `HostingTracingInterceptor`, which the module's own interceptor also runs when metrics are on too (not exported by itself). */
@Injectable()
export class HostingTracing {
  private readonly options: Resolved;
  private tracerOf?: Tracer;

  /** @internal made by Nest: `HostingOpenTelemetryModule.forRoot({ tracing })` provides it */
  constructor(
    @Inject(HOSTING_TRACING_OPTIONS) options: HostingTracingOptions,
    @Optional() private readonly queues?: QueueManager,
    @Optional() private readonly time: TimeProvider = TimeProvider.system,
  ) {
    this.options = { parent: options.parent ?? 'child', tracerName: options.tracerName ?? 'nest-hosting' };
  }

  private get tracer(): Tracer {
    return (this.tracerOf ??= trace.getTracer(this.options.tracerName));
  }

  /** @internal The span of one tick, background service run or queue item delivery, and the context that makes it active. */
  begin(work: WorkContext): { span: Span; active: Context } {
    return work.kind === 'queue' ? this.startItem(work) : this.startRun(work);
  }

  /** @internal Ends the span of a unit that returned (`failed` false) or threw `error`. */
  ended(span: Span, work: WorkContext, failed: boolean, error: unknown): void {
    if (failed) this.fail(span, work, error);
    else this.succeed(span);
  }

  /** A `send <queue>` span around one enqueue, its context written into the item's headers. */
  interceptEnqueue(enqueue: EnqueueContext, next: () => Promise<string>): Promise<string> {
    const parent = context.active();
    const span = this.tracer.startSpan(
      `send ${enqueue.queue}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': systemOf(this.backendOf(enqueue.queue)),
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'send',
          'messaging.destination.name': enqueue.queue,
        },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    propagation.inject(active, enqueue.headers);
    let sent: Promise<string>;
    try {
      sent = context.with(active, next);
    } catch (error) {
      this.recordError(span, error);
      span.end();
      throw error;
    }
    return sent.then(
      (id) => {
        span.setAttribute('messaging.message.id', id);
        this.succeed(span);
        return id;
      },
      (error: unknown) => {
        this.recordError(span, error);
        span.end();
        throw error;
      },
    );
  }

  /** A tick or a background service run: a new trace (never the leftover context of the timer or of the bootstrap). */
  private startRun(work: WorkContext): { span: Span; active: Context } {
    const attributes: Attributes = { 'nest_hosting.kind': work.kind, 'nest_hosting.name': work.name };
    const tick = work.tick;
    if (tick) {
      // The slot in epoch ms, read without making a Date (a tick's span is on every tick's path).
      const scheduledAt = tick['scheduledAtMs'];
      attributes['nest_hosting.tick'] = tick.tick;
      attributes['nest_hosting.scheduled_at'] = scheduledAt;
      attributes['nest_hosting.lateness_ms'] = this.time.now() - scheduledAt;
      // Only when there is something to say: every attribute costs on every tick.
      if (tick.missedTicks > 0) attributes['nest_hosting.missed_ticks'] = tick.missedTicks;
      if (tick.triggered) attributes['nest_hosting.triggered'] = true;
    }
    const name = work.kind === 'periodic' ? `tick ${work.name}` : `run ${work.name}`;
    const span = this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, root: true, attributes }, ROOT_CONTEXT);
    return { span, active: trace.setSpan(ROOT_CONTEXT, span) };
  }

  /** One delivery of a queue item: a child of (or a new trace linked to) the producer span its headers carry. */
  private startItem(work: WorkContext): { span: Span; active: Context } {
    const job = work.job!;
    const attributes: Attributes = {
      'messaging.system': systemOf(this.backendOf(work.name)),
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': work.name,
      'messaging.message.id': job.id,
      'nest_hosting.kind': 'queue',
      'nest_hosting.name': work.name,
      'nest_hosting.attempt': job.attempt,
    };
    const carried = propagation.extract(ROOT_CONTEXT, job.headers);
    const producer = trace.getSpanContext(carried);
    let parent = ROOT_CONTEXT;
    let links: Link[] | undefined;
    if (producer && this.options.parent === 'child') {
      // BullMQ's own telemetry (bullmq-otel) already runs the job in its `process` span, a child of
      // the producer: nest under it rather than beside it. Any other active trace is not ours.
      const active = context.active();
      parent = trace.getSpanContext(active)?.traceId === producer.traceId ? active : carried;
    } else if (producer) {
      links = [{ context: producer }];
    }
    const span = this.tracer.startSpan(`process ${work.name}`, { kind: SpanKind.CONSUMER, root: parent === ROOT_CONTEXT, attributes, links }, parent);
    return { span, active: trace.setSpan(parent, span) };
  }

  private backendOf(queue: string): 'memory' | 'bullmq' | undefined {
    return this.queues?.get(queue)?.backendKind;
  }

  /** Success leaves the status unset, as the OpenTelemetry specification asks of instrumentation libraries. */
  private succeed(span: Span): void {
    span.end();
  }

  /** A failure is an error; a run that ended because the host stopped it (its signal's abort) is cancelled, not failed. */
  private fail(span: Span, work: WorkContext, error: unknown): void {
    if (work.endedByStop(error)) span.setAttribute('nest_hosting.cancelled', true);
    else this.recordError(span, error);
    span.end();
  }

  private recordError(span: Span, thrown: unknown): void {
    const error = toError(thrown);
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  }
}

/**
 * The tracing interceptor of `HostingOpenTelemetryModule`: a span around every tick (`tick <task>`),
 * background service run (`run <service>`) and queue item delivery (`process <queue>`, one per
 * attempt), active while the unit runs so that the handler's own spans nest under it, ended when
 * the unit settles; a `send <queue>` span around every `WorkQueue.enqueue`, whose context travels
 * with the item (W3C `traceparent` in `JobContext.headers`, through the registered propagator).
 * Uses only `@opentelemetry/api`: without a registered SDK every span is a no-op.
 */
@OneCopy('HostingTracingInterceptor')
@WorkInterceptor({ order: -1000 })
export class HostingTracingInterceptor extends HostingTracing implements WorkInterceptor {
  /** A span around one tick, background service run or queue item delivery, active while it runs, ended when it settles. */
  intercept(work: WorkContext, next: WorkNext): unknown {
    const { span, active } = this.begin(work);
    return afterRun(
      () => context.with(active, next),
      (failed, error) => this.ended(span, work, failed, error),
    );
  }
}

/**
 * The providers of `HostingOpenTelemetryModule.forRoot({ tracing })`: the interceptor and its
 * options, checked here (a TypeError naming `where`, the option and the value).
 */
export function tracingProviders(options: unknown, where: string, combined = false): Provider[] {
  const check = OptionsValidator.for(where, options, KNOWN_OPTIONS);
  const parent = check.oneOf('parent', ['child', 'link'] as const);
  const tracerName = check.nonEmptyString('tracerName');
  const resolved: HostingTracingOptions = { parent, tracerName };
  // Combined with metrics: the module's one interceptor runs the spans (HostingTracing is no interceptor itself).
  return [{ provide: HOSTING_TRACING_OPTIONS, useValue: resolved }, combined ? HostingTracing : HostingTracingInterceptor];
}
