/**
 * A loopback Microsoft identity platform (Entra ID v2.0) emulator: the `/{tenant}/oauth2/v2.0/token` and
 * `/authorize` endpoints for client credentials (secret or certificate assertion), authorization code
 * with PKCE and refresh tokens, answering the AADSTS error envelope. Access tokens are opaque and land
 * in a TokenRegistry the Graph emulator can consult. Tests and local runs only; never imported by the component.
 *
 * Sources (ED = MicrosoftDocs/entra-docs, docs/identity-platform/): v2-oauth2-client-creds-grant-flow.md,
 * v2-oauth2-auth-code-flow.md, certificate-credentials.md, reference-error-codes.md, reply-url.md.
 * Where the docs give only a code, message texts come from captured service answers:
 * MSAL.NET tests/Microsoft.Identity.Test.Common/TestConstants.cs ("MSAL.NET TestConstants", 2023-12),
 * Azure SDK identity TROUBLESHOOTING.md ("Azure SDK"), or other third-party captures ("[3p]").
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual, X509Certificate, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";

import { instanceDiscovery, openIdConfiguration } from "./discovery";
import { closeServer, listen } from "./http";
import { pairwiseSubject } from "./oidcSubject";
import { ASSERTION_ALGORITHMS, decodeJwt, isAssertionAlgorithm, unsignedJwt, verifyJwtSignature, type JsonObject } from "./jwt";
import { prepareValidationTokenKeys, publishedSigningKeys } from "./richNotifications";
import { ME_ID, TENANT_DOMAIN, TENANT_ID, VERIFIED_DOMAINS } from "./tenant";
import type { TlsCredentials } from "./types";

export { makeTestCertificate, type TestCertificate, type TestCertificateOptions } from "./x509";

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

/** Authorization codes "expire after about 10 minutes" (ED v2-oauth2-auth-code-flow.md). */
const CODE_LIFETIME_MS = 10 * 60_000;
/** Refresh tokens expire after 90 days of inactivity ([3p] AADSTS700082 "was inactive for 90.00:00:00"). */
const DEFAULT_REFRESH_INACTIVE_SECONDS = 90 * 86400;
/** Clock skew tolerated on client assertion nbf/exp. */
const ASSERTION_SKEW_MS = 5 * 60_000;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;
const OIDC_SCOPES = ["openid", "profile", "email", "offline_access"];
const REDACTED_FORM_FIELDS = new Set(["client_secret", "client_assertion", "code_verifier", "refresh_token", "code"]);

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
}

/** Each cloud's sign-in origin, by Graph resource (DC concepts/deployments.md). */
const LOGIN_ORIGIN_OF_RESOURCE: Record<string, string> = {
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
  registerApp(app: AppRegistration): void;
  /** Clears the log and the issued codes and refresh tokens; keeps apps and issued access tokens. */
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

/** An AADSTS failure: rendered as the token endpoint's JSON, an authorize redirect, or the authorize error page. */
class AadError extends Error {
  constructor(
    readonly error: string,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }

  /** 400 in general; 401 for invalid_client ([3p], graph-protocol.md §8). */
  get status(): number {
    return this.error === "invalid_client" ? 401 : 400;
  }
}

const ASSERTION_DOC = "Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .";

/** Messages, each with its source. Trace/correlation/timestamp lines are appended when rendered. */
const err = {
  // ED reference-error-codes.md: "AADSTS900144 | The request body must contain the following parameter: '{name}'."
  missing: (name: string) => new AadError("invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`),
  // ED reference-error-codes.md: AADSTS900561 BadResourceRequestInvalidRequest.
  postOnly: (verb: string) => new AadError("invalid_request", 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${verb} request.`),
  // MSAL.NET TestConstants InvalidTenantError900023.
  badTenantId: (t: string) => new AadError("invalid_request", 900023, `Specified tenant identifier '${t}' is neither a valid DNS name, nor a valid external domain.`),
  // [3p] captured answers (token endpoint: error "invalid_request").
  tenantNotFound: (t: string) =>
    new AadError(
      "invalid_request",
      90002,
      `Tenant '${t}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    ),
  // ED reference-error-codes.md: AADSTS9001023.
  grantOverCommon: () =>
    new AadError("invalid_request", 9001023, "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."),
  // ED reference-error-codes.md: AADSTS50059 MissingTenantRealmAndNoUserInformationProvided (client credentials need a tenant: ED client-creds doc).
  noTenantRealm: () => new AadError("invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials."),
  // ED reference-error-codes.md: AADSTS9002332.
  consumersEndpoint: (app: RegisteredApp) =>
    new AadError(
      "invalid_request",
      9002332,
      `Application '${app.clientId}'(${app.displayName}) is configured for use by Microsoft Entra users only. Please do not use the /consumers endpoint to serve this request.`,
    ),
  // ED reference-error-codes.md: AADSTS70003 UnsupportedGrantType.
  unsupportedGrant: (g: string) => new AadError("unsupported_grant_type", 70003, `The app requested an unsupported grant type '${g}'.`),
  // MSAL.NET TestConstants WrongTenantError700016 (error "unauthorized_client", ED reference-error-codes.md).
  appNotFound: (id: string, directory: string) =>
    new AadError(
      "unauthorized_client",
      700016,
      `Application with identifier '${id}' was not found in the directory '${directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  // [3p] captured answers; ED reference-error-codes.md lists the code.
  badSecret: (id: string) =>
    new AadError(
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${id}'.`,
    ),
  // ED reference-error-codes.md: AADSTS7000218.
  noCredential: () => new AadError("invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  // ED reference-error-codes.md: AADSTS700025 InvalidClientPublicClientWithCredential.
  publicWithCredential: () => new AadError("invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
  // ED reference-error-codes.md: AADSTS9002313 (also what a garbage code/refresh token gets, [3p]).
  malformed: (error = "invalid_request") => new AadError(error, 9002313, "Invalid request. Request is malformed or invalid."),
  // MSAL.NET TestConstants SendTenantIdInCredentialValueError50027; Azure SDK.
  assertionMalformed: () => new AadError("invalid_client", 50027, "JWT token is invalid or malformed."),
  // MSAL.NET TestConstants BadCredNoAudError90014 / BadCredNoIssError90014.
  assertionMissing: (field: string) =>
    new AadError("invalid_client", 90014, `The required field '${field}' is missing from the credential. Ensure that you have all the necessary parameters for the login request.`),
  // MSAL.NET TestConstants BadCredBadAlgError5002738 (its list extended with PS*: ED certificate-credentials.md says PS256).
  assertionAlg: (alg: string) =>
    new AadError("invalid_client", 5002738, `Invalid JWT token. '${alg}' is not a supported signature algorithm. Supported signing algorithms are: '${ASSERTION_ALGORITHMS.join(",")}'`),
  // MSAL.NET TestConstants BadCredMissingSha1Error5002723.
  assertionNoThumbprint: () =>
    new AadError("invalid_client", 5002723, "Invalid JWT token. No certificate SHA-1 thumbprint, certificate SHA-256 thumbprint, nor keyId specified in token header."),
  // [3p] captured answers ("The key was not found."); ED reference-error-codes.md AADSTS700027.
  assertionKeyNotFound: (thumbprint: string, id: string) =>
    new AadError(
      "invalid_client",
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are not using the global cloud.]`,
    ),
  // [3p] captured answers ("Client assertion contains an invalid signature. [Reason - ...]").
  assertionSignature: (reason: string, thumbprint: string, cert: RegisteredCertificate) =>
    new AadError(
      "invalid_client",
      700027,
      `Client assertion contains an invalid signature. [Reason - ${reason}, Thumbprint of key used by client: '${thumbprint}', Found key 'Start=${cert.validFromText}, End=${cert.validToText}']`,
    ),
  // Azure SDK TROUBLESHOOTING.md (and MSAL.NET IdentifierMismatchError700021).
  assertionClientMismatch: () => new AadError("invalid_client", 700021, `Client assertion application identifier doesn't match 'client_id' parameter. ${ASSERTION_DOC}`),
  // ED reference-error-codes.md: AADSTS50048 SubjectMismatchesIssuer.
  assertionSubject: () => new AadError("invalid_client", 50048, "Subject mismatches Issuer claim in the client assertion."),
  // Azure SDK TROUBLESHOOTING.md: AADSTS700023 (ED reference-error-codes.md reuses 700023 for a scope error).
  assertionAudience: () => new AadError("invalid_client", 700023, `Client assertion audience claim does not match Realm issuer. ${ASSERTION_DOC}`),
  // MSAL.NET TestConstants BadTimeRangeError700024.
  assertionTime: (now: number, nbf: number | undefined, exp: number) =>
    new AadError(
      "invalid_client",
      700024,
      `Client assertion is not within its valid time range. Current time: ${dotnetTime(now)}, assertion valid from ${nbf === undefined ? "" : dotnetTime(nbf * 1000)}, expiry time of assertion ${dotnetTime(exp * 1000)}. ${ASSERTION_DOC}`,
    ),
  // MSAL.NET TestConstants InvalidScopeError1002012.
  scopeNotDefault: (scope: string) =>
    new AadError(
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  // MSAL.NET TestConstants InvalidScopeError70011; ED v2-oauth2-client-creds-grant-flow.md error sample.
  scopeInvalid: (scope: string, detail = "") =>
    new AadError(
      "invalid_scope",
      70011,
      `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.${detail}`,
    ),
  // ED reference-error-codes.md: AADSTS700022 InvalidMultipleResourcesScope.
  scopeMultipleResources: (scope: string) =>
    new AadError("invalid_scope", 700022, `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`),
  // MSAL.NET TestConstants InvalidResourceError (error "invalid_resource", ED token endpoint error table).
  resourceNotFound: (resource: string, tenantName: string) =>
    new AadError(
      "invalid_resource",
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenantName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  // [3p] captured answers; ED reference-error-codes.md AADSTS70008 ExpiredOrRevokedGrant.
  codeExpired: () =>
    new AadError("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."),
  // ED reference-error-codes.md: AADSTS54005.
  codeRedeemed: () => new AadError("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."),
  // ED reference-error-codes.md: AADSTS700005 InvalidGrantRedeemAgainstWrongTenant.
  codeWrongTenant: () => new AadError("invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant, thus rejected."),
  // [3p]: what a code or refresh token issued to another client gets.
  grantOtherClient: (what: "code" | "refresh_token") => new AadError("invalid_grant", 70000, `The provided value for the '${what}' parameter is not valid.`),
  // ED reference-error-codes.md: AADSTS501481.
  pkceMismatch: () => new AadError("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."),
  // ED reference-error-codes.md: AADSTS501491.
  pkceChallengeSize: () => new AadError("invalid_request", 501491, "Invalid size of Code_Challenge parameter."),
  // [3p] captured answers ("AADSTS500112: The reply address ... does not match ...", error invalid_client).
  replyMismatch: (got: string, expected: string) =>
    new AadError("invalid_client", 500112, `The reply address '${got}' does not match the reply address '${expected}' provided when requesting Authorization code.`),
  // ED reference-error-codes.md: AADSTS700082 ExpiredOrRevokedGrantInactiveToken; the "was inactive for" format from [3p] captures.
  refreshInactive: (issuedAt: number, inactiveMs: number) =>
    new AadError(
      "invalid_grant",
      700082,
      `The refresh token has expired due to inactivity. The token was issued on ${dotnetTime(issuedAt)} and was inactive for ${timeSpan(inactiveMs)}.`,
    ),
  // ED reference-error-codes.md: AADSTS65001 DelegationDoesNotExist; ED auth-code doc: consent_required on code redemption.
  notConsented: (app: RegisteredApp, error: "consent_required" | "invalid_grant") =>
    new AadError(
      error,
      65001,
      `The user or administrator has not consented to use the application with ID '${app.clientId}' named '${app.displayName}'. Send an interactive authorization request for this user and resource.`,
    ),
  // [3p] captured answers; ED reference-error-codes.md AADSTS50011 InvalidReplyTo.
  redirectMismatch: (uri: string, id: string) =>
    new AadError(
      "invalid_request",
      50011,
      `The redirect URI '${uri}' specified in the request does not match the redirect URIs configured for the application '${id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.`,
    ),
  // ED reference-error-codes.md: AADSTS900971.
  noReplyAddress: () => new AadError("invalid_request", 900971, "No reply address provided."),
  // ED reference-error-codes.md: AADSTS700054 / AADSTS70005 / AADSTS70007.
  idTokenNotEnabled: () => new AadError("unsupported_response_type", 700054, "Response_type 'id_token' is not enabled for the application."),
  responseType: (t: string) => new AadError("unsupported_response_type", 70005, `The application requested an unsupported response type '${t}'.`),
  responseMode: (m: string) => new AadError("invalid_request", 70007, `The application returned an unsupported value of 'response_mode' when requesting a token: '${m}'.`),
};

/** .NET DateTime "o" format, as AADSTS messages print times: 2023-12-11T23:52:19.6223401Z. */
function dotnetTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_m, millis: string) => `.${millis}0000Z`);
}

/** .NET TimeSpan "c" format: d.hh:mm:ss. */
function timeSpan(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${Math.floor(s / 86400)}.${pad(Math.floor(s / 3600) % 24)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/** "yyyy-MM-dd HH:mm:ssZ" (ED reference-error-codes.md sample). */
function stsTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}Z`;
}

interface RegisteredCertificate {
  publicKey: KeyObject;
  sha1Hex: string;
  sha256Hex: string;
  validFrom: number;
  validTo: number;
  validFromText: string;
  validToText: string;
}

interface RegisteredApp {
  clientId: string;
  displayName: string;
  clientSecret?: string;
  certificate?: RegisteredCertificate;
  redirectUris: string[];
  confidential: boolean;
}

type TenantRef =
  | { kind: "tenant"; tenant: IdentityTenant; segment: string }
  | { kind: "common" | "organizations" | "consumers"; segment: string };

interface GrantedScopes {
  /** Graph permissions in their requested spelling (short form), or `${graph}/.default`. */
  graph: string[];
  /** openid / profile / email / offline_access, lower-cased. */
  oidc: string[];
}

interface AuthCode {
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

interface RefreshGrant {
  clientId: string;
  tenantId: string;
  scopes: GrantedScopes;
  user: IdentityUser;
  issuedAt: number;
  lastUsedAt: number;
}

interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface RequestContext {
  now: number;
  traceId: string;
  correlationId: string;
}

function normalizeResource(resource: string): string {
  return resource.trim().toLowerCase().replace(/\/+$/, "");
}

function opaque(prefix: string): string {
  // No dots: nobody should mistake these for JWTs.
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** Constant-time comparison of two strings of any length (compares their SHA-256 digests). */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "127.0.0.1";
}

/** ED reply-url.md: exact, case-sensitive match, except that a loopback URI's port is ignored. */
function redirectMatches(requested: URL, registered: string): boolean {
  let reg: URL;
  try {
    reg = new URL(registered);
  } catch {
    return false;
  }
  if (requested.protocol !== reg.protocol || requested.hostname !== reg.hostname) return false;
  if (!isLoopback(requested.hostname) && requested.port !== reg.port) return false;
  return requested.pathname === reg.pathname && requested.search === reg.search && requested.hash === "";
}

function parseForm(body: string): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(body)) if (!(key in form)) form[key] = value;
  return form;
}

function redact(form: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(form)) out[key] = REDACTED_FORM_FIELDS.has(key) ? "[REDACTED]" : value;
  return out;
}

/** The logged URL: a secret sent in the query string (where it does not belong) is redacted too. */
function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  if (![...params.keys()].some((k) => REDACTED_FORM_FIELDS.has(k))) return url;
  for (const key of REDACTED_FORM_FIELDS) if (params.has(key)) params.set(key, "[REDACTED]");
  return `${url.slice(0, q)}?${params}`;
}

/** RFC 6749 §2.3.1 client_secret_basic: form-urlencoded id and secret, base64'd. */
function basicCredentials(header: string | undefined): { clientId: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const unform = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      return s;
    }
  };
  return { clientId: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
}


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

export async function startIdentityEmulator(options: IdentityOptions = {}): Promise<IdentityEmulator> {
  const clock = options.now ?? Date.now;
  const lifetime = options.tokenLifetimeSeconds ?? 3599;
  if (!Number.isInteger(lifetime) || lifetime <= 0) throw new RangeError(`tokenLifetimeSeconds must be a positive integer, got ${lifetime}`);
  // The keys it publishes (discovery/v2.0/keys) are made asynchronously, once per process: before the first request.
  await prepareValidationTokenKeys();
  const refreshInactiveMs = (options.refreshTokenInactiveSeconds ?? DEFAULT_REFRESH_INACTIVE_SECONDS) * 1000;
  const graph = normalizeResource(options.graphResource ?? GRAPH_RESOURCE);
  const publicOrigin = options.publicOrigin ?? LOGIN_ORIGIN_OF_RESOURCE[graph];
  const user: IdentityUser = options.user ?? { id: ME_ID, userPrincipalName: `MeganB@${TENANT_DOMAIN}`, displayName: "Megan Bowen" };
  const tenants: IdentityTenant[] = (options.tenants ?? [{ id: TENANT_ID, domains: [...VERIFIED_DOMAINS], displayName: "Contoso" }]).map((t) => ({
    id: t.id.toLowerCase(),
    domains: t.domains.map((d) => d.toLowerCase()),
    displayName: t.displayName,
  }));
  if (tenants.length === 0) throw new RangeError("tenants must list at least one tenant");
  for (const t of tenants) if (!GUID.test(t.id)) throw new RangeError(`tenant id must be a GUID, got ${t.id}`);

  const apps = new Map<string, RegisteredApp>();
  const registerApp = (app: AppRegistration): void => {
    const registered = toRegisteredApp(app);
    apps.set(registered.clientId, registered);
  };
  for (const app of options.apps ?? [
    {
      clientId: DEMO_CLIENT_ID,
      clientSecret: DEMO_CLIENT_SECRET,
      redirectUris: [PRISMATIC_REDIRECT_URI, DEMO_REDIRECT_URI],
      displayName: "Graph Emulator Demo App",
    },
  ])
    registerApp(app);

  const tokens = new TokenRegistry();
  const log: IdentityLogEntry[] = [];
  const codes = new Map<string, AuthCode>();
  const refreshGrants = new Map<string, RefreshGrant>();
  let origin = "";

  const tenantName = (t: IdentityTenant): string => t.displayName ?? t.domains[0] ?? t.id;
  const directoryName = (ref: TenantRef): string => (ref.kind === "tenant" ? tenantName(ref.tenant) : ref.segment);

  function resolveTenant(segment: string): TenantRef {
    const lower = segment.toLowerCase();
    if (lower === "common" || lower === "organizations" || lower === "consumers") return { kind: lower, segment };
    if (GUID.test(segment)) {
      const tenant = tenants.find((t) => t.id === lower);
      if (!tenant) throw err.tenantNotFound(segment);
      return { kind: "tenant", tenant, segment };
    }
    if (!DNS_NAME.test(segment)) throw err.badTenantId(segment);
    const tenant = tenants.find((t) => t.domains.includes(lower));
    if (!tenant) throw err.tenantNotFound(segment);
    return { kind: "tenant", tenant, segment };
  }

  function findApp(clientId: string | undefined, ref: TenantRef): RegisteredApp {
    if (!clientId) throw err.missing("client_id");
    const app = apps.get(clientId.toLowerCase());
    if (!app) throw err.appNotFound(clientId, directoryName(ref));
    return app;
  }

  /** Scopes of the delegated flows: bare names and `{graph}/Name` are Graph permissions (ED scopes-oidc.md: no resource means Graph). */
  function parseUserScopes(raw: string, ref: TenantRef): GrantedScopes {
    const result: GrantedScopes = { graph: [], oidc: [] };
    const seen = new Set<string>();
    let hasDefault = false;
    for (const scope of raw.split(/\s+/).filter(Boolean)) {
      const lower = scope.toLowerCase();
      if (seen.has(lower)) continue;
      seen.add(lower);
      if (OIDC_SCOPES.includes(lower)) {
        result.oidc.push(lower);
        continue;
      }
      let permission = scope;
      const slash = scope.lastIndexOf("/");
      if (slash >= 0) {
        const resource = scope.slice(0, slash);
        permission = scope.slice(slash + 1);
        const normalized = normalizeResource(resource);
        if (permission === "") throw err.scopeInvalid(raw);
        if (normalized !== graph && normalized !== GRAPH_APP_ID) {
          if (resource.includes("://") || GUID.test(normalized)) throw err.resourceNotFound(normalized, directoryName(ref));
          throw err.scopeInvalid(raw);
        }
      }
      if (permission.toLowerCase() === ".default") {
        if (slash < 0) throw err.scopeInvalid(raw);
        hasDefault = true;
        continue;
      }
      result.graph.push(permission);
    }
    if (hasDefault) {
      // [3p] observed: .default can't be mixed with named permissions of the same resource.
      if (result.graph.length > 0) throw err.scopeInvalid(raw, " .default scope can't be combined with resource-specific scopes.");
      result.graph.push(`${graph}/.default`);
    }
    return result;
  }

  const scopeList = (s: GrantedScopes): string[] => [...s.graph, ...s.oidc];

  /** Requested scopes must be within the granted ones (ED auth-code doc: "equivalent to or a subset"); `.default` means everything granted. */
  function narrowScopes(requested: GrantedScopes, granted: GrantedScopes): GrantedScopes | undefined {
    const grantedGraph = new Set(granted.graph.map((p) => p.toLowerCase()));
    let graphScopes: string[];
    if (requested.graph.length === 1 && requested.graph[0] === `${graph}/.default`) {
      graphScopes = [...granted.graph];
    } else {
      if (requested.graph.some((p) => !grantedGraph.has(p.toLowerCase()))) return undefined;
      graphScopes = requested.graph;
    }
    return { graph: graphScopes, oidc: requested.oidc };
  }

  function issue(kind: IssuedToken["kind"], tenantId: string, clientId: string, scopes: string[], tokenUser?: IdentityUser): IssuedToken {
    const issuedAt = clock();
    const token: IssuedToken = {
      accessToken: opaque("emu_at_"),
      kind,
      tenant: tenantId,
      clientId,
      scopes,
      audience: graph,
      expiresAt: issuedAt + lifetime * 1000,
      issuedAt,
      ...(tokenUser ? { user: { ...tokenUser } } : {}),
    };
    tokens.add(token);
    return token;
  }

  // ---- client authentication ----------------------------------------------------------------------

  function assertionAudiences(ref: TenantRef): Set<string> {
    const names = ref.kind === "tenant" ? [ref.segment, ref.tenant.id, ...ref.tenant.domains] : [ref.segment];
    const out = new Set<string>();
    for (const base of [origin, publicOrigin]) {
      if (!base) continue;
      for (const name of names) {
        out.add(`${base}/${name}/oauth2/v2.0/token`.toLowerCase());
        out.add(`${base}/${name}/oauth2/token`.toLowerCase());
      }
    }
    return out;
  }

  /** ED certificate-credentials.md: header alg + x5t#S256 (or x5t); claims aud, exp, iss, jti, nbf, sub, iat. */
  function verifyAssertion(app: RegisteredApp, assertion: string, ref: TenantRef, now: number): void {
    const jwt = decodeJwt(assertion);
    if (!jwt) throw err.assertionMalformed();
    const alg = jwt.header.alg;
    if (!isAssertionAlgorithm(alg)) throw err.assertionAlg(String(alg));
    const x5tS256 = jwt.header["x5t#S256"];
    const x5t = jwt.header.x5t;
    if (typeof x5tS256 !== "string" && typeof x5t !== "string") throw err.assertionNoThumbprint();
    const cert = app.certificate;
    // Compare bytes, not text: some clients pad or use standard base64 for the thumbprint.
    const presented = Buffer.from(String(typeof x5tS256 === "string" ? x5tS256 : x5t), "base64url")
      .toString("hex")
      .toUpperCase();
    const matches = cert !== undefined && presented === (typeof x5tS256 === "string" ? cert.sha256Hex : cert.sha1Hex);
    if (!cert || !matches) throw err.assertionKeyNotFound(presented, app.clientId);
    if (now < cert.validFrom || now > cert.validTo) throw err.assertionSignature("The key used is expired.", presented, cert);
    if (!verifyJwtSignature(jwt, alg, cert.publicKey)) {
      throw err.assertionSignature("The provided signature value did not match the expected signature value.", presented, cert);
    }
    const claims = jwt.payload;
    if (claims.aud === undefined) throw err.assertionMissing("aud");
    if (claims.iss === undefined) throw err.assertionMissing("iss");
    if (claims.exp === undefined) throw err.assertionMissing("exp");
    if (typeof claims.aud !== "string" || typeof claims.iss !== "string" || typeof claims.exp !== "number") throw err.assertionMalformed();
    if (claims.iss.toLowerCase() !== app.clientId) throw err.assertionClientMismatch();
    if (claims.sub !== undefined && claims.sub !== claims.iss) throw err.assertionSubject();
    if (!assertionAudiences(ref).has(claims.aud.toLowerCase())) throw err.assertionAudience();
    const nbf = typeof claims.nbf === "number" ? claims.nbf : undefined;
    if (now >= claims.exp * 1000 + ASSERTION_SKEW_MS || (nbf !== undefined && now < nbf * 1000 - ASSERTION_SKEW_MS)) {
      throw err.assertionTime(now, nbf, claims.exp);
    }
  }

  function authenticateClient(
    app: RegisteredApp,
    form: Record<string, string>,
    basic: { clientId: string; secret: string } | undefined,
    ref: TenantRef,
    now: number,
    clientCredentials: boolean,
  ): void {
    const secret = form.client_secret ?? (basic && basic.clientId.toLowerCase() === app.clientId ? basic.secret : undefined);
    const assertionType = form.client_assertion_type;
    const assertion = form.client_assertion;
    if (assertion !== undefined && assertionType === undefined) throw err.missing("client_assertion_type");
    if (assertionType !== undefined && assertion === undefined) throw err.missing("client_assertion");
    if (assertionType !== undefined && assertionType !== JWT_BEARER_ASSERTION_TYPE) throw err.malformed();
    const presented = secret !== undefined || assertion !== undefined;
    if (!app.confidential) {
      if (presented) throw err.publicWithCredential();
      if (clientCredentials) throw err.noCredential();
      return;
    }
    if (!presented) throw err.noCredential();
    if (assertion !== undefined) {
      if (secret !== undefined) throw err.malformed();
      verifyAssertion(app, assertion, ref, now);
      return;
    }
    if (app.clientSecret === undefined || !safeEqual(secret ?? "", app.clientSecret)) throw err.badSecret(app.clientId);
  }

  // ---- token endpoint ---------------------------------------------------------------------------------

  function tokenJson(payload: JsonObject): HttpReply {
    return { status: 200, headers: { "Content-Type": "application/json; charset=utf-8" }, body: JSON.stringify(payload) };
  }

  function clientCredentialsGrant(ref: TenantRef, form: Record<string, string>, basic: ReturnType<typeof basicCredentials>, now: number): HttpReply {
    if (ref.kind !== "tenant") throw ref.kind === "organizations" ? err.noTenantRealm() : err.grantOverCommon();
    const app = findApp(form.client_id ?? basic?.clientId, ref);
    authenticateClient(app, form, basic, ref, now, true);
    const raw = form.scope ?? "";
    const scopes = raw.split(/\s+/).filter(Boolean);
    if (scopes.length === 0) throw err.missing("scope");
    if (scopes.some((s) => !s.endsWith("/.default"))) throw err.scopeNotDefault(raw);
    const resources = new Set(scopes.map((s) => normalizeResource(s.slice(0, -"/.default".length))));
    if (resources.size > 1) throw err.scopeMultipleResources(raw);
    const [resource] = resources;
    if (resource !== graph && resource !== GRAPH_APP_ID) {
      if (resource.includes("://") || GUID.test(resource)) throw err.resourceNotFound(resource, tenantName(ref.tenant));
      throw err.scopeInvalid(raw);
    }
    const token = issue("app", ref.tenant.id, app.clientId, [`${graph}/.default`]);
    // ED client-creds doc success sample + ext_expires_in ([3p]); never a refresh_token.
    return tokenJson({ token_type: "Bearer", expires_in: lifetime, ext_expires_in: lifetime, access_token: token.accessToken });
  }

  /** `grant`: the scopes a new refresh token carries (the whole consented grant), or undefined for no refresh token. */
  function userTokenResponse(
    app: RegisteredApp,
    tenantId: string,
    scopes: GrantedScopes,
    tokenUser: IdentityUser,
    grant: GrantedScopes | undefined,
    form: Record<string, string>,
    nonce?: string,
  ): HttpReply {
    const list = scopeList(scopes);
    const token = issue("user", tenantId, app.clientId, list, tokenUser);
    // ED auth-code doc success sample (key order as Entra sends it) + ext_expires_in ([3p]).
    const payload: JsonObject = { token_type: "Bearer", scope: list.join(" "), expires_in: lifetime, ext_expires_in: lifetime, access_token: token.accessToken };
    if (grant) {
      const refresh = opaque("emu_rt_");
      refreshGrants.set(refresh, { clientId: app.clientId, tenantId, scopes: grant, user: tokenUser, issuedAt: token.issuedAt, lastUsedAt: token.issuedAt });
      payload.refresh_token = refresh;
    }
    if (scopes.oidc.includes("openid")) payload.id_token = idToken(app, tenantId, scopes, tokenUser, token.issuedAt, nonce);
    // MSAL asks for client_info=1 and reads {uid, utid} back.
    if (form.client_info === "1") payload.client_info = Buffer.from(JSON.stringify({ uid: tokenUser.id, utid: tenantId })).toString("base64url");
    return tokenJson(payload);
  }

  /** ED id-tokens.md claims; unsigned, like the documented sample ("an unsigned JSON Web Token"). */
  function idToken(app: RegisteredApp, tenantId: string, scopes: GrantedScopes, tokenUser: IdentityUser, issuedAt: number, nonce?: string): string {
    const iat = Math.floor(issuedAt / 1000);
    const claims: JsonObject = {
      aud: app.clientId,
      iss: `${origin}/${tenantId}/v2.0`,
      iat,
      nbf: iat,
      exp: iat + 3600,
      ...(scopes.oidc.includes("profile") ? { name: tokenUser.displayName, preferred_username: tokenUser.userPrincipalName } : {}),
      ...(scopes.oidc.includes("email") ? { email: tokenUser.userPrincipalName } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
      oid: tokenUser.id,
      sub: pairwiseSubject(tokenUser.id, app.clientId),
      tid: tenantId,
      ver: "2.0",
    };
    return unsignedJwt(claims);
  }

  function authorizationCodeGrant(ref: TenantRef, form: Record<string, string>, basic: ReturnType<typeof basicCredentials>, now: number): HttpReply {
    const app = findApp(form.client_id ?? basic?.clientId, ref);
    if (ref.kind === "consumers") throw err.consumersEndpoint(app);
    if (form.code === undefined) throw err.missing("code");
    if (form.redirect_uri === undefined) throw err.missing("redirect_uri");
    authenticateClient(app, form, basic, ref, now, false);
    const code = codes.get(form.code);
    if (!code) throw err.malformed("invalid_grant");
    if (code.clientId !== app.clientId) throw err.grantOtherClient("code");
    if (ref.kind === "tenant" && ref.tenant.id !== code.tenantId) throw err.codeWrongTenant();
    if (code.redeemed) throw err.codeRedeemed();
    if (now - code.issuedAt >= CODE_LIFETIME_MS) throw err.codeExpired();
    let requested: URL | undefined;
    try {
      requested = new URL(form.redirect_uri);
    } catch {
      requested = undefined;
    }
    if (!requested || requested.href !== code.redirectUri) throw err.replyMismatch(form.redirect_uri, code.redirectUri);
    if (code.challenge !== undefined) {
      const verifier = form.code_verifier ?? "";
      const derived = code.challengeMethod === "plain" ? verifier : createHash("sha256").update(verifier, "ascii").digest("base64url");
      if (verifier === "" || !safeEqual(derived, code.challenge)) throw err.pkceMismatch();
    }
    let scopes = code.scopes;
    if (form.scope !== undefined && form.scope.trim() !== "") {
      const narrowed = narrowScopes(parseUserScopes(form.scope, ref), code.scopes);
      if (!narrowed) throw err.notConsented(app, "consent_required");
      scopes = narrowed;
    }
    code.redeemed = true;
    // ED auth-code doc: refresh_token "Only provided if offline_access scope was requested".
    const grant = code.scopes.oidc.includes("offline_access") ? code.scopes : undefined;
    return userTokenResponse(app, code.tenantId, scopes, code.user, grant, form, code.nonce);
  }

  function refreshTokenGrant(ref: TenantRef, form: Record<string, string>, basic: ReturnType<typeof basicCredentials>, now: number): HttpReply {
    const app = findApp(form.client_id ?? basic?.clientId, ref);
    if (ref.kind === "consumers") throw err.consumersEndpoint(app);
    if (form.refresh_token === undefined) throw err.missing("refresh_token");
    authenticateClient(app, form, basic, ref, now, false);
    const grant = refreshGrants.get(form.refresh_token);
    if (!grant) throw err.malformed("invalid_grant");
    if (grant.clientId !== app.clientId) throw err.grantOtherClient("refresh_token");
    if (ref.kind === "tenant" && ref.tenant.id !== grant.tenantId) throw err.malformed("invalid_grant");
    if (now - grant.lastUsedAt > refreshInactiveMs) throw err.refreshInactive(grant.issuedAt, now - grant.lastUsedAt);
    let scopes = grant.scopes;
    if (form.scope !== undefined && form.scope.trim() !== "") {
      const narrowed = narrowScopes(parseUserScopes(form.scope, ref), grant.scopes);
      if (!narrowed) throw err.notConsented(app, "invalid_grant");
      scopes = narrowed;
    }
    // ED auth-code doc: the old refresh token is not revoked; a new one is returned each time.
    grant.lastUsedAt = now;
    return userTokenResponse(app, grant.tenantId, scopes, grant.user, grant.scopes, form);
  }

  function tokenEndpoint(segment: string, req: IncomingMessage, method: string, body: string, entry: IdentityLogEntry, now: number): HttpReply {
    if (method === "OPTIONS") return { status: 200, headers: {}, body: "" };
    if (method !== "POST") throw err.postOnly(method);
    const ref = resolveTenant(segment);
    const mediaType = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      .trim()
      .toLowerCase();
    // A body that is not a form yields no parameters: Entra answers for the first one it looks for.
    if (mediaType !== "application/x-www-form-urlencoded") throw err.missing("grant_type");
    const form = parseForm(body);
    entry.form = redact(form);
    const basic = basicCredentials(typeof req.headers.authorization === "string" ? req.headers.authorization : undefined);
    const grantType = form.grant_type;
    if (grantType === undefined) throw err.missing("grant_type");
    switch (grantType) {
      case "client_credentials":
        return clientCredentialsGrant(ref, form, basic, now);
      case "authorization_code":
        return authorizationCodeGrant(ref, form, basic, now);
      case "refresh_token":
        return refreshTokenGrant(ref, form, basic, now);
      default:
        throw err.unsupportedGrant(grantType);
    }
  }

  // ---- authorize endpoint -------------------------------------------------------------------------------

  function errorPage(e: AadError, ctx: RequestContext): HttpReply {
    // The sign-in page's error view: "Sorry, but we're having trouble signing you in." + AADSTS text.
    const html =
      `<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>` +
      `<h1>Sorry, but we’re having trouble signing you in.</h1>` +
      `<p id="error">AADSTS${e.code}: ${escapeHtml(e.message)}</p>` +
      `<p>Request Id: ${ctx.traceId}<br>Correlation Id: ${ctx.correlationId}<br>Timestamp: ${new Date(ctx.now).toISOString()}</p>` +
      `</body></html>`;
    return { status: 400, headers: { "Content-Type": "text/html; charset=utf-8" }, body: html };
  }

  function deliver(redirectUri: URL, mode: string, params: Record<string, string>): HttpReply {
    if (mode === "form_post") {
      const inputs = Object.entries(params)
        .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}" />`)
        .join("");
      const html =
        `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="${escapeHtml(redirectUri.href)}">${inputs}` +
        `<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form>` +
        `<script language="javascript">document.forms[0].submit();</script></body></html>`;
      return { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" }, body: html };
    }
    const target = new URL(redirectUri.href);
    if (mode === "fragment") {
      target.hash = new URLSearchParams(params).toString();
    } else {
      for (const [k, v] of Object.entries(params)) target.searchParams.append(k, v);
    }
    return { status: 302, headers: { Location: target.href }, body: "" };
  }

  function authorizeEndpoint(segment: string, query: URLSearchParams, entry: IdentityLogEntry, ctx: RequestContext): HttpReply {
    const params: Record<string, string> = {};
    for (const [k, v] of query) if (!(k in params)) params[k] = v;
    entry.form = redact(params);

    // Until the client and its redirect URI are trusted, errors are shown on the sign-in page.
    let ref: TenantRef;
    let app: RegisteredApp;
    let redirect: URL;
    try {
      ref = resolveTenant(segment);
      app = findApp(params.client_id, ref);
      const raw = params.redirect_uri ?? (app.redirectUris.length === 1 ? app.redirectUris[0] : undefined);
      if (raw === undefined) throw err.noReplyAddress();
      let parsed: URL | undefined;
      try {
        parsed = new URL(raw);
      } catch {
        parsed = undefined;
      }
      if (!parsed || !app.redirectUris.some((r) => redirectMatches(parsed, r))) throw err.redirectMismatch(raw, params.client_id ?? "");
      redirect = parsed;
    } catch (e) {
      if (e instanceof AadError) return errorPage(e, ctx);
      throw e;
    }

    const requestedMode = params.response_mode ?? "query";
    const mode = ["query", "fragment", "form_post"].includes(requestedMode) ? requestedMode : "query";
    const state: Record<string, string> = params.state !== undefined ? { state: params.state } : {};
    try {
      if (mode !== requestedMode) throw err.responseMode(requestedMode);
      if (ref.kind === "consumers") throw err.consumersEndpoint(app);
      const responseType = params.response_type;
      if (responseType === undefined) throw err.missing("response_type");
      const types = responseType.split(/\s+/).filter(Boolean).sort().join(" ");
      if (types !== "code") throw types.includes("id_token") ? err.idTokenNotEnabled() : err.responseType(responseType);
      if (params.scope === undefined || params.scope.trim() === "") throw err.missing("scope");
      const scopes = parseUserScopes(params.scope, ref);
      let challengeMethod: AuthCode["challengeMethod"];
      if (params.code_challenge !== undefined) {
        // ED auth-code doc: S256 or plain; plain assumed when the method is left out.
        const method = params.code_challenge_method ?? "plain";
        if (method !== "S256" && method !== "plain") throw err.malformed();
        if (params.code_challenge.length < 43 || params.code_challenge.length > 128) throw err.pkceChallengeSize();
        challengeMethod = method;
      } else if (params.code_challenge_method !== undefined) {
        throw err.missing("code_challenge");
      }
      // common/organizations: the user signs into their home tenant; domain_hint picks one when several are configured.
      const hint = params.domain_hint?.toLowerCase();
      const tenant = ref.kind === "tenant" ? ref.tenant : (tenants.find((t) => hint !== undefined && (t.id === hint || t.domains.includes(hint))) ?? tenants[0]);
      const code = opaque("emu_code_");
      codes.set(code, {
        clientId: app.clientId,
        tenantId: tenant.id,
        redirectUri: redirect.href,
        scopes,
        challenge: params.code_challenge,
        challengeMethod,
        nonce: params.nonce,
        user,
        issuedAt: ctx.now,
        redeemed: false,
      });
      // ED auth-code doc success: code + state; Entra also sends session_state.
      return deliver(redirect, mode, { code, ...state, session_state: randomUUID() });
    } catch (e) {
      if (!(e instanceof AadError)) throw e;
      const description = `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${ctx.traceId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${stsTimestamp(ctx.now)}`;
      // ED auth-code doc: errors go to the redirect URI as error + error_description.
      return deliver(redirect, mode, { error: e.error, error_description: description, error_uri: `${origin}/error?code=${e.code}`, ...state });
    }
  }

  // ---- HTTP plumbing ----------------------------------------------------------------------------------

  function jsonError(e: AadError, ctx: RequestContext): HttpReply {
    const timestamp = stsTimestamp(ctx.now);
    // ED reference-error-codes.md sample, key for key.
    const payload = {
      error: e.error,
      error_description: `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${ctx.traceId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [e.code],
      timestamp,
      trace_id: ctx.traceId,
      correlation_id: ctx.correlationId,
      error_uri: `${origin}/error?code=${e.code}`,
    };
    return { status: e.status, headers: { "Content-Type": "application/json; charset=utf-8" }, body: JSON.stringify(payload) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = clock();
    const method = (req.method ?? "GET").toUpperCase();
    const url = req.url ?? "/";
    const entry: IdentityLogEntry = { method, url: redactUrl(url), form: {}, status: 0, at: now };
    log.push(entry);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");

    const clientRequestId = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : undefined;
    const ctx: RequestContext = { now, traceId: randomUUID(), correlationId: clientRequestId && GUID.test(clientRequestId) ? clientRequestId : randomUUID() };
    const pathname = url.split("?")[0];
    const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
    const match = /^\/([^/]+)\/oauth2\/v2\.0\/(token|authorize)\/?$/i.exec(pathname);
    const keys = /^\/([^/]+)\/discovery\/v2\.0\/keys$/i.exec(pathname);
    const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i.exec(pathname);

    let reply: HttpReply;
    try {
      if (match) {
        let segment: string;
        try {
          segment = decodeURIComponent(match[1]);
        } catch {
          segment = match[1];
        }
        reply =
          match[2].toLowerCase() === "token" ? tokenEndpoint(segment, req, method, body, entry, now) : authorizeEndpoint(segment, query, entry, ctx);
      } else if (keys && (method === "GET" || method === "HEAD")) {
        // The published signing keys (the JWKS behind every tenant's openid-configuration `jwks_uri`); rich
        // notifications' validation tokens are signed with them.
        const ref = resolveTenant(keys[1]);
        const body = publishedSigningKeys(publicOrigin ?? origin, ref.kind === "tenant" ? ref.tenant.id : undefined);
        reply = { status: 200, headers: { "Content-Type": "application/json; charset=utf-8" }, body: JSON.stringify(body) };
      } else if (discovery && (method === "GET" || method === "HEAD")) {
        const ref = resolveTenant(discovery[1]);
        const tenant = ref.kind === "tenant" ? { id: ref.tenant.id } : { authority: ref.kind };
        const body = openIdConfiguration({ loginOrigin: origin, cloudLoginOrigin: publicOrigin ?? origin, graphResource: graph, tenant });
        // Browser apps (MSAL.js) fetch it cross-origin; Entra answers it with `Access-Control-Allow-Origin: *`.
        reply = { status: 200, headers: { "Content-Type": "application/json; charset=utf-8", "Access-Control-Allow-Origin": "*" }, body: JSON.stringify(body) };
      } else if (/^\/common\/discovery\/instance\/?$/i.test(pathname) && (method === "GET" || method === "HEAD")) {
        const found = instanceDiscovery(origin, query);
        reply = { status: found.status, headers: { "Content-Type": "application/json; charset=utf-8", "Access-Control-Allow-Origin": "*" }, body: JSON.stringify(found.body) };
      } else if (pathname === "/error" && method === "GET") {
        const code = (query.get("code") ?? "").replace(/\D/g, "");
        reply = { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" }, body: `<!DOCTYPE html><html><body><h1>AADSTS${code}</h1></body></html>` };
      } else {
        reply = { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "Not Found" };
      }
    } catch (e) {
      if (e instanceof AadError) {
        reply = jsonError(e, ctx);
      } else {
        console.error("identity emulator: unhandled error", e);
        reply = jsonError(new AadError("server_error", 50000, "There was an error issuing a token."), ctx);
        reply.status = 500;
      }
    }

    entry.status = reply.status;
    // Token endpoint answers are never cacheable (RFC 6749 §5.1); Entra sends these plus x-ms-request-id.
    res.setHeader("Cache-Control", "no-store, no-cache");
    res.setHeader("Pragma", "no-cache");
    res.setHeader("Expires", "-1");
    res.setHeader("x-ms-request-id", ctx.traceId);
    if (clientRequestId !== undefined) res.setHeader("client-request-id", clientRequestId);
    for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
    const bytes = Buffer.from(reply.body, "utf8");
    res.setHeader("Content-Length", bytes.length);
    res.writeHead(reply.status);
    res.end(method === "HEAD" ? undefined : bytes);
  }

  const listener: RequestListener = (req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error("identity emulator: request failed", error);
      res.destroy();
    });
  };
  const server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createServer(listener);
  const port = await listen(server, options.port ?? 0);
  origin = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;

  const defaultTenant = tenants[0].id;
  return {
    origin,
    tenantId: defaultTenant,
    tokens,
    log,
    tokenEndpoint: (tenant = defaultTenant) => `${origin}/${tenant}/oauth2/v2.0/token`,
    authorizeEndpoint: (tenant = defaultTenant) => `${origin}/${tenant}/oauth2/v2.0/authorize`,
    registerApp,
    reset: () => {
      log.length = 0;
      codes.clear();
      refreshGrants.clear();
    },
    close: () => closeServer(server),
  };
}
