/**
 * The only module that touches the network and the only one that attaches the access token.
 * Redirects are followed here, by hand, so the token can be dropped whenever the origin changes.
 */
import http from "node:http";
import https from "node:https";
import axios, { AxiosError } from "axios";
import { GraphEndpoint, isLoopbackHost } from "./hosts";

export interface WireRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs?: number;
}

export interface WireResponse {
  status: number;
  statusText: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that gave this answer (after redirects). */
  url: URL;
}

/** No HTTP answer: reset, refused, timed out, cut off, or a redirect we refuse to follow. */
export class TransportFailure extends Error {
  constructor(
    readonly reason: string,
    readonly retryable: boolean,
  ) {
    super(reason);
    this.name = "TransportFailure";
  }
}

// Keep-alive agents shared by every step in this process: a warm runner skips the TLS handshake.
const httpAgent = new http.Agent({ keepAlive: true });
const httpsAgent = new https.Agent({ keepAlive: true });

const EMPTY_BODY = Buffer.alloc(0);
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Security: credentials that must not follow a redirect to another origin (kiota's scrub list).
const ORIGIN_BOUND_HEADERS = ["authorization", "cookie", "proxy-authorization"];

export async function sendFollowingRedirects(
  request: WireRequest,
  endpoint: GraphEndpoint,
  accessToken: string,
): Promise<WireResponse> {
  let { method, url, body } = request;
  let headers = { ...request.headers };
  for (let hop = 0; ; hop++) {
    const onGraph = url.origin === endpoint.origin;
    const hopHeaders = withoutHeaders(headers, ORIGIN_BOUND_HEADERS);
    // Security: the token goes to the Graph origin only; a pre-authenticated download host gets none.
    if (onGraph) hopHeaders.Authorization = `Bearer ${accessToken}`;

    const response = await sendOnce({ method, url, headers: hopHeaders, body, timeoutMs: request.timeoutMs }, endpoint);
    const location = response.headers.location;
    if (!REDIRECT_STATUSES.has(response.status) || !location) return response;
    if (hop >= MAX_REDIRECTS) {
      throw new TransportFailure(`more than ${MAX_REDIRECTS} redirects`, false);
    }
    const next = new URL(location, url);
    const loopbackAllowed = endpoint.loopback && isLoopbackHost(next.hostname);
    if (next.protocol !== "https:" && !loopbackAllowed) {
      throw new TransportFailure(`refused to follow a redirect to a non-HTTPS URL (${next.origin})`, false);
    }
    if (next.origin !== endpoint.origin) headers = withoutHeaders(headers, ORIGIN_BOUND_HEADERS);
    // 303 always, and 301/302 after a POST, continue as a GET without a body (RFC 9110 §15.4).
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")) {
      method = "GET";
      body = undefined;
      headers = withoutHeaders(headers, ["content-type"]);
    }
    url = next;
  }
}

/** A request that carries no Graph token (a sign-in to the token endpoint); redirects are not followed. */
export function sendWithoutToken(request: WireRequest, loopback: boolean): Promise<WireResponse> {
  return sendOnce(request, { origin: request.url.origin, versionRoot: request.url.origin, loopback });
}

async function sendOnce(request: WireRequest, endpoint: GraphEndpoint): Promise<WireResponse> {
  try {
    const response = await axios.request<Buffer>({
      method: request.method,
      url: request.url.href,
      headers: request.headers,
      data: request.body,
      responseType: "arraybuffer",
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      maxRedirects: 0,
      timeout: request.timeoutMs ?? 0,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      httpAgent,
      httpsAgent,
      // A proxy configured for the registry must not capture calls to the loopback emulator.
      proxy: endpoint.loopback ? false : undefined,
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers ?? {})) {
      if (value === undefined || value === null) continue;
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
    }
    const body = Buffer.isBuffer(response.data) ? response.data : Buffer.from(response.data ?? []);
    // Memory: axios's response stays reachable from its socket listeners until a full GC; without this it
    // would keep every page's bytes alive that long (Fetch All Pages' peak memory, see the bench).
    response.data = EMPTY_BODY;
    return { status: response.status, statusText: response.statusText ?? "", headers, body, url: request.url };
  } catch (error) {
    throw new TransportFailure(describeNetworkError(error, request.timeoutMs), true);
  }
}

function describeNetworkError(error: unknown, timeoutMs?: number): string {
  const e = error as AxiosError & { cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  switch (code) {
    case "ECONNABORTED":
    case "ETIMEDOUT":
      return timeoutMs ? `no answer within ${timeoutMs} ms (Timeout)` : "the request timed out";
    case "ECONNRESET":
      return "the connection was reset before the answer was complete";
    case "ECONNREFUSED":
      return "the connection was refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name could not be resolved";
    case "ERR_BAD_RESPONSE":
    case "ERR_STREAM_PREMATURE_CLOSE":
      return "the answer was cut off before its end";
    default:
      // The message of a socket error names no header, so it cannot carry the token.
      return code ? `${e.message} (${code})` : e.message || "unknown network error";
  }
}

function withoutHeaders(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!names.includes(name.toLowerCase())) out[name] = value;
  }
  return out;
}
