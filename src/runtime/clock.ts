// Time as a dependency: the runtime reads the time and sets timers only through a Clock, so that
// tests drive it with a fake one and stay fast and exact.
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** What reads the time and sets no timer needs of a Clock. */
export type NowClock = Pick<Clock, 'now'>;

/** `clock`'s time as a Date (the system's when none is given): what status timestamps take. */
export function dateClock(clock: NowClock = systemClock): () => Date {
  return () => new Date(clock.now());
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on the given clock; `wake()` on the returned handle ends the wait early. */
export function sleep(clock: Clock, ms: number): { done: Promise<void>; wake: () => void } {
  let wake = (): void => {};
  const done = new Promise<void>((resolve) => {
    const timer = clock.setTimeout(resolve, ms);
    wake = () => {
      clock.clearTimeout(timer);
      resolve();
    };
  });
  return { done, wake };
}
