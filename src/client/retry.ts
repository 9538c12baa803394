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
 * Retry-After as milliseconds (RFC 9110 §10.2.3): delta-seconds (1*DIGIT, Graph's form) or an HTTP-date
 * in any of the three forms RFC 9110 §5.6.7 requires recipients to accept. Anything else is undefined, so
 * the backoff applies: `Date.parse` would read "1", "-1" or "soon 2020" as dates, and "retry now" is never
 * a safe reading of an unreadable header. Never negative.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text, nowMs);
  return date === undefined ? undefined : Math.max(0, date - nowMs);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
// Sun Nov  6 08:49:37 1994
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/** An HTTP-date as epoch ms, or undefined when it is not one (a day or time out of range included). */
export function parseHttpDate(text: string, nowMs: number): number | undefined {
  let parts: { day: string; month: string; year: number; h: string; m: string; s: string } | undefined;
  let match = IMF_FIXDATE.exec(text);
  if (match) parts = { day: match[2], month: match[3], year: Number(match[4]), h: match[5], m: match[6], s: match[7] };
  else if ((match = RFC850_DATE.exec(text))) {
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent past year with those digits.
    const thisYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(match[4]);
    if (year > thisYear + 50) year -= 100;
    parts = { day: match[2], month: match[3], year, h: match[5], m: match[6], s: match[7] };
  } else if ((match = ASCTIME_DATE.exec(text))) {
    parts = { day: match[3].trim(), month: match[2], year: Number(match[7]), h: match[4], m: match[5], s: match[6] };
  }
  if (!parts) return undefined;
  const [day, month, h, m, s] = [Number(parts.day), MONTHS.indexOf(parts.month), Number(parts.h), Number(parts.m), Number(parts.s)];
  // 60 is a leap second (RFC 9110 allows it); Date counts it as the next minute's first.
  if (h > 23 || m > 59 || s > 60 || day < 1) return undefined;
  const ms = Date.UTC(parts.year, month, day, h, m, s);
  // Date.UTC rolls 31 Feb over into March: such a date is not a date.
  if (new Date(Date.UTC(parts.year, month, day)).getUTCDate() !== day) return undefined;
  return ms;
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
  /** Whether sending the request again is safe; by its method (RFC 9110 §9.2.2) when undefined. */
  idempotent?: boolean;
  /** HTTP status, or undefined when no answer came (network error, timeout, truncated body). */
  status?: number;
  retryAfterHeader?: string;
  throttleRetriesUsed: number;
  errorRetriesUsed: number;
}

export type ThrottleWait =
  | { retry: true; delayMs: number; retryAfterMs?: number }
  | { retry: false; reason: "retry-after-too-long" | "throttle-budget-spent"; retryAfterMs?: number };

/**
 * The throttle budget, shared by single requests and JSON batch items: throttled answers are waited out
 * together, for the longest Retry-After among them, while the budget lasts and no wait is over the longest
 * allowed; without Retry-After, exponential backoff from 1 s at step `backoffStep`.
 */
export function decideThrottleWait(
  policy: Pick<RetryPolicy, "maxThrottleRetries" | "maxRetryAfterMs">,
  retryAfterHeaders: ReadonlyArray<string | undefined>,
  throttleRetriesUsed: number,
  nowMs: number,
  random: () => number,
  backoffStep = throttleRetriesUsed + 1,
): ThrottleWait {
  const waits = retryAfterHeaders.map((h) => parseRetryAfter(h, nowMs)).filter((w): w is number => w !== undefined);
  const retryAfterMs = waits.length > 0 ? Math.max(...waits) : undefined;
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) {
    return { retry: false, reason: "retry-after-too-long", retryAfterMs };
  }
  if (throttleRetriesUsed >= policy.maxThrottleRetries) return { retry: false, reason: "throttle-budget-spent", retryAfterMs };
  // Never less than Graph asked for: requests made while throttled still count against the limit.
  const delayMs = retryAfterMs ?? backoffDelay(backoffStep, THROTTLE_BASE_DELAY_MS, random);
  return { retry: true, delayMs, retryAfterMs };
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
    const wait = decideThrottleWait(policy, [retryAfterHeader], outcome.throttleRetriesUsed, nowMs, random);
    if (wait.retry) return { ...wait, kind: "throttle" };
    if (wait.reason === "retry-after-too-long") return wait;
  }

  const idempotent = outcome.idempotent ?? isIdempotent(method);
  const retryableError =
    status === undefined
      ? policy.retryAllErrors || idempotent
      : policy.retryAllErrors || (idempotent && (status >= 500 || status === 429));
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
