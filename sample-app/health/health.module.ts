import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule],
  controllers: [HealthController],
  providers: [HostingHealthIndicator],
})
export class HealthModule {}
