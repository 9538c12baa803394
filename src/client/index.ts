/**
 * The Graph layer every action uses: resolves URLs against the Graph origin, builds headers, attaches the token,
 * decodes responses and turns failures into readable errors. Retries, redirects and bounds are the sender's.
 */
import { randomUUID } from "node:crypto";
import type { ActionLogger, Connection } from "@prismatic-io/spectral";
import { PreparedBody } from "./body";
import { ConnectionProfile, readConnection } from "./credentials";
import {
  GraphInvalidResponseError,
  GraphNetworkError,
  GraphRequestError,
  InputError,
  readGraphErrorBody,
  redactDeep,
  redactError,
  redactSecrets,
} from "./errors";
import { ApiVersion, appendQuery, GraphEndpoint, isLoopbackHost, resolveGraphEndpoint, resolveGraphUrl } from "./hosts";
import type { RetryPolicy } from "./retry";
import { OriginCredentials, SendFailure, SendRequest, sendWithRetries, formatMs } from "./sender";
import { ORIGIN_BOUND_HEADERS, WireResponse } from "./transport";
import { assertHeaderValue, assertUrlText } from "./wireText";

export type ResponseType = "json" | "text" | "arraybuffer";

export interface GraphRequest {
  method: string;
  /** A path relative to the version root, or an absolute URL on the Graph origin. */
  url: string;
  /** The input that gave the URL, named in errors (default "URL"). */
  urlLabel?: string;
  query?: ReadonlyArray<readonly [string, string]>;
  /** The user's headers: they override the defaults, except Authorization and Host. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: PreparedBody;
  responseType?: ResponseType;
}

export interface GraphResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON, text, null for an empty body, or a Buffer for arraybuffer. */
  data: unknown;
  contentType?: string;
  url: string;
}

/** A request to a pre-authenticated URL Graph handed out: an upload session's uploadUrl or a download URL. */
export interface PreauthenticatedRequest {
  method: string;
  /** Absolute and https (plain http only to loopback, under the emulator test seam). */
  url: string;
  /** Never Authorization, Cookie or Proxy-Authorization: those are refused. */
  headers?: Record<string, string>;
  body?: PreparedBody | Buffer;
  responseType?: ResponseType;
  /** Whether a failed attempt may be sent again; by the method when undefined (a PUT of a chunk is). */
  idempotent?: boolean;
}

export interface GraphClientOptions {
  apiVersion: ApiVersion;
  retry: RetryPolicy;
  /** Bound on each attempt, body included; the transport's default when undefined. */
  timeoutMs?: number;
  /** Bound on each answer's decoded body; the transport's default when undefined. */
  maxResponseBytes?: number;
  debug: boolean;
  logger: ActionLogger;
}

const USER_AGENT = "PrismaticMsGraphConnector/0.1";
const FORBIDDEN_USER_HEADERS = new Set(["authorization", "host"]);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ACCEPT: Record<ResponseType, string> = {
  json: "application/json",
  text: "text/plain, application/json;q=0.9, */*;q=0.8",
  arraybuffer: "*/*",
};

export class GraphClient {
  readonly endpoint: GraphEndpoint;
  private readonly secrets: string[];

  constructor(
    private readonly profile: ConnectionProfile,
    private readonly options: GraphClientOptions,
  ) {
    this.endpoint = resolveGraphEndpoint(options.apiVersion, process.env, profile.cloud.graph);
    this.secrets = [...profile.secrets];
  }

  /** App-only tokens have no user behind them: Graph refuses /me, so say why before sending. */
  assertUserPath(url: URL, label = "URL"): void {
    const prefix = this.endpoint.versionRoot.slice(this.endpoint.origin.length);
    const path = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : url.pathname.replace(/^\/(v1\.0|beta)/i, "");
    if (this.profile.appOnly && /^\/me(\/|\(|$)/i.test(path)) {
      throw new InputError(
        label,
        `'${path}' needs a signed-in user, but this connection signs in as the app itself, and app-only tokens have no user behind them. Name the user instead: /users/{id or userPrincipalName}${path.slice(3)}`,
      );
    }
  }

  /** Masks every token this client holds (bare or with Bearer) in a line bound for a log or an error. */
  redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  /** Resolves, validates and sends one logical request (its retries and redirects included). */
  async request(req: GraphRequest): Promise<GraphResponse> {
    try {
      return await this.resolveAndSend(req);
    } catch (error) {
      // Security: whatever leaves the client (a message, Graph's body, a URL) is masked with the tokens it holds.
      throw redactError(error, this.secrets);
    }
  }

  private async resolveAndSend(req: GraphRequest): Promise<GraphResponse> {
    const method = req.method.toUpperCase();
    for (const [key, value] of req.query ?? []) {
      assertUrlText("Query Parameter", "the key", key);
      assertUrlText("Query Parameter", `the value of '${key}'`, value);
    }
    const url = appendQuery(resolveGraphUrl(req.url, this.endpoint, req.urlLabel), req.query ?? []);
    this.assertUserPath(url, req.urlLabel);
    const responseType = req.responseType ?? "json";
    if (req.body && (method === "GET" || method === "HEAD")) {
      throw new InputError("Data", `a ${method} request cannot carry a body; remove Data, Form Data and File Data or choose another Method`);
    }
    const headers = this.buildHeaders(req, responseType);
    return this.sendToGraph(method, url, headers, req.body, responseType);
  }

  private buildHeaders(req: GraphRequest, responseType: ResponseType): Record<string, string> {
    const headers: Record<string, string> = {
      Accept: ACCEPT[responseType],
      "User-Agent": USER_AGENT,
      // One id per logical request, kept across retries, so Microsoft support can trace every attempt.
      "client-request-id": randomUUID(),
    };
    if (req.body?.contentType) headers["Content-Type"] = req.body.contentType;
    for (const [name, value] of req.headers ?? []) {
      const lower = name.trim().toLowerCase();
      if (!HEADER_NAME.test(name.trim())) throw new InputError("Header", `'${name}' is not a valid header name`);
      if (FORBIDDEN_USER_HEADERS.has(lower)) {
        throw new InputError(
          "Header",
          lower === "authorization"
            ? "Authorization is set from the connection and cannot be overridden; remove it from Header"
            : "Host is set from the URL and cannot be overridden; remove it from Header",
        );
      }
      assertHeaderValue("Header", name.trim(), value);
      for (const existing of Object.keys(headers)) {
        if (existing.toLowerCase() === lower) delete headers[existing];
      }
      headers[name.trim()] = value;
    }
    if (req.body?.fixedContentType && req.body.contentType) {
      for (const existing of Object.keys(headers)) {
        if (existing.toLowerCase() === "content-type") delete headers[existing];
      }
      headers["Content-Type"] = req.body.contentType;
    }
    return headers;
  }

  private async sendToGraph(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: PreparedBody | undefined,
    responseType: ResponseType,
  ): Promise<GraphResponse> {
    let tokenInUse = "";
    const credentials: OriginCredentials = {
      origin: this.endpoint.origin,
      headers: async () => {
        // Asked per attempt: a certificate token renews itself during a long read.
        tokenInUse = await this.profile.accessToken();
        if (!this.secrets.includes(tokenInUse)) this.secrets.push(tokenInUse);
        // Security: the one place the token is attached; the transport sends it to the Graph origin only.
        return { Authorization: `Bearer ${tokenInUse}` };
      },
      renewAfterRefusal: () => {
        if (!this.profile.forgetToken) return false;
        // A token the component minted itself can be replaced at once: sign in again, once.
        this.profile.forgetToken(tokenInUse);
        this.warn(`Microsoft Graph ${method} ${url.pathname}: Graph refused the cached token (401); signing in again`);
        return true;
      },
    };
    const request = { method, url, headers, body: body?.bytes };
    const response = await this.sendReadingErrors(request, "Graph", url, credentials);
    return decodeResponse(response, responseType, method);
  }

  /**
   * Sends to a pre-authenticated URL (an upload session's uploadUrl, a download URL): the URL is the credential,
   * so no token, cookie or other origin-bound header is ever sent, on any hop; the retries are Graph's.
   */
  async requestPreauthenticated(req: PreauthenticatedRequest): Promise<GraphResponse> {
    const url = this.checkPreauthenticatedUrl(req.url);
    // Security: the URL's query is its credential (tempauth, authtoken): masked wherever it could be shown.
    for (const value of url.searchParams.values()) if (!this.secrets.includes(value)) this.secrets.push(value);
    try {
      const method = req.method.toUpperCase();
      const responseType = req.responseType ?? "json";
      const body = Buffer.isBuffer(req.body) ? { bytes: req.body } : req.body;
      const headers: Record<string, string> = { Accept: ACCEPT[responseType], "User-Agent": USER_AGENT, "client-request-id": randomUUID() };
      if (body?.contentType) headers["Content-Type"] = body.contentType;
      for (const [name, value] of Object.entries(req.headers ?? {})) {
        // Security: refused rather than dropped, so a caller never believes it sent one.
        if (ORIGIN_BOUND_HEADERS.includes(name.toLowerCase())) throw new Error(`${name} is never sent to a pre-authenticated URL`);
        headers[name] = value;
      }
      const request = { method, url, headers, body: body?.bytes, idempotent: req.idempotent };
      const response = await this.sendReadingErrors(request, url.host, url);
      return decodeResponse(response, responseType, method);
    } catch (error) {
      throw redactError(error, this.secrets);
    }
  }

  private checkPreauthenticatedUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new InputError("URL", "the pre-authenticated URL Graph gave is not an absolute URL");
    }
    const loopbackAllowed = this.endpoint.loopback && url.protocol === "http:" && isLoopbackHost(url.hostname);
    if (url.protocol !== "https:" && !loopbackAllowed) {
      throw new InputError("URL", `refused to send to a pre-authenticated URL that is not HTTPS (${url.origin})`);
    }
    if (url.username || url.password) throw new InputError("URL", "a pre-authenticated URL must not contain a user name or password");
    url.hash = "";
    return url;
  }

  /** Sends through the retrying sender, and reads Graph's error envelope when it gives up on an answer. */
  private async sendReadingErrors(
    request: SendRequest,
    serverName: string,
    url: URL,
    credentials?: OriginCredentials,
  ): Promise<WireResponse> {
    const { retry, debug, timeoutMs, maxResponseBytes, logger } = this.options;
    const options = { retry, debug, timeoutMs, maxResponseBytes, logger, serverName, loopback: this.endpoint.loopback, redact: (line: string) => this.redact(line) };
    try {
      return await sendWithRetries(request, options, credentials);
    } catch (error) {
      if (!(error instanceof SendFailure)) throw error;
      if (!error.last.response) throw new GraphNetworkError(request.method, url.href, error.last.failure.reason, error.attempts);
      throw this.errorFrom(error.last.response, request.method, url, request.headers["client-request-id"], error.decision ?? {}, {
        attempts: error.attempts,
        waitedMs: error.waitedMs,
      });
    }
  }

  private errorFrom(
    response: WireResponse,
    method: string,
    url: URL,
    sentClientRequestId: string | undefined,
    decision: { reason?: string; retryAfterMs?: number },
    stats: { attempts: number; waitedMs: number },
  ): GraphRequestError {
    const body = parseBodyLoosely(response);
    const envelope = readGraphErrorBody(body);
    const retryAfterSeconds = decision.retryAfterMs !== undefined ? Math.ceil(decision.retryAfterMs / 1000) : undefined;
    const { maxThrottleRetries, maxRetryAfterMs, maxErrorRetries } = this.options.retry;
    let note: string | undefined;
    if (decision.reason === "retry-after-too-long") {
      note = `Graph asked to wait ${retryAfterSeconds} s (Retry-After), longer than Longest Throttle Wait (${Math.round(maxRetryAfterMs / 1000)} s); failing now instead of waiting. Run the step later, or raise Longest Throttle Wait.`;
    } else if (decision.reason === "throttle-budget-spent") {
      note = `Still throttled after ${maxThrottleRetries} throttle retr${maxThrottleRetries === 1 ? "y" : "ies"} (${formatMs(stats.waitedMs)} waited in all). Raise Max Throttle Retries, or spread the flow's requests out.`;
    } else if (decision.reason === "error-budget-spent" && maxErrorRetries > 0) {
      note = `Gave up after ${stats.attempts} attempts.`;
    }
    const location = this.graphLocation(response.headers.location, url);
    if (response.status === 410) {
      // Graph's delta answer when a token expired or a full resync is needed; Location is where to restart.
      note = `The delta or paging token is no longer valid, so Graph needs a full sync${location ? `; start again from ${location}` : ""}.`;
      if (response.headers.location && !location) {
        note += ` Graph's Location (${response.headers.location}) is not on the Graph origin (${this.endpoint.origin}), so it is not followed.`;
      }
    }
    const details = {
      status: response.status,
      method,
      url: url.href,
      code: envelope.code,
      graphMessage: envelope.message ?? (typeof body === "string" && body.trim() ? body.trim().slice(0, 300) : undefined),
      requestId: envelope.requestId ?? response.headers["request-id"],
      clientRequestId: envelope.clientRequestId ?? response.headers["client-request-id"] ?? sentClientRequestId,
      date: envelope.date ?? response.headers.date,
      retryAfterSeconds,
      location,
      body: redactDeep(body, this.secrets),
      note,
    };
    return new GraphRequestError(details);
  }

  /**
   * A Location header as an absolute URL on the Graph origin, or undefined. Graph may send it relative: it is
   * resolved against the request's URL (RFC 9110 §10.2.2), which is on the Graph origin; any other origin is dropped.
   */
  private graphLocation(location: string | undefined, requestUrl: URL): string | undefined {
    if (!location) return undefined;
    try {
      const resolved = new URL(location, requestUrl);
      return resolved.origin === this.endpoint.origin ? resolved.href : undefined;
    } catch {
      return undefined;
    }
  }

  private warn(line: string): void {
    this.options.logger.warn(this.redact(line));
  }
}

export function createGraphClient(connection: Connection | undefined, options: GraphClientOptions): GraphClient {
  return new GraphClient(readConnection(connection), options);
}

function decodeResponse(response: WireResponse, responseType: ResponseType, method: string): GraphResponse {
  const contentType = response.headers["content-type"];
  const base = { status: response.status, headers: response.headers, contentType, url: response.url.href };
  if (responseType === "arraybuffer") return { ...base, data: response.body };
  const text = response.body.toString("utf8");
  if (responseType === "text") return { ...base, data: text };
  if (text.trim() === "") return { ...base, data: null };
  // Only a JSON media type is held to JSON: `/users/$count` answers text/plain "300", which stays text, and an
  // answer without a media type is parsed when it can be.
  if (!contentType) return { ...base, data: parseJsonOr(text) };
  if (!/[/+]json\b/i.test(contentType)) return { ...base, data: text };
  try {
    return { ...base, data: JSON.parse(text) };
  } catch {
    throw new GraphInvalidResponseError(method, response.url.href, response.status, contentType, bodyStart(text));
  }
}

/** The first characters of a body, on one line, for an error message. */
function bodyStart(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

function parseBodyLoosely(response: WireResponse): unknown {
  const text = response.body.toString("utf8");
  if (!text.trim()) return null;
  return parseJsonOr(text);
}

function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}


export { InputError, GraphRequestError, GraphNetworkError, GraphInvalidResponseError, GraphPagingError } from "./errors";
export type { RetryPolicy } from "./retry";
export type { ApiVersion } from "./hosts";
