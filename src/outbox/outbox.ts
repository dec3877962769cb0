import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { HOSTING_OPTIONS } from '../hosting.module-definition.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import type { OutboxTransactionHost, OutboxWrite, OutboxWriter } from '../interfaces/outbox-options.interface.js';
import { OneCopy } from '../one-copy.js';
import { QueueManager } from '../queues/queue-manager.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { TimeProvider } from '../time/time-provider.js';
import { resolveOutboxOptions, type ResolvedOutboxOptions } from './outbox-options.validation.js';
import { DisabledOutboxRelay, OutboxRelay } from './outbox-relay.js';
import type { OutboxStore } from './outbox-store.js';
import {
  OUTBOX_AMBIENT_NOT_ACTIVE,
  OUTBOX_AMBIENT_UNAVAILABLE,
  OUTBOX_POOL_END_FAILED,
  OUTBOX_STRING_TRANSACTION,
  OUTBOX_WHERE,
} from './outbox.messages.js';
import { PostgresOutboxStore } from './postgres-outbox-store.js';
import { SqliteOutboxStore } from './sqlite-outbox-store.js';

/** Whether `value` is a `TransactionHost` of @nestjs-cls/transactional (or anything with its `tx` and `isTransactionActive`). */
export function isTransactionHost(value: unknown): value is OutboxTransactionHost {
  return typeof value === 'object' && value !== null && typeof (value as OutboxTransactionHost).isTransactionActive === 'function' && 'tx' in value;
}

/**
 * The transactional outbox of the app (`HostingModule.forRoot({ outbox })`): its table (created when
 * the module is built), the writer `WorkQueue.enqueue(item, { transaction })` uses, and the relay,
 * registered with the host at module init (started and stopped with the other hosted units). Inert
 * when `forRoot` has no `outbox`.
 */
@OneCopy('Outbox')
@Injectable()
export class Outbox implements OutboxWriter, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Hosting');
  private readonly options?: ResolvedOutboxOptions;
  private readonly outboxStore?: OutboxStore;
  /** The default TransactionHost of @nestjs-cls/transactional, looked up on the first `'ambient'` (null: none). */
  private ambientHost?: OutboxTransactionHost | null;

  constructor(
    @Inject(HOSTING_OPTIONS) hosting: HostingOptions,
    private readonly registry: HostingRegistry,
    private readonly queues: QueueManager,
    private readonly time: TimeProvider,
    private readonly modules: ModulesContainer,
  ) {
    const options = (this.options = resolveOutboxOptions(hosting));
    if (!options) return;
    this.outboxStore =
      options.store === 'sqlite' ? new SqliteOutboxStore(options.sqlite!, options.table) : new PostgresOutboxStore(options.postgres!, options.table);
  }

  /** Whether `forRoot` configured an outbox. */
  get configured(): boolean {
    return this.outboxStore !== undefined;
  }

  get store(): 'sqlite' | 'postgres' {
    return this.outboxStore?.kind ?? 'sqlite';
  }

  async onModuleInit(): Promise<void> {
    const store = this.outboxStore;
    const options = this.options;
    if (!store || !options) return;
    try {
      await store.ready; // the table exists, or start-up fails with the SQL to run
    } catch (error) {
      await store.dispose().catch(() => undefined);
      throw error;
    }
    const relay = options.relay
      ? new OutboxRelay(store, (name) => this.queues.get(name)?.backend, options, this.time, this.logger)
      : new DisabledOutboxRelay(store);
    this.registry.register(relay, OUTBOX_WHERE);
  }

  /** After the host stopped (the relay with it): the relay's own PostgreSQL pool closes. */
  async onApplicationShutdown(): Promise<void> {
    await this.outboxStore?.dispose().catch((error: unknown) => this.logger.error(OUTBOX_POOL_END_FAILED(error)));
  }

  handle(where: string, transaction: unknown): OutboxWrite {
    let handle = transaction;
    if (handle === 'ambient') {
      const host = this.findAmbientHost();
      if (!host) throw new TypeError(OUTBOX_AMBIENT_UNAVAILABLE(where));
      handle = host;
    } else if (typeof handle === 'string') {
      throw new TypeError(OUTBOX_STRING_TRANSACTION(where, handle));
    }
    if (isTransactionHost(handle)) {
      if (!handle.isTransactionActive()) throw new TypeError(OUTBOX_AMBIENT_NOT_ACTIVE(where));
      handle = handle.tx;
    }
    return this.outboxStore!.writer(where, handle);
  }

  now(): number {
    return this.time.now();
  }

  /**
   * The default `TransactionHost` (registered under its class, which is also what `@InjectTransactionHost()`
   * without a name injects), found among the app's providers, so that @nestjs-cls/transactional is never
   * imported here: it is the app's, and must be the app's copy.
   */
  private findAmbientHost(): OutboxTransactionHost | undefined {
    if (this.ambientHost !== undefined) return this.ambientHost ?? undefined;
    let found: OutboxTransactionHost | null = null;
    for (const module of this.modules.values()) {
      for (const wrapper of module.providers.values()) {
        const token: unknown = wrapper.token;
        const instance: unknown = wrapper.instance;
        if (typeof token === 'function' && token.name === 'TransactionHost' && isTransactionHost(instance)) {
          found = instance;
          break;
        }
      }
      if (found) break;
    }
    this.ambientHost = found;
    return found ?? undefined;
  }
}
