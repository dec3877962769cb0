import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { config } from './config.js';

/** HTTP and background work in one process. */
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks(); // SIGTERM/SIGINT: stop taking requests, drain work, exit 0
  await app.listen(config.port);
  new Logger('Shop').log(`Listening on http://localhost:${config.port} (dashboard: /hosting, health: /health)`);
}

void bootstrap();
