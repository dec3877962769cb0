import { Injectable, type Type } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import {
  BACKGROUND_SERVICE_METADATA,
  DELAYED_METADATA,
  PERIODIC_METADATA,
  QUEUE_EVENT_METADATA,
  QUEUE_WORKER_METADATA,
  WORK_INTERCEPTOR_METADATA,
} from '../hosting.constants.js';
import type { BackgroundServiceOptions } from '../interfaces/background-service-options.interface.js';
import type { PeriodicMetadata } from '../decorators/periodic.decorator.js';
import type { DelayedMetadata } from '../decorators/delayed.decorator.js';
import { defineDelayedTask, type DelayedTaskDefinition } from '../scheduling/delayed-task-definition.js';
import type { QueueWorkerMetadata } from '../decorators/queue-worker.decorator.js';
import type { QueueEventMetadata } from '../decorators/on-queue-event.decorator.js';
import { definePeriodicTask, type PeriodicTaskDefinition } from '../scheduling/periodic-task-definition.js';

/** A provider or controller as `DiscoveryService` hands it out. */
export type DiscoveredWrapper = ReturnType<DiscoveryService['getProviders']>[number];

export interface DiscoveredBackgroundService {
  wrapper: DiscoveredWrapper;
  className: string;
  options: BackgroundServiceOptions;
}

export interface DiscoveredPeriodicTask {
  wrapper: DiscoveredWrapper;
  methodName: string | symbol;
  definition: PeriodicTaskDefinition;
}

export interface DiscoveredDelayedTask {
  wrapper: DiscoveredWrapper;
  methodName: string | symbol;
  definition: DelayedTaskDefinition;
}

export interface DiscoveredWorkInterceptor {
  wrapper: DiscoveredWrapper;
  className: string;
  order: number;
}

export interface DiscoveredQueueWorker {
  wrapper: DiscoveredWrapper;
  /** `ClassName.methodName`, for messages. */
  owner: string;
  metadata: QueueWorkerMetadata;
}

export interface DiscoveredQueueEventListener {
  wrapper: DiscoveredWrapper;
  /** `ClassName.methodName`, for messages. */
  owner: string;
  metadata: QueueEventMetadata;
}

/** The class behind a wrapper: its metatype, or the constructor of a `useValue`/factory instance. */
export function classOf(wrapper: DiscoveredWrapper): Type | undefined {
  if (typeof wrapper.metatype === 'function' && !wrapper.inject) return wrapper.metatype as Type;
  const instance = wrapper.instance as object | undefined;
  const ctor = instance && (Object.getPrototypeOf(instance) as object | null)?.constructor;
  return typeof ctor === 'function' && ctor !== Object ? (ctor as Type) : undefined;
}

/** Finds decorated providers and controllers anywhere in the app (the decorators validated what they declare). */
@Injectable()
export class HostingExplorer {
  constructor(private readonly discovery: DiscoveryService) {}

  /** Every provider and controller with a class, each once. */
  wrappers(): DiscoveredWrapper[] {
    const seen = new Set<unknown>();
    return [...this.discovery.getProviders(), ...this.discovery.getControllers()].filter((w) => {
      if (w.isAlias || !classOf(w) || seen.has(w)) return false;
      seen.add(w);
      return true;
    });
  }

  backgroundServices(): DiscoveredBackgroundService[] {
    return this.wrappers().flatMap((wrapper) => {
      const cls = classOf(wrapper)!;
      const options = Reflect.getMetadata(BACKGROUND_SERVICE_METADATA, cls) as BackgroundServiceOptions | undefined;
      // The decorator checked the options and `execute` as the class was defined.
      return options ? [{ wrapper, className: cls.name, options }] : [];
    });
  }

  /** `@WorkInterceptor()` providers, in the order Nest lists them. */
  workInterceptors(): DiscoveredWorkInterceptor[] {
    return this.wrappers().flatMap((wrapper) => {
      const cls = classOf(wrapper)!;
      const metadata = Reflect.getMetadata(WORK_INTERCEPTOR_METADATA, cls) as { order: number } | undefined;
      return metadata ? [{ wrapper, className: cls.name, order: metadata.order }] : [];
    });
  }

  periodicTasks(): DiscoveredPeriodicTask[] {
    // Checked as the decorator was applied; defined again here so that names use the concrete class.
    return this.decoratedMethods<PeriodicMetadata>(PERIODIC_METADATA).map(({ wrapper, owner, entry }) => ({
      wrapper,
      methodName: entry.methodName,
      definition: definePeriodicTask(owner, entry.schedule, entry.options),
    }));
  }

  delayedTasks(): DiscoveredDelayedTask[] {
    return this.decoratedMethods<DelayedMetadata>(DELAYED_METADATA).map(({ wrapper, owner, entry }) => ({
      wrapper,
      methodName: entry.methodName,
      definition: defineDelayedTask(owner, entry.delayMs, entry.options),
    }));
  }

  queueWorkers(): DiscoveredQueueWorker[] {
    return this.decoratedMethods<QueueWorkerMetadata>(QUEUE_WORKER_METADATA).map(({ wrapper, owner, entry }) => ({ wrapper, owner, metadata: entry }));
  }

  /**
   * `@OnQueueEvent` methods: one entry per method and queue (a method may listen to several queues;
   * a subclass that re-decorates an inherited method for the same queue replaces the parent's entry).
   */
  queueEventListeners(): DiscoveredQueueEventListener[] {
    return this.wrappers().flatMap((wrapper) => {
      const cls = classOf(wrapper)!;
      const entries = (Reflect.getMetadata(QUEUE_EVENT_METADATA, cls) as QueueEventMetadata[] | undefined) ?? [];
      const byMethodAndQueue = new Map<string | symbol, Map<string, QueueEventMetadata>>();
      for (const entry of entries) {
        let byQueue = byMethodAndQueue.get(entry.methodName);
        if (byQueue === undefined) byMethodAndQueue.set(entry.methodName, (byQueue = new Map<string, QueueEventMetadata>()));
        byQueue.set(entry.queue, entry);
      }
      return [...byMethodAndQueue.values()].flatMap((byQueue) =>
        [...byQueue.values()].map((metadata) => ({ wrapper, owner: `${cls.name}.${String(metadata.methodName)}`, metadata })),
      );
    });
  }

  /**
   * The methods a decorator recorded under `metadataKey`, per provider and controller, each once (a
   * subclass that re-decorates an inherited method replaces the parent's entry), with the
   * `Class.method` name messages use.
   */
  private decoratedMethods<M extends { methodName: string | symbol }>(metadataKey: string): Array<{ wrapper: DiscoveredWrapper; owner: string; entry: M }> {
    return this.wrappers().flatMap((wrapper) => {
      const cls = classOf(wrapper)!;
      const entries = (Reflect.getMetadata(metadataKey, cls) as M[] | undefined) ?? [];
      const byMethod = new Map(entries.map((e) => [e.methodName, e]));
      return [...byMethod.values()].map((entry) => ({ wrapper, owner: `${cls.name}.${String(entry.methodName)}`, entry }));
    });
  }
}
