import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';

const tracer = trace.getTracer('nest-hosting-sample');

/**
 * A server span per HTTP request, continuing the caller's W3C `traceparent` (what
 * `@opentelemetry/instrumentation-http` does, in a few lines, so that the sample needs no
 * auto-instrumentation): the request's handler runs inside it, so a job it enqueues carries its
 * trace (`nest-hosting/opentelemetry`), and the job's span is a child of the request's.
 * Without a registered tracer provider (OTEL_EXPORTER_OTLP_ENDPOINT unset) the API is a no-op.
 * Mounted in main.ts with `app.use(traceHttpRequest)`.
 */
export function traceHttpRequest(request: IncomingMessage & { route?: { path?: unknown } }, response: ServerResponse, next: () => void): void {
  const method = request.method ?? 'GET';
  const parent = propagation.extract(context.active(), request.headers);
  const span = tracer.startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': (request.url ?? '/').split('?')[0] } },
    parent,
  );
  response.once('close', () => {
    const route = request.route?.path; // the matched route's template (`/orders/:id`), once routed
    if (typeof route === 'string') {
      span.updateName(`${method} ${route}`);
      span.setAttribute('http.route', route);
    }
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  context.with(trace.setSpan(parent, span), next);
}
