import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { config } from './config.js';
import { traceHttpRequest } from './observability/http-trace.js';
import { startTelemetry } from './telemetry.js';

/** HTTP and background work in one process. */
async function bootstrap(): Promise<void> {
  const telemetry = await startTelemetry('nest-hosting-sample'); // before the app is built: its metrics use the global meter provider
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks(); // SIGTERM/SIGINT: stop taking requests, drain work, exit 0
  app.use(traceHttpRequest); // a span per request, continuing the caller's traceparent (a no-op while tracing is off)
  // Loopback unless HOST says otherwise: the sample's dashboard (/hosting) has no guard.
  await app.listen(config.port, config.host);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${config.port}`;
  const logger = new Logger('Shop');
  logger.log(`Listening on ${url}`);
  logger.log(`Dashboard: ${url}/hosting`);
  logger.log(`Health: ${url}/health (readiness: ${url}/health/ready)`);
  logger.log(`Metrics: ${telemetry.metrics}`);
  logger.log(`Traces: ${telemetry.traces}`);
}

void bootstrap();
