import { createHmac } from "node:crypto";

import { parseBatch, runBatch, type BatchItem, type ItemOutcome } from "./batch";
import { safeEqual } from "./constantTime";
import { denied, unauthenticated, type Caller } from "./callers";
import { routeDownload } from "./download";
import type { FaultQueue } from "./faults";
import { statusFaultReply } from "./faults";
import { errorReply, GraphError, type Reply, type RequestIds } from "./http";
import type { Host, Occupancy, ReceivedRequest, Routed } from "./pipeline";
import { routeGraph, type GraphRequest, type TenantState } from "./routes";
import type { Throttle } from "./throttle";
import type { Drive } from "./tenant";
import type { UploadSessions } from "./uploadSessions";
import { isUserInfoPath, userInfo } from "./userInfo";

/** Graph's front-end diagnostics header, as captured from graph.microsoft.com. */
const AGS_DIAGNOSTIC = JSON.stringify({
  ServerInfo: { DataCenter: "West Europe", Slice: "E", Ring: "5", ScaleUnit: "010", RoleInstance: "AM4PEPF00027357" },
});

/** /me and everything under it (/me/drive/root:/a.txt:, /me/sendMail, ...). */
const ME_PATH = /^\/me(?=[/:]|$)/i;

/** What the Graph host works with. */
export interface GraphHostContext {
  state: TenantState;
  faults: FaultQueue;
  throttle: Throttle;
  /** The clock of the throttle window. */
  now: () => number;
  /** The round trip every request waits: a $batch envelope's too, its items add their service time. */
  latencyMs: number;
  /** The seed of the next $batch's answer order (EmulatorOptions.seed); undefined: the batch's request-id picks it. */
  batchOrderSeed?: () => number | undefined;
}

/** A Graph request's version segment and the path after it, or null without a known version. */
function versionOf(pathname: string): { version: GraphRequest["version"]; path: string } | null {
  const versioned = /^\/(v1\.0|beta)(\/.*)?$/i.exec(pathname);
  return versioned && { version: versioned[1].toLowerCase() === "beta" ? "beta" : "v1.0", path: versioned[2] ?? "" };
}

function isBatchPath(path: string): boolean {
  return /^\/(\$|%24)batch\/?$/i.test(path);
}

/** What a throttled request or item answers: the official 429 body with whole-second Retry-After. */
function throttled(ids: RequestIds, seconds: number): Reply {
  return statusFaultReply(ids, { kind: "status", status: 429, retryAfter: String(seconds) });
}

/**
 * The Graph host (graph.microsoft.com): CORS preflight, OpenID Connect UserInfo (userInfo.ts), the version
 * segment, the bearer token, JSON batching, the token's throttling budget, then the routes of routes.ts.
 */
export function graphHost(context: GraphHostContext): Host {
  const { state, faults, throttle, now } = context;

  /** Routing shared by real requests and batch items once the caller is authenticated. */
  function routeAuthenticated(call: GraphRequest, caller: Caller): Reply | Promise<Reply> {
    if (caller.kind === "app" && ME_PATH.test(call.path)) {
      // Graph's answer to an app-only (client credentials) token on /me: there is no signed-in user. Captured in
      // microsoftgraph/msgraph-sdk-php issue #1163 (2023-03): `400 Bad Request`
      // {"error":{"code":"BadRequest","message":"/me request is only valid with delegated authentication flow.",...}}
      // (also GearPlug/microsoftgraph-python #20, msgraph-sdk-php #614). An app token carrying no application
      // permission at all gets 401 NoPermissionsInAccessToken instead (Microsoft support article
      // "NoPermissionsInAccessToken when calling /me endpoint"); the emulator's app tokens always carry them.
      return errorReply(call.ids, 400, "BadRequest", "/me request is only valid with delegated authentication flow.", "gateway");
    }
    if (denied(call, caller)) {
      // What Graph answers a token without the needed permission (e.g. User.Read.All on a directory write).
      return errorReply(call.ids, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "directory");
    }
    const crashed = (error: unknown): Reply => {
      console.error("graph emulator: unhandled error", error);
      return statusFaultReply(call.ids, { kind: "status", status: 500 });
    };
    try {
      const answer = routeGraph({ ...call, ...(caller.me === undefined ? {} : { me: caller.me }), appId: caller.appId, appOnly: caller.kind === "app" }, state);
      return answer instanceof Promise ? answer.catch(crashed) : answer;
    } catch (error) {
      return crashed(error);
    }
  }

  /**
   * One batch item through the same pipeline as a request: scripted faults (status and slow only), the
   * token's throttling budget (the item counts as one more request in flight), then routing. An item that
   * answers later (POST /subscriptions, whose validation handshake runs while the batch does) stays in flight
   * until it has. That Graph creates subscriptions inside $batch the same way is assumed here, not observed: the
   * batching and subscription docs neither forbid it nor describe it.
   */
  function executeItem(item: BatchItem, version: GraphRequest["version"], ids: RequestIds, caller: Caller): ItemOutcome | Promise<ItemOutcome> {
    const fault = faults.take(item.method, item.path, ["status", "slow"]);
    const delayMs = fault?.kind === "slow" ? fault.delayMs : 0;
    if (fault?.kind === "status") return { reply: statusFaultReply(ids, fault), delayMs };
    // The item is one more request in flight while it runs (its $batch envelope is not counted).
    const concurrent = throttle.enter(caller.token);
    const wait = throttle.admit(caller.token, concurrent, now());
    const call: GraphRequest = { method: item.method, version, path: item.path, rawQuery: item.rawQuery, headers: item.headers, body: item.body, ids };
    // routeAuthenticated turns any error into an answer, so the place taken above is always given back.
    const answer = wait !== undefined ? throttled(ids, wait) : routeAuthenticated(call, caller);
    if (!(answer instanceof Promise)) {
      throttle.leave(caller.token);
      return { reply: answer, delayMs };
    }
    return answer.then((reply) => ({ reply, delayMs })).finally(() => throttle.leave(caller.token));
  }

  /** POST /$batch (DC concepts/json-batching.md): 400 for a malformed envelope, else 200 with per-item answers. */
  async function batch(request: ReceivedRequest, version: GraphRequest["version"], caller: Caller): Promise<Routed> {
    const { ids } = request;
    if (request.method !== "POST") {
      return { reply: errorReply(ids, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.", "gateway") };
    }
    let items: BatchItem[];
    try {
      // The envelope as received: a `corrupt` fault does not reach the items.
      items = parseBatch(request.headers, request.entry.bodyBytes);
    } catch (error) {
      if (!(error instanceof GraphError)) throw error;
      return { reply: errorReply(ids, error.status, error.code, error.message, "gateway") };
    }
    const result = await runBatch(items, ids, (item) => executeItem(item, version, ids, caller), context.latencyMs, context.batchOrderSeed?.());
    return { reply: result.reply, batchItems: result.log, delayMs: result.delayMs };
  }

  return {
    name: "graph",
    faultPath: (request) => {
      const versioned = versionOf(request.pathname);
      return versioned ? versioned.path || "/" : request.pathname;
    },
    occupy: (request) => {
      // In flight from the request being read to the last byte; the $batch envelope is not counted, its items are.
      const versioned = versionOf(request.pathname);
      const token = request.authentication.auth === "valid" ? request.authentication.caller.token : undefined;
      if (versioned === null || token === undefined || request.method === "OPTIONS" || isBatchPath(versioned.path)) return undefined;
      return { concurrent: throttle.enter(token), release: () => throttle.leave(token) };
    },
    route: async (request, body, occupancy: Occupancy | undefined) => {
      const { ids, authentication } = request;
      if (request.method === "OPTIONS") return { reply: preflight(request) };
      if (isUserInfoPath(request.pathname)) return { reply: userInfo(request, state) };
      const versioned = versionOf(request.pathname);
      // Graph's answer to an unknown or missing version segment (e.g. GET https://graph.microsoft.com/me).
      if (!versioned) return { reply: errorReply(ids, 400, "BadRequest", "Invalid version.", "gateway") };
      if (authentication.auth !== "valid") {
        return { reply: unauthenticated(ids, request.authorization, authentication.auth === "invalid" ? authentication.failure : "unknown") };
      }
      const caller = authentication.caller;
      if (isBatchPath(versioned.path)) return batch(request, versioned.version, caller);
      const wait = throttle.admit(caller.token, occupancy?.concurrent ?? 0, now());
      if (wait !== undefined) return { reply: throttled(ids, wait) };
      const call: GraphRequest = { method: request.method, version: versioned.version, path: versioned.path, rawQuery: request.rawQuery, headers: request.headers, body, ids };
      return { reply: await routeAuthenticated(call, caller) };
    },
    headers: (ids) => ({
      "request-id": ids.requestId,
      "client-request-id": ids.clientRequestId,
      "x-ms-ags-diagnostic": AGS_DIAGNOSTIC,
      "Strict-Transport-Security": "max-age=31536000",
    }),
    compressible: () => true,
  };
}

/** CORS preflight: answered without a token, as browsers send none. */
function preflight(request: ReceivedRequest): Reply {
  const { origin } = request.headers;
  const headers: Record<string, string> = {
    "Access-Control-Allow-Origin": typeof origin === "string" ? origin : "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Max-Age": "3600",
  };
  const requested = request.headers["access-control-request-headers"];
  if (typeof requested === "string") headers["Access-Control-Allow-Headers"] = requested;
  return { status: 200, headers, body: Buffer.alloc(0), chunked: false };
}

/** The `tempauth` query parameter of a drive item's download URL: an HMAC of the item id under the emulator's secret. */
export function tempauthSigner(secret: Buffer): { sign(itemId: string): string; valid(itemId: string, tempauth: string): boolean } {
  const sign = (itemId: string): string => "v1." + createHmac("sha256", secret).update(`tempauth:${itemId.toUpperCase()}`).digest("base64url");
  return { sign, valid: (itemId, tempauth) => safeEqual(tempauth, sign(itemId)) };
}

/** The pre-authenticated download host (download.ts); its ranges stay identity-coded, so only a 200 is gzip-coded. */
export function downloadHost(drive: () => Drive, tempauthValid: (itemId: string, tempauth: string) => boolean): Host {
  return {
    name: "download",
    faultPath: (request) => request.pathname,
    occupy: () => undefined,
    route: (request) => ({ reply: routeDownload(request.method, request.url, request.headers, { drive: drive(), tempauthValid }) }),
    headers: (ids) => ({ "request-id": ids.requestId, SPRequestGuid: ids.requestId }),
    // A 206's Content-Range counts the file's own bytes.
    compressible: (reply) => reply.status === 200,
  };
}

/** The upload host of upload sessions (uploadSessions.ts). */
export function uploadHost(uploads: UploadSessions): Host {
  return {
    name: "upload",
    faultPath: (request) => request.pathname,
    occupy: () => undefined,
    route: (request, body) => ({ reply: uploads.route(request.method, request.url, request.headers, body, request.ids) }),
    headers: (ids) => ({ "request-id": ids.requestId }),
    compressible: () => false,
  };
}
