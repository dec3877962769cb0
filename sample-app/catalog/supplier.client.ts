import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SupplierProduct {
  sku: string;
  name: string;
  priceCents: number;
}

/** A stand-in for the supplier's HTTP API: a short network delay, then the current catalog. */
@Injectable()
export class SupplierClient {
  async fetchCatalog(signal: AbortSignal): Promise<SupplierProduct[]> {
    await sleep(50, undefined, { signal });
    return [
      { sku: 'TEA-01', name: 'Sencha green tea, 100 g', priceCents: 1290 },
      { sku: 'MUG-02', name: 'Stoneware mug', priceCents: 1850 },
      { sku: 'KTL-03', name: 'Cast-iron kettle', priceCents: 5400 },
      { sku: 'POT-04', name: 'Glass teapot, 0.8 l', priceCents: 2990 },
    ];
  }
}
