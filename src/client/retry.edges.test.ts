/**
 * The retry rules' edges that the main table left open (found by mutation testing): every idempotent method,
 * lower-case methods, a Retry-After too long on the error path, and the whole decision (not a subset of it).
 */
import { backoffDelay, decideRetry, isIdempotent, isThrottled, parseRetryAfter, RetryPolicy } from "./retry";

const NOW = Date.parse("2026-11-28T12:00:00Z");
const noJitter = () => 0;
const policy: RetryPolicy = {
  maxThrottleRetries: 5,
  maxRetryAfterMs: 120_000,
  maxErrorRetries: 2,
  retryAllErrors: false,
  retryDelayMs: 250,
  useExponentialBackoff: false,
};
const decide = (outcome: Partial<Parameters<typeof decideRetry>[1]>, overrides: Partial<RetryPolicy> = {}) =>
  decideRetry({ ...policy, ...overrides }, { method: "GET", throttleRetriesUsed: 0, errorRetriesUsed: 0, ...outcome }, NOW, noJitter);

describe("isIdempotent (RFC 9110 §9.2.2)", () => {
  it.each([
    ["GET", true],
    ["HEAD", true],
    ["OPTIONS", true],
    ["PUT", true],
    ["DELETE", true],
    ["get", true],
    ["delete", true],
    ["POST", false],
    ["PATCH", false],
    ["post", false],
  ])("%s → %p", (method, expected) => {
    expect(isIdempotent(method)).toBe(expected);
  });
});

describe("isThrottled (learn.microsoft.com/graph/throttling)", () => {
  it.each([
    [429, undefined, true],
    [503, "1", true],
    [504, "0", true],
    [503, undefined, false],
    [504, undefined, false],
    [500, "1", false],
    [502, "1", false],
    [200, "1", false],
  ])("%p with Retry-After %p → %p", (status, retryAfter, expected) => {
    expect(isThrottled(status, retryAfter)).toBe(expected);
  });
});

describe("parseRetryAfter edges", () => {
  it.each([
    ["10s", undefined],
    // Delta-seconds are digits only (RFC 9110 §10.2.3): a fraction counts as absent, so the backoff applies.
    ["0.0001", undefined],
    ["x10", undefined],
    ["   ", undefined],
  ])("reads %p as %p ms", (header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });
});

describe("backoffDelay edges", () => {
  it("treats attempt 0 as the first step", () => {
    expect(backoffDelay(0, 1000, noJitter)).toBe(1000);
  });
  it("caps the step before adding jitter", () => {
    expect(backoffDelay(20, 1000, () => 0.5)).toBe(66_000);
  });
  it("rounds to whole milliseconds", () => {
    expect(backoffDelay(1, 333, () => 0.5)).toBe(366);
  });
});

describe("decideRetry, the whole decision", () => {
  it.each<[string, Partial<Parameters<typeof decideRetry>[1]>, Partial<RetryPolicy>, ReturnType<typeof decideRetry>]>([
    ["HEAD 500 is retried", { method: "HEAD", status: 500 }, {}, { retry: true, kind: "error", delayMs: 250, retryAfterMs: undefined }],
    ["OPTIONS 502 is retried", { method: "OPTIONS", status: 502 }, {}, { retry: true, kind: "error", delayMs: 250, retryAfterMs: undefined }],
    ["PUT 503 without Retry-After is retried as an error", { method: "PUT", status: 503 }, {}, { retry: true, kind: "error", delayMs: 250, retryAfterMs: undefined }],
    ["DELETE network error is retried", { method: "DELETE" }, {}, { retry: true, kind: "error", delayMs: 250, retryAfterMs: undefined }],
    ["lower-case get 500 is retried", { method: "get", status: 500 }, {}, { retry: true, kind: "error", delayMs: 250, retryAfterMs: undefined }],
    ["PATCH 500 is not retried", { method: "PATCH", status: 500 }, {}, { retry: false, reason: "not-retryable", retryAfterMs: undefined }],
    ["GET 499 is not retried", { status: 499 }, {}, { retry: false, reason: "not-retryable", retryAfterMs: undefined }],
    ["GET 500 with Max Retry Count 0 is not retryable (not a spent budget)", { status: 500 }, { maxErrorRetries: 0 }, { retry: false, reason: "not-retryable", retryAfterMs: undefined }],
    [
      "a throttle with Max Retry Count 0 and a spent throttle budget says the throttle budget is spent",
      { status: 429, retryAfterHeader: "3", throttleRetriesUsed: 5 },
      { maxErrorRetries: 0 },
      { retry: false, reason: "throttle-budget-spent", retryAfterMs: 3000 },
    ],
    ["503 with Retry-After on POST, budget spent, keeps the wait Graph asked for", { method: "POST", status: 503, retryAfterHeader: "2", throttleRetriesUsed: 5 }, {}, { retry: false, reason: "throttle-budget-spent", retryAfterMs: 2000 }],
    ["the error budget runs out and keeps Retry-After", { status: 500, retryAfterHeader: "1", errorRetriesUsed: 2 }, {}, { retry: false, reason: "error-budget-spent", retryAfterMs: 1000 }],
    ["one error retry left is used", { status: 500, errorRetriesUsed: 1 }, {}, { retry: true, kind: "error", delayMs: 250, retryAfterMs: undefined }],
    [
      "a Retry-After past the longest wait on the error path fails at once",
      { status: 500, retryAfterHeader: "121" },
      {},
      { retry: false, reason: "retry-after-too-long", retryAfterMs: 121_000 },
    ],
    ["a Retry-After exactly the longest wait is waited", { status: 429, retryAfterHeader: "120" }, {}, { retry: true, kind: "throttle", delayMs: 120_000, retryAfterMs: 120_000 }],
    [
      "a Retry-After exactly the longest wait is waited on the error path too",
      { status: 500, retryAfterHeader: "120", throttleRetriesUsed: 5 },
      {},
      { retry: true, kind: "error", delayMs: 120_000, retryAfterMs: 120_000 },
    ],
    ["the throttle path keeps Retry-After", { status: 429, retryAfterHeader: "7" }, {}, { retry: true, kind: "throttle", delayMs: 7000, retryAfterMs: 7000 }],
    ["a throttle without Retry-After backs off by attempt", { status: 429, throttleRetriesUsed: 2 }, {}, { retry: true, kind: "throttle", delayMs: 4000, retryAfterMs: undefined }],
    ["a computed wait longer than Retry-After wins", { status: 500, retryAfterHeader: "0" }, { retryDelayMs: 900 }, { retry: true, kind: "error", delayMs: 900, retryAfterMs: 0 }],
    ["exponential backoff on the error path counts error retries", { status: 500, errorRetriesUsed: 1 }, { useExponentialBackoff: true, retryDelayMs: 100 }, { retry: true, kind: "error", delayMs: 200, retryAfterMs: undefined }],
  ])("%s", (_name, outcome, overrides, expected) => {
    expect(decide(outcome, overrides)).toStrictEqual(expected);
  });
});
