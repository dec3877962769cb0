/**
 * The acceptance test for traces: the sample app (its AppModule, as a real process with
 * the OpenTelemetry SDK exporting to memory: test/fixtures/traced-sample-app.ts) takes `POST /orders` over
 * real HTTP on 127.0.0.1, and one trace runs from the request's SERVER span through `send emails`
 * to the email job's `process emails` span.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { order, tempDataDir } from '../sample-app/sample-process.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { getFreePort } from '../support/free-port.js';
import { fixture } from '../support/paths.js';

/** A real process on a busy 2-core machine. */
const E2E_TIMEOUT_MS = 180_000;
const ENTRY = fixture('traced-sample-app.ts');

interface SeenSpan {
  name: string;
  kind: number;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  status: { code: number };
}

let child: ChildApp | undefined;
afterEach(async () => {
  await child?.dispose();
}, E2E_TIMEOUT_MS);

it(
  'the trace of POST /orders reaches the email job: SERVER → send emails → process emails',
  async () => {
    const port = await getFreePort();
    child = spawnChildApp(ENTRY, {
      env: { PORT: String(port), DATA_DIR: tempDataDir(), METRICS_PORT: 'off', EMAIL_SEND_MS: '50', OTEL_EXPORTER_OTLP_ENDPOINT: undefined, NO_COLOR: '1' },
    });
    await child.waitForOutput(/Listening on http/, 60_000);
    const url = `http://127.0.0.1:${port}`;

    const caller = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    const response = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${caller.traceId}-${caller.spanId}-01` },
      body: JSON.stringify(order(1)),
    });
    expect(response.status).toBe(202);

    let spans: SeenSpan[] = [];
    const inTrace = () => spans.filter((span) => span.traceId === caller.traceId);
    const deadline = Date.now() + 60_000;
    while (!inTrace().some((span) => span.name === 'process emails')) {
      if (Date.now() > deadline) throw new Error(`no "process emails" span in the caller's trace; spans: ${JSON.stringify(spans.map((s) => s.name))}`);
      spans = (await (await fetch(`${url}/__spans`)).json()) as SeenSpan[];
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const request = inTrace().find((span) => span.name === 'POST /orders');
    expect(request).toMatchObject({ kind: SpanKind.SERVER, parentSpanId: caller.spanId });
    const send = inTrace().find((span) => span.name === 'send emails');
    expect(send).toMatchObject({ kind: SpanKind.PRODUCER, parentSpanId: request!.spanId, scope: 'nest-hosting' });
    const processed = inTrace().find((span) => span.name === 'process emails');
    expect(processed).toMatchObject({
      kind: SpanKind.CONSUMER,
      parentSpanId: send!.spanId,
      status: { code: SpanStatusCode.UNSET },
      attributes: { 'messaging.destination.name': 'emails', 'messaging.message.id': send!.attributes['messaging.message.id'], 'nest_hosting.attempt': 1 },
    });
  },
  E2E_TIMEOUT_MS,
);
