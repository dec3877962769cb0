import type { LoggerService } from '@nestjs/common';
import type { ServiceErrorBehavior } from '../interfaces/hosting-options.interface.js';
import type { HostedBackgroundService, RestartPolicy } from '../interfaces/background-service-options.interface.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import { isAbortCaused } from '../errors/abort.js';
import { ServiceStateError } from '../errors/service-state.error.js';
import {
  NOT_RESTARTABLE,
  RESTARTS_EXHAUSTED,
  SERVICE_FAILED_WHILE_STOPPING,
  SERVICE_FAULTED,
  SERVICE_RESTARTED,
  SERVICE_RESTARTING,
  stackOf,
} from '../hosting.messages.js';
import type { HostedUnit, StopRequest } from '../registry/hosted-unit.js';
import { StatusTracker } from '../registry/status-tracker.js';
import type { TimeProvider, TimerHandle } from '../time/time-provider.js';
import type { Around } from '../scopes/scoped-invoker.js';

/** A validated `@BackgroundService`. */
export interface BackgroundServiceDefinition {
  name: string;
  instance: HostedBackgroundService;
  onError: ServiceErrorBehavior;
  restart: Required<RestartPolicy>;
  /** The interceptor chain each `execute` run passes through (undefined when none is registered). */
  around?: Around;
}

/**
 * Runs one background service the way .NET's BackgroundService does: `execute` starts on a later
 * turn of the event loop (never inline with start-up), stop aborts its signal and hands back its settling.
 */
export class BackgroundServiceRunner implements HostedUnit {
  readonly kind = 'background';
  private readonly tracker: StatusTracker;
  private readonly controller = new AbortController();
  private pendingStart?: NodeJS.Immediate;
  private starting?: Promise<void>;
  private launched?: () => void;
  private restartTimer?: TimerHandle;
  private running?: Promise<void>;
  private restarts = 0;
  /** Its own failure asked the host to stop (`stopHost`, or `restart` exhausted): no restart then. */
  private stoppedHost = false;

  constructor(
    private readonly definition: BackgroundServiceDefinition,
    private readonly logger: LoggerService,
    /** Called when the failure policy says the host must stop. */
    private readonly stopHost: (reason: string) => void,
    /** The host's clock: restart delays and run durations. */
    private readonly time: TimeProvider,
  ) {
    this.tracker = new StatusTracker(definition.name, 'background', () => time.now());
  }

  get name(): string {
    return this.definition.name;
  }

  status(): ServiceStatus {
    return this.tracker.snapshot();
  }

  start(): void {
    this.starting = new Promise<void>((resolve) => (this.launched = resolve));
    this.pendingStart = setImmediate(() => this.launch());
  }

  /** A start about to call `execute` (for `HostingRegistry.whenIdle`); a running `execute` is not awaited. */
  busyWork(): Promise<void> | undefined {
    return this.pendingStart ? this.starting : undefined;
  }

  stop({ reason }: StopRequest): Promise<void> | undefined {
    this.restartTimer?.clear();
    this.controller.abort(reason);
    // execute is called exactly once per start, even when the stop came first (then with an aborted signal).
    if (this.pendingStart) this.launch();
    if (!this.running) {
      this.tracker.state = this.tracker.state === 'faulted' ? 'faulted' : 'stopped';
      return undefined;
    }
    this.tracker.state = 'stopping';
    return this.running;
  }

  /**
   * `HostingRegistry.restart`: a faulted service starts again as at start-up (on a later turn of
   * the event loop, with the host's signal). Only `onError: 'ignore'` leaves a service faulted
   * while the host runs ('stopHost', and 'restart' once its budget is spent, stop the host); the
   * restart count still starts over, so that a budget is never carried past an operator's restart.
   */
  restart(): void {
    const { state } = this.tracker;
    if (this.controller.signal.aborted || this.stoppedHost || state === 'stopping') {
      throw new ServiceStateError('restart', this.name, state, NOT_RESTARTABLE(this.name, state, 'host stopping'));
    }
    if (state !== 'faulted') {
      const why = this.restartTimer ? 'backoff' : 'state';
      throw new ServiceStateError('restart', this.name, state, NOT_RESTARTABLE(this.name, state, why));
    }
    this.restarts = 0;
    this.tracker.state = 'starting';
    contain(() => this.logger.log(SERVICE_RESTARTED(this.name, this.tracker.failures)));
    this.start();
  }

  private launch(): void {
    clearImmediate(this.pendingStart);
    this.pendingStart = undefined;
    this.launched?.();
    this.restartTimer = undefined;
    this.tracker.state = 'running';
    this.tracker.runStarted();
    this.running = this.runOnce(this.controller.signal, this.time.monotonic());
  }

  private async runOnce(signal: AbortSignal, startedAt: number): Promise<void> {
    let failure: { error: unknown } | undefined;
    try {
      const { instance, around } = this.definition;
      await (around ? around(signal, undefined, undefined, () => instance.execute(signal)) : instance.execute(signal));
    } catch (error) {
      // Only a throw caused by our own abort is how a service acknowledges the stop; anything else failed.
      if (!isAbortCaused(error, signal)) failure = { error };
    }
    this.running = undefined;
    if (!failure) {
      this.tracker.runSucceeded();
      this.tracker.state = 'stopped';
      return;
    }
    this.tracker.runFailed(failure.error);
    this.onFailure(failure.error, signal.aborted, this.time.monotonic() - startedAt);
  }

  private onFailure(error: unknown, stopping: boolean, ranForMs: number): void {
    const { name, onError, restart } = this.definition;
    if (stopping) {
      // The host is stopping already: no restart, no second stop; the failure is logged and counted.
      this.tracker.state = 'faulted';
      contain(() => this.logger.error(SERVICE_FAILED_WHILE_STOPPING(name), stackOf(error)));
      return;
    }
    contain(() => this.logger.error(SERVICE_FAULTED(name, onError), stackOf(error)));
    if (onError === 'restart') {
      if (ranForMs > restart.maxDelayMs) this.restarts = 0; // a long healthy run earns a fresh budget
      if (this.restarts < restart.maxRestarts) {
        const delayMs = Math.min(restart.initialDelayMs * 2 ** this.restarts, restart.maxDelayMs);
        this.restarts++;
        this.tracker.state = 'starting';
        this.restartTimer = this.time.setTimeout(() => this.launch(), delayMs);
        contain(() => this.logger.warn(SERVICE_RESTARTING(name, this.restarts, restart.maxRestarts, delayMs)));
        return;
      }
      contain(() => this.logger.error(RESTARTS_EXHAUSTED(name, restart.maxRestarts)));
    }
    this.tracker.state = 'faulted';
    if (onError === 'ignore') return;
    this.stoppedHost = true;
    this.stopHost(SERVICE_FAULTED(name, onError));
  }
}

/** Runs a report (a log line); a logger that throws must not change what the host does next. */
function contain(report: () => unknown): void {
  try {
    report();
  } catch {
    // nothing more can be reported
  }
}
