import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { gzipSync } from "node:zlib";

import { parseBatch, runBatch, type BatchItem, type ItemOutcome } from "./batch";
import { ControlSurface, isControlPath } from "./control";
import { DeltaTokens } from "./delta";
import { routeDownload } from "./download";
import { FaultQueue, scriptedReply, statusFaultReply } from "./faults";
import { acceptsGzip, closeServer, errorReply, GraphError, listen, type Reply, type RequestIds } from "./http";
import { DEMO_CLIENT_ID, startIdentityEmulator, type IdentityEmulator, type IssuedToken } from "./identity";
import { EmulatedMailbox } from "./mailbox";
import { ChangeNotifications } from "./notifications";
import { SkipTokens } from "./odata";
import { routeGraph, type GraphRequest, type TenantState } from "./routes";
import { completeDriveUpload, driveQuota } from "./routes";
import { Drive, ME_ID, UserDirectory, type DriveFile } from "./tenant";
import { DEFAULT_SESSION_LIFETIME_MS, UploadSessions } from "./uploadSessions";
import { Throttle } from "./throttle";
import type { BatchItemLogEntry, EmulatorOptions, GraphCloud, GraphEmulator, RequestLogEntry } from "./types";

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

/**
 * Each cloud's Graph resource, the audience of the access tokens it accepts (reference §7, DC concepts/deployments.md).
 * "Tokens from one cloud cannot be used in another": the identity emulator issues for `graphResource`, and a
 * token whose audience is another cloud's Graph answers 401 "Invalid audience".
 */
export const CLOUD_RESOURCES: Readonly<Record<GraphCloud, string>> = {
  global: "https://graph.microsoft.com",
  "usgov-l4": "https://graph.microsoft.us",
  "usgov-l5-dod": "https://dod-graph.microsoft.us",
  china: "https://microsoftgraph.chinacloudapi.cn",
};

type ServerName = RequestLogEntry["server"];

/** What a token may do to directory objects (users, groups, /me). */
type DirectoryAccess = "write" | "read" | "none";

/** An authenticated caller: a static token or a valid access token from the identity emulator. */
interface Caller {
  token: string;
  kind: NonNullable<RequestLogEntry["tokenKind"]>;
  directory: DirectoryAccess;
  /** Object id of a delegated token's signed-in user: what /me resolves to. */
  me?: string;
  /** The calling app: the token's client id, DEMO_CLIENT_ID for static tokens. */
  appId: string;
}

/** Why a presented bearer token was refused (it picks the 401 message). */
type AuthFailure = "unknown" | "expired" | "audience";

type Authentication =
  | { auth: "none" }
  | { auth: "valid"; caller: Caller }
  | { auth: "invalid"; failure: AuthFailure; tokenKind?: IssuedToken["kind"] };

/** Scope names compared case-insensitively and without a resource prefix ("https://graph.microsoft.com/User.Read"). */
const DIRECTORY_WRITE_SCOPES = new Set(["user.readwrite.all", "directory.readwrite.all"]);
const DIRECTORY_READ_SCOPES = new Set(["user.read", "user.readwrite", "user.read.all", "user.readbasic.all", "directory.read.all"]);

/**
 * The emulator's permission model, deliberately simpler than Graph's per-API tables:
 * - app tokens (client credentials) stand for Application permissions granted with admin consent: read and write;
 * - delegated (user) tokens write the directory with User.ReadWrite.All or Directory.ReadWrite.All, read it with
 *   User.Read, User.ReadWrite, User.Read.All, User.ReadBasic.All, Directory.Read.All or any `.default` (whatever
 *   was consented), and get 403 Authorization_RequestDenied on directory routes without any of those.
 * Graph scopes User.Read / User.ReadBasic.All really limit what of /users is visible; the emulator does not.
 */
function directoryAccess(token: IssuedToken): DirectoryAccess {
  if (token.kind === "app") return "write";
  const names = token.scopes.map((scope) => scope.slice(scope.lastIndexOf("/") + 1).toLowerCase());
  if (names.some((name) => DIRECTORY_WRITE_SCOPES.has(name))) return "write";
  if (names.some((name) => DIRECTORY_READ_SCOPES.has(name) || name === ".default")) return "read";
  return "none";
}

/** /me and everything under it (/me/drive/root:/a.txt:, /me/sendMail, ...). */
const ME_PATH = /^\/me(?=[/:]|$)/i;
/** Directory routes the delegated scopes govern: /users…, /groups…, and /me itself (not /me/drive, /me/sendMail…). */
const DIRECTORY_PATH = /^\/(?:(?:users|groups)(?=\/|$)|me\/?$)/i;

function normalizeResource(resource: string): string {
  return resource.trim().toLowerCase().replace(/\/+$/, "");
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
 * The 401 Graph sends for a missing or rejected bearer token. Messages (reference §2.1, [3p]): "Access token is
 * empty."; for an expired token "Access token has expired or is not yet valid." (captured graph.microsoft.com
 * answer in microsofthackathons/tdi issue #24, 2022-09, and besscroft/diyfile issue #1, 2023-02; that capture's
 * WWW-Authenticate is the same challenge as for any other 401, with no `error="invalid_token"`); any other
 * token, including one for another resource or cloud, "Access token validation failure. Invalid audience.".
 */
function unauthenticated(ids: RequestIds, authorization: string | undefined, failure: AuthFailure): Reply {
  const token = /^Bearer\s+(\S*)/i.exec(authorization?.trim() ?? "")?.[1] ?? "";
  const message =
    token === ""
      ? "Access token is empty."
      : failure === "expired"
        ? "Access token has expired or is not yet valid."
        : "Access token validation failure. Invalid audience.";
  return errorReply(ids, 401, "InvalidAuthenticationToken", message, "gateway", { headers: { "WWW-Authenticate": WWW_AUTHENTICATE } });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<GraphEmulator> {
  const size = options.users ?? 300;
  if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) throw new RangeError(`users must be a non-negative integer, got ${size}`);
  if (options.tokens && options.tokens.length === 0) throw new RangeError("tokens must list at least one accepted token");
  const tokens = options.tokens ? [...options.tokens] : [DEMO_TOKEN];
  const readOnlyTokens = options.readOnlyTokens ? [...options.readOnlyTokens] : [READ_ONLY_TOKEN];
  const latencyMs = options.latencyMs ?? 0;
  const deltaPageSize = options.deltaPageSize ?? 200;
  if (!Number.isInteger(deltaPageSize) || deltaPageSize < 1) throw new RangeError(`deltaPageSize must be a positive integer, got ${deltaPageSize}`);
  const cloud: GraphCloud = options.cloud ?? "global";
  if (!Object.hasOwn(CLOUD_RESOURCES, cloud)) throw new RangeError(`cloud must be one of ${Object.keys(CLOUD_RESOURCES).join(", ")}, got ${String(cloud)}`);
  const graphResource = CLOUD_RESOURCES[cloud];
  /** The login host, when started with `identity`; its registry holds every access token it issued. */
  let identity: IdentityEmulator | undefined;
  const secret = randomBytes(32);
  const log: RequestLogEntry[] = [];
  const faults = new FaultQueue();
  const throttle = new Throttle();
  // The throttle window runs on this clock, so tests whose client sleeps virtually can advance it too.
  const now = options.now ?? Date.now;
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const tempauthFor = (itemId: string): string =>
    "v1." + createHmac("sha256", secret).update(`tempauth:${itemId.toUpperCase()}`).digest("base64url");

  let downloadOrigin = "";
  const lifetimeMs = options.uploadSessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
  if (!(lifetimeMs > 0)) throw new RangeError(`uploadSessionLifetimeMs must be positive, got ${lifetimeMs}`);
  const uploads: UploadSessions = new UploadSessions(now, lifetimeMs, {
    drive: (target, bytes, ids) => completeDriveUpload(state, target, bytes, ids),
    driveSpace: () => driveQuota(state).remaining,
    attachment: (target, bytes): { location: string } => {
      const id = mailbox.addAttachment(target.userId, target.parent, target.parentId, {
        name: target.name,
        contentType: target.contentType,
        bytes,
        isInline: target.isInline,
        contentId: target.contentId ?? null,
      });
      // The doc's Location: `https://outlook.office.com/api/v2.0/Users('…')/Messages('…')/Attachments('{id}')`, here on the upload host.
      return { location: `${uploads.origin}/api/v2.0/Users('${encodeURIComponent(target.userId)}')/${target.parent}('${encodeURIComponent(target.parentId)}')/Attachments('${id}')` };
    },
  });
  const changes = new ChangeNotifications(now, options.notifications ?? {}, {
    userId: (reference) => state.users.find(reference)?.user.id as string | undefined,
    folderId: (userId, reference) => mailbox.folderId(userId, reference),
  });
  const mailbox = new EmulatedMailbox(now, (change) => changes.hub.publish(change), (reference) => {
    const user = state.users.find(reference)?.user;
    return user && { id: String(user.id), address: String(user.mail ?? user.userPrincipalName), displayName: String(user.displayName) };
  });
  const state: TenantState = {
    origin: "",
    users: new UserDirectory(size),
    drive: new Drive(),
    skipTokens: new SkipTokens(secret),
    deltaTokens: new DeltaTokens(secret),
    deltaPageSize,
    downloadUrl: (file: DriveFile) => `${downloadOrigin}/download/${file.id}?tempauth=${tempauthFor(file.id)}`,
    subscriptions: changes.store,
    notifications: changes.hub,
    mailbox,
    uploads,
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

  /** What a throttled request or item answers: the official 429 body with whole-second Retry-After. */
  const throttled = (ids: RequestIds, seconds: number): Reply => statusFaultReply(ids, { kind: "status", status: 429, retryAfter: String(seconds) });

  /**
   * Who the bearer token belongs to, checked in this order: the static tokens (full access) and read-only
   * tokens; then the identity emulator's registry: unknown → invalid, expired on this emulator's clock →
   * invalid ("expired"), audience other than this cloud's Graph resource → invalid ("audience"); else valid.
   */
  function authenticate(authorization: string | undefined): Authentication {
    if (authorization === undefined) return { auth: "none" };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (!m) return { auth: "invalid", failure: "unknown" };
    const token = m[1];
    if (tokens.includes(token)) return { auth: "valid", caller: { token, kind: "static", directory: "write", appId: DEMO_CLIENT_ID } };
    if (readOnlyTokens.includes(token)) return { auth: "valid", caller: { token, kind: "static", directory: "read", appId: DEMO_CLIENT_ID } };
    const issued = identity?.tokens.lookup(token);
    if (!issued) return { auth: "invalid", failure: "unknown" };
    if (issued.expiresAt <= now()) return { auth: "invalid", failure: "expired", tokenKind: issued.kind };
    if (normalizeResource(issued.audience) !== graphResource) return { auth: "invalid", failure: "audience", tokenKind: issued.kind };
    return { auth: "valid", caller: { token, kind: issued.kind, directory: directoryAccess(issued), me: issued.user?.id, appId: issued.clientId } };
  }

  /** Whether the caller lacks the permission for this call (answered 403 Authorization_RequestDenied). */
  function denied(call: GraphRequest, caller: Caller): boolean {
    const write = !["GET", "HEAD"].includes(call.method);
    // Static read-only tokens: every write under /users, /groups, /me (including /me/drive…), /drives and /sites.
    if (caller.kind === "static") return caller.directory === "read" && write && /^\/(users|groups|me|drives|sites)\b/i.test(call.path);
    if (!DIRECTORY_PATH.test(call.path)) return false;
    return write ? caller.directory !== "write" : caller.directory === "none";
  }

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
   * token's throttling budget (the item counts as one more request in flight), then routing.
   */
  function executeItem(item: BatchItem, version: GraphRequest["version"], ids: RequestIds, caller: Caller): ItemOutcome {
    const fault = faults.take(item.method, item.path, ["status", "slow"]);
    const delayMs = fault?.kind === "slow" ? fault.delayMs : 0;
    if (fault?.kind === "status") return { reply: statusFaultReply(ids, fault), delayMs };
    // The item is one more request in flight while it runs (its $batch envelope is not counted).
    const wait = throttle.admit(caller.token, throttle.inFlightOf(caller.token) + 1, now());
    if (wait !== undefined) return { reply: throttled(ids, wait), delayMs };
    const call: GraphRequest = { method: item.method, version, path: item.path, rawQuery: item.rawQuery, headers: item.headers, body: item.body, ids, batched: true };
    const reply = routeAuthenticated(call, caller);
    // Only subscription creation answers later, and it refuses batched calls before starting anything.
    return { reply: reply instanceof Promise ? statusFaultReply(ids, { kind: "status", status: 500 }) : reply, delayMs };
  }

  /** POST /$batch (DC concepts/json-batching.md): 400 for a malformed envelope, else 200 with per-item answers. */
  function batch(
    method: string,
    version: GraphRequest["version"],
    req: IncomingMessage,
    body: Buffer,
    ids: RequestIds,
    caller: Caller,
  ): { reply: Reply; items?: BatchItemLogEntry[]; delayMs: number } {
    if (method !== "POST") {
      return { reply: errorReply(ids, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.", "gateway"), delayMs: 0 };
    }
    let items: BatchItem[];
    try {
      items = parseBatch(req.headers, body);
    } catch (error) {
      if (!(error instanceof GraphError)) throw error;
      return { reply: errorReply(ids, error.status, error.code, error.message, "gateway"), delayMs: 0 };
    }
    // The envelope's round trip is the latencyMs every request waits; the items add their service time.
    const result = runBatch(items, ids, (item) => executeItem(item, version, ids, caller), latencyMs);
    return { reply: result.reply, items: result.log, delayMs: result.delayMs };
  }

  const control = new ControlSurface();

  async function handle(server: ServerName, req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Before logging, faults and throttling: scripting the emulator must not change what it scripts.
    if (server === "graph" && isControlPath(req.url ?? "/")) return control.serve(req, res);
    const method = (req.method ?? "GET").toUpperCase();
    const url = req.url ?? "/";
    const authorization = typeof req.headers.authorization === "string" ? req.headers.authorization : undefined;
    const authentication = authenticate(authorization);
    const caller = authentication.auth === "valid" ? authentication.caller : undefined;
    const tokenKind = caller?.kind ?? (authentication.auth === "invalid" ? authentication.tokenKind : undefined);
    const entry: RequestLogEntry = {
      server,
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

    const token = caller?.token;
    const version: GraphRequest["version"] = versioned?.[1].toLowerCase() === "beta" ? "beta" : "v1.0";
    const isBatch = server === "graph" && versioned !== null && /^\/(\$|%24)batch\/?$/i.test(versioned[2] ?? "");
    // In flight from the request being read to the last byte; the $batch envelope is not counted, its items are.
    const counted = server === "graph" && versioned !== null && token !== undefined && method !== "OPTIONS" && !isBatch;
    const concurrent = counted ? throttle.enter(token) : 0;
    try {
      const fault = faults.take(method, faultPath);
      if (fault?.kind === "reset" && fault.afterProcessing !== true) {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === "slow") await sleep(fault.delayMs);

      let body = entry.bodyBytes;
      if (fault?.kind === "corrupt" && body.length > 0) {
        body = Buffer.from(body);
        body[body.length >> 1] ^= 0xff;
      }
      let reply: Reply;
      let extraDelayMs = 0;
      if (fault?.kind === "status") {
        reply = statusFaultReply(ids, fault);
      } else if (fault?.kind === "reply") {
        reply = scriptedReply(fault);
      } else if (server === "upload") {
        reply = uploads.route(method, url, req.headers, body, ids);
      } else if (server === "download") {
        reply = routeDownload(method, url, req.headers, { drive: state.drive, tempauthValid: (id, t) => safeEqual(t, tempauthFor(id)) });
      } else if (method === "OPTIONS") {
        reply = preflight(req);
      } else if (!versioned) {
        // Graph's answer to an unknown or missing version segment (e.g. GET https://graph.microsoft.com/me).
        reply = errorReply(ids, 400, "BadRequest", "Invalid version.", "gateway");
      } else if (caller === undefined) {
        reply = unauthenticated(ids, authorization, authentication.auth === "invalid" ? authentication.failure : "unknown");
      } else if (isBatch) {
        const result = batch(method, version, req, entry.bodyBytes, ids, caller);
        reply = result.reply;
        extraDelayMs = result.delayMs;
        if (result.items) entry.batchItems = result.items;
      } else {
        const wait = throttle.admit(caller.token, concurrent, now());
        reply =
          wait !== undefined
            ? throttled(ids, wait)
            : await routeAuthenticated({ method, version, path: versioned[2] ?? "", rawQuery, headers: req.headers, body, ids }, caller);
      }

      if (fault?.kind === "reset") {
        // afterProcessing: the request took effect, then the connection dropped before any answer.
        entry.status = 0;
        req.socket.destroy();
        return;
      }
      await sleep(latencyMs + extraDelayMs);
      if (closed) return;
      const common: Record<string, string> =
        server === "graph"
          ? {
              "request-id": requestId,
              "client-request-id": clientRequestId,
              "x-ms-ags-diagnostic": AGS_DIAGNOSTIC,
              "Strict-Transport-Security": "max-age=31536000",
            }
          : server === "upload"
            ? { "request-id": requestId }
            : { "request-id": requestId, SPRequestGuid: requestId };
      entry.status = reply.status;
      const cut = fault?.kind === "truncate" || fault?.kind === "stall" ? fault.kind : undefined;
      // The download host's ranges stay identity-coded: a 206's Content-Range counts the file's own bytes.
      // A scripted reply goes on the wire as the test wrote it.
      const compressible = fault?.kind !== "reply" && (server === "graph" || (server === "download" && reply.status === 200));
      const coded = compressible && cut === undefined && method !== "HEAD" ? gzipped(reply, req.headers["accept-encoding"]) : reply;
      write(res, { ...coded, headers: { ...common, ...coded.headers } }, method === "HEAD", cut);
    } finally {
      if (counted) throttle.leave(token);
    }
  }

  function serve(server: ServerName): Server {
    const listener: RequestListener = (req, res) => {
      handle(server, req, res).catch((error: unknown) => {
        console.error("graph emulator: request failed", error);
        res.destroy();
      });
    };
    return options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createServer(listener);
  }

  const graphServer = serve("graph");
  const downloadServer = serve("download");
  const uploadServer = serve("upload");
  const port = await listen(graphServer, options.port ?? 0);
  const downloadPort = await listen(downloadServer, options.downloadPort ?? 0).catch(async (error: unknown) => {
    await closeServer(graphServer);
    throw error;
  });
  const uploadPort = await listen(uploadServer, options.uploadPort ?? 0).catch(async (error: unknown) => {
    await Promise.all([closeServer(graphServer), closeServer(downloadServer)]);
    throw error;
  });
  if (options.identity) {
    const given = options.identity === true ? {} : options.identity;
    // Issue for this cloud's Graph and on this emulator's clock (so advancing `now` expires its tokens), unless set.
    identity = await startIdentityEmulator({
      ...given,
      graphResource: given.graphResource ?? graphResource,
      now: given.now ?? now,
      ...(options.tls && !given.tls ? { tls: options.tls } : {}),
    }).catch(
      async (error: unknown) => {
        await Promise.all([closeServer(graphServer), closeServer(downloadServer), closeServer(uploadServer)]);
        throw error;
      },
    );
  }
  const scheme = options.tls ? "https" : "http";
  const origin = `${scheme}://127.0.0.1:${port}`;
  state.origin = options.publicOrigin?.replace(/\/+$/, "") ?? origin;
  downloadOrigin = `${scheme}://127.0.0.1:${downloadPort}`;
  uploads.origin = `${scheme}://127.0.0.1:${uploadPort}`;

  const emulator: GraphEmulator = {
    origin,
    downloadOrigin,
    uploadOrigin: uploads.origin,
    token: tokens[0],
    controlToken: control.token,
    cloud,
    graphResource,
    ...(identity ? { identity, loginOrigin: identity.origin } : {}),
    log,
    addFault: (rule) => faults.add(rule),
    setThrottle: (throttleOptions) => throttle.configure(throttleOptions),
    expireDeltaTokens: () => {
      state.deltaTokens.expire();
      mailbox.expireDeltaTokens();
    },
    mailbox,
    driveFile: (pathOrId) => {
      const file = pathOrId.startsWith("/") ? state.drive.byPath(pathOrId) : state.drive.get(pathOrId);
      return file && { ...file };
    },
    attachments: (parentId, user = ME_ID) => mailbox.attachmentsOf(user, parentId),
    uploadSessions: () => uploads.list(),
    expireUploadSessions: () => uploads.expireAll(),
    subscriptions: () => changes.store.list(),
    deliveries: changes.hub.deliveries,
    flushNotifications: () => changes.hub.flush(),
    sendLifecycleEvent: (id, event) => changes.sendLifecycleEvent(id, event),
    reset: () => {
      log.length = 0;
      faults.clear();
      throttle.configure(null);
      state.users = new UserDirectory(size);
      state.drive.reset();
      uploads.reset();
      // The change log starts again, so tokens minted against the old one must not be honoured.
      state.deltaTokens.expire();
      changes.reset();
      mailbox.reset();
      identity?.reset();
    },
    close: async () => {
      closed = true;
      changes.close();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([closeServer(graphServer), closeServer(downloadServer), closeServer(uploadServer), identity?.close()]);
    },
  };
  control.attach({ ...emulator, clearFaults: () => faults.clear() });
  return emulator;
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
