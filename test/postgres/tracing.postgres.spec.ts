/**
 * Traces across a BullMQ queue on PostgreSQL, as on Redis (test/bullmq/tracing.bullmq.spec.ts): the
 * producer's context travels in the job's metadata (a column of BullMQ's job row), every attempt's
 * span continues it, and BullMQ's own telemetry (`backend.telemetry`, bullmq-otel) is passed through.
 */
import { Injectable } from '@nestjs/common';
import { SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { BullMQOtel } from 'bullmq-otel';
import { HostingModule, QueueWorker, getQueueToken, type JobContext, type WorkQueue } from '../../src/index.js';
import { HostingOpenTelemetryModule } from '../../src/opentelemetry/index.js';
import { installTracing, isChildOf, type InstalledTracing } from '../opentelemetry/tracing-sdk.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';

const { url, uniqueName } = bullmqPostgresUnderTest();
let tracing: InstalledTracing;
beforeEach(() => {
  tracing = installTracing();
});
afterEach(async () => {
  await tracing.uninstall();
});
const scopeOf = (span: ReadableSpan) => span.instrumentationScope.name;

it("continues the producer's trace in every attempt, and BullMQ's own spans join it", async () => {
  const name = uniqueName('traced');
  @Injectable()
  class Worker {
    @QueueWorker(name, { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } })
    handle(_item: { n: number }, ctx: JobContext) {
      if (ctx.attempt === 1) throw new Error('refused try 1');
    }
  }
  const { app } = await startHostingApp({
    hosting: { postgres: url() },
    imports: [
      HostingModule.registerQueue({ name, backend: { type: 'bullmq', telemetry: new BullMQOtel({ tracerName: 'bullmq-in-test' }) } }),
      HostingOpenTelemetryModule.forRoot({ tracing: {}, metrics: false }),
    ],
    providers: [Worker],
  });
  try {
    const queue = app.get<WorkQueue<{ n: number }>>(getQueueToken(name));
    await trace.getTracer('app').startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
      await queue.enqueue({ n: 1 });
      span.end();
    });
    await waitFor(() => tracing.spans(`process ${name}`).filter((s) => scopeOf(s) === 'nest-hosting').length === 2, 20_000, 'two attempts');
  } finally {
    await app.close();
  }
  const send = tracing.spans(`send ${name}`).find((s) => scopeOf(s) === 'nest-hosting')!;
  const processed = tracing.spans(`process ${name}`).filter((s) => scopeOf(s) === 'nest-hosting');
  expect(processed.map((span) => span.attributes['nest_hosting.attempt'])).toEqual([1, 2]);
  const bull = tracing.spans().filter((span) => scopeOf(span) === 'bullmq-in-test');
  const bullProcess = bull.find((span) => span.name === `process ${name}` && span.kind === SpanKind.CONSUMER);
  expect(bullProcess).toBeDefined();
  expect(isChildOf(bullProcess!, send)).toBe(true);
  expect(processed.some((span) => isChildOf(span, bullProcess!))).toBe(true);
  expect(bull.some((span) => span.name === `add ${name}.${name}` && isChildOf(span, send))).toBe(true);
});
