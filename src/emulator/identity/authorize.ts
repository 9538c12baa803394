/**
 * The authorize endpoint (`/{tenant}/oauth2/v2.0/authorize`): signs in the configured user without a page
 * (auto-consent) and delivers a code to the redirect URI. ED = MicrosoftDocs/entra-docs, docs/identity-platform/:
 * v2-oauth2-auth-code-flow.md, reply-url.md.
 */
import { randomUUID } from "node:crypto";

import { AadError, err } from "./errors";
import { decodeSegment, errorDescription, errorPage, escapeHtml, htmlReply, queryParams, redact, type HttpReply, type IdentityRequest } from "./http";
import { parseUserScopes } from "./scopes";
import { opaque, type AuthCode, type IdentityState, type RegisteredApp, type TenantRef } from "./state";

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "127.0.0.1";
}

/** ED reply-url.md: exact, case-sensitive match, except that a loopback URI's port is ignored. */
export function redirectMatches(requested: URL, registered: string): boolean {
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

function deliver(redirectUri: URL, mode: string, params: Record<string, string>): HttpReply {
  if (mode === "form_post") {
    const inputs = Object.entries(params)
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}" />`)
      .join("");
    return htmlReply(
      200,
      `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="${escapeHtml(redirectUri.href)}">${inputs}` +
        `<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form>` +
        `<script language="javascript">document.forms[0].submit();</script></body></html>`,
    );
  }
  const target = new URL(redirectUri.href);
  if (mode === "fragment") {
    target.hash = new URLSearchParams(params).toString();
  } else {
    for (const [k, v] of Object.entries(params)) target.searchParams.append(k, v);
  }
  return { status: 302, headers: { Location: target.href }, body: "" };
}

interface TrustedClient {
  ref: TenantRef;
  app: RegisteredApp;
  redirect: URL;
}

/** The tenant, the app and its redirect URI: until they are trusted, errors are shown on the sign-in page. */
function trustedClient(state: IdentityState, segment: string, params: Record<string, string>): TrustedClient {
  const ref = state.resolveTenant(segment);
  const app = state.findApp(params.client_id, ref);
  const raw = params.redirect_uri ?? (app.redirectUris.length === 1 ? app.redirectUris[0] : undefined);
  if (raw === undefined) throw err.noReplyAddress();
  let parsed: URL | undefined;
  try {
    parsed = new URL(raw);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !app.redirectUris.some((r) => redirectMatches(parsed, r))) throw err.redirectMismatch(raw, params.client_id ?? "");
  return { ref, app, redirect: parsed };
}

/** Validates the request and records the code the redirect will carry. */
function issueCode(state: IdentityState, client: TrustedClient, params: Record<string, string>, now: number): string {
  const { ref, app, redirect } = client;
  if (ref.kind === "consumers") throw err.consumersEndpoint(app);
  const responseType = params.response_type;
  if (responseType === undefined) throw err.missing("response_type");
  const types = responseType.split(/\s+/).filter(Boolean).sort().join(" ");
  if (types !== "code") throw types.includes("id_token") ? err.idTokenNotEnabled() : err.responseType(responseType);
  if (params.scope === undefined || params.scope.trim() === "") throw err.missing("scope");
  const scopes = parseUserScopes(state, params.scope, ref);
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
  const tenant =
    ref.kind === "tenant" ? ref.tenant : (state.tenants.find((t) => hint !== undefined && (t.id === hint || t.domains.includes(hint))) ?? state.tenants[0]);
  const code = opaque("emu_code_");
  state.codes.set(code, {
    clientId: app.clientId,
    tenantId: tenant.id,
    redirectUri: redirect.href,
    scopes,
    challenge: params.code_challenge,
    challengeMethod,
    nonce: params.nonce,
    user: state.user,
    issuedAt: now,
    redeemed: false,
  });
  return code;
}

/** Route `/{tenant}/oauth2/v2.0/authorize`. */
export function authorizeEndpoint(state: IdentityState, request: IdentityRequest): HttpReply {
  const params = queryParams(request.query);
  request.entry.form = redact(params);
  let client: TrustedClient;
  try {
    client = trustedClient(state, decodeSegment(request.params[0]), params);
  } catch (e) {
    if (e instanceof AadError) return errorPage(e, request);
    throw e;
  }

  const requestedMode = params.response_mode ?? "query";
  const mode = ["query", "fragment", "form_post"].includes(requestedMode) ? requestedMode : "query";
  const stateParam: Record<string, string> = params.state !== undefined ? { state: params.state } : {};
  try {
    if (mode !== requestedMode) throw err.responseMode(requestedMode);
    const code = issueCode(state, client, params, request.now);
    // ED auth-code doc success: code + state; Entra also sends session_state.
    return deliver(client.redirect, mode, { code, ...stateParam, session_state: randomUUID() });
  } catch (e) {
    if (!(e instanceof AadError)) throw e;
    // ED auth-code doc: errors go to the redirect URI as error + error_description.
    return deliver(client.redirect, mode, {
      error: e.error,
      error_description: errorDescription(e, request),
      error_uri: `${state.origin}/error?code=${e.code}`,
      ...stateParam,
    });
  }
}
