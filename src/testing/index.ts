/**
 * nest-hosting/testing: virtual time for tests of hosted work. Give a `VirtualTime` to the host
 * (`HostingModule.forRoot({ timeProvider: time })`, or `overrideProvider(TimeProvider).useValue(time)`
 * on a testing module), then `await time.advance(ms)`: every tick, retry, restart and delayed task
 * due in that span runs, in order, and has settled when it resolves.
 *
 * @packageDocumentation
 */
export { VirtualTime } from './virtual-time.js';
export type { VirtualTimeOptions } from './virtual-time.js';
// The clock VirtualTime stands in for, so a test can import both from here.
export { TimeProvider } from '../time/time-provider.js';
export type { SystemTimeOptions, TimerHandle, WallClockJumpListener } from '../time/time-provider.js';
