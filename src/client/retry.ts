/**
 * When and how long to wait before sending a request again. Pure functions over a policy object,
 * so the rules read as data and are table-tested without a network.
 */

export interface RetryPolicy {
  /** Retries of throttled answers (429, or 503/504 carrying Retry-After), for every method. */
  maxThrottleRetries: number;
  /** The longest single wait Graph may ask for; past it the request fails at once. */
  maxRetryAfterMs: number;
  /** The spec's Max Retry Count: retries of network errors and 5xx (idempotent methods), or of everything (Retry On All Errors). */
  maxErrorRetries: number;
  retryAllErrors: boolean;
  /** The spec's Retry Delay (ms): the fixed wait, or the first step of exponential backoff. */
  retryDelayMs: number;
  useExponentialBackoff: boolean;
}

/** Throttling without Retry-After starts here, as Graph's guidance and the Graph SDKs do. */
export const THROTTLE_BASE_DELAY_MS = 1_000;
/** Exponential backoff starts here when Retry Delay is 0 (Spectral would wait 0 ms: a retry storm). */
export const BACKOFF_BASE_DELAY_MS = 1_000;
/** No computed backoff waits longer than this; Graph's SDKs cap at 180 s, a flow step can't afford that often. */
export const MAX_BACKOFF_DELAY_MS = 60_000;

// Methods that may be repeated without changing the result (RFC 9110 §9.2.2).
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/**
 * Graph's throttle signal: 429, or 503/504 with Retry-After. Graph did not process such a request,
 * so it is safe to resend whatever the method (learn.microsoft.com/graph/throttling).
 */
export function isThrottled(status: number, retryAfterHeader: string | undefined): boolean {
  return status === 429 || ((status === 503 || status === 504) && retryAfterHeader !== undefined);
}

/**
 * Retry-After as milliseconds: delta-seconds (Graph's form) or an HTTP-date (accepted by the SDKs).
 * Fractional seconds are kept. Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** Exponential backoff: the step doubles from `baseMs` (capped), plus up to 20 % random jitter so parallel flows spread out. */
export function backoffDelay(attempt: number, baseMs: number, random: () => number): number {
  const step = Math.min(MAX_BACKOFF_DELAY_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (1 + 0.2 * random()));
}

export type RetryDecision =
  | { retry: true; kind: "throttle" | "error"; delayMs: number; retryAfterMs?: number }
  | { retry: false; reason?: "retry-after-too-long" | "throttle-budget-spent" | "error-budget-spent" | "not-retryable"; retryAfterMs?: number };

export interface AttemptOutcome {
  method: string;
  /** HTTP status, or undefined when no answer came (network error, timeout, truncated body). */
  status?: number;
  retryAfterHeader?: string;
  throttleRetriesUsed: number;
  errorRetriesUsed: number;
}

/** Decides whether a failed attempt is sent again, and after how long. */
export function decideRetry(
  policy: RetryPolicy,
  outcome: AttemptOutcome,
  nowMs: number,
  random: () => number,
): RetryDecision {
  const { status, method, retryAfterHeader } = outcome;
  const retryAfterMs = parseRetryAfter(retryAfterHeader, nowMs);

  if (status !== undefined && isThrottled(status, retryAfterHeader)) {
    if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) {
      return { retry: false, reason: "retry-after-too-long", retryAfterMs };
    }
    if (outcome.throttleRetriesUsed < policy.maxThrottleRetries) {
      // Never less than Graph asked for: requests made while throttled still count against the limit.
      const delayMs =
        retryAfterMs ?? backoffDelay(outcome.throttleRetriesUsed + 1, THROTTLE_BASE_DELAY_MS, random);
      return { retry: true, kind: "throttle", delayMs, retryAfterMs };
    }
  }

  const retryableError =
    status === undefined
      ? policy.retryAllErrors || isIdempotent(method)
      : policy.retryAllErrors || (isIdempotent(method) && (status >= 500 || status === 429));
  if (!retryableError || policy.maxErrorRetries <= 0) {
    const throttled = status !== undefined && isThrottled(status, retryAfterHeader);
    return { retry: false, reason: throttled ? "throttle-budget-spent" : "not-retryable", retryAfterMs };
  }
  if (outcome.errorRetriesUsed >= policy.maxErrorRetries) {
    return { retry: false, reason: "error-budget-spent", retryAfterMs };
  }
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) {
    return { retry: false, reason: "retry-after-too-long", retryAfterMs };
  }
  const computed = policy.useExponentialBackoff
    ? backoffDelay(outcome.errorRetriesUsed + 1, policy.retryDelayMs || BACKOFF_BASE_DELAY_MS, random)
    : policy.retryDelayMs;
  // A Retry-After longer than the computed wait wins.
  const delayMs = Math.max(computed, retryAfterMs ?? 0);
  return { retry: true, kind: "error", delayMs, retryAfterMs };
}
