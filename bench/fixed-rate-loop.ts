/**
 * The limit a scheduler is measured against: the best fixed-rate loop a person writes by hand
 * with Node's timers (figures 1 and 8). Each tick arms a `setTimeout` for the next slot of a grid
 * fixed at the start (`origin + k·period`, on `performance.now()`), so it never drifts; slots that
 * passed while a tick was late are folded into one tick, as `@Periodic` does by default.
 */

/**
 * Runs `ticks` ticks of a `periodMs` grid; resolves with each tick's lateness (its time − its slot)
 * in ms. `onOrigin` is told where the grid starts (`performance.now()`; the first slot is a period later).
 */
export function fixedRateLoop(periodMs: number, ticks: number, onOrigin?: (origin: number) => void): Promise<number[]> {
  const lateness: number[] = [];
  return new Promise((resolve) => {
    const origin = performance.now();
    onOrigin?.(origin);
    let k = 1;
    const tick = () => {
      const now = performance.now();
      // The slot this tick stands for: the last one passed (a late tick folds the ones before it).
      k = Math.max(k, Math.floor((now - origin) / periodMs));
      lateness.push(now - (origin + k * periodMs));
      if (lateness.length === ticks) return resolve(lateness);
      k++;
      setTimeout(tick, origin + k * periodMs - performance.now());
    };
    setTimeout(tick, periodMs);
  });
}

