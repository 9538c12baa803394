import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";

import type { Authentication } from "./callers";
import { FaultQueue, scriptedReply, statusFaultReply } from "./faults";
import { acceptsGzip, type Reply, type RequestIds } from "./http";
import type { BatchItemLogEntry, Fault, RequestLogEntry } from "./types";

export type HostName = RequestLogEntry["server"];

/** A request as it arrived, logged and read to its last byte. */
export interface ReceivedRequest {
  /** Upper-cased. */
  method: string;
  url: string;
  pathname: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  authorization?: string;
  authentication: Authentication;
  ids: RequestIds;
  /** Its entry in the request log: the status (and batch items) are filled in once answered. */
  entry: RequestLogEntry;
}

/** What a host answered, and what the pipeline does with it. */
export interface Routed {
  reply: Reply;
  /** Service time on top of the emulator's latency (a $batch's items). */
  delayMs?: number;
  batchItems?: BatchItemLogEntry[];
}

/** Something a request holds from its arrival to its last byte (Graph: its place among the token's requests in flight). */
export interface Occupancy {
  /** The token's requests in flight when this one arrived, itself included. */
  concurrent: number;
  release(): void;
}

/** One of the emulator's HTTP hosts, as the pipeline drives it. */
export interface Host {
  name: HostName;
  /** The path scripted faults match (Graph's without its version segment). */
  faultPath(request: ReceivedRequest): string;
  /** Takes a place for the request while it is served, if the host counts requests in flight. */
  occupy(request: ReceivedRequest): Occupancy | undefined;
  /** The host's answer; `body` is the request body after a `corrupt` fault. */
  route(request: ReceivedRequest, body: Buffer, occupancy: Occupancy | undefined): Routed | Promise<Routed>;
  /** Headers every reply of the host carries. */
  headers(ids: RequestIds): Record<string, string>;
  /** Whether a reply may go out gzip-coded to a client that accepts it. */
  compressible(reply: Reply): boolean;
}

/** What every host's requests share. */
export interface PipelineContext {
  log: RequestLogEntry[];
  faults: FaultQueue;
  authenticate(authorization: string | undefined): Authentication;
  latencyMs: number;
  sleep(ms: number): Promise<void>;
  /** True once the emulator is closing: answers still waiting are not written. */
  closed(): boolean;
}

/**
 * One request through a host: logged and read, scripted faults (drop, slow, corrupt, status, reply, truncate,
 * stall), the host's answer, the emulator's latency, then written (gzip-coded when asked).
 */
export async function handle(context: PipelineContext, host: Host, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = await receive(context, host.name, req);
  const occupancy = host.occupy(request);
  try {
    const fault = context.faults.take(request.method, host.faultPath(request));
    if (fault?.kind === "reset" && fault.afterProcessing !== true) {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "slow") await context.sleep(fault.delayMs);
    const routed = faultAnswer(fault, request.ids) ?? (await host.route(request, corrupted(request.entry.bodyBytes, fault), occupancy));
    if (routed.batchItems) request.entry.batchItems = routed.batchItems;
    if (fault?.kind === "reset") {
      // afterProcessing: the request took effect, then the connection dropped before any answer.
      request.entry.status = 0;
      req.socket.destroy();
      return;
    }
    await context.sleep(context.latencyMs + (routed.delayMs ?? 0));
    if (context.closed()) return;
    respond(res, host, request, routed.reply, fault);
  } finally {
    occupancy?.release();
  }
}

/** Authenticates (for the log), logs and reads the whole body, and gives the request its ids. */
async function receive(context: PipelineContext, host: HostName, req: IncomingMessage): Promise<ReceivedRequest> {
  const method = (req.method ?? "GET").toUpperCase();
  const url = req.url ?? "/";
  const authorization = typeof req.headers.authorization === "string" ? req.headers.authorization : undefined;
  const authentication = context.authenticate(authorization);
  const tokenKind =
    authentication.auth === "valid" ? authentication.caller.kind : authentication.auth === "invalid" ? authentication.tokenKind : undefined;
  const entry: RequestLogEntry = {
    server: host,
    method,
    url,
    headers: loggedHeaders(req),
    auth: authentication.auth,
    ...(tokenKind !== undefined ? { tokenKind } : {}),
    body: "",
    bodyBytes: Buffer.alloc(0),
    status: 0,
    at: Date.now(),
  };
  context.log.push(entry);

  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  entry.bodyBytes = Buffer.concat(chunks);
  entry.body = entry.bodyBytes.toString("utf8");

  const requestId = randomUUID();
  const clientRequestId = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : requestId;
  const query = url.indexOf("?");
  return {
    method,
    url,
    pathname: query < 0 ? url : url.slice(0, query),
    rawQuery: query < 0 ? "" : url.slice(query + 1),
    headers: req.headers,
    ...(authorization !== undefined ? { authorization } : {}),
    authentication,
    ids: { requestId, clientRequestId },
    entry,
  };
}

/** The answer a scripted status or reply fault puts in place of the host's. */
function faultAnswer(fault: Fault | undefined, ids: RequestIds): Routed | undefined {
  if (fault?.kind === "status") return { reply: statusFaultReply(ids, fault) };
  if (fault?.kind === "reply") return { reply: scriptedReply(fault) };
  return undefined;
}

/** The body with one byte flipped, for a `corrupt` fault. */
function corrupted(body: Buffer, fault: Fault | undefined): Buffer {
  if (fault?.kind !== "corrupt" || body.length === 0) return body;
  const copy = Buffer.from(body);
  copy[copy.length >> 1] ^= 0xff;
  return copy;
}

function respond(res: ServerResponse, host: Host, request: ReceivedRequest, reply: Reply, fault: Fault | undefined): void {
  request.entry.status = reply.status;
  const cut = fault?.kind === "truncate" || fault?.kind === "stall" ? fault.kind : undefined;
  // A scripted reply goes on the wire as the test wrote it.
  const compressible = fault?.kind !== "reply" && host.compressible(reply);
  const head = request.method === "HEAD";
  const coded = compressible && cut === undefined && !head ? gzipped(reply, request.headers["accept-encoding"]) : reply;
  write(res, { ...coded, headers: { ...host.headers(request.ids), ...coded.headers } }, head, cut);
}

function loggedHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = name === "authorization" ? "Bearer [REDACTED]" : Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/**
 * The reply gzip-coded when the client accepts gzip, as Graph answers clients that send `Accept-Encoding: gzip`;
 * `Vary` tells caches the coding depends on the request. Never for 204/304 or an empty body (nothing to code).
 */
function gzipped(reply: Reply, acceptEncoding: string | string[] | undefined): Reply {
  if (reply.status === 204 || reply.status === 304 || reply.body.length === 0) return reply;
  // Already-compressed media (a photo's JPEG, a zip) gains nothing from a second coding.
  if (/^(image|video|audio)\/|zip/i.test(contentTypeOf(reply))) return reply;
  const vary = { Vary: "Accept-Encoding" };
  if (!acceptsGzip(acceptEncoding)) return { ...reply, headers: { ...reply.headers, ...vary } };
  return { ...reply, headers: { ...reply.headers, ...vary, "Content-Encoding": "gzip" }, body: gzipSync(reply.body) };
}

function contentTypeOf(reply: Reply): string {
  return Object.entries(reply.headers).find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? "";
}

function write(res: ServerResponse, reply: Reply, head: boolean, cut?: "truncate" | "stall"): void {
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
  const bodiless = reply.status === 204 || reply.status === 304;
  if (cut) {
    // Promise more bytes than are sent, then close: the client's body read must fail.
    const sent = reply.body.length >= 2 ? reply.body.subarray(0, Math.floor(reply.body.length / 2)) : reply.body;
    res.setHeader("Content-Length", reply.body.length >= 2 ? reply.body.length : reply.body.length + 64);
    res.writeHead(reply.status);
    res.flushHeaders();
    if (sent.length > 0) res.write(sent);
    // A stalled body keeps the socket open; closing the emulator destroys it.
    if (cut === "truncate") res.socket?.end();
    return;
  }
  if (head) {
    if (!reply.chunked && !bodiless) res.setHeader("Content-Length", reply.body.length);
    res.writeHead(reply.status);
    res.end();
    return;
  }
  if (reply.chunked && !bodiless) {
    res.writeHead(reply.status);
    if (reply.body.length > 0) res.write(reply.body);
    res.end();
    return;
  }
  if (!bodiless) res.setHeader("Content-Length", reply.body.length);
  res.writeHead(reply.status);
  res.end(bodiless ? undefined : reply.body);
}
