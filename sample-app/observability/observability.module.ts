import { Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ClsModule } from 'nestjs-cls';
import { HostingOpenTelemetryModule } from '../../src/opentelemetry/index.js';
import { TelemetryShutdown } from '../telemetry.js';
import { REQUEST_ID_HEADER, RequestIdInterceptor } from './request-id.interceptor.js';

/** A request id the sample accepts from a client (anything else gets a new UUID). */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * What the sample shows of its work beyond logs: the host's traces and metrics through OpenTelemetry
 * (the SDK is set up by telemetry.ts before the app is built), and a request id in a `nestjs-cls`
 * context, taken from the `x-request-id` header of each HTTP request (or a new UUID) and carried
 * into the jobs the request enqueues by `RequestIdInterceptor`.
 */
@Module({
  imports: [
    HostingOpenTelemetryModule.forRoot(),
    ClsModule.forRoot({
      global: true,
      middleware: {
        mount: true,
        generateId: true,
        idGenerator: (request: IncomingMessage) => {
          const given = request.headers[REQUEST_ID_HEADER];
          return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        },
      },
    }),
  ],
  providers: [RequestIdInterceptor, TelemetryShutdown],
})
export class ObservabilityModule {}
