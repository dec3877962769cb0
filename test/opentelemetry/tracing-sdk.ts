/**
 * The real OpenTelemetry tracing SDK for a test file: a BasicTracerProvider exporting to memory
 * through a SimpleSpanProcessor, the AsyncLocalStorage context manager and the W3C propagator, all
 * registered as the API's globals (and taken down again by `uninstall`).
 */
import { context, propagation, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface InstalledTracing {
  exporter: InMemorySpanExporter;
  /** The finished spans named `name`, in the order they ended. */
  spans(name?: string): ReadableSpan[];
  uninstall(): Promise<void>;
}

export function installTracing(): InstalledTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    exporter,
    spans: (name) => exporter.getFinishedSpans().filter((span) => name === undefined || span.name === name),
    async uninstall() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** Whether `child`'s parent is `parent` (same trace, parent span id). */
export function isChildOf(child: ReadableSpan, parent: ReadableSpan | SpanContext): boolean {
  const expected = 'spanContext' in parent ? parent.spanContext() : parent;
  const actual = child.parentSpanContext;
  return actual !== undefined && actual.traceId === expected.traceId && actual.spanId === expected.spanId;
}
