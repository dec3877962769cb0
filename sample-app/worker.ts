import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { config } from './config.js';
import { startTelemetry } from './telemetry.js';
import { WorkerModule } from './worker.module.js';

/** Background work only, no HTTP (the Worker Service template). Run several next to main.ts with REDIS_URL set. */
async function bootstrap(): Promise<void> {
  const telemetry = await startTelemetry('nest-hosting-sample-worker'); // before the app is built: its metrics use the global meter provider
  const app = await NestFactory.createApplicationContext(WorkerModule);
  app.enableShutdownHooks();
  await app.init();
  const logger = new Logger('Worker');
  logger.log(`Worker running (emails queue: ${config.sharedStore ?? 'in memory'})`);
  logger.log(`Metrics: ${telemetry.metrics}`);
  logger.log(`Traces: ${telemetry.traces}`);
}

void bootstrap();
