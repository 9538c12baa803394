/**
 * What the sign-in host publishes for clients to read: the signing keys, the OpenID configuration document, MSAL's
 * instance discovery, and the page behind every error's `error_uri`.
 */
import { instanceDiscovery, openIdConfiguration } from "../discovery";
import { publishedSigningKeys } from "../richNotifications";
import { htmlReply, jsonReply, type HttpReply, type IdentityRequest } from "./http";
import type { IdentityState } from "./state";

/** Browser apps (MSAL.js) fetch these cross-origin; Entra answers them with `Access-Control-Allow-Origin: *`. */
const CORS = { "Access-Control-Allow-Origin": "*" };

/**
 * Route `/{tenant}/discovery/v2.0/keys`: the JWKS behind every tenant's openid-configuration `jwks_uri`; rich
 * notifications' validation tokens are signed with them.
 */
export async function signingKeys(state: IdentityState, request: IdentityRequest): Promise<HttpReply> {
  const ref = state.resolveTenant(request.params[0]);
  return jsonReply(200, await publishedSigningKeys(state.publicOrigin ?? state.origin, ref.kind === "tenant" ? ref.tenant.id : undefined));
}

/** Route `/{tenant}/v2.0/.well-known/openid-configuration`. */
export function openIdConfigurationDocument(state: IdentityState, request: IdentityRequest): HttpReply {
  const ref = state.resolveTenant(request.params[0]);
  const tenant = ref.kind === "tenant" ? { id: ref.tenant.id } : { authority: ref.kind };
  const body = openIdConfiguration({ loginOrigin: state.origin, cloudLoginOrigin: state.publicOrigin ?? state.origin, graphResource: state.graph, ...(state.graphOrigin ? { graphOrigin: state.graphOrigin } : {}), tenant });
  return jsonReply(200, body, CORS);
}

/** Route `/common/discovery/instance`. */
export function instanceDiscoveryDocument(state: IdentityState, request: IdentityRequest): HttpReply {
  const found = instanceDiscovery(state.origin, request.query);
  return jsonReply(found.status, found.body, CORS);
}

/** Route `/error?code=`: where every AADSTS answer's `error_uri` points. */
export function errorCodePage(_state: IdentityState, request: IdentityRequest): HttpReply {
  const code = (request.query.get("code") ?? "").replace(/\D/g, "");
  return htmlReply(200, `<!DOCTYPE html><html><body><h1>AADSTS${code}</h1></body></html>`);
}
