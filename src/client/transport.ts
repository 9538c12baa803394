/**
 * The only module that touches the network. Redirects are followed here, by hand, so a caller's origin-bound
 * credentials (the Graph layer's token) reach their own origin only, on every hop.
 */
import http from "node:http";
import https from "node:https";
import { pipeline, type Readable, type Transform } from "node:stream";
import zlib from "node:zlib";
import axios, { AxiosError, type AxiosResponse } from "axios";
import { isLoopbackHost } from "./hosts";

export interface WireRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
  /** Bound on the whole attempt: every redirect hop, the headers and the last byte of the body. */
  timeoutMs?: number;
  /** Bound on the body as decoded (after gzip, deflate or br), in bytes. */
  maxResponseBytes?: number;
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

/** No HTTP answer: reset, refused, timed out, cut off, too large, or a redirect we refuse to follow. */
export class TransportFailure extends Error {
  constructor(
    readonly reason: string,
    readonly retryable: boolean,
  ) {
    super(reason);
    this.name = "TransportFailure";
  }
}

/**
 * Every attempt has a bound, even when Timeout is empty: a server that sends headers and then stalls would
 * otherwise hold the step until the platform kills it, with no word of why. Five minutes lets a 100 MB download
 * (the default Max Response Size) through a 3 Mbit/s link, and keeps two attempts inside Prismatic's 15-minute step.
 */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 5 * 60_000;
/** Test seam, like clock.ts: tests shorten the default bound to prove it applies; production never changes it. */
export const attemptBounds = { defaultTimeoutMs: DEFAULT_ATTEMPT_TIMEOUT_MS };
/** Node timers hold at most 2^31-1 ms; a longer delay fires at once (Node docs, setTimeout). */
export const MAX_TIMER_MS = 2_147_483_647;
/** The runner has about 1 GB: a body, its text and its parsed JSON must fit together, so 100 MB by default. */
export const DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024;

// Keep-alive agents shared by every step in this process: a warm runner skips the TLS handshake.
const httpAgent = new http.Agent({ keepAlive: true });
const httpsAgent = new https.Agent({ keepAlive: true });

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Security: credentials that must not follow a redirect to another origin (kiota's scrub list).
export const ORIGIN_BOUND_HEADERS = ["authorization", "cookie", "proxy-authorization"];

export interface WireRoute {
  /** True under the loopback test seam: plain http is then followed to loopback hosts, and no proxy is used. */
  loopback: boolean;
  /** Headers only `origin` may receive (the Graph token): added on each hop to that origin, on no other. */
  credentials?: { origin: string; headers: Record<string, string> };
}

export async function sendFollowingRedirects(request: WireRequest, route: WireRoute): Promise<WireResponse> {
  const deadline = startDeadline(request.timeoutMs);
  try {
    return await followRedirects(request, route, deadline);
  } finally {
    deadline.clear();
  }
}

async function followRedirects(request: WireRequest, route: WireRoute, deadline: Deadline): Promise<WireResponse> {
  let { method, url, body } = request;
  let headers = { ...request.headers };
  const { credentials } = route;
  for (let hop = 0; ; hop++) {
    const hopHeaders = withoutHeaders(headers, ORIGIN_BOUND_HEADERS);
    // Security: credentials go to their own origin only; a pre-authenticated upload or download host gets none.
    if (credentials && url.origin === credentials.origin) Object.assign(hopHeaders, credentials.headers);

    const response = await sendOnce({ ...request, method, url, headers: hopHeaders, body }, route.loopback, deadline);
    const location = response.headers.location;
    if (!REDIRECT_STATUSES.has(response.status) || !location) return response;
    if (hop >= MAX_REDIRECTS) {
      throw new TransportFailure(`more than ${MAX_REDIRECTS} redirects`, false);
    }
    const next = new URL(location, url);
    const loopbackAllowed = route.loopback && isLoopbackHost(next.hostname);
    if (next.protocol !== "https:" && !loopbackAllowed) {
      throw new TransportFailure(`refused to follow a redirect to a non-HTTPS URL (${next.origin})`, false);
    }
    if (next.origin !== credentials?.origin) headers = withoutHeaders(headers, ORIGIN_BOUND_HEADERS);
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
export async function sendWithoutToken(request: WireRequest, loopback: boolean): Promise<WireResponse> {
  const deadline = startDeadline(request.timeoutMs);
  try {
    return await sendOnce(request, loopback, deadline);
  } finally {
    deadline.clear();
  }
}

interface Deadline {
  signal: AbortSignal;
  /** What to say when the deadline passed. */
  describe(): string;
  clear(): void;
}

function startDeadline(timeoutMs: number | undefined): Deadline {
  const ms = Math.min(timeoutMs ?? attemptBounds.defaultTimeoutMs, MAX_TIMER_MS);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return {
    signal: controller.signal,
    describe: () =>
      timeoutMs !== undefined
        ? `no complete answer within ${ms} ms (Timeout)`
        : `no complete answer within ${ms % 60_000 === 0 ? `${ms / 60_000} minutes` : `${ms} ms`} (the bound used when Timeout is empty)`,
    clear: () => clearTimeout(timer),
  };
}

interface Decoder {
  stream(): Transform;
  /** The whole body at once; throws ERR_BUFFER_TOO_LARGE past maxOutputLength. */
  whole(coded: Buffer, options: { maxOutputLength: number }): Buffer;
}
// Content codings the client can undo, in the order it prefers them.
const DECODERS: Record<string, Decoder> = {
  gzip: { stream: () => zlib.createGunzip(), whole: zlib.gunzipSync },
  "x-gzip": { stream: () => zlib.createGunzip(), whole: zlib.gunzipSync },
  deflate: { stream: () => zlib.createInflate(), whole: zlib.inflateSync },
  br: { stream: () => zlib.createBrotliDecompress(), whole: zlib.brotliDecompressSync },
};
/**
 * A coded answer that has ended within this many bytes is decoded in one synchronous call: a zlib stream sends
 * each chunk and its end to the thread pool and back, which cost Raw Request's small answer about 0.25 ms (an
 * interleaved loop of steps). A longer answer streams through the decoder, and so does one that decodes to more
 * than WHOLE_DECODE_MAX_DECODED_BYTES (a small body can expand a thousandfold), so neither blocks the event loop
 * (and the attempt's deadline) for long.
 */
export const WHOLE_DECODE_MAX_CODED_BYTES = 64 * 1024;
export const WHOLE_DECODE_MAX_DECODED_BYTES = 4 * 1024 * 1024;
const ACCEPT_ENCODING = "gzip, deflate, br";

// The options every request shares, merged once: per call, axios merges and checks each option it is given.
const wire = axios.create({
  // The body is read below, so that the deadline and the size bound cover it, and decoded there.
  responseType: "stream",
  decompress: false,
  validateStatus: () => true,
  maxRedirects: 0,
  maxBodyLength: Infinity,
  maxContentLength: -1,
  httpAgent,
  httpsAgent,
});

async function sendOnce(request: WireRequest, loopback: boolean, deadline: Deadline): Promise<WireResponse> {
  if (deadline.signal.aborted) throw new TransportFailure(deadline.describe(), true);
  let response: AxiosResponse<Readable>;
  try {
    response = await wire.request<Readable>({
      method: request.method,
      url: request.url.href,
      headers: { "Accept-Encoding": ACCEPT_ENCODING, ...request.headers },
      data: request.body,
      signal: deadline.signal,
      // A proxy configured for the registry must not capture calls to the loopback emulator.
      proxy: loopback ? false : undefined,
    });
  } catch (error) {
    throw new TransportFailure(deadline.signal.aborted ? deadline.describe() : describeNetworkError(error), true);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    if (value === undefined || value === null) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  const body = await readBody(response.data, headers, response.status, request, deadline);
  return { status: response.status, statusText: response.statusText ?? "", headers, body, url: request.url };
}

/**
 * Reads the body under the deadline and the size bound. A compressed answer is bounded by its decoded size
 * (a small gzip can expand a thousandfold); a Content-Length over the bound fails before a byte is read.
 */
async function readBody(
  raw: Readable,
  headers: Record<string, string>,
  status: number,
  request: WireRequest,
  deadline: Deadline,
): Promise<Buffer> {
  const limit = request.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const tooLarge = (size: string) =>
    new TransportFailure(
      `the answer (status ${status}) is larger than Max Response Size (${formatBytes(limit)}): ${size}. Ask for less (for example $select or $top), or raise Max Response Size`,
      false,
    );
  const coding = (headers["content-encoding"] ?? "").trim().toLowerCase();
  const declared = /^\d+$/.test(headers["content-length"] ?? "") ? Number(headers["content-length"]) : undefined;
  if (declared !== undefined && declared > limit && (coding === "" || coding === "identity")) {
    raw.destroy();
    throw tooLarge(`Content-Length is ${formatBytes(declared)}`);
  }
  // HEAD, 204, 304 and an empty body carry no bytes to decode, whatever Content-Encoding says (RFC 9110 §8.4).
  const bodiless = request.method === "HEAD" || status === 204 || status === 304 || declared === 0;
  const decoder = coding && coding !== "identity" && !bodiless ? DECODERS[coding] : undefined;
  // The caller gets the decoded bytes: the headers must not describe the encoded ones.
  if (decoder) {
    delete headers["content-encoding"];
    delete headers["content-length"];
  }
  const onAbort = () => raw.destroy();
  deadline.signal.addEventListener("abort", onAbort);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    let decoded: AsyncIterable<Buffer> = raw;
    if (decoder) {
      const coded = await readCodedStart(raw);
      if (coded.ended) {
        const whole = decodeWhole(decoder, coded.chunks, limit);
        if (whole === "too large") {
          raw.destroy();
          throw tooLarge(`more than that once decoded (${coding})`);
        }
        if (whole) return whole;
      }
      // Longer, cut off, or not decodable at once: streamed, so a failure reads as it always has.
      decoded = pipeline(codedRest(coded), decoder.stream(), () => undefined);
    }
    for await (const chunk of decoded) {
      size += chunk.length;
      if (size > limit) {
        raw.destroy();
        throw tooLarge(decoder ? `more than that once decoded (${coding})` : "more than that arrived");
      }
      chunks.push(chunk);
    }
  } catch (error) {
    // A generator feeds the decoder, and a pipeline does not destroy that source's stream when the decoder fails.
    raw.destroy();
    if (error instanceof TransportFailure) throw error;
    if (deadline.signal.aborted) throw new TransportFailure(deadline.describe(), true);
    // A body cut off mid-way (Content-Length not reached, a chunked stream or a compressed stream that ends early) is
    // a network failure: the same request may well succeed again.
    const expected = declared !== undefined && !decoder ? ` of ${declared}` : "";
    throw new TransportFailure(`the answer (status ${status}) was cut off before its end (${size}${expected} bytes received)`, true);
  } finally {
    deadline.signal.removeEventListener("abort", onAbort);
  }
  if (declared !== undefined && !decoder && !bodiless && size < declared) {
    throw new TransportFailure(`the answer (status ${status}) was cut off before its end (${size} of ${declared} bytes received)`, true);
  }
  return Buffer.concat(chunks);
}

interface CodedStart {
  chunks: Buffer[];
  /** True when the body ended within WHOLE_DECODE_MAX_CODED_BYTES. */
  ended: boolean;
  /** The read failed (cut off, or destroyed by the deadline); rethrown after the chunks, by codedRest. */
  failure?: unknown;
  iterator: AsyncIterator<Buffer>;
}

/** Reads a coded body until it ends, fails, or passes WHOLE_DECODE_MAX_CODED_BYTES. */
async function readCodedStart(raw: Readable): Promise<CodedStart> {
  const iterator = (raw as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const start: CodedStart = { chunks: [], ended: false, iterator };
  let codedSize = 0;
  try {
    while (codedSize <= WHOLE_DECODE_MAX_CODED_BYTES) {
      const next = await iterator.next();
      if (next.done) {
        start.ended = true;
        break;
      }
      start.chunks.push(next.value);
      codedSize += next.value.length;
    }
  } catch (error) {
    start.failure = error;
  }
  return start;
}

/** The coded body as it arrived: the chunks already read, then their failure or the rest of the stream. */
async function* codedRest(start: CodedStart): AsyncGenerator<Buffer> {
  yield* start.chunks;
  if (start.failure !== undefined) throw start.failure;
  if (start.ended) return;
  for (;;) {
    const next = await start.iterator.next();
    if (next.done) return;
    yield next.value;
  }
}

/**
 * The decoded body, "too large" past the size bound, or undefined when it does not decode at once (the stream then
 * decodes it, or says why it cannot).
 */
function decodeWhole(decoder: Decoder, chunks: Buffer[], limit: number): Buffer | "too large" | undefined {
  const bound = Math.min(limit, WHOLE_DECODE_MAX_DECODED_BYTES);
  try {
    return decoder.whole(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), { maxOutputLength: bound });
  } catch (error) {
    return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" && bound === limit ? "too large" : undefined;
  }
}

function formatBytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return mb >= 1 ? `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB` : `${bytes} bytes`;
}

function describeNetworkError(error: unknown): string {
  const e = error as AxiosError & { cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  switch (code) {
    case "ECONNRESET":
      return "the connection was reset before the answer was complete";
    case "ECONNREFUSED":
      return "the connection was refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name could not be resolved";
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
