/**
 * The device authorization grant (ED = MicrosoftDocs/entra-docs, docs/identity-platform/v2-oauth2-device-code.md):
 * `POST /{tenant}/oauth2/v2.0/devicecode` hands out a device code and a user code, the user enters the user code on
 * the verification page, and the device polls the token endpoint with
 * `grant_type=urn:ietf:params:oauth:grant-type:device_code` until it gets tokens.
 */
import { randomInt } from "node:crypto";

import { authenticateClient, type GrantRequest } from "./clientAuth";
import { AadError, err } from "./errors";
import { decodeSegment, errorPage, escapeHtml, htmlReply, jsonReply, queryParams, readForm, redact, type HttpReply, type IdentityRequest } from "./http";
import { parseUserScopes } from "./scopes";
import { opaque, type DeviceAuthorization, type IdentityState } from "./state";
import { requestedWithin, userTokenResponse } from "./userTokens";

/** ED device-code doc: "the user has 15 minutes to sign in. This is the default value for expires_in." */
const DEVICE_CODE_LIFETIME_SECONDS = 900;
/**
 * Entra's user codes are nine upper-case letters and digits ("FRWQDE7YL" in msal-node's captured answer); the
 * emulator leaves out I, O, 0 and 1, which a person misreads (the docs do not give Entra's alphabet).
 */
const USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const USER_CODE_LENGTH = 9;

/**
 * The verification page. Entra's is https://microsoft.com/devicelogin (a different host, which forwards to the
 * sign-in host); the emulator serves it on its own sign-in host so that nothing leaves loopback.
 */
export const DEVICE_LOGIN_PATH = "/devicelogin";

function newUserCode(): string {
  let code = "";
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

/** What the user types: any case, with or without spaces and dashes. */
function normalizeUserCode(typed: string): string {
  return typed.replace(/[\s-]/g, "").toUpperCase();
}

/** Route `/{tenant}/oauth2/v2.0/devicecode`: the device authorization request (client_id, scope). */
export function deviceAuthorizationEndpoint(state: IdentityState, request: IdentityRequest): HttpReply {
  const { method } = request;
  if (method === "OPTIONS") return { status: 200, headers: {}, body: "" };
  if (method !== "POST") throw err.postOnly(method);
  const ref = state.resolveTenant(decodeSegment(request.params[0]));
  const form = readForm(request);
  request.entry.form = redact(form);
  const app = state.findApp(form.client_id, ref);
  // As the other delegated flows: an Entra-only app is refused on /consumers; common and organizations sign the
  // user into their home tenant (the emulator's first).
  if (ref.kind === "consumers") throw err.consumersEndpoint(app);
  if (form.scope === undefined || form.scope.trim() === "") throw err.missing("scope");
  const scopes = parseUserScopes(state, form.scope, ref);
  const tenantId = ref.kind === "tenant" ? ref.tenant.id : state.tenants[0].id;
  const deviceCode = opaque("emu_dc_");
  const userCode = newUserCode();
  state.deviceCodes.set(deviceCode, { clientId: app.clientId, tenantId, scopes, userCode, expiresAt: request.now + DEVICE_CODE_LIFETIME_SECONDS * 1000 });
  const verificationUri = `${state.origin}${DEVICE_LOGIN_PATH}`;
  // Keys in the order and message in the wording of msal-node's captured answer (TestConstants.ts DEVICE_CODE_RESPONSE);
  // ED device-code doc: no verification_uri_complete.
  return jsonReply(200, {
    user_code: userCode,
    device_code: deviceCode,
    verification_uri: verificationUri,
    expires_in: DEVICE_CODE_LIFETIME_SECONDS,
    interval: state.deviceCodeIntervalSeconds,
    message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
  });
}

/** The token endpoint's `urn:ietf:params:oauth:grant-type:device_code`: polled until the user has answered. */
export async function deviceCodeGrant(state: IdentityState, request: GrantRequest): Promise<HttpReply> {
  const { ref, form, basic, now } = request;
  const app = state.findApp(form.client_id ?? basic?.clientId, ref);
  if (ref.kind === "consumers") throw err.consumersEndpoint(app);
  if (form.device_code === undefined) throw err.missing("device_code");
  // A confidential app must still authenticate: Entra answers AADSTS7000218 to a device flow without a secret
  // unless the app is a public client ("Allow public client flows").
  await authenticateClient(state, app, request);
  const pending = state.deviceCodes.get(form.device_code);
  // ED device-code doc: the tenant must be "the same tenant or tenant alias used in the initial request".
  if (!pending || (ref.kind === "tenant" && ref.tenant.id !== pending.tenantId)) throw err.badVerificationCode();
  if (pending.clientId !== app.clientId) throw err.grantOtherClient("device_code");
  if (now >= pending.expiresAt) throw err.deviceCodeExpired();
  if (!pending.outcome) throw err.authorizationPending();
  if ("declined" in pending.outcome) throw err.authorizationDeclined();
  const scopes = requestedWithin(state, request, pending.scopes);
  if (!scopes) throw err.notConsented(app, "invalid_grant");
  // One redemption: the docs are silent on a second one; the emulator no longer recognizes the code.
  state.deviceCodes.delete(form.device_code);
  const refreshScopes = pending.scopes.oidc.includes("offline_access") ? pending.scopes : undefined;
  return userTokenResponse(state, { app, tenantId: pending.tenantId, scopes, user: pending.outcome.approvedBy, refreshScopes, form });
}

function findByUserCode(state: IdentityState, typed: string): DeviceAuthorization | undefined {
  const wanted = normalizeUserCode(typed);
  for (const pending of state.deviceCodes.values()) if (pending.userCode === wanted) return pending;
  return undefined;
}

const PAGE_HEAD = `<!DOCTYPE html><html><head><title>Enter code</title></head><body>`;

function codeForm(): HttpReply {
  return htmlReply(
    200,
    PAGE_HEAD +
      `<h1>Enter code</h1><p>Enter the code displayed on your app or device.</p>` +
      `<form method="POST" action="${DEVICE_LOGIN_PATH}"><input name="otc" aria-label="Code" autocomplete="off" />` +
      `<button type="submit">Next</button> <button type="submit" name="decline" value="1">Cancel sign-in</button></form>` +
      `</body></html>`,
  );
}

/**
 * Route `/devicelogin` (GET or POST): without `otc`, the form; with `otc` (the user code), the emulator's user
 * (the one the authorize endpoint signs in) approves the device, or declines it with `decline=1`. No password and
 * no consent screen: like the authorize endpoint, the emulator signs its user in and consents for them.
 */
export function deviceLoginPage(state: IdentityState, request: IdentityRequest): HttpReply {
  const fields = { ...queryParams(request.query), ...(request.method === "POST" ? readForm(request) : {}) };
  request.entry.form = redact(fields);
  if (fields.otc === undefined || fields.otc.trim() === "") return codeForm();
  try {
    const pending = findByUserCode(state, fields.otc);
    if (!pending || pending.outcome) throw err.badVerificationCode();
    if (request.now >= pending.expiresAt) throw err.deviceCodeExpired();
    const app = state.apps.get(pending.clientId);
    const appName = escapeHtml(app?.displayName ?? pending.clientId);
    if (fields.decline !== undefined) {
      pending.outcome = { declined: true };
      return htmlReply(200, `${PAGE_HEAD}<h1>Sign-in canceled</h1><p>You declined to sign in to ${appName} on your device.</p></body></html>`);
    }
    pending.outcome = { approvedBy: { ...state.user } };
    return htmlReply(
      200,
      `${PAGE_HEAD}<h1>${escapeHtml(state.user.displayName)}</h1>` +
        `<p>You have signed in to the ${appName} application on your device. You may now close this window.</p></body></html>`,
    );
  } catch (e) {
    if (e instanceof AadError) return errorPage(e, request);
    throw e;
  }
}
