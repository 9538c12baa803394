/**
 * The end-session endpoint (ED = MicrosoftDocs/entra-docs, docs/identity-platform/v2-protocols-oidc.md "Send a
 * sign-out request"): GET or POST `/{tenant}/oauth2/v2.0/logout`, optional `post_logout_redirect_uri`.
 */
import { redirectMatches } from "./authorize";
import { AadError } from "./errors";
import { decodeSegment, errorPage, htmlReply, queryParams, readForm, redact, type HttpReply, type IdentityRequest } from "./http";
import type { IdentityState } from "./state";

/** Entra's "generic message" when no redirect is asked for (the doc does not quote it). */
const SIGNED_OUT_PAGE =
  `<!DOCTYPE html><html><head><title>Sign out</title></head><body>` +
  `<h1>You signed out of your account</h1><p>It’s a good idea to close all browser windows.</p></body></html>`;

/**
 * Route `/{tenant}/oauth2/v2.0/logout`. The emulator keeps no sign-in session (no cookie: the authorize endpoint
 * signs its user in on every request), so there is nothing to end; issued tokens stay valid, as Entra's do (signing
 * out clears the browser session, it does not revoke refresh tokens).
 */
export function logoutEndpoint(state: IdentityState, request: IdentityRequest): HttpReply {
  const fields = { ...queryParams(request.query), ...(request.method === "POST" ? readForm(request) : {}) };
  request.entry.form = redact(fields);
  try {
    state.resolveTenant(decodeSegment(request.params[0]));
  } catch (e) {
    if (e instanceof AadError) return errorPage(e, request);
    throw e;
  }
  const target = fields.post_logout_redirect_uri;
  // "This URL must match one of the redirect URIs registered for your application": of the app named by client_id
  // when the request names one, else of any registered app. Anything else gets the generic page, not an open redirect.
  if (target !== undefined && isRegisteredRedirect(state, target, fields.client_id)) {
    return { status: 302, headers: { Location: new URL(target).href }, body: "" };
  }
  return htmlReply(200, SIGNED_OUT_PAGE);
}

function isRegisteredRedirect(state: IdentityState, target: string, clientId: string | undefined): boolean {
  let requested: URL;
  try {
    requested = new URL(target);
  } catch {
    return false;
  }
  const named = clientId === undefined ? undefined : state.apps.get(clientId.toLowerCase());
  const apps = clientId === undefined ? [...state.apps.values()] : named ? [named] : [];
  return apps.some((app) => app.redirectUris.some((registered) => redirectMatches(requested, registered)));
}
