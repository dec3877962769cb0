import { Injectable } from '@nestjs/common';

/**
 * The host's lifetime events (.NET's IHostApplicationLifetime).
 *
 * @example
 * ```ts
 * constructor(lifetime: HostLifetime) {
 *   lifetime.started.then(() => this.log.log('all hosted services started'));
 *   lifetime.stopping.addEventListener('abort', () => this.flush());
 * }
 * ```
 */
@Injectable()
export class HostLifetime {
  /** Resolves once the app has bootstrapped and every hosted service has been started. */
  readonly started: Promise<void>;
  /** Resolves once hosted work has stopped and the app has shut down. */
  readonly stopped: Promise<void>;
  private readonly stoppingController = new AbortController();
  private resolveStarted!: () => void;
  private resolveStopped!: () => void;
  private stopRequester?: (reason: string) => void;
  private isStarted = false;

  constructor() {
    this.started = new Promise((resolve) => (this.resolveStarted = resolve));
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  /** Aborts when a graceful stop begins; its `reason` says why. */
  get stopping(): AbortSignal {
    return this.stoppingController.signal;
  }

  /** True between `started` and `stopping` (the readiness of .NET's lifecycle health check). */
  get isRunning(): boolean {
    return this.isStarted && !this.stopping.aborted;
  }

  /**
   * Asks the app to stop gracefully, as SIGTERM would (needs `app.enableShutdownHooks()`).
   * Does nothing once stopping has begun.
   */
  stopApplication(reason = 'stopApplication() was called'): void {
    if (this.stopping.aborted) return;
    this.stopRequester?.(reason);
  }

  /** @internal */
  setStopRequester(requester: (reason: string) => void): void {
    this.stopRequester = requester;
  }

  /** @internal */
  notifyStarted(): void {
    this.isStarted = true;
    this.resolveStarted();
  }

  /** @internal */
  notifyStopping(reason: unknown): void {
    if (!this.stopping.aborted) this.stoppingController.abort(reason);
  }

  /** @internal */
  notifyStopped(): void {
    this.resolveStopped();
  }
}
