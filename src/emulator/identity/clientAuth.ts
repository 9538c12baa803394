/**
 * Client authentication at the token endpoint: a secret (post or Basic) or a certificate-signed client assertion
 * (ED certificate-credentials.md), and the public-client rules. ED = MicrosoftDocs/entra-docs, docs/identity-platform/.
 */
import { safeEqual } from "../constantTime";
import { decodeJwt, isAssertionAlgorithm, verifyJwtSignature } from "../jwt";
import { err } from "./errors";
import type { BasicCredentials } from "./http";
import { JWT_BEARER_ASSERTION_TYPE, type IdentityState, type RegisteredApp, type TenantRef } from "./state";

/** Clock skew tolerated on client assertion nbf/exp. */
const ASSERTION_SKEW_MS = 5 * 60_000;

/** The token endpoint URLs a client assertion may be addressed to, on this host or the cloud it stands in for. */
function assertionAudiences(state: IdentityState, ref: TenantRef): Set<string> {
  const names = ref.kind === "tenant" ? [ref.segment, ref.tenant.id, ...ref.tenant.domains] : [ref.segment];
  const out = new Set<string>();
  for (const base of [state.origin, state.publicOrigin]) {
    if (!base) continue;
    for (const name of names) {
      out.add(`${base}/${name}/oauth2/v2.0/token`.toLowerCase());
      out.add(`${base}/${name}/oauth2/token`.toLowerCase());
    }
  }
  return out;
}

/** ED certificate-credentials.md: header alg + x5t#S256 (or x5t); claims aud, exp, iss, jti, nbf, sub, iat. */
async function verifyAssertion(state: IdentityState, app: RegisteredApp, assertion: string, ref: TenantRef, now: number): Promise<void> {
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
  if (!(await verifyJwtSignature(assertion, alg, cert.publicKey))) {
    throw err.assertionSignature("The provided signature value did not match the expected signature value.", presented, cert);
  }
  const claims = jwt.payload;
  if (claims.aud === undefined) throw err.assertionMissing("aud");
  if (claims.iss === undefined) throw err.assertionMissing("iss");
  if (claims.exp === undefined) throw err.assertionMissing("exp");
  if (typeof claims.aud !== "string" || typeof claims.iss !== "string" || typeof claims.exp !== "number") throw err.assertionMalformed();
  if (claims.iss.toLowerCase() !== app.clientId) throw err.assertionClientMismatch();
  if (claims.sub !== undefined && claims.sub !== claims.iss) throw err.assertionSubject();
  if (!assertionAudiences(state, ref).has(claims.aud.toLowerCase())) throw err.assertionAudience();
  const nbf = typeof claims.nbf === "number" ? claims.nbf : undefined;
  if (now >= claims.exp * 1000 + ASSERTION_SKEW_MS || (nbf !== undefined && now < nbf * 1000 - ASSERTION_SKEW_MS)) {
    throw err.assertionTime(now, nbf, claims.exp);
  }
}

/** What every grant gets: the tenant reference, the form, the client's Basic credentials and the request time. */
export interface GrantRequest {
  form: Record<string, string>;
  basic: BasicCredentials | undefined;
  ref: TenantRef;
  now: number;
}

/**
 * A confidential client proves itself with exactly one credential; a public client presents none. `required`:
 * the grant is only for confidential clients (client credentials).
 */
export async function authenticateClient(state: IdentityState, app: RegisteredApp, auth: GrantRequest, required = false): Promise<void> {
  const { form, basic } = auth;
  const secret = form.client_secret ?? (basic && basic.clientId.toLowerCase() === app.clientId ? basic.secret : undefined);
  const assertionType = form.client_assertion_type;
  const assertion = form.client_assertion;
  if (assertion !== undefined && assertionType === undefined) throw err.missing("client_assertion_type");
  if (assertionType !== undefined && assertion === undefined) throw err.missing("client_assertion");
  if (assertionType !== undefined && assertionType !== JWT_BEARER_ASSERTION_TYPE) throw err.malformed();
  const presented = secret !== undefined || assertion !== undefined;
  if (!app.confidential) {
    if (presented) throw err.publicWithCredential();
    if (required) throw err.noCredential();
    return;
  }
  if (!presented) throw err.noCredential();
  if (assertion !== undefined) {
    if (secret !== undefined) throw err.malformed();
    await verifyAssertion(state, app, assertion, auth.ref, auth.now);
    return;
  }
  if (app.clientSecret === undefined || !safeEqual(secret ?? "", app.clientSecret)) throw err.badSecret(app.clientId);
}
