import { createHash } from "node:crypto";

/** mulberry32: a tiny seeded generator, so anything random in the emulator repeats exactly for the same seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The emulator's random choices under one seed (EmulatorOptions.seed, the CLI's `--seed`): each kind of choice
 * takes its n-th seed since start or reset() from the run's seed, so the same requests get the same answers.
 * Without a seed `next` gives undefined and each caller keeps its unseeded default.
 */
export class SeededChoices {
  private readonly counts = new Map<string, number>();

  constructor(private readonly seed: number | undefined) {
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new RangeError(`seed must be an integer from 0 to 4294967295, got ${seed}`);
  }

  /** The seed of the next choice of this kind, e.g. "batch" for the next $batch's answer order. */
  next(kind: string): number | undefined {
    if (this.seed === undefined) return undefined;
    const n = this.counts.get(kind) ?? 0;
    this.counts.set(kind, n + 1);
    return createHash("sha256").update(`${this.seed}:${kind}:${n}`).digest().readUInt32BE(0);
  }

  /** Starts every kind's sequence over, so a run after reset() repeats the first one. */
  reset(): void {
    this.counts.clear();
  }
}
