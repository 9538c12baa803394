/** Table tests of the retry rules: pure functions, no network. */
import { backoffDelay, decideRetry, decideThrottleWait, parseRetryAfter, RetryPolicy } from "./retry";

const NOW = Date.parse("2026-11-28T12:00:00Z");
const noJitter = () => 0;

describe("parseRetryAfter", () => {
  it.each([
    ["10", 10_000],
    ["0", 0],
    [" 3 ", 3_000],
    ["120", 120_000],
    // The three HTTP-date forms RFC 9110 §5.6.7 requires a recipient to accept.
    ["Sat, 28 Nov 2026 12:00:30 GMT", 30_000],
    ["Saturday, 28-Nov-26 12:00:30 GMT", 30_000],
    ["Sat Nov 28 12:00:30 2026", 30_000],
    ["Sat Nov  8 12:00:30 2026", 0],
    ["Sun, 29 Nov 2026 00:00:00 GMT", 43_200_000],
    ["Sat, 28 Nov 2026 11:59:00 GMT", 0],
    // Not delta-seconds and not an HTTP-date: absent, so the backoff applies (never "retry now").
    ["2.128", undefined],
    ["-1", undefined],
    ["+5", undefined],
    ["1e3", undefined],
    ["0x10", undefined],
    ["1", 1_000],
    ["soon", undefined],
    ["soon 2020", undefined],
    ["2026-11-28T12:00:30Z", undefined],
    ["Sat, 28 Nov 2026 12:00:30", undefined],
    ["Sat, 28 Nov 2026 12:00:30 UTC", undefined],
    ["Sat, 31 Feb 2026 12:00:30 GMT", undefined],
    ["Sat, 28 Nov 2026 24:00:30 GMT", undefined],
    ["Sat, 28 Nov 2026 12:61:30 GMT", undefined],
    ["sat, 28 nov 2026 12:00:30 gmt", undefined],
    ["Tuesday, 28-Nov-2026 12:00:30 GMT", undefined],
    ["", undefined],
    [undefined, undefined],
  ])("reads %p as %p ms", (header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });
});

describe("backoffDelay", () => {
  it.each([
    [1, 1000, 0, 1000],
    [2, 1000, 0, 2000],
    [3, 1000, 0, 4000],
    [1, 1000, 1, 1200],
    [10, 1000, 0, 60_000],
    [2, 250, 0, 500],
  ])("attempt %p from %p ms with random %p waits %p ms", (attempt, base, r, expected) => {
    expect(backoffDelay(attempt, base, () => r)).toBe(expected);
  });
});

const spec: RetryPolicy = {
  maxThrottleRetries: 5,
  maxRetryAfterMs: 120_000,
  maxErrorRetries: 0,
  retryAllErrors: false,
  retryDelayMs: 0,
  useExponentialBackoff: false,
};
const used = { throttleRetriesUsed: 0, errorRetriesUsed: 0 };

describe("decideRetry", () => {
  it.each([
    ["429 + Retry-After on POST waits what Graph asked", spec, { method: "POST", status: 429, retryAfterHeader: "7" }, { retry: true, kind: "throttle", delayMs: 7000 }],
    ["429 without Retry-After backs off from 1 s", spec, { method: "POST", status: 429 }, { retry: true, kind: "throttle", delayMs: 1000 }],
    ["503 + Retry-After on PATCH is a throttle", spec, { method: "PATCH", status: 503, retryAfterHeader: "2" }, { retry: true, kind: "throttle", delayMs: 2000 }],
    ["504 + Retry-After is a throttle", spec, { method: "GET", status: 504, retryAfterHeader: "1" }, { retry: true, kind: "throttle", delayMs: 1000 }],
    ["503 without Retry-After on POST is not retried by default", spec, { method: "POST", status: 503 }, { retry: false, reason: "not-retryable" }],
    ["Retry-After past the longest wait fails at once", spec, { method: "GET", status: 429, retryAfterHeader: "300" }, { retry: false, reason: "retry-after-too-long", retryAfterMs: 300_000 }],
    ["a spent throttle budget stops", spec, { method: "GET", status: 429, retryAfterHeader: "1", throttleRetriesUsed: 5 }, { retry: false, reason: "throttle-budget-spent" }],
    ["a spent throttle budget falls back on Max Retry Count for GET", { ...spec, maxErrorRetries: 2, retryDelayMs: 10 }, { method: "GET", status: 429, retryAfterHeader: "1", throttleRetriesUsed: 5 }, { retry: true, kind: "error", delayMs: 1000 }],
    ["500 on GET with Max Retry Count uses Retry Delay", { ...spec, maxErrorRetries: 2, retryDelayMs: 250 }, { method: "GET", status: 500 }, { retry: true, kind: "error", delayMs: 250 }],
    ["500 on POST is not retried without Retry On All Errors", { ...spec, maxErrorRetries: 2 }, { method: "POST", status: 500 }, { retry: false, reason: "not-retryable" }],
    ["400 on GET is not retried", { ...spec, maxErrorRetries: 2 }, { method: "GET", status: 400 }, { retry: false, reason: "not-retryable" }],
    ["400 on POST is retried with Retry On All Errors", { ...spec, maxErrorRetries: 2, retryAllErrors: true }, { method: "POST", status: 400 }, { retry: true, kind: "error", delayMs: 0 }],
    ["a network error on GET is retried", { ...spec, maxErrorRetries: 1 }, { method: "GET" }, { retry: true, kind: "error", delayMs: 0 }],
    ["a network error on POST is not", { ...spec, maxErrorRetries: 1 }, { method: "POST" }, { retry: false, reason: "not-retryable" }],
    ["exponential backoff from Retry Delay 0 starts at 1 s, not 0", { ...spec, maxErrorRetries: 3, useExponentialBackoff: true }, { method: "GET", status: 502, errorRetriesUsed: 1 }, { retry: true, kind: "error", delayMs: 2000 }],
    ["exponential backoff doubles from Retry Delay", { ...spec, maxErrorRetries: 3, useExponentialBackoff: true, retryDelayMs: 300 }, { method: "GET", status: 502, errorRetriesUsed: 2 }, { retry: true, kind: "error", delayMs: 1200 }],
    ["429 with an unreadable Retry-After backs off as if it were absent", spec, { method: "GET", status: 429, retryAfterHeader: "-1" }, { retry: true, kind: "throttle", delayMs: 1000, retryAfterMs: undefined }],
    ["429 with Retry-After 0 waits nothing, as Graph asked", spec, { method: "GET", status: 429, retryAfterHeader: "0" }, { retry: true, kind: "throttle", delayMs: 0 }],
    ["a Retry-After longer than the computed wait wins", { ...spec, maxErrorRetries: 3, retryDelayMs: 100, retryAllErrors: true }, { method: "GET", status: 500, retryAfterHeader: "4" }, { retry: true, kind: "error", delayMs: 4000 }],
    ["the error budget runs out", { ...spec, maxErrorRetries: 2 }, { method: "GET", status: 500, errorRetriesUsed: 2 }, { retry: false, reason: "error-budget-spent" }],
    ["a POST declared idempotent (an upload chunk) is retried on 500", { ...spec, maxErrorRetries: 2, retryDelayMs: 10 }, { method: "POST", idempotent: true, status: 500 }, { retry: true, kind: "error", delayMs: 10 }],
    ["a PUT declared not idempotent is not retried on 500", { ...spec, maxErrorRetries: 2 }, { method: "PUT", idempotent: false, status: 500 }, { retry: false, reason: "not-retryable" }],
  ])("%s", (_name, policy, outcome, expected) => {
    const decision = decideRetry(policy as RetryPolicy, { ...used, ...outcome } as Parameters<typeof decideRetry>[1], NOW, noJitter);
    expect(decision).toMatchObject(expected);
  });
});

describe("decideThrottleWait (single requests and batch items share it)", () => {
  const budget = { maxThrottleRetries: 2, maxRetryAfterMs: 60_000 };
  it.each([
    ["several throttled answers wait for the longest Retry-After", ["3", undefined, "7"], 0, 1, { retry: true, delayMs: 7_000, retryAfterMs: 7_000 }],
    ["none with Retry-After backs off at the given step", [undefined, undefined], 0, 3, { retry: true, delayMs: 4_000, retryAfterMs: undefined }],
    ["one wait past the longest allowed stops them all", ["3", "61"], 0, 1, { retry: false, reason: "retry-after-too-long", retryAfterMs: 61_000 }],
    ["a spent budget stops", ["1"], 2, 3, { retry: false, reason: "throttle-budget-spent", retryAfterMs: 1_000 }],
  ] as const)("%s", (_name, headers, used, step, expected) => {
    expect(decideThrottleWait(budget, headers, used, NOW, noJitter, step)).toEqual(expected);
  });
});
