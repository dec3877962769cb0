import { Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HostLifetime } from '../host/host-lifetime.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { sendWithSystemdNotify, type NotifyFailure } from './systemd-notify-command.js';
import { SYSTEMD_NOTIFY_FAILED, SYSTEMD_NOTIFY_MISSING, SYSTEMD_WATCHDOG_WITHHELD } from './systemd.messages.js';
import { OneCopy } from '../one-copy.js';

/** How long shutdown waits for notifications still being sent (STOPPING=1). */
const FLUSH_TIMEOUT_MS = 3_000;

/** Sends one notification; resolves with why it failed, if it did. Never rejects. */
export type NotifySender = (assignments: string[]) => Promise<NotifyFailure | undefined>;

/**
 * Tells systemd about the host's life (a `Type=notify` unit): `READY=1` once started (and, in an
 * HTTP app, listening), `STOPPING=1` when a graceful stop begins, and `WATCHDOG=1` every half
 * `WATCHDOG_USEC` while no hosted service is faulted, so that `WatchdogSec=` restarts a sick host.
 * Does nothing when `NOTIFY_SOCKET` is unset; never throws into the app (failures are logged).
 * Reads `NOTIFY_SOCKET`/`WATCHDOG_*` once and removes them from `process.env`, so that child
 * processes do not inherit them and report for the service (sd_notify's `unset_environment`).
 *
 * @example
 * ```ini
 * [Service]
 * Type=notify
 * NotifyAccess=all
 * WatchdogSec=30
 * ExecStart=/usr/bin/node dist/main.js
 * ```
 */
@OneCopy('SystemdNotifier')
@Injectable()
export class SystemdNotifier implements OnApplicationBootstrap, OnApplicationShutdown {
  /** True when `NOTIFY_SOCKET` is set: the process runs under a service manager that listens. */
  readonly enabled: boolean;
  /** Interval of `WATCHDOG=1` pings (half of `WATCHDOG_USEC`), when the unit has `WatchdogSec=`. */
  readonly watchdogIntervalMs?: number;
  private readonly logger = new Logger('Hosting');
  private readonly send: NotifySender;
  private outbox: Promise<unknown> = Promise.resolve();
  private watchdog?: NodeJS.Timeout;
  private pingPending = false;
  private withheldFor?: string;
  private disabledBecauseMissing = false;
  private readonly detach = new AbortController();

  /** Made by Nest, never by app code: inject it. */
  constructor(...madeByNest: never);
  /** @internal injected by Nest */
  constructor(lifetime: HostLifetime, registry: HostingRegistry, httpAdapterHost?: HttpAdapterHost);
  constructor(
    private readonly lifetime: HostLifetime,
    private readonly registry: HostingRegistry,
    @Optional() private readonly httpAdapterHost?: HttpAdapterHost,
  ) {
    const env = { ...process.env };
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    this.watchdogIntervalMs = this.enabled ? watchdogInterval(env) : undefined;
    this.send = (assignments) => sendWithSystemdNotify(assignments, env);
    // As sd_notify(unset_environment=1): processes the app starts must not report for the service.
    for (const key of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[key];
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    const { stopping } = this.lifetime;
    stopping.addEventListener('abort', () => this.onStopping(), { once: true, signal: this.detach.signal });
    void this.lifetime.started
      .then(() => this.untilServing())
      .then(() => {
        if (stopping.aborted) return;
        void this.notify('READY=1');
        this.startWatchdog();
      });
  }

  /** Waits (bounded) for notifications still being sent, so STOPPING=1 leaves before the process exits. */
  async onApplicationShutdown(): Promise<void> {
    this.stopWatchdog();
    this.detach.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.outbox, new Promise((resolve) => (timer = setTimeout(resolve, FLUSH_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  /**
   * Sends `VARIABLE=VALUE` lines to systemd, after those sent before (e.g. `STATUS=Importing…`).
   * Resolves once sent; a no-op without `NOTIFY_SOCKET`. Never rejects.
   */
  notify(...assignments: string[]): Promise<void> {
    if (!this.enabled || this.disabledBecauseMissing) return Promise.resolve();
    const sent = this.outbox.then(async () => {
      if (this.disabledBecauseMissing) return;
      const failure = await this.send(assignments).catch((error: unknown) => ({ kind: 'failed' as const, detail: String(error) }));
      if (!failure) return;
      if (failure.kind === 'missing-binary') {
        this.disabledBecauseMissing = true;
        this.stopWatchdog();
        this.logger.warn(SYSTEMD_NOTIFY_MISSING());
      } else {
        this.logger.warn(SYSTEMD_NOTIFY_FAILED(assignments.join(' '), failure.detail));
      }
    });
    this.outbox = sent;
    return sent;
  }

  private onStopping(): void {
    this.stopWatchdog();
    void this.notify('STOPPING=1');
  }

  /** In an HTTP app, READY waits until the server listens (as .NET's ApplicationStarted). */
  private untilServing(): Promise<void> {
    const host = this.httpAdapterHost;
    if (!host?.httpAdapter || host.listening) return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = host.listen$.subscribe({ next: () => resolve(), complete: () => resolve() });
      this.lifetime.stopping.addEventListener('abort', () => {
        subscription.unsubscribe();
        resolve();
      });
    });
  }

  private startWatchdog(): void {
    if (!this.watchdogIntervalMs || this.disabledBecauseMissing) return;
    this.ping();
    this.watchdog = setInterval(() => this.ping(), this.watchdogIntervalMs);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** One ping, unless a hosted service is faulted (then systemd's WatchdogSec= restarts the host). */
  private ping(): void {
    if (this.pingPending || this.lifetime.stopping.aborted) return;
    const faulted = this.registry.list().filter((s) => s.state === 'faulted').map((s) => s.name);
    if (faulted.length) {
      const key = faulted.join('\0');
      if (this.withheldFor !== key) this.logger.error(SYSTEMD_WATCHDOG_WITHHELD(faulted));
      this.withheldFor = key;
      return;
    }
    this.withheldFor = undefined;
    this.pingPending = true;
    void this.notify('WATCHDOG=1').then(() => (this.pingPending = false));
  }
}

/** Half of `WATCHDOG_USEC` in ms (sd_watchdog_enabled: only for the process named by `WATCHDOG_PID`). */
function watchdogInterval(env: NodeJS.ProcessEnv): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  return Math.max(1, Math.floor(usec / 2_000));
}
