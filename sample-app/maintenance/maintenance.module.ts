import { Module } from '@nestjs/common';
import { CleanupJob } from './cleanup.job.js';
import { DailyReportJob } from './daily-report.job.js';

@Module({ providers: [CleanupJob, DailyReportJob] })
export class MaintenanceModule {}
