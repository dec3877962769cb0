import { Injectable } from '@nestjs/common';
import { OneCopy } from '../one-copy.js';

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
@OneCopy('HostLifetime')
@Injectable()
export class HostLifetime {
  /**
   * Resolves once the app has bootstrapped and every hosted service has been started; also when a
   * stop asked for before that prevented them from starting (`stopping` has aborted then).
   */
  readonly started: Promise<void>;
  /** Resolves once hosted work has stopped and the app has shut down. */
  readonly stopped: Promise<void>;
  private readonly stoppingController = new AbortController();
  private resolveStarted!: () => void;
  private resolveStopped!: () => void;
  private stopRequester?: (reason: string) => void;
  /** A stop asked for before the host existed (from a constructor or an async provider factory). */
  private pendingStop?: string;
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
   * Does nothing once stopping has begun. Asked before the host started (from a constructor, a
   * provider factory or `onModuleInit`), it wins: `stopping` aborts at once, no hosted work
   * starts, and the app is closed right after start-up.
   */
  stopApplication(reason = 'stopApplication() was called'): void {
    if (this.stopping.aborted) return;
    if (this.stopRequester) this.stopRequester(reason);
    else this.pendingStop ??= reason;
  }

  /** @internal */
  setStopRequester(requester: (reason: string) => void): void {
    this.stopRequester = requester;
    if (this.pendingStop !== undefined) requester(this.pendingStop);
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
