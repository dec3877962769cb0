import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { config } from './config.js';
import { WorkerModule } from './worker.module.js';

/** Background work only, no HTTP (the Worker Service template). Run several next to main.ts with REDIS_URL set. */
async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule);
  app.enableShutdownHooks();
  await app.init();
  new Logger('Worker').log(`Worker running (emails queue: ${config.redisUrl ? 'Redis' : 'in memory'})`);
}

void bootstrap();
