import { ServiceStateError } from '../errors/service-state.error.js';
import { UNIT_DISABLED } from '../hosting.messages.js';
import type { ServiceKind, ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostedUnit } from './hosted-unit.js';
import { StatusTracker } from './status-tracker.js';

/**
 * A unit turned off for this process (`enabled: false` on it, or on its kind in `forRoot`): listed
 * with state `'disabled'`, never started; `trigger`, `pause`, `resume` and `restart` are refused
 * with a `ServiceStateError` (a 409) saying so.
 */
export class DisabledUnit implements HostedUnit {
  private readonly tracker: StatusTracker;

  constructor(
    readonly name: string,
    readonly kind: ServiceKind,
    /** Schedule text of a periodic or delayed task, shown as for an enabled one. */
    private readonly schedule?: string,
  ) {
    this.tracker = new StatusTracker(name, kind);
    this.tracker.state = 'disabled';
  }

  start(): void {}

  stop(): undefined {
    return undefined;
  }

  status(): ServiceStatus {
    return this.tracker.snapshot(this.schedule === undefined ? {} : { schedule: this.schedule });
  }

  trigger(): Promise<void> {
    return Promise.reject(this.refuse('trigger'));
  }

  pause(): void {
    throw this.refuse('pause');
  }

  resume(): void {
    throw this.refuse('resume');
  }

  restart(): void {
    throw this.refuse('restart');
  }

  private refuse(method: string): ServiceStateError {
    return new ServiceStateError(method, this.name, 'disabled', UNIT_DISABLED(method, this.name));
  }
}
