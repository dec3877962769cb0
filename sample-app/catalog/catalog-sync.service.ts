import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackgroundService } from '../../src/index.js';
import { config } from '../config.js';
import { Database } from '../database/database.js';
import { SupplierClient } from './supplier.client.js';

/**
 * Keeps the catalog in step with the supplier: a loop for the life of the app, as .NET's
 * BackgroundService.ExecuteAsync. A failed sync is logged and retried on the next round.
 */
@BackgroundService({ name: 'catalog.sync', onError: 'restart' })
export class CatalogSyncService {
  private readonly logger = new Logger(CatalogSyncService.name);

  constructor(
    private readonly db: Database,
    private readonly supplier: SupplierClient,
  ) {}

  async execute(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const products = await this.supplier.fetchCatalog(signal);
        const upsert = this.db.connection.prepare(
          `INSERT INTO catalog (sku, name, price_cents, synced_at) VALUES (@sku, @name, @priceCents, @at)
           ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents, synced_at = excluded.synced_at`,
        );
        const at = new Date().toISOString();
        this.db.connection.transaction(() => products.forEach((p) => upsert.run({ ...p, at }))).immediate();
        this.logger.debug(`Catalog synced: ${products.length} product(s)`);
      } catch (error) {
        if (signal.aborted) break;
        this.logger.warn(`Catalog sync failed, retrying next round: ${(error as Error).message}`);
      }
      await sleep(config.catalogSyncMs, undefined, { signal }).catch(() => undefined);
    }
  }
}
