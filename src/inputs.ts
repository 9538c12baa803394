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

// Upload File and Download File.

/** Every fragment of a split upload is a multiple of 320 KiB (DC driveitem-createuploadsession.md). */
export const UPLOAD_FRAGMENT_UNIT = 320 * 1024;
/** Each fragment must be under 60 MiB (same page): the largest multiple of 320 KiB below it is 191 × 320 KiB. */
export const MAX_UPLOAD_FRAGMENT = Math.floor((60 * MEGABYTE - 1) / UPLOAD_FRAGMENT_UNIT) * UPLOAD_FRAGMENT_UNIT;
export const DEFAULT_UPLOAD_CHUNK = 32 * UPLOAD_FRAGMENT_UNIT;

function describeFragmentSize(bytes: number): string {
  return `${bytes.toLocaleString("en-US")} (${bytes / UPLOAD_FRAGMENT_UNIT} × 320 KiB)`;
}

/** Chunk Size in bytes: a multiple of 320 KiB under 60 MiB, or an error that names the nearest valid sizes. */
export function cleanChunkSize(value: unknown): number {
  const label = "Chunk Size (bytes)";
  const bytes = cleanWholeNumber(label, value, DEFAULT_UPLOAD_CHUNK);
  if (bytes === 0) throw new InputError(label, `must be at least ${describeFragmentSize(UPLOAD_FRAGMENT_UNIT)}`);
  if (bytes > MAX_UPLOAD_FRAGMENT) {
    throw new InputError(
      label,
      `${bytes.toLocaleString("en-US")} is too large: Graph takes fragments under 60 MiB, so the largest valid size is ${describeFragmentSize(MAX_UPLOAD_FRAGMENT)}`,
    );
  }
  if (bytes % UPLOAD_FRAGMENT_UNIT !== 0) {
    const below = Math.floor(bytes / UPLOAD_FRAGMENT_UNIT) * UPLOAD_FRAGMENT_UNIT;
    const above = below + UPLOAD_FRAGMENT_UNIT;
    const nearest = [below, above].filter((n) => n > 0 && n <= MAX_UPLOAD_FRAGMENT).map(describeFragmentSize);
    throw new InputError(
      label,
      `${bytes.toLocaleString("en-US")} is not a multiple of 320 KiB (327,680 bytes), which Graph requires of every fragment but the last; the nearest valid sizes are ${nearest.join(" and ")}`,
    );
  }
  return bytes;
}

/** The file to upload as bytes (a view, never a copy of a Buffer) and the media type it came with. */
export interface UploadFileContent {
  bytes: Buffer;
  contentType?: string;
}

export function cleanUploadFile(value: unknown): UploadFileContent {
  const label = "File";
  if (value === undefined || value === null) {
    throw new InputError(label, "is required: map a file from an earlier step (its data and content type), a Buffer, or text");
  }
  if (Buffer.isBuffer(value)) return { bytes: value };
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength) };
  if (typeof value === "string") return { bytes: Buffer.from(value, "utf8"), contentType: "text/plain; charset=utf-8" };
  if (typeof value === "object" && "data" in value) {
    const { data, contentType } = value as { data: unknown; contentType?: unknown };
    const inner = cleanUploadFile(data);
    return { bytes: inner.bytes, contentType: typeof contentType === "string" && contentType ? contentType : inner.contentType };
  }
  throw new InputError(label, `a ${typeof value} is not a file: map a file from an earlier step ({data, contentType}), a Buffer, or text`);
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const PATH_FORBIDDEN = /[\\?#\u0000-\u001f\u007f]/;
const DOT_SEGMENT_IN_PATH = /(^|\/)\.{1,2}(\/|:|$)/;
const ATTACHABLE = /^(\/(?:me|users\/[^/]+)(?:\/mailFolders\/[^/]+)?\/(?:messages|events)\/[^/:]+)(?:\/attachments)?\/?$/i;
const DRIVE_ROOTS = /^\/(?:me\/drive|drives\/[^/]+|users\/[^/]+\/drive|groups\/[^/]+\/drive|sites\/[^/]+\/drive|sites\/[^/]+\/drives\/[^/]+)\/(?:root|items\/[^/:]+)/i;

/** Where an upload goes: a drive item path (the file's own), or a message or event that takes an attachment. */
export type UploadDestination =
  | { kind: "drive"; /** `…:/folder/name.ext:` with the file name in it. */ itemPath: string; name: string }
  | { kind: "attachment"; /** `/me/messages/{id}` or `/me/events/{id}`. */ parentPath: string; name: string };

/** Checks the Destination text alone; the File Name input completes it in resolveUploadDestination. */
export function cleanDestination(value: unknown): string {
  const label = "Destination";
  const text = typeof value === "string" ? value.trim() : "";
  if (!text) throw new InputError(label, "is required: a drive path such as /me/drive/root:/Reports/q3.xlsx:, or a message such as /me/messages/{id}");
  if (!text.startsWith("/")) throw new InputError(label, `'${text}' must be a path that starts with '/', such as /me/drive/root:/Reports/q3.xlsx:`);
  if (PATH_FORBIDDEN.test(text) || DOT_SEGMENT_IN_PATH.test(text)) {
    throw new InputError(label, `'${text}' contains '?', '#', a backslash, a control character or a '.'/'..' segment; enter the item path only`);
  }
  if (/^\/(v1\.0|beta)(\/|$)/i.test(text)) {
    throw new InputError(label, `'${text}' starts with an API version; enter the path without it and choose the version in API Version`);
  }
  return text;
}

/**
 * Combines Destination and File Name. A drive path ending in ':' names the file itself; a drive folder
 * (…/root, …/items/{id}, or …:/Folder:/ with a trailing slash) takes File Name; a message or event needs File Name.
 */
export function resolveUploadDestination(destination: string, fileName: string | undefined): UploadDestination {
  const attach = ATTACHABLE.exec(destination);
  if (attach) {
    if (!fileName) throw new InputError("File Name", "is required when attaching to a message or event: Outlook shows it as the attachment's name");
    return { kind: "attachment", parentPath: attach[1], name: fileName };
  }
  if (!DRIVE_ROOTS.test(destination)) {
    throw new InputError(
      "Destination",
      `'${destination}' is neither a drive path (/me/drive/root:/folder/name.ext:, /drives/{id}/items/{parent}:/name.ext:, /sites/{site}/drive/root:/…:) nor a message or event (/me/messages/{id}, /me/events/{id})`,
    );
  }
  if (destination.endsWith(":")) {
    const pathPart = destination.slice(destination.indexOf(":") + 1, -1);
    const name = decodeSegment(pathPart.split("/").pop() ?? "");
    if (!name) throw new InputError("Destination", `'${destination}' has no file name before its closing ':'`);
    if (fileName && fileName !== name) {
      throw new InputError("File Name", `'${fileName}' differs from the name in Destination ('${name}'); leave File Name empty, or give Destination as a folder`);
    }
    return { kind: "drive", itemPath: destination, name };
  }
  if (!fileName) throw new InputError("File Name", `is required when Destination ('${destination}') is a folder`);
  const folder = destination.replace(/:?\/?$/, "");
  const itemPath = folder.includes(":") ? `${folder}/${encodeSegment(fileName)}:` : `${folder}:/${encodeSegment(fileName)}:`;
  return { kind: "drive", itemPath, name: fileName };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function encodeSegment(name: string): string {
  return encodeURIComponent(name).replace(/%20/g, " ");
}

export function cleanFileName(value: unknown): string | undefined {
  const text = typeof value === "string" ? value.trim() : value === undefined || value === null ? "" : String(value).trim();
  if (!text) return undefined;
  // OneDrive refuses these characters in names (DC driveitem.md, "name" property; OneDrive naming restrictions).
  // eslint-disable-next-line no-control-regex -- control characters are refused in names too
  if (/["*:<>?/\\|\u0000-\u001f]/.test(text)) {
    throw new InputError("File Name", `'${text}' contains a character OneDrive does not allow in names (" * : < > ? / \\ |)`);
  }
  return text;
}

export const CONFLICT_BEHAVIORS = ["fail", "replace", "rename"] as const;
export type ConflictBehavior = (typeof CONFLICT_BEHAVIORS)[number];

export const destinationInput = input({
  label: "Destination",
  type: "string",
  required: true,
  comments:
    "Where the file goes. A drive path that names the file (/me/drive/root:/Reports/q3.xlsx:, /drives/{drive-id}/items/{parent-id}:/q3.xlsx:, /sites/{site-id}/drive/root:/Shared/q3.xlsx:), a drive folder (/me/drive/root, /drives/{drive-id}/items/{folder-id}) with File Name, or a message or event to attach the file to (/me/messages/{id}, /me/events/{id}) with File Name.",
  example: "/me/drive/root:/Reports/q3.xlsx:",
  clean: cleanDestination,
});

export const uploadFileInput = input({
  label: "File",
  type: "data",
  required: true,
  comments: "The file to upload: a file from an earlier step (its data and content type), a Buffer, or text (sent as UTF-8).",
  clean: cleanUploadFile,
});

export const fileNameInput = input({
  label: "File Name",
  type: "string",
  required: false,
  comments:
    "The file's name. Needed when Destination is a folder, a message or an event; leave empty when the Destination path already ends with the name.",
  example: "q3.xlsx",
  clean: cleanFileName,
});

export const conflictBehaviorInput = input({
  label: "Conflict Behavior",
  type: "string",
  default: "fail",
  required: false,
  model: CONFLICT_BEHAVIORS.map((v) => ({ label: v, value: v })),
  comments:
    "What OneDrive does when a file of that name already exists: fail (Graph's default; the step fails with nameAlreadyExists), replace it, or rename the new file. Ignored for attachments.",
  clean: (value: unknown): ConflictBehavior => {
    const text = String(value ?? "").trim().toLowerCase();
    if (text === "") return "fail";
    if (!(CONFLICT_BEHAVIORS as readonly string[]).includes(text)) {
      throw new InputError("Conflict Behavior", `'${String(value)}' is not one of ${CONFLICT_BEHAVIORS.join(", ")}`);
    }
    return text as ConflictBehavior;
  },
});

export const chunkSizeInput = input({
  label: "Chunk Size (bytes)",
  type: "string",
  default: String(DEFAULT_UPLOAD_CHUNK),
  required: false,
  comments:
    "Bytes per upload-session request, a multiple of 320 KiB (327680) under 60 MiB, as Graph requires; 10 MiB (10485760) by default. A file no larger than one chunk goes in one request. Outlook attachments use at most 3.75 MiB per request.",
  example: "10485760",
  clean: cleanChunkSize,
});

export const uploadFileInputs = {
  connection: connectionInput,
  destination: destinationInput,
  file: uploadFileInput,
  fileName: fileNameInput,
  conflictBehavior: conflictBehaviorInput,
  chunkSize: chunkSizeInput,
  apiVersion: apiVersionInput,
  ...retryInputs,
};

/** A byte range to download: first and last byte (inclusive), or the last `suffix` bytes. */
export type ByteRange = { start: number; end?: number } | { suffix: number };

export function cleanByteRange(value: unknown): ByteRange | undefined {
  const label = "Byte Range";
  const text = typeof value === "string" ? value.trim() : value === undefined || value === null ? "" : String(value).trim();
  if (!text) return undefined;
  const m = /^(?:bytes=)?\s*(\d*)\s*-\s*(\d*)$/i.exec(text);
  if (!m || (m[1] === "" && m[2] === "")) {
    throw new InputError(label, `'${text}' is not a byte range: use first-last (0-1023), first- (1024-) or -count for the last bytes (-500)`);
  }
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) throw new InputError(label, `'${text}' asks for the last 0 bytes`);
    return { suffix };
  }
  const start = Number(m[1]);
  if (m[2] === "") return { start };
  const end = Number(m[2]);
  if (end < start) throw new InputError(label, `'${text}' ends (${end}) before it starts (${start})`);
  return { start, end };
}

export const itemInput = input({
  label: "Item",
  type: "string",
  required: true,
  comments:
    "The file to download: a drive item path or id (/me/drive/root:/Reports/q3.xlsx:, /drives/{drive-id}/items/{item-id}, or a bare item id of your own drive), or a mail attachment (/me/messages/{id}/attachments/{attachment-id}). A trailing /content or /$value is accepted.",
  example: "/me/drive/root:/Reports/q3.xlsx:",
  clean: (value: unknown): string => {
    const text = typeof value === "string" ? value.trim() : "";
    if (!text) throw new InputError("Item", "is required: a drive item path such as /me/drive/root:/Reports/q3.xlsx:, or an item id");
    if (PATH_FORBIDDEN.test(text) || DOT_SEGMENT_IN_PATH.test(text)) {
      throw new InputError("Item", `'${text}' contains '?', '#', a backslash, a control character or a '.'/'..' segment; enter the item path or id only`);
    }
    if (!text.startsWith("/")) {
      if (/^[A-Za-z0-9!_-]+$/.test(text)) return `/me/drive/items/${text}`;
      throw new InputError("Item", `'${text}' is neither a path starting with '/' nor an item id`);
    }
    return text.replace(/\/(content|\$value)$/i, "");
  },
});

export const byteRangeInput = input({
  label: "Byte Range",
  type: "string",
  required: false,
  comments: "Only part of the file: first-last (0-1023, both included), first- (from byte 1024 to the end) or -count (the last 500 bytes). Empty downloads the whole file.",
  example: "0-1023",
  clean: cleanByteRange,
});

export const maxFileSizeInput = input({
  label: "Max File Size (MB)",
  type: "string",
  default: "100",
  required: false,
  comments:
    "The largest file, in megabytes, that the step downloads. A larger file (or range) fails before its bytes are read, with its size named, instead of exhausting the runner's memory. At most 1024.",
  clean: (value: unknown): number => cleanWholeNumber("Max File Size (MB)", value, 100, MAX_RESPONSE_MB_LIMIT, 1) * MEGABYTE,
});

export const downloadFileInputs = {
  connection: connectionInput,
  item: itemInput,
  range: byteRangeInput,
  maxBytes: maxFileSizeInput,
  apiVersion: apiVersionInput,
  ...retryInputs,
};
