import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ChildApp } from '../support/child-app.js';
import { order, startMain, tempDataDir, type RunningSample } from './sample-process.js';

/** Real processes on a busy 2-core machine. */
const E2E_TIMEOUT_MS = 180_000;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: { stringValue?: string } }>;
}

/** An OTLP/HTTP (JSON) traces receiver on 127.0.0.1: what a collector would get from the sample. */
async function startOtlpReceiver(): Promise<{ endpoint: string; spans: OtlpSpan[]; services: Set<string>; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const services = new Set<string>();
  const server = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces' && request.headers['content-type']?.includes('json')) {
        const parsed = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const resourceSpans of parsed.resourceSpans) {
          const service = resourceSpans.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
          if (service) services.add(service);
          for (const scope of resourceSpans.scopeSpans) spans.push(...scope.spans);
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, spans, services, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('sample app: observability (main.ts as a real process)', () => {
  const children: ChildApp[] = [];
  const start = async (env: Record<string, string> = {}): Promise<RunningSample> => {
    const sample = await startMain(tempDataDir(), env);
    children.push(sample.child);
    return sample;
  };
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.dispose()));
  }, E2E_TIMEOUT_MS);

  it('prints where to look, and carries the x-request-id of POST /orders into its email job through ClsService', async () => {
    const sample = await start({ EMAIL_SEND_MS: '50' });
    await sample.child.waitForOutput(`Dashboard: ${sample.url}/hosting`);
    await sample.child.waitForOutput(`Health: ${sample.url}/health`);
    await sample.child.waitForOutput(`Metrics: http://127.0.0.1:${sample.metricsPort}/metrics`);
    await sample.child.waitForOutput('Traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT');

    // Two requests at once: each job sees its own request's id, not the other's.
    const [first, second] = await Promise.all([
      sample.post('/orders', order(1), { 'x-request-id': 'abc-123' }),
      sample.post('/orders', order(2), { 'x-request-id': 'def-456' }),
    ]);
    expect([first.status, second.status]).toEqual([202, 202]);
    await sample.child.waitForOutput(`Sending "Your order #${first.body.id} is confirmed" to customer1@example.com (request abc-123)`, 30_000);
    await sample.child.waitForOutput(`Sending "Your order #${second.body.id} is confirmed" to customer2@example.com (request def-456)`, 30_000);

    // Without the header (or with one the sample refuses), the request gets a new UUID, and its job the same one.
    const third = await sample.post('/orders', order(3), { 'x-request-id': 'not an id\t' });
    const [, id] = await sample.child.waitForOutput(new RegExp(`Sending "Your order #${third.body.id} is confirmed" to \\S+ \\(request ([0-9a-f-]{36})\\)`), 30_000);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }, E2E_TIMEOUT_MS);

  it("serves the host's metrics to Prometheus on 127.0.0.1:METRICS_PORT", async () => {
    const sample = await start({ EMAIL_SEND_MS: '50' });
    const { body } = await sample.post('/orders', order(1));
    await sample.child.waitForOutput(`Sent confirmation of order #${body.id}`, 30_000);

    const response = await fetch(`http://127.0.0.1:${sample.metricsPort}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/^target_info\{.*service_name="nest-hosting-sample".*\} 1$/m);
    expect(text).toMatch(/^# TYPE nest_hosting_\w+ (counter|histogram|gauge)$/m);
    expect(text).toMatch(/^nest_hosting_\w+\{[^}]*nest_hosting_unit="emails"[^}]*\} \d/m);
  }, E2E_TIMEOUT_MS);

  it('METRICS_PORT=off, or a port in use: no metrics endpoint, the start-up output says why, the shop runs', async () => {
    const off = await start({ METRICS_PORT: 'off' });
    await off.child.waitForOutput('Metrics: off (METRICS_PORT=off)');
    expect((await off.get('/health')).status).toBe(200);

    // Another process (here, the first sample's HTTP port) holds the port: main.ts and worker.ts on one machine without METRICS_PORT.
    const taken = await start({ METRICS_PORT: String(off.port) });
    await taken.child.waitForOutput(`Metrics: off (127.0.0.1:${off.port}: listen EADDRINUSE`);
    expect((await taken.get('/health')).status).toBe(200);
  }, E2E_TIMEOUT_MS);

  it('with OTEL_EXPORTER_OTLP_ENDPOINT, sends the trace of POST /orders, its email job included, over OTLP/HTTP (flushed on SIGTERM)', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const sample = await start({ EMAIL_SEND_MS: '50', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
      await sample.child.waitForOutput(`Traces: ${receiver.endpoint}/v1/traces`);

      // The caller's trace: the request's span, the enqueue and the job all continue it.
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const callerSpanId = '00f067aa0ba902b7';
      const { status, body } = await sample.post('/orders', order(1), { traceparent: `00-${traceId}-${callerSpanId}-01` });
      expect(status).toBe(202);
      await sample.child.waitForOutput(`Sent confirmation of order #${body.id}`, 30_000);
      sample.child.kill('SIGTERM'); // well within the batch delay (5 s): the spans go out in the flush on close
      expect(await sample.child.exited).toEqual({ code: 0, signal: null });

      expect([...receiver.services]).toEqual(['nest-hosting-sample']);
      const inTrace = receiver.spans.filter((s) => s.traceId === traceId);
      const request = inTrace.find((s) => s.name === 'POST /orders');
      expect(request).toMatchObject({ parentSpanId: callerSpanId, kind: 2 /* SERVER */ });
      const send = inTrace.find((s) => s.name === 'send emails');
      expect(send).toMatchObject({ parentSpanId: request!.spanId, kind: 4 /* PRODUCER */ });
      const processed = inTrace.find((s) => s.name === 'process emails');
      expect(processed).toMatchObject({ parentSpanId: send!.spanId, kind: 5 /* CONSUMER */ });
    } finally {
      await receiver.close();
    }
  }, E2E_TIMEOUT_MS);
});
