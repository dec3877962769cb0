import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { config } from './config.js';

/** What `startTelemetry` set up, as main.ts and worker.ts print it. */
export interface Telemetry {
  /** Where Prometheus scrapes this process (`http://127.0.0.1:<METRICS_PORT>/metrics`), or `off (why)`. */
  metrics: string;
  /** Where spans go (the OTLP/HTTP traces endpoint), or `off (how to turn them on)`. */
  traces: string;
}

let shutdown: (() => Promise<void>) | undefined;

/**
 * The OpenTelemetry SDK of the sample, set up before Nest builds the app (the library's metrics
 * take their meter from the global provider when the app is created):
 *
 * - metrics, always: a `MeterProvider` whose `PrometheusExporter` serves `/metrics` on 127.0.0.1,
 *   port `METRICS_PORT` (9464; `off` or 0: no endpoint), registered as the global meter provider;
 * - traces, only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: a `NodeTracerProvider` sending batches
 *   of spans over OTLP/HTTP, registered globally (AsyncLocalStorage context manager, W3C trace
 *   context and baggage propagators). Nothing leaves 127.0.0.1 unless that variable says so.
 *
 * `TelemetryShutdown` (a provider of the app) flushes and closes both when the app closes.
 */
export async function startTelemetry(service: string): Promise<Telemetry> {
  const resource = defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME || service }));
  const closers: Array<() => Promise<void>> = [];

  let metricsEndpoint: string;
  if (config.metricsPort === undefined) metricsEndpoint = 'off (METRICS_PORT=off)';
  else {
    const exporter = new PrometheusExporter({ host: '127.0.0.1', port: config.metricsPort, preventServerStart: true });
    try {
      await exporter.startServer();
      metricsEndpoint = `http://127.0.0.1:${config.metricsPort}/metrics`;
    } catch (error) {
      // Two sample processes on one machine (main.ts and worker.ts) cannot share a port.
      metricsEndpoint = `off (127.0.0.1:${config.metricsPort}: ${(error as Error).message}; set METRICS_PORT to a free port)`;
    }
    const meterProvider = new MeterProvider({ resource, readers: [exporter] });
    metrics.setGlobalMeterProvider(meterProvider);
    closers.push(() => meterProvider.shutdown());
  }

  let tracesEndpoint = 'off (set OTEL_EXPORTER_OTLP_ENDPOINT to send them over OTLP/HTTP)';
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, its headers, …) itself.
    const tracerProvider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
    tracerProvider.register();
    closers.push(() => tracerProvider.shutdown()); // flushes the spans not yet sent
    tracesEndpoint = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${process.env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`;
  }

  shutdown = async () => {
    shutdown = undefined;
    await Promise.allSettled(closers.map((close) => close()));
  };
  return { metrics: metricsEndpoint, traces: tracesEndpoint };
}

/** Flushes and closes the telemetry set up by `startTelemetry` once the app has stopped its work (`onApplicationShutdown` comes after the host's drain). */
@Injectable()
export class TelemetryShutdown implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await shutdown?.();
  }
}
