import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { routeDownload } from "./download";
import { FaultQueue, statusFaultReply } from "./faults";
import { errorReply, type Reply, type RequestIds } from "./http";
import { SkipTokens } from "./odata";
import { routeGraph, type TenantState } from "./routes";
import { Drive, UserDirectory, type DriveFile } from "./tenant";
import type { EmulatorOptions, GraphEmulator, RequestLogEntry } from "./types";

/** The demo tenant's bearer token: deliberately not JWT-shaped, so nobody mistakes it for a real one. */
export const DEMO_TOKEN = "emulator-demo-token-contoso-7357";
/** A token consented to read scopes only (User.Read.All): writes to the directory answer 403, as Graph does. */
export const READ_ONLY_TOKEN = "emulator-readonly-token-contoso-7357";

/** Graph's front-end diagnostics header, as captured from graph.microsoft.com. */
const AGS_DIAGNOSTIC = JSON.stringify({
  ServerInfo: { DataCenter: "West Europe", Slice: "E", Ring: "5", ScaleUnit: "010", RoleInstance: "AM4PEPF00027357" },
});

/** Graph's challenge on 401 (DC/entra-docs; kiota tests): client_id is the Microsoft Graph resource app id. */
const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

type ServerName = RequestLogEntry["server"];

function authOf(value: string | undefined, tokens: string[]): RequestLogEntry["auth"] {
  if (value === undefined) return "none";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value.trim());
  return m && tokens.includes(m[1]) ? "valid" : "invalid";
}

function loggedHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = name === "authorization" ? "Bearer [REDACTED]" : Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The 401 Graph sends for a missing or rejected bearer token. */
function isReadOnly(authorization: string | undefined, readOnlyTokens: string[]): boolean {
  const token = /^Bearer\s+(\S+)/i.exec(authorization?.trim() ?? "")?.[1];
  return token !== undefined && readOnlyTokens.includes(token);
}

function unauthenticated(ids: RequestIds, authorization: string | undefined): Reply {
  const token = /^Bearer\s+(\S*)/i.exec(authorization?.trim() ?? "")?.[1] ?? "";
  const message = token === "" ? "Access token is empty." : "Access token validation failure. Invalid audience.";
  return errorReply(ids, 401, "InvalidAuthenticationToken", message, "gateway", { headers: { "WWW-Authenticate": WWW_AUTHENTICATE } });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<GraphEmulator> {
  const size = options.users ?? 300;
  if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) throw new RangeError(`users must be a non-negative integer, got ${size}`);
  if (options.tokens && options.tokens.length === 0) throw new RangeError("tokens must list at least one accepted token");
  const tokens = options.tokens ? [...options.tokens] : [DEMO_TOKEN];
  const readOnlyTokens = options.readOnlyTokens ? [...options.readOnlyTokens] : [READ_ONLY_TOKEN];
  const latencyMs = options.latencyMs ?? 0;
  const secret = randomBytes(32);
  const log: RequestLogEntry[] = [];
  const faults = new FaultQueue();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const tempauthFor = (itemId: string): string =>
    "v1." + createHmac("sha256", secret).update(`tempauth:${itemId.toUpperCase()}`).digest("base64url");

  let downloadOrigin = "";
  const state: TenantState = {
    origin: "",
    users: new UserDirectory(size),
    drive: new Drive(),
    skipTokens: new SkipTokens(secret),
    downloadUrl: (file: DriveFile) => `${downloadOrigin}/download/${file.id}?tempauth=${tempauthFor(file.id)}`,
  };

  const sleep = (ms: number): Promise<void> =>
    ms <= 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, ms);
          timers.add(timer);
        });

  async function handle(server: ServerName, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const url = req.url ?? "/";
    const authorization = typeof req.headers.authorization === "string" ? req.headers.authorization : undefined;
    const entry: RequestLogEntry = {
      server,
      method,
      url,
      headers: loggedHeaders(req),
      auth: authOf(authorization, [...tokens, ...readOnlyTokens]),
      body: "",
      bodyBytes: Buffer.alloc(0),
      status: 0,
      at: Date.now(),
    };
    log.push(entry);

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    entry.bodyBytes = Buffer.concat(chunks);
    entry.body = entry.bodyBytes.toString("utf8");

    const requestId = randomUUID();
    const clientRequestId = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : requestId;
    const ids: RequestIds = { requestId, clientRequestId };

    const pathname = url.split("?")[0];
    const rawQuery = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
    const versioned = /^\/(v1\.0|beta)(\/.*)?$/i.exec(pathname);
    const faultPath = server === "graph" && versioned ? versioned[2] || "/" : pathname;

    const fault = faults.take(method, faultPath);
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "slow") await sleep(fault.delayMs);

    let reply: Reply;
    if (fault?.kind === "status") {
      reply = statusFaultReply(ids, fault);
    } else if (server === "download") {
      reply = routeDownload(method, url, req.headers, { drive: state.drive, tempauthValid: (id, t) => safeEqual(t, tempauthFor(id)) });
    } else if (method === "OPTIONS") {
      reply = preflight(req);
    } else if (!versioned) {
      // Graph's answer to an unknown or missing version segment (e.g. GET https://graph.microsoft.com/me).
      reply = errorReply(ids, 400, "BadRequest", "Invalid version.", "gateway");
    } else if (entry.auth !== "valid") {
      reply = unauthenticated(ids, authorization);
    } else if (isReadOnly(authorization, readOnlyTokens) && !["GET", "HEAD"].includes(method) && /^\/(users|groups|me)\b/i.test(versioned[2] ?? "")) {
      // What Graph answers a token without the write permission (e.g. User.Read.All) on a directory write.
      reply = errorReply(ids, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "directory");
    } else {
      try {
        reply = routeGraph(
          {
            method,
            version: versioned[1].toLowerCase() === "beta" ? "beta" : "v1.0",
            path: versioned[2] ?? "",
            rawQuery,
            headers: req.headers,
            body: entry.bodyBytes,
            ids,
          },
          state,
        );
      } catch (error) {
        console.error("graph emulator: unhandled error", error);
        reply = statusFaultReply(ids, { kind: "status", status: 500 });
      }
    }

    await sleep(latencyMs);
    if (closed) return;
    const common: Record<string, string> =
      server === "graph"
        ? {
            "request-id": requestId,
            "client-request-id": clientRequestId,
            "x-ms-ags-diagnostic": AGS_DIAGNOSTIC,
            "Strict-Transport-Security": "max-age=31536000",
          }
        : { "request-id": requestId, SPRequestGuid: requestId };
    entry.status = reply.status;
    write(res, { ...reply, headers: { ...common, ...reply.headers } }, method === "HEAD", fault?.kind === "truncate");
  }

  function serve(server: ServerName): Server {
    return createServer((req, res) => {
      handle(server, req, res).catch((error: unknown) => {
        console.error("graph emulator: request failed", error);
        res.destroy();
      });
    });
  }

  const graphServer = serve("graph");
  const downloadServer = serve("download");
  const port = await listen(graphServer, options.port ?? 0);
  const downloadPort = await listen(downloadServer, options.downloadPort ?? 0).catch(async (error: unknown) => {
    await closeServer(graphServer);
    throw error;
  });
  state.origin = `http://127.0.0.1:${port}`;
  downloadOrigin = `http://127.0.0.1:${downloadPort}`;

  return {
    origin: state.origin,
    downloadOrigin,
    token: tokens[0],
    log,
    addFault: (rule) => faults.add(rule),
    reset: () => {
      log.length = 0;
      faults.clear();
      state.users = new UserDirectory(size);
      state.drive.reset();
    },
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([closeServer(graphServer), closeServer(downloadServer)]);
    },
  };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** CORS preflight: answered without a token, as browsers send none. */
function preflight(req: IncomingMessage): Reply {
  const headers: Record<string, string> = {
    "Access-Control-Allow-Origin": typeof req.headers.origin === "string" ? req.headers.origin : "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Max-Age": "3600",
  };
  const requested = req.headers["access-control-request-headers"];
  if (typeof requested === "string") headers["Access-Control-Allow-Headers"] = requested;
  return { status: 200, headers, body: Buffer.alloc(0), chunked: false };
}

function write(res: ServerResponse, reply: Reply, head: boolean, truncate: boolean): void {
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
  const bodiless = reply.status === 204 || reply.status === 304;
  if (truncate) {
    // Promise more bytes than are sent, then close: the client's body read must fail.
    const sent = reply.body.length >= 2 ? reply.body.subarray(0, Math.floor(reply.body.length / 2)) : reply.body;
    res.setHeader("Content-Length", reply.body.length >= 2 ? reply.body.length : reply.body.length + 64);
    res.writeHead(reply.status);
    res.flushHeaders();
    if (sent.length > 0) res.write(sent);
    res.socket?.end();
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
