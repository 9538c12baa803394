/**
 * The Graph-aware client every action uses: resolves URLs against the Graph origin, builds headers,
 * retries throttled and failed attempts, decodes responses and turns failures into readable errors.
 */
import { randomUUID } from "node:crypto";
import type { ActionLogger, Connection } from "@prismatic-io/spectral";
import { PreparedBody } from "./body";
import { clock } from "./clock";
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
import { ApiVersion, appendQuery, GraphEndpoint, resolveGraphEndpoint, resolveGraphUrl } from "./hosts";
import { decideRetry, RetryPolicy } from "./retry";
import { sendFollowingRedirects, TransportFailure, WireResponse } from "./transport";
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
    return this.sendWithRetries(method, url, headers, req.body, responseType);
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

  private async sendWithRetries(
    method: string,
    url: URL,
    baseHeaders: Record<string, string>,
    body: PreparedBody | undefined,
    responseType: ResponseType,
  ): Promise<GraphResponse> {
    const { retry, debug, timeoutMs, maxResponseBytes } = this.options;
    let throttleRetriesUsed = 0;
    let errorRetriesUsed = 0;
    let waitedMs = 0;
    let signedInAgain = false;
    for (let attempt = 1; ; attempt++) {
      // Graph SDKs stamp retries with Retry-Attempt so the service can tell them from new requests.
      const headers = attempt > 1 ? { ...baseHeaders, "Retry-Attempt": String(attempt - 1) } : baseHeaders;
      const started = clock.now();
      // The token is added by the transport, below this line: it is never in these headers.
      if (debug) this.log(`→ ${method} ${url.href} (attempt ${attempt}) headers ${JSON.stringify(headers)}`);

      let response: WireResponse | undefined;
      let failure: TransportFailure | undefined;
      // Asked per attempt: a certificate token renews itself during a long read.
      const accessToken = await this.profile.accessToken();
      if (!this.secrets.includes(accessToken)) this.secrets.push(accessToken);
      try {
        response = await sendFollowingRedirects(
          { method, url, headers, body: body?.bytes, timeoutMs, maxResponseBytes },
          this.endpoint,
          accessToken,
        );
      } catch (error) {
        if (!(error instanceof TransportFailure)) throw error;
        failure = error;
      }
      const elapsed = clock.now() - started;
      if (debug) {
        this.log(
          response
            ? `← ${response.status} ${response.statusText} in ${elapsed} ms (request-id ${response.headers["request-id"] ?? "none"})`
            : `← no answer after ${elapsed} ms: ${failure?.reason}`,
        );
      }
      if (response && response.status < 400) return decodeResponse(response, responseType, method);
      if (response?.status === 401 && this.profile.forgetToken && !signedInAgain) {
        // A token the component minted itself can be replaced at once: sign in again, once.
        signedInAgain = true;
        this.profile.forgetToken(accessToken);
        this.warn(`Microsoft Graph ${method} ${url.pathname}: Graph refused the cached token (401); signing in again`);
        continue;
      }
      if (failure && !failure.retryable) throw new GraphNetworkError(method, url.href, failure.reason, attempt);

      const decision = decideRetry(
        retry,
        {
          method,
          status: response?.status,
          retryAfterHeader: response?.headers["retry-after"],
          throttleRetriesUsed,
          errorRetriesUsed,
        },
        clock.now(),
        clock.random,
      );
      if (!decision.retry) {
        if (!response) throw new GraphNetworkError(method, url.href, failure?.reason ?? "no answer", attempt);
        throw this.errorFrom(response, method, url, baseHeaders["client-request-id"], decision, {
          attempts: attempt,
          waitedMs,
        });
      }
      if (decision.kind === "throttle") throttleRetriesUsed++;
      else errorRetriesUsed++;
      const what = response ? `${response.status}` : failure?.reason;
      const why =
        decision.kind === "throttle"
          ? decision.retryAfterMs !== undefined
            ? `Graph throttled it (${what}); waiting ${formatMs(decision.delayMs)} as Retry-After asked (throttle retry ${throttleRetriesUsed} of ${retry.maxThrottleRetries})`
            : `Graph throttled it (${what}) without Retry-After; backing off ${formatMs(decision.delayMs)} (throttle retry ${throttleRetriesUsed} of ${retry.maxThrottleRetries})`
          : `it failed (${what}); retrying in ${formatMs(decision.delayMs)} (retry ${errorRetriesUsed} of ${retry.maxErrorRetries})`;
      this.warn(`Microsoft Graph ${method} ${url.pathname}: ${why}`);
      waitedMs += decision.delayMs;
      await clock.sleep(decision.delayMs);
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

  private log(line: string): void {
    this.options.logger.info(this.redact(line));
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

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}

export { InputError, GraphRequestError, GraphNetworkError, GraphInvalidResponseError, GraphPagingError } from "./errors";
export type { RetryPolicy } from "./retry";
export type { ApiVersion } from "./hosts";
