import type { IssuedToken } from "./identity";
import { DEMO_CLIENT_ID, normalizeResource } from "./identity";
import { errorReply, type Reply, type RequestIds } from "./http";
import type { GraphRequest } from "./routes";
import type { GraphCloud, RequestLogEntry } from "./types";

/** The demo tenant's bearer token: deliberately not JWT-shaped, so nobody mistakes it for a real one. */
export const DEMO_TOKEN = "emulator-demo-token-contoso-7357";
/** A token consented to read scopes only (User.Read.All): writes to the directory answer 403, as Graph does. */
export const READ_ONLY_TOKEN = "emulator-readonly-token-contoso-7357";

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

/** Graph's challenge on 401 (DC/entra-docs; kiota tests): client_id is the Microsoft Graph resource app id. */
const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

/** What a token may do to directory objects (users, groups, /me). */
type DirectoryAccess = "write" | "read" | "none";

/** An authenticated caller: a static token or a valid access token from the identity emulator. */
export interface Caller {
  token: string;
  kind: NonNullable<RequestLogEntry["tokenKind"]>;
  directory: DirectoryAccess;
  /** Object id of a delegated token's signed-in user: what /me resolves to. */
  me?: string;
  /** The calling app: the token's client id, DEMO_CLIENT_ID for static tokens. */
  appId: string;
  /** The identity emulator's record of the token; undefined for the static tokens. */
  issued?: IssuedToken;
}

/** Why a presented bearer token was refused (it picks the 401 message). */
export type AuthFailure = "unknown" | "expired" | "audience";

export type Authentication =
  | { auth: "none" }
  | { auth: "valid"; caller: Caller }
  | { auth: "invalid"; failure: AuthFailure; tokenKind?: IssuedToken["kind"] };

/** Which bearer tokens Graph accepts. */
export interface TokenAuthority {
  /** Static tokens with full access. */
  tokens: readonly string[];
  /** Static tokens that may only read. */
  readOnlyTokens: readonly string[];
  /** The identity emulator's record of a token it issued, if it runs and issued it. */
  issued(token: string): IssuedToken | undefined;
  /** This cloud's Graph resource, the audience an issued token must name. */
  graphResource: string;
  now: () => number;
}

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

/** Directory routes the delegated scopes govern: /users…, /groups…, and /me itself (not /me/drive, /me/sendMail…). */
const DIRECTORY_PATH = /^\/(?:(?:users|groups)(?=\/|$)|me\/?$)/i;

/** The token of an `Authorization: Bearer …` header; "" when the header is missing or names none. */
export function bearerTokenOf(authorization: string | undefined): string {
  return /^Bearer\s+(\S*)/i.exec(authorization?.trim() ?? "")?.[1] ?? "";
}

/**
 * Who the bearer token belongs to, checked in this order: the static tokens (full access) and read-only
 * tokens; then the identity emulator's registry: unknown → invalid, expired on this emulator's clock →
 * invalid ("expired"), audience other than this cloud's Graph resource → invalid ("audience"); else valid.
 */
export function authenticate(authority: TokenAuthority, authorization: string | undefined): Authentication {
  if (authorization === undefined) return { auth: "none" };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
  if (!m) return { auth: "invalid", failure: "unknown" };
  const token = m[1];
  if (authority.tokens.includes(token)) return { auth: "valid", caller: { token, kind: "static", directory: "write", appId: DEMO_CLIENT_ID } };
  if (authority.readOnlyTokens.includes(token)) return { auth: "valid", caller: { token, kind: "static", directory: "read", appId: DEMO_CLIENT_ID } };
  const issued = authority.issued(token);
  if (!issued) return { auth: "invalid", failure: "unknown" };
  if (issued.expiresAt <= authority.now()) return { auth: "invalid", failure: "expired", tokenKind: issued.kind };
  if (normalizeResource(issued.audience) !== authority.graphResource) return { auth: "invalid", failure: "audience", tokenKind: issued.kind };
  return { auth: "valid", caller: { token, kind: issued.kind, directory: directoryAccess(issued), me: issued.user?.id, appId: issued.clientId, issued } };
}

/** Whether the caller lacks the permission for this call (answered 403 Authorization_RequestDenied). */
export function denied(call: GraphRequest, caller: Caller): boolean {
  const write = !["GET", "HEAD"].includes(call.method);
  // Static read-only tokens: every write under /users, /groups, /me (including /me/drive…), /drives and /sites.
  if (caller.kind === "static") return caller.directory === "read" && write && /^\/(users|groups|me|drives|sites)\b/i.test(call.path);
  if (!DIRECTORY_PATH.test(call.path)) return false;
  return write ? caller.directory !== "write" : caller.directory === "none";
}

/**
 * The 401 Graph sends for a missing or rejected bearer token. Messages (reference §2.1, [3p]): "Access token is
 * empty."; for an expired token "Access token has expired or is not yet valid." (captured graph.microsoft.com
 * answer in microsofthackathons/tdi issue #24, 2022-09, and besscroft/diyfile issue #1, 2023-02; that capture's
 * WWW-Authenticate is the same challenge as for any other 401, with no `error="invalid_token"`); any other
 * token, including one for another resource or cloud, "Access token validation failure. Invalid audience.".
 */
export function unauthenticated(ids: RequestIds, authorization: string | undefined, failure: AuthFailure): Reply {
  const message =
    bearerTokenOf(authorization) === ""
      ? "Access token is empty."
      : failure === "expired"
        ? "Access token has expired or is not yet valid."
        : "Access token validation failure. Invalid audience.";
  return refusedToken(ids, message);
}

/** Graph's 401 InvalidAuthenticationToken with its bearer challenge, saying why the token was refused. */
export function refusedToken(ids: RequestIds, message: string): Reply {
  return errorReply(ids, 401, "InvalidAuthenticationToken", message, "gateway", { headers: { "WWW-Authenticate": WWW_AUTHENTICATE } });
}
