import { Module } from '@nestjs/common';
import { HostingModule } from '../src/index.js';
import { CatalogModule } from './catalog/catalog.module.js';
import { config } from './config.js';
import { Database } from './database/database.js';
import { DatabaseModule } from './database/database.module.js';
import { MaintenanceModule } from './maintenance/maintenance.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { OrdersModule } from './orders/orders.module.js';

/** Everything that runs without HTTP: the emails worker, cleanup, the daily report, the catalog sync. */
@Module({
  imports: [
    // The outbox is a table in the shop's own SQLite database: an order and its confirmation email commit together.
    HostingModule.forRootAsync({
      imports: [DatabaseModule],
      inject: [Database],
      useFactory: (database: Database) => ({
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        redis: config.redisUrl,
        postgres: config.postgresUrl,
        outbox: { sqlite: database.connection, relay: config.outboxRelay },
      }),
    }),
    DatabaseModule,
    OrdersModule,
    MaintenanceModule,
    CatalogModule,
    ObservabilityModule, // traces and metrics of the hosted work; a request id (nestjs-cls) from HTTP requests into their jobs
  ],
  exports: [OrdersModule],
})
export class WorkerModule {}
