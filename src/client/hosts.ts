import { InputError } from "./errors";
import { shown, urlTextProblem } from "./wireText";

export const GRAPH_ROOT = "https://graph.microsoft.com";
export const API_VERSIONS = ["v1.0", "beta"] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];

/** Test seam: points the connector at a loopback Graph emulator instead of Microsoft Graph. */
export const BASE_URL_ENV = "MS_GRAPH_BASE_URL";

export interface GraphEndpoint {
  /** The only origin the access token may reach. */
  origin: string;
  /** `{origin}/{version}`: relative paths are joined to it. */
  versionRoot: string;
  /** True when MS_GRAPH_BASE_URL points at a loopback emulator. */
  loopback: boolean;
}

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOST.test(hostname);
}

/** Test seam: points certificate sign-ins at a loopback Entra emulator instead of the cloud's sign-in host. */
export const LOGIN_URL_ENV = "MS_GRAPH_LOGIN_URL";

/**
 * A loopback origin named by a test-seam variable, or undefined when it is not set. Any other value is
 * refused: it decides where a token (or a client assertion) is sent.
 */
export function readLoopbackOverride(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env[name]?.trim();
  if (!override) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(override);
  } catch {
    throw new InputError(name, `'${override}' is not a URL; use a loopback origin such as http://127.0.0.1:7357`);
  }
  const bare = (parsed.pathname === "/" || parsed.pathname === "") && !parsed.search && !parsed.hash;
  if (
    !["http:", "https:"].includes(parsed.protocol) ||
    !isLoopbackHost(parsed.hostname) ||
    parsed.username ||
    parsed.password ||
    !bare
  ) {
    throw new InputError(
      name,
      `'${override}' is not allowed: it may only name a loopback origin (http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT) with no path, because credentials are sent there`,
    );
  }
  return parsed.origin;
}

/**
 * The Graph origin in use: the connection's cloud, or the loopback emulator named by MS_GRAPH_BASE_URL.
 */
export function resolveGraphEndpoint(
  version: ApiVersion,
  env: NodeJS.ProcessEnv = process.env,
  cloudGraphOrigin: string = GRAPH_ROOT,
): GraphEndpoint {
  const override = readLoopbackOverride(BASE_URL_ENV, env);
  const origin = override ?? cloudGraphOrigin;
  return { origin, versionRoot: `${origin}/${version}`, loopback: override !== undefined };
}

// Characters that must not be smuggled into a path: they would change which resource, or host, is addressed.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const FORBIDDEN_IN_PATH = /[\\\u0000-\u001f\u007f#]/;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;
const VERSION_PREFIX = /^\/?(v1\.0|beta)(\/|$|\?)/i;

/**
 * Turns the URL input into an absolute URL on the Graph origin, or refuses it before any I/O.
 * A path is joined to the version root; an absolute URL (a pasted @odata.nextLink) must be on the Graph origin.
 */
export function resolveGraphUrl(input: string, endpoint: GraphEndpoint, label = "URL"): URL {
  const raw = input.trim();
  if (!raw) throw new InputError(label, "is required: enter a path such as /me or /users");
  if (raw.startsWith("//")) {
    throw new InputError(label, `'${raw}' names another host; enter a path such as /me/joinedTeams`);
  }
  const problem = urlTextProblem(raw);
  if (problem) throw new InputError(label, `${shown(raw)} ${problem}`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(raw)) return resolveAbsolute(raw, endpoint, label);

  if (FORBIDDEN_IN_PATH.test(raw)) {
    throw new InputError(label, `'${raw}' contains a backslash, a control character or a '#'; these are not allowed in a Graph path`);
  }
  const [pathPart] = raw.split("?", 1);
  if (DOT_SEGMENT.test(pathPart)) {
    throw new InputError(label, `'${raw}' contains '.' or '..' segments; enter the resource path directly`);
  }
  if (VERSION_PREFIX.test(raw)) {
    throw new InputError(
      label,
      `'${raw}' starts with an API version; enter the path without it (for example /me) and choose the version in API Version`,
    );
  }
  const path = raw.startsWith("/") ? raw : `/${raw}`;
  return new URL(`${endpoint.versionRoot}${path}`);
}

function resolveAbsolute(raw: string, endpoint: GraphEndpoint, label: string): URL {
  // Checked on the raw text: the URL parser turns '\' into '/' for https (so '\..' climbs out of the version).
  if (raw.includes("\\")) {
    throw new InputError(label, `'${raw}' contains a backslash, which is not allowed in a Graph URL; use '/'`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InputError(label, `'${raw}' is not a valid URL`);
  }
  if (url.username || url.password) {
    throw new InputError(label, "must not contain a user name or password");
  }
  if (url.origin !== endpoint.origin) {
    // Security: the Authorization header must never leave the Graph origin.
    throw new InputError(
      label,
      `'${url.origin}' is not the Microsoft Graph origin in use (${endpoint.origin}); only paths or Graph URLs (such as an @odata.nextLink) are accepted, so the access token is never sent elsewhere`,
    );
  }
  if (FORBIDDEN_IN_PATH.test(decodeURIComponentSafe(url.pathname)) || DOT_SEGMENT.test(raw.split("?", 1)[0])) {
    throw new InputError(label, `'${raw}' contains characters or '..' segments that are not allowed in a Graph path`);
  }
  url.hash = "";
  return url;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Graph documents its queries as `$top`, `$filter=startswith(displayName,'A')`: keep those characters readable on the wire. */
export function encodeQueryComponent(value: string): string {
  return encodeURIComponent(value).replace(/%24/g, "$").replace(/%2C/gi, ",").replace(/%3A/gi, ":");
}

/** Appends query parameters to a URL without re-encoding what it already carries (a nextLink is sent back verbatim). */
export function appendQuery(url: URL, params: ReadonlyArray<readonly [string, string]>): URL {
  if (params.length === 0) return url;
  const extra = params.map(([k, v]) => `${encodeQueryComponent(k)}=${encodeQueryComponent(v)}`).join("&");
  const out = new URL(url.href);
  out.search = out.search && out.search !== "?" ? `${out.search}&${extra}` : `?${extra}`;
  return out;
}
