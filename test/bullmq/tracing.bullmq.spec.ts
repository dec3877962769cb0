/**
 * Traces across a BullMQ queue on a real redis-server: the producer's context travels in the job
 * (its `telemetry.metadata`, with `omitContext`), so the item's span continues (or links to) the
 * trace that enqueued it; BullMQ's own telemetry (`backend.telemetry`, bullmq-otel) is passed
 * through, and its worker span also continues our producer's trace.
 */
import { Injectable } from '@nestjs/common';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { BullMQOtel } from 'bullmq-otel';
import { HostingModule, QueueWorker, getQueueToken, type BullMqBackendOptions, type JobContext, type WorkQueue } from '../../src/index.js';
import { HostingOpenTelemetryModule, type HostingTracingOptions } from '../../src/opentelemetry/index.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';
import { installTracing, isChildOf, type InstalledTracing } from '../opentelemetry/tracing-sdk.js';

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});
let tracing: InstalledTracing;
beforeEach(() => {
  tracing = installTracing();
});
afterEach(async () => {
  await tracing.uninstall();
});

let counter = 0;
const uniqueName = (base: string) => `${base}-${process.pid}-${++counter}`;
const app = () => trace.getTracer('app');
const scopeOf = (span: ReadableSpan) => span.instrumentationScope.name;

/** An app with one BullMQ queue whose worker fails the first `failures` attempts; enqueues one item inside a SERVER span. */
async function runOne(options: { tracing?: HostingTracingOptions; backend?: Partial<BullMqBackendOptions>; failures?: number }) {
  const name = uniqueName('traced');
  const handled: JobContext[] = [];
  @Injectable()
  class Worker {
    @QueueWorker(name, { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } })
    async handle(_item: { n: number }, ctx: JobContext) {
      handled.push(ctx);
      await Promise.resolve();
      app().startActiveSpan('smtp', (span) => span.end());
      if (ctx.attempt <= (options.failures ?? 0)) throw new Error(`refused try ${ctx.attempt}`);
    }
  }
  const { app: moduleRef } = await startHostingApp({
    hosting: { redis: { host: redis.host, port: redis.port } },
    imports: [
      HostingModule.registerQueue({ name, backend: { type: 'bullmq', ...options.backend } }),
      HostingOpenTelemetryModule.forRoot({ tracing: options.tracing ?? {}, metrics: false }),
    ],
    providers: [Worker],
  });
  let id = '';
  try {
    const queue = moduleRef.get<WorkQueue<{ n: number }>>(getQueueToken(name));
    await app().startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
      id = await queue.enqueue({ n: 1 });
      span.end();
    });
    const expected = (options.failures ?? 0) + 1;
    await waitFor(() => tracing.spans(`process ${name}`).filter((s) => scopeOf(s) === 'nest-hosting').length === expected, 20_000, `${expected} attempts`);
  } finally {
    await moduleRef.close();
  }
  const ours = (spanName: string) => tracing.spans(spanName).filter((s) => scopeOf(s) === 'nest-hosting');
  return { name, id, handled, request: tracing.spans('POST /orders')[0], send: ours(`send ${name}`)[0], processed: ours(`process ${name}`) };
}

describe('tracing on the BullMQ backend', () => {
  it('continues the producer trace in every attempt of a job (child), with messaging attributes', async () => {
    const { name, id, request, send, processed } = await runOne({ failures: 1 });
    expect(isChildOf(send, request)).toBe(true);
    expect(send.attributes).toMatchObject({ 'messaging.system': 'bullmq', 'messaging.destination.name': name, 'messaging.message.id': id });
    expect(processed.map((span) => span.attributes['nest_hosting.attempt'])).toEqual([1, 2]);
    for (const span of processed) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(isChildOf(span, send)).toBe(true);
      expect(span.attributes).toMatchObject({
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': name,
        'messaging.message.id': id,
      });
    }
    expect(processed[0].status).toEqual({ code: SpanStatusCode.ERROR, message: 'refused try 1' });
    expect(processed[0].events.filter((event) => event.name === 'exception')).toHaveLength(1);
    expect(processed[1].status.code).toBe(SpanStatusCode.UNSET);
    const smtp = tracing.spans('smtp');
    expect(smtp.map((span) => processed.findIndex((attempt) => isChildOf(span, attempt)))).toEqual([0, 1]);
  });

  it("parent: 'link' starts a new trace per job, linked to the producer span", async () => {
    const { send, processed } = await runOne({ tracing: { parent: 'link' } });
    const [span] = processed;
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(span.links.map((link) => link.context)).toEqual([expect.objectContaining({ traceId: send.spanContext().traceId, spanId: send.spanContext().spanId })]);
  });

  it("passes backend.telemetry (bullmq-otel) to BullMQ: its spans join the producer's trace and ours nest under its worker span", async () => {
    const { name, request, send, processed } = await runOne({ backend: { telemetry: new BullMQOtel({ tracerName: 'bullmq-in-test' }) } });
    const bull = tracing.spans().filter((span) => scopeOf(span) === 'bullmq-in-test');
    const add = bull.find((span) => span.name === `add ${name}.${name}`);
    expect(add).toBeDefined();
    expect(isChildOf(add!, send)).toBe(true);
    // BullMQ's worker span: parented by the context it parsed from the job's metadata, which is
    // ours (omitContext keeps BullMQ from replacing it), so it continues the request's trace.
    const bullProcess = bull.find((span) => span.name === `process ${name}` && span.kind === SpanKind.CONSUMER);
    expect(bullProcess).toBeDefined();
    expect(isChildOf(bullProcess!, send)).toBe(true);
    expect(bullProcess!.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(isChildOf(processed[0], bullProcess!)).toBe(true);
  });

  it('refuses a backend.telemetry that is not BullMQ telemetry, naming the queue and the option', () => {
    expect(() => HostingModule.registerQueue({ name: 'emails', backend: { type: 'bullmq', telemetry: { tracer: {} } as never } })).toThrow(
      `HostingModule.registerQueue("emails"): option "backend.telemetry" must be BullMQ's Telemetry`,
    );
  });
});
