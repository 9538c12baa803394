/**
 * The client's only source of time and randomness. Tests replace these members so that a
 * `Retry-After: 30` costs nothing and the requested waits can be asserted; production never does.
 */
export const clock = {
  now: (): number => Date.now(),
  sleep: (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms)),
  random: (): number => Math.random(),
};
