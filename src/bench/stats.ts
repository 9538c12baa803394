/** Summaries for the bench table: every timed row is a median with its spread, never one lucky sample. */

export interface Summary {
  median: number;
  /** p10 and p90 when there are 20 samples or more, else the minimum and maximum. */
  low: number;
  high: number;
  samples: number;
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const below = Math.floor(at);
  const above = Math.ceil(at);
  return sorted[below] + (sorted[above] - sorted[below]) * (at - below);
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) throw new Error("no samples");
  const sorted = [...values].sort((a, b) => a - b);
  const wide = sorted.length >= 20;
  return {
    median: quantile(sorted, 0.5),
    low: wide ? quantile(sorted, 0.1) : sorted[0],
    high: wide ? quantile(sorted, 0.9) : sorted[sorted.length - 1],
    samples: sorted.length,
  };
}

/** "1.23 ms (1.10–1.50)": the median, then the spread (p10–p90, or min–max under 20 samples). */
export function formatSummary(s: Summary, unit: string, digits: number): string {
  return `${s.median.toFixed(digits)} ${unit} (${s.low.toFixed(digits)}–${s.high.toFixed(digits)})`;
}

export const spreadName = (samples: number) => (samples >= 20 ? "p10–p90" : "min–max");

/**
 * Runs `ours` and `baseline` alternately, `rounds` times each, swapping which goes first every round
 * (ours, baseline, baseline, ours, …) so that a drift in the machine's load weighs on both sides alike.
 */
export async function interleaved<T>(rounds: number, ours: () => Promise<T>, baseline: () => Promise<T>): Promise<{ ours: T[]; baseline: T[] }> {
  const out = { ours: [] as T[], baseline: [] as T[] };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      out.ours.push(await ours());
      out.baseline.push(await baseline());
    } else {
      out.baseline.push(await baseline());
      out.ours.push(await ours());
    }
  }
  return out;
}

/** Milliseconds from a monotonic clock. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Like `interleaved` for any number of sides: each round runs them all, starting one further along each time. */
export async function rotated<T>(rounds: number, sides: Array<() => Promise<T>>): Promise<T[][]> {
  const out = sides.map(() => [] as T[]);
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < sides.length; k++) {
      const j = (i + k) % sides.length;
      out[j].push(await sides[j]());
    }
  }
  return out;
}
