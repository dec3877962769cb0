import { Module } from '@nestjs/common';
import { HostingDashboardModule } from '../src/dashboard/index.js';
import { HealthModule } from './health/health.module.js';
import { OrdersController } from './orders/orders.controller.js';
import { WorkerModule } from './worker.module.js';

/** The web app: the worker's background work, plus the orders API, /health and the dashboard at /hosting. */
@Module({
  imports: [WorkerModule, HealthModule, HostingDashboardModule.register({ path: 'hosting', title: 'Sample shop' })],
  controllers: [OrdersController],
})
export class AppModule {}
