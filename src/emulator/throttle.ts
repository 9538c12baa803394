import type { ThrottleOptions } from "./types";

/**
 * Per-token throttling, enabled per test. A sliding window of request times per token: a request over the
 * budget answers 429, and "requests made while throttled still count" (DC concepts/throttling.md), so a
 * client that ignores Retry-After stays throttled. Batch items are evaluated individually against the same
 * budget (DC concepts/json-batching.md, "Batch size limitations").
 */
export class Throttle {
  private options: ThrottleOptions | null = null;
  private readonly stamps = new Map<string, number[]>();
  private readonly inFlight = new Map<string, number>();

  configure(options: ThrottleOptions | null): void {
    if (options) {
      if (!Number.isInteger(options.requestsPerWindow) || options.requestsPerWindow < 1) {
        throw new RangeError(`requestsPerWindow must be a positive integer, got ${options.requestsPerWindow}`);
      }
      if (!(options.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${options.windowMs}`);
      if (options.maxConcurrent !== undefined && (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1)) {
        throw new RangeError(`maxConcurrent must be a positive integer, got ${options.maxConcurrent}`);
      }
    }
    this.options = options ? { ...options } : null;
    this.stamps.clear();
  }

  /** A real request of `token` arrives; pair with leave(). Returns how many of its requests are now in flight. */
  enter(token: string): number {
    const now = (this.inFlight.get(token) ?? 0) + 1;
    this.inFlight.set(token, now);
    return now;
  }

  /** Requests of `token` in flight now. */
  inFlightOf(token: string): number {
    return this.inFlight.get(token) ?? 0;
  }

  leave(token: string): void {
    const left = (this.inFlight.get(token) ?? 1) - 1;
    if (left <= 0) this.inFlight.delete(token);
    else this.inFlight.set(token, left);
  }

  /**
   * Counts one request (or batch item) of `token`, which saw `concurrent` requests of the token in flight
   * (itself included) when it arrived. Returns the whole seconds to wait when it must answer 429.
   */
  admit(token: string, concurrent: number, now = Date.now()): number | undefined {
    const options = this.options;
    if (!options) return undefined;
    const stamps = this.stamps.get(token) ?? [];
    while (stamps.length > 0 && stamps[0] <= now - options.windowMs) stamps.shift();
    stamps.push(now);
    this.stamps.set(token, stamps);
    let waitMs: number | undefined;
    if (stamps.length > options.requestsPerWindow) {
      // The next request fits once all but the newest (limit - 1) stamps have left the window.
      waitMs = stamps[stamps.length - options.requestsPerWindow] + options.windowMs - now;
    }
    if (options.maxConcurrent !== undefined && concurrent > options.maxConcurrent) waitMs = Math.max(waitMs ?? 0, 1);
    // Integer seconds, at least 1: fractional Retry-After breaks Kiota-Python (reference §1.3).
    return waitMs === undefined ? undefined : Math.max(1, Math.ceil(waitMs / 1000));
  }
}
