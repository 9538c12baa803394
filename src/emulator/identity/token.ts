/**
 * The token endpoint (`POST /{tenant}/oauth2/v2.0/token`): one function per grant. Access tokens are opaque and
 * land in the TokenRegistry. ED = MicrosoftDocs/entra-docs, docs/identity-platform/: v2-oauth2-client-creds-grant-flow.md,
 * v2-oauth2-auth-code-flow.md.
 */
import { createHash } from "node:crypto";

import { safeEqual } from "../constantTime";
import { authenticateClient, type GrantRequest } from "./clientAuth";
import { err } from "./errors";
import { basicCredentials, decodeSegment, jsonReply, readForm, redact, type HttpReply, type IdentityRequest } from "./http";
import { deviceCodeGrant } from "./deviceCode";
import { GRAPH_APP_ID, GUID, normalizeResource, type IdentityState } from "./state";
import { requestedWithin, userTokenResponse } from "./userTokens";

/** Authorization codes "expire after about 10 minutes" (ED v2-oauth2-auth-code-flow.md). */
const CODE_LIFETIME_MS = 10 * 60_000;

type Grant = (state: IdentityState, grant: GrantRequest) => Promise<HttpReply>;

const GRANTS: Record<string, Grant> = {
  client_credentials: clientCredentialsGrant,
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  // ED v2-oauth2-device-code.md names the URN; MSAL sends the short form (msal-common Constants GrantType
  // DEVICE_CODE_GRANT = "device_code"), which Entra accepts too.
  "urn:ietf:params:oauth:grant-type:device_code": deviceCodeGrant,
  device_code: deviceCodeGrant,
};

/** Route `/{tenant}/oauth2/v2.0/token`. */
export async function tokenEndpoint(state: IdentityState, request: IdentityRequest): Promise<HttpReply> {
  const { method } = request;
  if (method === "OPTIONS") return { status: 200, headers: {}, body: "" };
  if (method !== "POST") throw err.postOnly(method);
  const ref = state.resolveTenant(decodeSegment(request.params[0]));
  const form = readForm(request);
  request.entry.form = redact(form);
  const authorization = request.headers.authorization;
  const basic = basicCredentials(typeof authorization === "string" ? authorization : undefined);
  const grantType = form.grant_type;
  if (grantType === undefined) throw err.missing("grant_type");
  const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
  if (!grant) throw err.unsupportedGrant(grantType);
  return grant(state, { ref, form, basic, now: request.now });
}

async function clientCredentialsGrant(state: IdentityState, request: GrantRequest): Promise<HttpReply> {
  const { ref, form, basic } = request;
  if (ref.kind !== "tenant") throw ref.kind === "organizations" ? err.noTenantRealm() : err.grantOverCommon();
  const app = state.findApp(form.client_id ?? basic?.clientId, ref);
  await authenticateClient(state, app, request, true);
  const raw = form.scope ?? "";
  const scopes = raw.split(/\s+/).filter(Boolean);
  if (scopes.length === 0) throw err.missing("scope");
  if (scopes.some((s) => !s.endsWith("/.default"))) throw err.scopeNotDefault(raw);
  const resources = new Set(scopes.map((s) => normalizeResource(s.slice(0, -"/.default".length))));
  if (resources.size > 1) throw err.scopeMultipleResources(raw);
  const [resource] = resources;
  if (resource !== state.graph && resource !== GRAPH_APP_ID) {
    if (resource.includes("://") || GUID.test(resource)) throw err.resourceNotFound(resource, state.tenantName(ref.tenant));
    throw err.scopeInvalid(raw);
  }
  const token = state.issue("app", ref.tenant.id, app.clientId, [`${state.graph}/.default`]);
  // ED client-creds doc success sample + ext_expires_in ([3p]); never a refresh_token.
  return jsonReply(200, { token_type: "Bearer", expires_in: state.lifetime, ext_expires_in: state.lifetime, access_token: token.accessToken });
}

async function authorizationCodeGrant(state: IdentityState, request: GrantRequest): Promise<HttpReply> {
  const { ref, form, basic, now } = request;
  const app = state.findApp(form.client_id ?? basic?.clientId, ref);
  if (ref.kind === "consumers") throw err.consumersEndpoint(app);
  if (form.code === undefined) throw err.missing("code");
  if (form.redirect_uri === undefined) throw err.missing("redirect_uri");
  await authenticateClient(state, app, request);
  const code = state.codes.get(form.code);
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
  const scopes = requestedWithin(state, request, code.scopes);
  if (!scopes) throw err.notConsented(app, "consent_required");
  code.redeemed = true;
  // ED auth-code doc: refresh_token "Only provided if offline_access scope was requested".
  const refreshScopes = code.scopes.oidc.includes("offline_access") ? code.scopes : undefined;
  return userTokenResponse(state, { app, tenantId: code.tenantId, scopes, user: code.user, refreshScopes, form, nonce: code.nonce });
}

async function refreshTokenGrant(state: IdentityState, request: GrantRequest): Promise<HttpReply> {
  const { ref, form, basic, now } = request;
  const app = state.findApp(form.client_id ?? basic?.clientId, ref);
  if (ref.kind === "consumers") throw err.consumersEndpoint(app);
  if (form.refresh_token === undefined) throw err.missing("refresh_token");
  await authenticateClient(state, app, request);
  const grant = state.refreshGrants.get(form.refresh_token);
  if (!grant) throw err.malformed("invalid_grant");
  if (grant.clientId !== app.clientId) throw err.grantOtherClient("refresh_token");
  if (ref.kind === "tenant" && ref.tenant.id !== grant.tenantId) throw err.malformed("invalid_grant");
  if (now - grant.lastUsedAt > state.refreshInactiveMs) throw err.refreshInactive(grant.issuedAt, now - grant.lastUsedAt);
  const scopes = requestedWithin(state, request, grant.scopes);
  if (!scopes) throw err.notConsented(app, "invalid_grant");
  // ED auth-code doc: the old refresh token is not revoked; a new one is returned each time.
  grant.lastUsedAt = now;
  return userTokenResponse(state, { app, tenantId: grant.tenantId, scopes, user: grant.user, refreshScopes: grant.scopes, form });
}
