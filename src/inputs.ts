/**
 * Every input of the connector. The Raw Request inputs keep Spectral's raw-request keys, and the spec's
 * labels, comments and defaults, so flows built on other Graph components keep working.
 * Each `clean` turns the platform's string into a typed value, or names the input and what is wrong.
 */
import { input } from "@prismatic-io/spectral";
import { API_VERSIONS, ApiVersion } from "./client/hosts";
import { InputError } from "./client/errors";
import { DEFAULT_MAX_RESPONSE_BYTES, MAX_TIMER_MS } from "./client/transport";
import type { KeyValue } from "./client/body";
import type { ResponseType } from "./client";

const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export function cleanWholeNumber(label: string, value: unknown, fallback: number, max?: number, min = 0): number {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) return fallback;
  const n = typeof value === "number" ? value : Number(String(value).trim());
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < 0) {
    throw new InputError(label, `'${String(value)}' is not a whole number of 0 or more`);
  }
  if (max !== undefined && n > max) throw new InputError(label, `${n} is more than the allowed ${max}`);
  if (n < min) throw new InputError(label, `must be at least ${min}`);
  return n;
}

export function cleanBoolean(label: string, value: unknown): boolean {
  if (value === undefined || value === null || value === "") return false;
  if (typeof value === "boolean") return value;
  const text = String(value).trim().toLowerCase();
  if (text === "true") return true;
  if (text === "false") return false;
  throw new InputError(label, `'${String(value)}' is not true or false`);
}

/** A key-value list input as pairs. Empty means none; a plain object is accepted as a map. */
export function cleanKeyValueList(label: string, value: unknown): KeyValue[] {
  if (value === undefined || value === null || value === "") return [];
  if (Array.isArray(value)) {
    return value.map((entry, i) => {
      if (!entry || typeof entry !== "object" || typeof (entry as KeyValue).key !== "string") {
        throw new InputError(label, `entry ${i + 1} is not a {key, value} pair`);
      }
      return { key: (entry as KeyValue).key, value: (entry as KeyValue).value };
    });
  }
  if (typeof value === "object" && !Buffer.isBuffer(value)) {
    return Object.entries(value as Record<string, unknown>).map(([key, v]) => ({ key, value: v }));
  }
  throw new InputError(label, "must be a list of key-value pairs");
}

/** Header and query values are text on the wire: objects are sent as JSON. */
function pairsAsText(label: string, pairs: KeyValue[]): Array<[string, string]> {
  return pairs.map(({ key, value }) => {
    if (!key.trim()) throw new InputError(label, "every entry needs a key");
    const text = value === undefined || value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    return [key.trim(), text];
  });
}

export const connectionInput = input({ label: "Connection", type: "connection", required: true });

export const urlInput = input({
  label: "URL",
  placeholder: "URL to call",
  type: "string",
  required: true,
  comments:
    "Input the path only (/me/joinedTeams), The base URL is already included (https://graph.microsoft.com/v1.0). For example, to connect to https://graph.microsoft.com/v1.0/me/joinedTeams, only /me/joinedTeams is entered in this field.",
  example: "/me/joinedTeams",
  clean: (value: unknown): string => {
    if (value === undefined || value === null) return "";
    if (typeof value !== "string") throw new InputError("URL", "must be text, such as /me/joinedTeams");
    return value.trim();
  },
});

export const methodInput = input({
  label: "Method",
  type: "string",
  required: true,
  model: HTTP_METHODS.map((m) => ({ label: m, value: m })),
  comments: "The HTTP method to use.",
  clean: (value: unknown): HttpMethod => {
    const method = String(value ?? "").trim().toUpperCase();
    if (!method) throw new InputError("Method", `is required: choose one of ${HTTP_METHODS.join(", ")}`);
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      throw new InputError("Method", `'${String(value)}' is not supported by Microsoft Graph; choose one of ${HTTP_METHODS.join(", ")}`);
    }
    return method as HttpMethod;
  },
});

export const dataInput = input({
  label: "Data",
  placeholder: "Data to send",
  type: "string",
  required: false,
  comments: "The HTTP body payload to send to the URL.",
  example: '{"displayName": "Adele Vance"}',
});

export const formDataInput = input({
  label: "Form Data",
  placeholder: "Data to send",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments: "The Form Data to be sent as a multipart form upload.",
  clean: (value: unknown) => cleanKeyValueList("Form Data", value),
});

export const fileDataInput = input({
  label: "File Data",
  placeholder: "Data to send",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments: "File Data to be sent as a multipart form upload.",
  clean: (value: unknown) => cleanKeyValueList("File Data", value),
});

export const fileDataFileNamesInput = input({
  label: "File Data File Names",
  placeholder: "The file name to apply to a file",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments: "File names to apply to the file data inputs. Keys must match the file data keys above.",
  clean: (value: unknown): Record<string, string> =>
    Object.fromEntries(cleanKeyValueList("File Data File Names", value).map(({ key, value: v }) => [key, String(v ?? "")])),
});

export const queryParamsInput = input({
  label: "Query Parameter",
  placeholder: "Query Parameter",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments:
    "A list of query parameters to send with the request. This is the portion at the end of the URL similar to ?key1=value1&key2=value2.",
  clean: (value: unknown) => pairsAsText("Query Parameter", cleanKeyValueList("Query Parameter", value)),
});

export const headersInput = input({
  label: "Header",
  placeholder: "Header",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments: "A list of headers to send with the request.",
  example: "ConsistencyLevel: eventual",
  clean: (value: unknown) => pairsAsText("Header", cleanKeyValueList("Header", value)),
});

export const responseTypeInput = input({
  label: "Response Type",
  placeholder: "Response Type",
  type: "string",
  default: "json",
  required: true,
  comments: "The type of data you expect in the response. You can request json, text, or binary data.",
  model: [
    { label: "json", value: "json" },
    { label: "text", value: "text" },
    { label: "binary (arraybuffer)", value: "arraybuffer" },
  ],
  clean: (value: unknown): ResponseType => {
    const text = String(value ?? "").trim().toLowerCase();
    if (text === "" || text === "json") return "json";
    // "document" is Spectral's browser-only type: on a server it can only mean text.
    if (text === "text" || text === "document") return "text";
    if (text === "arraybuffer" || text === "binary") return "arraybuffer";
    throw new InputError("Response Type", `'${String(value)}' is not one of json, text or arraybuffer`);
  },
});

export const timeoutInput = input({
  label: "Timeout",
  type: "string",
  required: false,
  comments: "The maximum time that a client will await a response to its request",
  example: "30000",
  clean: (value: unknown): number | undefined => {
    const ms = cleanWholeNumber("Timeout", value, 0);
    // Node timers hold at most 2^31-1 ms; a longer one would fire at once, so it is refused, not trimmed.
    if (ms > MAX_TIMER_MS) {
      throw new InputError("Timeout", `${ms} ms is out of range: enter 1 to ${MAX_TIMER_MS} ms (about 24.8 days), or leave it empty for the default of 5 minutes`);
    }
    return ms > 0 ? ms : undefined;
  },
});

export const debugRequestInput = input({
  label: "Debug Request",
  type: "boolean",
  default: "false",
  required: false,
  comments: "Enabling this flag will log out the current request.",
  clean: (value: unknown) => cleanBoolean("Debug Request", value),
});

export const retryDelayMSInput = input({
  label: "Retry Delay (ms)",
  placeholder: "Retry Delay",
  type: "string",
  default: "0",
  required: false,
  comments: "The delay in milliseconds between retries.",
  clean: (value: unknown) => cleanWholeNumber("Retry Delay (ms)", value, 0, 600_000),
});

export const retryAllErrorsInput = input({
  label: "Retry On All Errors",
  type: "boolean",
  default: "false",
  required: false,
  comments: "If true, retries on all erroneous responses regardless of type.",
  clean: (value: unknown) => cleanBoolean("Retry On All Errors", value),
});

export const maxRetriesInput = input({
  label: "Max Retry Count",
  placeholder: "Max Retries",
  type: "string",
  default: "0",
  required: false,
  comments: "The maximum number of retries to attempt.",
  clean: (value: unknown) => cleanWholeNumber("Max Retry Count", value, 0, 10),
});

export const useExponentialBackoffInput = input({
  label: "Use Exponential Backoff",
  type: "boolean",
  default: "false",
  required: false,
  comments: "Specifies whether to use a pre-defined exponential backoff strategy for retries.",
  clean: (value: unknown) => cleanBoolean("Use Exponential Backoff", value),
});

// Inputs beyond the spec. Each default keeps a spec-only flow working.

export const apiVersionInput = input({
  label: "API Version",
  type: "string",
  default: "v1.0",
  required: false,
  model: API_VERSIONS.map((v) => ({ label: v, value: v })),
  comments:
    "The Microsoft Graph version the URL is joined to: v1.0 (generally available) or beta (preview APIs that may change). A pasted absolute Graph URL keeps its own version.",
  clean: (value: unknown): ApiVersion => {
    const text = String(value ?? "").trim();
    if (text === "") return "v1.0";
    const match = API_VERSIONS.find((v) => v.toLowerCase() === text.toLowerCase());
    if (!match) throw new InputError("API Version", `'${text}' is not one of ${API_VERSIONS.join(", ")}`);
    return match;
  },
});

export const maxThrottleRetriesInput = input({
  label: "Max Throttle Retries",
  type: "string",
  default: "5",
  required: false,
  comments:
    "How many times a request that Microsoft Graph throttled (429, or 503/504 with Retry-After) is sent again, waiting as long as Graph's Retry-After asks. Applies to every method, because Graph did not process a throttled request. 0 turns it off.",
  clean: (value: unknown) => cleanWholeNumber("Max Throttle Retries", value, 5, 50),
});

export const maxRetryAfterSecondsInput = input({
  label: "Longest Throttle Wait (s)",
  type: "string",
  default: "120",
  required: false,
  comments:
    "The longest single wait, in seconds, that the step accepts when Graph throttles it. If Graph asks for longer, the step fails at once with an error that says how long Graph asked to wait, instead of sleeping toward the runner's time limit.",
  clean: (value: unknown) => cleanWholeNumber("Longest Throttle Wait (s)", value, 120, 900),
});

const MEGABYTE = 1024 * 1024;
const MAX_RESPONSE_MB_LIMIT = 1024;

export const maxResponseSizeInput = input({
  label: "Max Response Size (MB)",
  type: "string",
  default: String(DEFAULT_MAX_RESPONSE_BYTES / MEGABYTE),
  required: false,
  comments:
    "The largest answer, in megabytes, that the step reads (a compressed answer counts by its decompressed size). A bigger answer fails early with an error naming its size, status and URL, instead of exhausting the runner's memory. At most 1024.",
  clean: (value: unknown): number => cleanWholeNumber("Max Response Size (MB)", value, DEFAULT_MAX_RESPONSE_BYTES / MEGABYTE, MAX_RESPONSE_MB_LIMIT, 1) * MEGABYTE,
});

/** Throttle and retry inputs every Graph action takes; the client applies them. */
export const retryInputs = {
  maxThrottleRetries: maxThrottleRetriesInput,
  maxRetryAfterSeconds: maxRetryAfterSecondsInput,
  maxRetries: maxRetriesInput,
  retryDelayMS: retryDelayMSInput,
  useExponentialBackoff: useExponentialBackoffInput,
  retryAllErrors: retryAllErrorsInput,
  timeout: timeoutInput,
  maxResponseBytes: maxResponseSizeInput,
  debugRequest: debugRequestInput,
};

export const rawRequestInputs = {
  connection: connectionInput,
  url: urlInput,
  method: methodInput,
  data: dataInput,
  formData: formDataInput,
  fileData: fileDataInput,
  fileDataFileNames: fileDataFileNamesInput,
  queryParams: queryParamsInput,
  headers: headersInput,
  responseType: responseTypeInput,
  timeout: timeoutInput,
  debugRequest: debugRequestInput,
  retryDelayMS: retryDelayMSInput,
  retryAllErrors: retryAllErrorsInput,
  maxRetries: maxRetriesInput,
  useExponentialBackoff: useExponentialBackoffInput,
  apiVersion: apiVersionInput,
  maxThrottleRetries: maxThrottleRetriesInput,
  maxRetryAfterSeconds: maxRetryAfterSecondsInput,
  maxResponseBytes: maxResponseSizeInput,
};

function cleanOptionalCap(label: string, value: unknown): number | undefined {
  const n = cleanWholeNumber(label, value, 0);
  return n > 0 ? n : undefined;
}

export const pagedUrlInput = input({
  label: "URL",
  placeholder: "/users",
  type: "string",
  required: true,
  comments:
    "The collection to read: a path such as /users, /groups/{id}/members or /users/delta (the base URL https://graph.microsoft.com/{version} is already included), or a Graph URL copied from an @odata.nextLink or @odata.deltaLink to continue where an earlier run stopped.",
  example: "/users",
  clean: urlInput.clean,
});

export const pagedHeadersInput = input({
  label: "Header",
  placeholder: "Header",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments:
    "Headers sent with every page. Graph does not carry headers such as ConsistencyLevel: eventual or Prefer into the @odata.nextLink, so they are sent again on each page.",
  example: "ConsistencyLevel: eventual",
  clean: headersInput.clean,
});

export const maxPagesInput = input({
  label: "Max Pages",
  type: "string",
  required: false,
  comments:
    "Stop after this many pages. Leave empty for no limit. When a limit stops the read, the output keeps the @odata.nextLink to continue from, and the step logs it.",
  example: "50",
  clean: (value: unknown) => cleanOptionalCap("Max Pages", value),
});

export const maxItemsInput = input({
  label: "Max Items",
  type: "string",
  required: false,
  comments:
    "Stop once this many items have been read. Leave empty for no limit. The page that reaches the limit is returned whole, so continuing from the output's @odata.nextLink skips nothing.",
  example: "5000",
  clean: (value: unknown) => cleanOptionalCap("Max Items", value),
});

export const restartOnResyncInput = input({
  label: "Restart Expired Delta Sync",
  type: "boolean",
  default: "false",
  required: false,
  comments:
    "When Graph answers 410 Gone to a delta query (the stored delta token expired, or Graph needs a full resync), start the full sync again from the URL Graph gives, instead of failing with an error that names that URL.",
  clean: (value: unknown) => cleanBoolean("Restart Expired Delta Sync", value),
});

export const fetchAllPagesInputs = {
  connection: connectionInput,
  url: pagedUrlInput,
  queryParams: queryParamsInput,
  headers: pagedHeadersInput,
  apiVersion: apiVersionInput,
  maxPages: maxPagesInput,
  maxItems: maxItemsInput,
  restartOnResync: restartOnResyncInput,
  ...retryInputs,
};

export const batchRequestsInput = input({
  label: "Requests",
  type: "code",
  language: "json",
  required: true,
  comments:
    "A JSON list of requests, each {\"id\", \"method\", \"url\", \"headers\", \"body\", \"dependsOn\"}. id is optional (numbers are assigned); url is a path relative to the version root (/me/messages) or a Graph URL; a body needs a Content-Type header, except JSON objects, which get application/json; dependsOn lists ids that must succeed first. Any number of requests: they are sent 20 (or Batch Size) at a time.",
  example: '[{"id":"1","method":"GET","url":"/me"},{"id":"2","method":"PATCH","url":"/me","body":{"jobTitle":"Engineer"},"dependsOn":["1"]}]',
});

export const batchSizeInput = input({
  label: "Batch Size",
  type: "string",
  default: "20",
  required: false,
  comments:
    "Requests per $batch call, at most 20 (Graph's limit). Lower it for Outlook mail and calendar calls: Outlook runs at most 4 requests at a time per mailbox.",
  clean: (value: unknown) => cleanWholeNumber("Batch Size", value, 20, 20, 1),
});

export const batchConcurrencyInput = input({
  label: "Concurrent Batches",
  type: "string",
  default: "2",
  required: false,
  comments: "How many $batch calls may be in flight at once when their requests do not depend on each other.",
  clean: (value: unknown) => cleanWholeNumber("Concurrent Batches", value, 2, 10, 1),
});

export const failOnItemErrorInput = input({
  label: "Fail On Failed Requests",
  type: "boolean",
  default: "true",
  required: false,
  comments:
    "If true, the step fails when any request in the batch failed, with a summary naming each failed id, status and Graph code. If false, failures are only reported in the output, one entry per request.",
  clean: (value: unknown) => (value === undefined || value === null || value === "" ? true : cleanBoolean("Fail On Failed Requests", value)),
});

export const batchRequestsInputs = {
  connection: connectionInput,
  requests: batchRequestsInput,
  apiVersion: apiVersionInput,
  batchSize: batchSizeInput,
  concurrency: batchConcurrencyInput,
  failOnItemError: failOnItemErrorInput,
  ...retryInputs,
};
