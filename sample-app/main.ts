import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { config } from './config.js';

/** HTTP and background work in one process. */
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks(); // SIGTERM/SIGINT: stop taking requests, drain work, exit 0
  // Loopback unless HOST says otherwise: the sample's dashboard (/hosting) has no guard.
  await app.listen(config.port, config.host);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  new Logger('Shop').log(`Listening on http://${host}:${config.port} (dashboard: /hosting, health: /health)`);
}

void bootstrap();
