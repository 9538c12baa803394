/**
 * What the delegated grants (authorization code, refresh token, device code) answer: an access token, a refresh
 * token when offline_access was granted, an id_token when openid was. ED = MicrosoftDocs/entra-docs,
 * docs/identity-platform/: v2-oauth2-auth-code-flow.md, id-tokens.md.
 */
import { unsignedJwt, type JsonObject } from "../jwt";
import { pairwiseSubject } from "../oidcSubject";
import type { GrantRequest } from "./clientAuth";
import { jsonReply, type HttpReply } from "./http";
import { narrowScopes, parseUserScopes, scopeList } from "./scopes";
import { opaque, type GrantedScopes, type IdentityState, type IdentityUser, type RegisteredApp } from "./state";

/** A signed-in user's tokens, as the delegated grants answer them. */
export interface UserGrant {
  app: RegisteredApp;
  tenantId: string;
  scopes: GrantedScopes;
  user: IdentityUser;
  /** The scopes a new refresh token carries (the whole consented grant), or undefined for no refresh token. */
  refreshScopes: GrantedScopes | undefined;
  form: Record<string, string>;
  nonce?: string;
}

export function userTokenResponse(state: IdentityState, grant: UserGrant): HttpReply {
  const { app, tenantId, scopes, user } = grant;
  const list = scopeList(scopes);
  const token = state.issue("user", tenantId, app.clientId, list, user);
  // ED auth-code doc success sample (key order as Entra sends it) + ext_expires_in ([3p]).
  const payload: JsonObject = {
    token_type: "Bearer",
    scope: list.join(" "),
    expires_in: state.lifetime,
    ext_expires_in: state.lifetime,
    access_token: token.accessToken,
  };
  if (grant.refreshScopes) {
    const refresh = opaque("emu_rt_");
    state.refreshGrants.set(refresh, { clientId: app.clientId, tenantId, scopes: grant.refreshScopes, user, issuedAt: token.issuedAt, lastUsedAt: token.issuedAt });
    payload.refresh_token = refresh;
  }
  if (scopes.oidc.includes("openid")) payload.id_token = idToken(state, grant, token.issuedAt);
  // MSAL asks for client_info=1 and reads {uid, utid} back.
  if (grant.form.client_info === "1") payload.client_info = Buffer.from(JSON.stringify({ uid: user.id, utid: tenantId })).toString("base64url");
  return jsonReply(200, payload);
}

/** ED id-tokens.md claims; unsigned, like the documented sample ("an unsigned JSON Web Token"). */
function idToken(state: IdentityState, grant: UserGrant, issuedAt: number): string {
  const { app, tenantId, scopes, user, nonce } = grant;
  const iat = Math.floor(issuedAt / 1000);
  const claims: JsonObject = {
    aud: app.clientId,
    iss: `${state.origin}/${tenantId}/v2.0`,
    iat,
    nbf: iat,
    exp: iat + 3600,
    ...(scopes.oidc.includes("profile") ? { name: user.displayName, preferred_username: user.userPrincipalName } : {}),
    ...(scopes.oidc.includes("email") ? { email: user.userPrincipalName } : {}),
    ...(nonce !== undefined ? { nonce } : {}),
    oid: user.id,
    sub: pairwiseSubject(user.id, app.clientId),
    tid: tenantId,
    ver: "2.0",
  };
  return unsignedJwt(claims);
}

/** A new `scope` on redemption must be within the granted ones; undefined when it is not. */
export function requestedWithin(state: IdentityState, request: GrantRequest, granted: GrantedScopes): GrantedScopes | undefined {
  const scope = request.form.scope;
  if (scope === undefined || scope.trim() === "") return granted;
  return narrowScopes(state.graph, parseUserScopes(state, scope, request.ref), granted);
}
