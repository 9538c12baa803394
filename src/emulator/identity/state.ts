/**
 * The sign-in host's state: its options and registrations (tenants, apps), and what it has handed out
 * (authorization codes, refresh grants, the TokenRegistry of access tokens the Graph emulator consults).
 * ED = MicrosoftDocs/entra-docs, docs/identity-platform/.
 */
import { createHash, randomBytes, X509Certificate, type KeyObject } from "node:crypto";

import { ME_ID, TENANT_DOMAIN, TENANT_ID, VERIFIED_DOMAINS } from "../tenant";
import type { TlsCredentials } from "../types";
import { err } from "./errors";


/** The demo app registration (a confidential web app). Deliberately not shaped like a real Entra secret. */
export const DEMO_CLIENT_ID = "9a7c3e51-2f4b-4d86-b0e3-5c1d7f2a8e64";
export const DEMO_CLIENT_SECRET = "emulator-demo-secret-contoso-7357";
/** Prismatic's OAuth 2.0 callback (prismatic.io docs, connections/oauth2/troubleshooting). */
export const PRISMATIC_REDIRECT_URI = "https://oauth2.prismatic.io/callback";
/** A loopback redirect URI: matches on any port (ED reply-url.md "Localhost exceptions"). */
export const DEMO_REDIRECT_URI = "http://localhost/callback";
/** The global-cloud Graph resource (DC concepts/deployments.md). */
export const GRAPH_RESOURCE = "https://graph.microsoft.com";
/** Microsoft Graph's appId, also accepted as a scope's resource identifier. */
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Refresh tokens expire after 90 days of inactivity ([3p] AADSTS700082 "was inactive for 90.00:00:00"). */
const DEFAULT_REFRESH_INACTIVE_SECONDS = 90 * 86400;

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

export interface IdentityUser {
  /** Object id (oid), e.g. the Graph emulator's ME_ID. */
  id: string;
  userPrincipalName: string;
  displayName: string;
}

export interface IssuedToken {
  accessToken: string;
  /** client credentials → app; auth code / refresh → user. */
  kind: "app" | "user";
  /** Tenant id (GUID) the token was issued for. */
  tenant: string;
  clientId: string;
  /** e.g. ["https://graph.microsoft.com/.default"] or ["User.Read", "offline_access"]. */
  scopes: string[];
  /** The resource, e.g. "https://graph.microsoft.com". */
  audience: string;
  /** ms epoch. */
  expiresAt: number;
  /** ms epoch. */
  issuedAt: number;
  /** The signed-in user of a delegated (user) token. */
  user?: IdentityUser;
}

export interface AppRegistration {
  clientId: string;
  /** For secret-based auth; an app with a secret or certificate is a confidential client. */
  clientSecret?: string;
  /** Public certificate (PEM) for client assertions. */
  certificatePem?: string;
  /** For auth code; loopback (localhost / 127.0.0.1) entries match on any port. */
  redirectUris?: string[];
  /** Shown in AADSTS messages that name the app; default "Graph Emulator App". */
  displayName?: string;
}

export interface IdentityTenant {
  id: string;
  domains: string[];
  /** Shown in AADSTS messages that name the directory; default the first domain. */
  displayName?: string;
}

export interface IdentityOptions {
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default one tenant: the Graph emulator's TENANT_ID with its verified domains (contoso.onmicrosoft.com, contoso.com). */
  tenants?: IdentityTenant[];
  /** Default: one demo app with a secret (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) and the Prismatic + loopback redirect URIs. */
  apps?: AppRegistration[];
  /** Access token lifetime; default 3599 (the documented expires_in). */
  tokenLifetimeSeconds?: number;
  /** Refresh token inactivity limit; default 90 days. */
  refreshTokenInactiveSeconds?: number;
  /** The Graph resource host this login host issues tokens for, e.g. "https://graph.microsoft.com"; `.default` scopes must name it. */
  graphResource?: string;
  /** The user the authorize endpoint signs in (it auto-consents); default Megan Bowen, the Graph emulator's /me. */
  user?: IdentityUser;
  /** Injectable clock (ms epoch) for expiry tests; default Date.now. */
  now?: () => number;
  /**
   * The real sign-in origin this emulator stands in for; default the one of `graphResource`'s cloud. A client
   * that reaches the emulator through a test seam (MS_GRAPH_LOGIN_URL) addresses its assertion there.
   */
  publicOrigin?: string;
  /** Serve over TLS with this PEM certificate and key (origin https://); default plain HTTP. */
  tls?: TlsCredentials;
  /**
   * The device code flow's polling `interval` in seconds; default 5, what Entra sends (msal-node's captured
   * answer, test/utils/TestConstants.ts DEVICE_CODE_RESPONSE). MSAL sleeps this long after each
   * `authorization_pending`, so a test that proves the flow with a real client sets 0.
   */
  deviceCodeIntervalSeconds?: number;
  /**
   * Where the Graph emulator answers; the discovery document's `userinfo_endpoint` points there, so a client that
   * follows discovery stays on the emulator. Default: the cloud's Graph host, as Entra publishes it.
   */
  graphOrigin?: string;
}

/** Each cloud's sign-in origin, by Graph resource (DC concepts/deployments.md). */
export const LOGIN_ORIGIN_OF_RESOURCE: Record<string, string> = {
  "https://graph.microsoft.com": "https://login.microsoftonline.com",
  "https://graph.microsoft.us": "https://login.microsoftonline.us",
  "https://dod-graph.microsoft.us": "https://login.microsoftonline.us",
  "https://microsoftgraph.chinacloudapi.cn": "https://login.chinacloudapi.cn",
};

export interface IdentityLogEntry {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The form body (token) or query (authorize); client_secret, client_assertion, code_verifier, refresh_token and code are "[REDACTED]". */
  form: Record<string, string>;
  status: number;
  /** ms epoch from the emulator clock. */
  at: number;
}

export interface IdentityEmulator {
  /** http://127.0.0.1:PORT: the "login" host. */
  origin: string;
  /** The first (default) tenant's id. */
  tenantId: string;
  /** Every token issued; the Graph emulator consults it. */
  tokens: TokenRegistry;
  log: IdentityLogEntry[];
  /** `${origin}/${tenant}/oauth2/v2.0/token`, tenant defaulting to tenantId. */
  tokenEndpoint(tenant?: string): string;
  /** `${origin}/${tenant}/oauth2/v2.0/authorize`, tenant defaulting to tenantId. */
  authorizeEndpoint(tenant?: string): string;
  /** `${origin}/${tenant}/oauth2/v2.0/devicecode`, tenant defaulting to tenantId. */
  deviceCodeEndpoint(tenant?: string): string;
  /** `${origin}/${tenant}/oauth2/v2.0/logout` (the end_session_endpoint), tenant defaulting to tenantId. */
  logoutEndpoint(tenant?: string): string;
  registerApp(app: AppRegistration): void;
  /** Clears the log and the issued codes, device codes and refresh tokens; keeps apps and issued access tokens. */
  reset(): void;
  close(): Promise<void>;
}

/** Every access token issued, by value. Expired tokens stay: callers compare expiresAt with their clock. */
export class TokenRegistry {
  private readonly byToken = new Map<string, IssuedToken>();

  add(token: IssuedToken): void {
    this.byToken.set(token.accessToken, token);
  }

  lookup(accessToken: string): IssuedToken | undefined {
    return this.byToken.get(accessToken);
  }

  /** Known and not yet expired at `now`. */
  isValid(accessToken: string, now: number = Date.now()): boolean {
    const token = this.byToken.get(accessToken);
    return token !== undefined && token.expiresAt > now;
  }

  revoke(accessToken: string): boolean {
    return this.byToken.delete(accessToken);
  }

  all(): IssuedToken[] {
    return [...this.byToken.values()];
  }

  clear(): void {
    this.byToken.clear();
  }

  get size(): number {
    return this.byToken.size;
  }
}

export interface RegisteredCertificate {
  publicKey: KeyObject;
  sha1Hex: string;
  sha256Hex: string;
  validFrom: number;
  validTo: number;
  validFromText: string;
  validToText: string;
}

export interface RegisteredApp {
  clientId: string;
  displayName: string;
  clientSecret?: string;
  certificate?: RegisteredCertificate;
  redirectUris: string[];
  confidential: boolean;
}

export type TenantRef =
  | { kind: "tenant"; tenant: IdentityTenant; segment: string }
  | { kind: "common" | "organizations" | "consumers"; segment: string };

export interface GrantedScopes {
  /** Graph permissions in their requested spelling (short form), or `${graph}/.default`. */
  graph: string[];
  /** openid / profile / email / offline_access, lower-cased. */
  oidc: string[];
}

export interface AuthCode {
  clientId: string;
  tenantId: string;
  redirectUri: string;
  scopes: GrantedScopes;
  challenge?: string;
  challengeMethod?: "S256" | "plain";
  nonce?: string;
  user: IdentityUser;
  issuedAt: number;
  redeemed: boolean;
}

/** A device code flow in progress (ED v2-oauth2-device-code.md), keyed by its device_code. */
export interface DeviceAuthorization {
  clientId: string;
  tenantId: string;
  scopes: GrantedScopes;
  userCode: string;
  /** ms epoch. */
  expiresAt: number;
  /** Set by the verification page: approved as this user, or declined. */
  outcome?: { approvedBy: IdentityUser } | { declined: true };
}

export interface RefreshGrant {
  clientId: string;
  tenantId: string;
  scopes: GrantedScopes;
  user: IdentityUser;
  issuedAt: number;
  lastUsedAt: number;
}

export function normalizeResource(resource: string): string {
  return resource.trim().toLowerCase().replace(/\/+$/, "");
}

export function opaque(prefix: string): string {
  // No dots: nobody should mistake these for JWTs.
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** Constant-time comparison of two strings of any length (compares their SHA-256 digests). */


function parseCertificate(pem: string): RegisteredCertificate {
  const cert = new X509Certificate(pem);
  const hash = (alg: string) => createHash(alg).update(cert.raw).digest("hex").toUpperCase();
  return {
    publicKey: cert.publicKey,
    sha1Hex: hash("sha1"),
    sha256Hex: hash("sha256"),
    validFrom: Date.parse(cert.validFrom),
    validTo: Date.parse(cert.validTo),
    validFromText: new Date(Date.parse(cert.validFrom)).toISOString(),
    validToText: new Date(Date.parse(cert.validTo)).toISOString(),
  };
}

function toRegisteredApp(app: AppRegistration): RegisteredApp {
  if (!app.clientId) throw new RangeError("registerApp: clientId is required");
  const certificate = app.certificatePem ? parseCertificate(app.certificatePem) : undefined;
  return {
    clientId: app.clientId.toLowerCase(),
    displayName: app.displayName ?? "Graph Emulator App",
    clientSecret: app.clientSecret,
    certificate,
    redirectUris: [...(app.redirectUris ?? [])],
    confidential: app.clientSecret !== undefined || certificate !== undefined,
  };
}

const DEMO_APP: AppRegistration = {
  clientId: DEMO_CLIENT_ID,
  clientSecret: DEMO_CLIENT_SECRET,
  redirectUris: [PRISMATIC_REDIRECT_URI, DEMO_REDIRECT_URI],
  displayName: "Graph Emulator Demo App",
};

/** Everything the request handlers share; one per running sign-in host. */
export class IdentityState {
  readonly clock: () => number;
  /** Access token lifetime in seconds. */
  readonly lifetime: number;
  readonly refreshInactiveMs: number;
  /** The normalized Graph resource, e.g. "https://graph.microsoft.com". */
  readonly graph: string;
  /** The real sign-in origin this host stands in for (client assertions may be addressed there). */
  readonly publicOrigin: string | undefined;
  /** The user the authorize endpoint signs in. */
  readonly user: IdentityUser;
  readonly tenants: IdentityTenant[];
  readonly apps = new Map<string, RegisteredApp>();
  readonly tokens = new TokenRegistry();
  readonly log: IdentityLogEntry[] = [];
  readonly codes = new Map<string, AuthCode>();
  readonly refreshGrants = new Map<string, RefreshGrant>();
  readonly deviceCodes = new Map<string, DeviceAuthorization>();
  readonly deviceCodeIntervalSeconds: number;
  /** Where Graph's UserInfo is published (IdentityOptions.graphOrigin); undefined: the cloud's Graph host. */
  readonly graphOrigin: string | undefined;
  /** Where this host answers (http(s)://127.0.0.1:PORT); set once it listens. */
  origin = "";

  constructor(options: IdentityOptions) {
    this.clock = options.now ?? Date.now;
    this.lifetime = options.tokenLifetimeSeconds ?? 3599;
    if (!Number.isInteger(this.lifetime) || this.lifetime <= 0) throw new RangeError(`tokenLifetimeSeconds must be a positive integer, got ${this.lifetime}`);
    this.refreshInactiveMs = (options.refreshTokenInactiveSeconds ?? DEFAULT_REFRESH_INACTIVE_SECONDS) * 1000;
    this.graph = normalizeResource(options.graphResource ?? GRAPH_RESOURCE);
    this.publicOrigin = options.publicOrigin ?? LOGIN_ORIGIN_OF_RESOURCE[this.graph];
    this.graphOrigin = options.graphOrigin?.replace(/\/+$/, "");
    this.user = options.user ?? { id: ME_ID, userPrincipalName: `MeganB@${TENANT_DOMAIN}`, displayName: "Megan Bowen" };
    this.tenants = (options.tenants ?? [{ id: TENANT_ID, domains: [...VERIFIED_DOMAINS], displayName: "Contoso" }]).map((t) => ({
      id: t.id.toLowerCase(),
      domains: t.domains.map((d) => d.toLowerCase()),
      displayName: t.displayName,
    }));
    if (this.tenants.length === 0) throw new RangeError("tenants must list at least one tenant");
    for (const t of this.tenants) if (!GUID.test(t.id)) throw new RangeError(`tenant id must be a GUID, got ${t.id}`);
    this.deviceCodeIntervalSeconds = options.deviceCodeIntervalSeconds ?? 5;
    if (!Number.isInteger(this.deviceCodeIntervalSeconds) || this.deviceCodeIntervalSeconds < 0) {
      throw new RangeError(`deviceCodeIntervalSeconds must be a non-negative integer, got ${this.deviceCodeIntervalSeconds}`);
    }
    for (const app of options.apps ?? [DEMO_APP]) this.registerApp(app);
  }

  registerApp(app: AppRegistration): void {
    const registered = toRegisteredApp(app);
    this.apps.set(registered.clientId, registered);
  }

  /** Forgets the log and what was handed out for the user flows; apps and issued access tokens stay. */
  reset(): void {
    this.log.length = 0;
    this.codes.clear();
    this.refreshGrants.clear();
    this.deviceCodes.clear();
  }

  tenantName(t: IdentityTenant): string {
    return t.displayName ?? t.domains[0] ?? t.id;
  }

  directoryName(ref: TenantRef): string {
    return ref.kind === "tenant" ? this.tenantName(ref.tenant) : ref.segment;
  }

  /** The `{tenant}` path segment: a tenant id or verified domain, or one of the multi-tenant authorities. */
  resolveTenant(segment: string): TenantRef {
    const lower = segment.toLowerCase();
    if (lower === "common" || lower === "organizations" || lower === "consumers") return { kind: lower, segment };
    if (GUID.test(segment)) {
      const tenant = this.tenants.find((t) => t.id === lower);
      if (!tenant) throw err.tenantNotFound(segment);
      return { kind: "tenant", tenant, segment };
    }
    if (!DNS_NAME.test(segment)) throw err.badTenantId(segment);
    const tenant = this.tenants.find((t) => t.domains.includes(lower));
    if (!tenant) throw err.tenantNotFound(segment);
    return { kind: "tenant", tenant, segment };
  }

  findApp(clientId: string | undefined, ref: TenantRef): RegisteredApp {
    if (!clientId) throw err.missing("client_id");
    const app = this.apps.get(clientId.toLowerCase());
    if (!app) throw err.appNotFound(clientId, this.directoryName(ref));
    return app;
  }

  issue(kind: IssuedToken["kind"], tenantId: string, clientId: string, scopes: string[], tokenUser?: IdentityUser): IssuedToken {
    const issuedAt = this.clock();
    const token: IssuedToken = {
      accessToken: opaque("emu_at_"),
      kind,
      tenant: tenantId,
      clientId,
      scopes,
      audience: this.graph,
      expiresAt: issuedAt + this.lifetime * 1000,
      issuedAt,
      ...(tokenUser ? { user: { ...tokenUser } } : {}),
    };
    this.tokens.add(token);
    return token;
  }
}
