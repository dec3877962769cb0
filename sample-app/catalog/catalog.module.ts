import { Module } from '@nestjs/common';
import { CatalogSyncService } from './catalog-sync.service.js';
import { SupplierClient } from './supplier.client.js';

@Module({ providers: [CatalogSyncService, SupplierClient] })
export class CatalogModule {}
