import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { HostingHealthIndicator } from '../../src/health/index.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly hosting: HostingHealthIndicator,
  ) {}

  /** Liveness: no hosted service faulted, no periodic task overdue by more than 3 periods. */
  @Get()
  @HealthCheck()
  live() {
    return this.health.check([() => this.hosting.isHealthy('hosting', { overduePeriods: 3 })]);
  }

  /** Readiness: started and not stopping (a load balancer stops routing here while work drains). */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.hosting.isReady('lifetime')]);
  }
}
