/**
 * Just enough JWS (RFC 7515/7518) for the identity emulator: decode a compact JWT, verify an RS256/PS256-family
 * signature with node:crypto, sign one (tests build client assertions with it) and build the unsigned
 * (`alg: none`) id_token Entra documents for the token response (ED v2-oauth2-auth-code-flow.md sample).
 */
import { constants, createPrivateKey, sign, verify, type KeyObject } from "node:crypto";

export type JsonObject = Record<string, unknown>;

export interface DecodedJwt {
  header: JsonObject;
  payload: JsonObject;
  /** `base64url(header) + "." + base64url(payload)`: the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

/** Signature algorithms accepted for client assertions: RS256 (MSAL's historical default) and PS256 (ED certificate-credentials.md "Should be PS256"). */
export const ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const;
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

const B64URL = /^[A-Za-z0-9_-]*$/;

function parseSegment(segment: string): JsonObject | undefined {
  if (!B64URL.test(segment) || segment === "") return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits and parses a compact JWS; undefined when it is not three base64url segments with JSON objects. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || !B64URL.test(parts[2])) return undefined;
  const header = parseSegment(parts[0]);
  const payload = parseSegment(parts[1]);
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], "base64url") };
}

export function isAssertionAlgorithm(alg: unknown): alg is AssertionAlgorithm {
  return typeof alg === "string" && (ASSERTION_ALGORITHMS as readonly string[]).includes(alg);
}

function digestOf(alg: AssertionAlgorithm): string {
  return `sha${alg.slice(2)}`;
}

/** RFC 7518 §3.5: PS* uses RSASSA-PSS with MGF1 and a salt as long as the hash. */
function keyFor(alg: AssertionAlgorithm, key: KeyObject) {
  return alg.startsWith("PS") ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : { key };
}

export function verifyJwtSignature(jwt: DecodedJwt, alg: AssertionAlgorithm, publicKey: KeyObject): boolean {
  try {
    return verify(digestOf(alg), Buffer.from(jwt.signingInput, "ascii"), keyFor(alg, publicKey), jwt.signature);
  } catch {
    return false;
  }
}

/** Signs a JWT with an RSA private key (PEM); tests use it to build client assertions. */
export function signJwt(header: JsonObject & { alg: AssertionAlgorithm }, payload: JsonObject, privateKeyPem: string): string {
  const signingInput = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  const signature = sign(digestOf(header.alg), Buffer.from(signingInput, "ascii"), keyFor(header.alg, createPrivateKey(privateKeyPem)));
  return `${signingInput}.${signature.toString("base64url")}`;
}

/** An unsigned JWT (`{"typ":"JWT","alg":"none"}`, empty signature), the shape of the documented sample id_token. */
export function unsignedJwt(payload: JsonObject): string {
  const header = Buffer.from(JSON.stringify({ typ: "JWT", alg: "none" })).toString("base64url");
  return `${header}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;
}
