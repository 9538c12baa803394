/** Errors the connector throws. Each message is meant to be read by a flow builder, not an HTTP expert. */

/** Bad input, found before any request is sent. The message starts with the input's label. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    readonly problem: string,
  ) {
    super(`${input}: ${problem}`);
    this.name = "InputError";
  }
}

export interface GraphErrorDetails {
  status: number;
  method: string;
  url: string;
  code?: string;
  graphMessage?: string;
  requestId?: string;
  clientRequestId?: string;
  date?: string;
  retryAfterSeconds?: number;
  /** The Location header, when Graph sent one (a 410 names where a delta sync restarts). */
  location?: string;
  /** Graph's response body, parsed when it is JSON. */
  body?: unknown;
  /** Extra sentence appended to the message (for example why retrying stopped). */
  note?: string;
}

/**
 * A final non-2xx answer from Graph. Keeps what a flow needs to branch on (status, code,
 * request-id, the Graph body) and nothing of the request's headers.
 */
export class GraphRequestError extends Error {
  readonly status: number;
  readonly code?: string;
  readonly graphMessage?: string;
  readonly requestId?: string;
  readonly clientRequestId?: string;
  readonly date?: string;
  readonly retryAfterSeconds?: number;
  readonly location?: string;
  readonly method: string;
  readonly url: string;
  readonly data?: unknown;

  constructor(details: GraphErrorDetails) {
    super(formatGraphErrorMessage(details));
    this.name = "GraphRequestError";
    this.status = details.status;
    this.code = details.code;
    this.graphMessage = details.graphMessage;
    this.requestId = details.requestId;
    this.clientRequestId = details.clientRequestId;
    this.date = details.date;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.location = details.location;
    this.method = details.method;
    this.url = details.url;
    this.data = details.body;
  }
}

/** The request never got an HTTP answer (reset, refused, timed out, truncated body). */
export class GraphNetworkError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly reason: string,
    readonly attempts: number,
  ) {
    super(
      `Microsoft Graph request failed: ${method} ${url}: ${reason}` +
        (attempts > 1 ? ` (after ${attempts} attempts)` : ""),
    );
    this.name = "GraphNetworkError";
  }
}

/** Some requests of a batch failed and the step was asked to fail for it; every item's answer stays in `data`. */
export class GraphBatchError extends Error {
  constructor(
    message: string,
    readonly data: unknown[],
  ) {
    super(message);
    this.name = "GraphBatchError";
  }
}

// Hints for the two statuses whose fix lies outside the request itself.
const STATUS_HINTS: Record<number, string> = {
  401:
    "Hint: the access token was missing, expired or issued for another audience. " +
    "Reconnect the connection; if it keeps happening, make sure the Scopes include offline_access so the token can be refreshed.",
  403:
    "Hint: the token is valid but lacks permission for this call. " +
    "Add the Graph permission the endpoint needs to the connection's Scopes (and the app registration), " +
    "have an administrator grant admin consent where the permission requires it, then reconnect.",
};

export function formatGraphErrorMessage(d: GraphErrorDetails): string {
  const head = `Microsoft Graph ${d.status}${d.code ? ` ${d.code}` : ""}: ${
    d.graphMessage || describeStatus(d.status)
  }`;
  const ids = [
    d.requestId && `request-id ${d.requestId}`,
    d.clientRequestId && `client-request-id ${d.clientRequestId}`,
    d.date && `date ${d.date}`,
  ].filter(Boolean);
  const lines = [ids.length ? `${head} (${ids.join(", ")})` : head];
  lines[0] += ` [${d.method} ${d.url}]`;
  if (d.note) lines.push(d.note);
  const hint = STATUS_HINTS[d.status];
  if (hint) lines.push(hint);
  return lines.join("\n");
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  410: "Gone",
  412: "Precondition Failed",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  422: "Unprocessable Entity",
  423: "Locked",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  507: "Insufficient Storage",
  509: "Bandwidth Limit Exceeded",
};

function describeStatus(status: number): string {
  return STATUS_TEXT[status] ?? "Unexpected response";
}

interface GraphErrorEnvelope {
  code?: string;
  message?: string;
  innerError?: Record<string, unknown>;
  innererror?: Record<string, unknown>;
}

/**
 * Reads Graph's OData error envelope `{ error: { code, message, innerError } }`.
 * Live responses spell it `innerError`; the resource definition writes `innererror`: accept both.
 */
export function readGraphErrorBody(body: unknown): {
  code?: string;
  message?: string;
  requestId?: string;
  clientRequestId?: string;
  date?: string;
} {
  if (!body || typeof body !== "object") return {};
  const error = (body as { error?: unknown }).error;
  if (!error || typeof error !== "object") return {};
  const e = error as GraphErrorEnvelope;
  const inner = (e.innerError ?? e.innererror ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  return {
    code: str(e.code),
    message: str(e.message),
    // Older samples write requestId instead of request-id.
    requestId: str(inner["request-id"]) ?? str(inner.requestId),
    clientRequestId: str(inner["client-request-id"]),
    date: str(inner.date),
  };
}

const BEARER_PATTERN = /(bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;
// Entra access tokens are JWTs: a header and payload that start with base64url of '{"'. Masked even without "Bearer".
const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/**
 * Defence in depth for anything that reaches a log or an error: no bearer token, nothing shaped like a JWT,
 * and none of the given secrets (the tokens the client holds, bare or not) survives it.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 8) out = out.split(secret).join("[REDACTED]");
  }
  return out.replace(BEARER_PATTERN, "$1[REDACTED]").replace(JWT_PATTERN, "[REDACTED]");
}

/** redactSecrets over every string in a parsed body (keys included), leaving its shape; Buffers are left as they are. */
export function redactDeep(value: unknown, secrets: readonly string[] = []): unknown {
  if (typeof value === "string") return redactSecrets(value, secrets);
  if (value instanceof Error) return redactError(value, secrets);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, secrets));
  if (value && typeof value === "object" && !Buffer.isBuffer(value) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [redactSecrets(k, secrets), redactDeep(v, secrets)]),
    );
  }
  return value;
}

/** Masks an error in place (message, data, and any other text it carries) before it leaves the client. */
export function redactError<E>(error: E, secrets: readonly string[] = []): E {
  if (!(error instanceof Error)) return error;
  const fields = error as unknown as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    try {
      fields[key] = redactDeep(fields[key], secrets);
    } catch {
      // A getter-only property: nothing we set, nothing we can change.
    }
  }
  error.message = redactSecrets(error.message, secrets);
  if (error.stack) error.stack = redactSecrets(error.stack, secrets);
  return error;
}

/**
 * Graph answered, but not with what its headers promise: a JSON media type over a body that does not parse.
 * Not retried: the same request would get the same answer (a body cut off mid-way is a network failure instead).
 */
export class GraphInvalidResponseError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly contentType: string,
    /** The first characters of the body, for the flow builder and Microsoft support. */
    readonly bodyStart: string,
  ) {
    super(
      `Microsoft Graph ${status} answer is not valid JSON although its Content-Type is ${contentType} [${method} ${url}]. ` +
        `The body starts with: ${bodyStart || "(empty)"}`,
    );
    this.name = "GraphInvalidResponseError";
  }
}

/**
 * Reading pages stopped on a page that failed. Keeps what the flow needs to go on: the items read so far and
 * the link of the page that failed (`data`, in Fetch All Pages' output shape), and the failure's status and code.
 */
export class GraphPagingError extends Error {
  readonly status?: number;
  readonly code?: string;
  readonly location?: string;
  constructor(
    readonly page: number,
    readonly itemsRead: number,
    /** The link to read the failed page again, when going on from it makes sense. */
    readonly resumeFrom: string | undefined,
    readonly data: unknown,
    readonly cause: Error,
  ) {
    super(
      `Reading page ${page} failed after ${page - 1} page${page === 2 ? "" : "s"} and ${itemsRead} item${itemsRead === 1 ? "" : "s"}` +
        (resumeFrom ? `; to go on from the page that failed, use the error's @odata.nextLink: ${resumeFrom}` : "") +
        `.\n${cause.message}`,
    );
    this.name = "GraphPagingError";
    const graph = cause as { status?: unknown; code?: unknown; location?: unknown };
    if (typeof graph.status === "number") this.status = graph.status;
    if (typeof graph.code === "string") this.code = graph.code;
    // A 410 on a later page of a delta chain: where Graph says the full sync starts again.
    if (typeof graph.location === "string") this.location = graph.location;
  }
}

/**
 * An upload or download that could not finish. Says how far it got (bytes Graph accepted, bytes received) and,
 * when Graph answered, its status and code; `cause` keeps the Graph error it came from.
 */
export class GraphFileTransferError extends Error {
  readonly status?: number;
  readonly code?: string;
  constructor(
    message: string,
    readonly bytesTransferred: number,
    readonly totalBytes: number | undefined,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "GraphFileTransferError";
    if (cause instanceof GraphRequestError) {
      this.status = cause.status;
      this.code = cause.code;
    }
  }
}
