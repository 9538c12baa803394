/**
 * JWTs for the emulator. Reading and verifying go through jose (decodeProtectedHeader, decodeJwt, compactVerify).
 * Signing uses jose's SignJWT. One piece stays here because jose lacks it:
 * - `unsignedJwt`: jose's UnsecuredJWT writes the header `{"alg":"none"}` only; the documented sample id_token's is
 *   `{"typ":"JWT","alg":"none"}` (ED v2-oauth2-auth-code-flow.md).
 */
import { createPrivateKey, type KeyObject } from "node:crypto";

import { base64url, compactVerify, decodeJwt as decodeJwtPayload, decodeProtectedHeader, SignJWT } from "jose";

export type JsonObject = Record<string, unknown>;

export interface DecodedJwt {
  header: JsonObject;
  payload: JsonObject;
}

/** Signature algorithms accepted for client assertions: RS256 (MSAL's historical default) and PS256 (ED certificate-credentials.md "Should be PS256"). */
export const ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const;
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A compact JWS's header and claims, unverified; undefined when it is not three base64url segments with JSON objects. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  // jose decodes the header and claims; the signature segment is only decoded when verifying, so check it here.
  if (parts.length !== 3 || !BASE64URL.test(parts[2])) return undefined;
  try {
    return { header: decodeProtectedHeader(token) as JsonObject, payload: decodeJwtPayload(token) as JsonObject };
  } catch {
    return undefined;
  }
}

export function isAssertionAlgorithm(alg: unknown): alg is AssertionAlgorithm {
  return typeof alg === "string" && (ASSERTION_ALGORITHMS as readonly string[]).includes(alg);
}

/** Whether `token` is signed with `alg` by the key's private half. */
export async function verifyJwtSignature(token: string, alg: AssertionAlgorithm, publicKey: KeyObject): Promise<boolean> {
  try {
    await compactVerify(token, publicKey, { algorithms: [alg] });
    return true;
  } catch {
    return false;
  }
}

/** Signs a JWT with an RSA private key (PEM); tests build client assertions with it, the emulator its validation tokens. */
export function signJwt(header: JsonObject & { alg: AssertionAlgorithm }, payload: JsonObject, privateKeyPem: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(createPrivateKey(privateKeyPem));
}

/** An unsigned JWT (`{"typ":"JWT","alg":"none"}`, empty signature), the shape of the documented sample id_token. */
export function unsignedJwt(payload: JsonObject): string {
  return `${base64url.encode(JSON.stringify({ typ: "JWT", alg: "none" }))}.${base64url.encode(JSON.stringify(payload))}.`;
}
