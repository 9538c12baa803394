/**
 * Rich change notifications (`includeResourceData: true`), the receiving side: the POST's `validationTokens` are
 * verified against the cloud's published signing keys, then each item's `encryptedContent` is checked and decrypted
 * with the subscription certificate's private key, so the flow gets the resource without another GET.
 *
 * Source (DC = microsoftgraph/microsoft-graph-docs-contrib): concepts/change-notifications-with-resource-data.md
 * ("Set up change notifications that include resource data", ms.date 05/30/2024): "How to validate" and
 * "Decrypting resource data"; api-reference/v1.0/resources/changenotificationencryptedcontent.md.
 */
import { constants, createDecipheriv, createHash, createHmac, createPrivateKey, privateDecrypt, timingSafeEqual, X509Certificate, type KeyObject } from "node:crypto";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { clock } from "../client/clock";
import { host, type MicrosoftCloud } from "../client/clouds";
import { LOGIN_URL_ENV, readLoopbackOverride } from "../client/hosts";
import { sendWithoutToken, TransportFailure } from "../client/transport";

/** Microsoft Graph Change Tracking: the only app whose validation tokens are accepted (DC "How to validate", step 4). */
export const CHANGE_TRACKING_APP_ID = "0bf30f3b-4a52-48df-9a82-234910c4a086";

export type RichNotificationProblem =
  | "missingValidationTokens"
  | "malformedValidationToken"
  | "unknownSigningKey"
  | "badTokenSignature"
  | "tokenExpired"
  | "tokenNotYetValid"
  | "wrongAudience"
  | "wrongIssuer"
  | "wrongPublisher"
  | "malformedEncryptedContent"
  | "wrongCertificate"
  | "wrongPrivateKey"
  | "dataSignatureMismatch"
  | "badPadding"
  | "notJson"
  | "signingKeysUnavailable"
  | "itemWithoutToken";

/**
 * A rich notification that must not reach the flow, or the keys to check it could not be had. The message says what
 * failed in plain words and never carries a token, a key or decrypted data.
 */
export class RichNotificationError extends Error {
  constructor(
    readonly problem: RichNotificationProblem,
    message: string,
  ) {
    super(message);
    this.name = "RichNotificationError";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Validation tokens

export interface ValidationTokenClaims extends JWTPayload {
  tid?: string;
  appid?: string;
  azp?: string;
}

export interface VerifyValidationTokensOptions {
  /** Our app's client id(s): each token's `aud` must be one of them (DC "How to validate", step 3). */
  audience: string | readonly string[];
  /** The sign-in host's published key set (`fetchChangeTrackingKeys`). */
  signingKeys: JSONWebKeySet;
  /**
   * The tenants of the notification items: each token's issuer must be `https://sts.windows.net/{one of them}/`.
   * Without it, any tenant's issuer of that form is accepted (and must agree with the token's `tid`).
   */
  tenantIds?: readonly string[];
  /** ms epoch; default the client's clock. */
  now?: number;
  /** Clock skew tolerated on `exp` and `nbf`; default 300 s, the tolerance Microsoft's token libraries default to. */
  clockToleranceSeconds?: number;
}

const STS_ISSUER = /^https:\/\/sts\.windows\.net\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/$/i;

/**
 * Verifies every JWT of a POST's `validationTokens` (DC "How to validate": "perform validation on every JWT token";
 * "If any tokens fail, consider the change notification suspicious"): RS256 signature by a key the sign-in host
 * publishes, not expired, `aud` = our app, `iss` = `https://sts.windows.net/{tenantId}/`, and `appid` (v1.0 tokens) or
 * `azp` (v2.0) = Microsoft Graph Change Tracking. Resolves to each token's claims; rejects with a
 * RichNotificationError naming the first token that failed and why.
 */
export async function verifyValidationTokens(tokens: unknown, options: VerifyValidationTokensOptions): Promise<ValidationTokenClaims[]> {
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new RichNotificationError("missingValidationTokens", "the notification carries encrypted resource data but no validationTokens, so it cannot be proven to come from Microsoft Graph");
  }
  const audiences = typeof options.audience === "string" ? [options.audience] : [...options.audience];
  const keySet = createLocalJWKSet(options.signingKeys);
  const currentDate = new Date(options.now ?? clock.now());
  const claims: ValidationTokenClaims[] = [];
  for (const [index, token] of tokens.entries()) {
    const which = tokens.length === 1 ? "the validation token" : `validation token ${index + 1} of ${tokens.length}`;
    if (typeof token !== "string") throw new RichNotificationError("malformedValidationToken", `${which} is not a string`);
    let payload: ValidationTokenClaims;
    try {
      ({ payload } = await jwtVerify<ValidationTokenClaims>(token, keySet, {
        algorithms: ["RS256"],
        audience: audiences,
        currentDate,
        clockTolerance: options.clockToleranceSeconds ?? 300,
        requiredClaims: ["exp", "iss", "aud"],
      }));
    } catch (error) {
      throw tokenError(which, error, audiences);
    }
    checkIssuer(which, payload, options.tenantIds);
    const publisher = payload.appid ?? payload.azp;
    if (publisher !== CHANGE_TRACKING_APP_ID) {
      throw new RichNotificationError(
        "wrongPublisher",
        `${which} was issued to app '${String(publisher ?? "(none)")}', not to Microsoft Graph Change Tracking (${CHANGE_TRACKING_APP_ID}): another app, not Microsoft Graph, sent this notification`,
      );
    }
    claims.push(payload);
  }
  return claims;
}

function checkIssuer(which: string, payload: ValidationTokenClaims, tenantIds: readonly string[] | undefined): void {
  const issuer = String(payload.iss);
  const tenant = STS_ISSUER.exec(issuer)?.[1]?.toLowerCase();
  const expected = tenantIds?.map((t) => t.toLowerCase());
  const tidAgrees = payload.tid === undefined || String(payload.tid).toLowerCase() === tenant;
  if (!tenant || !tidAgrees || (expected && !expected.includes(tenant))) {
    const wanted = expected?.length ? expected.map((t) => `https://sts.windows.net/${t}/`).join(" or ") : "https://sts.windows.net/{tenant id}/ (Microsoft identity platform)";
    throw new RichNotificationError("wrongIssuer", `${which} was issued by '${issuer}', expected ${wanted}`);
  }
}

function tokenError(which: string, error: unknown, audiences: string[]): RichNotificationError {
  const code = (error as { code?: string }).code;
  if (error instanceof joseErrors.JWTExpired) {
    const exp = typeof error.payload.exp === "number" ? ` at ${new Date(error.payload.exp * 1000).toISOString()}` : "";
    return new RichNotificationError("tokenExpired", `${which} expired${exp}`);
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === "aud") {
      const aud = error.payload.aud === undefined ? "(none)" : `'${String(error.payload.aud)}'`;
      return new RichNotificationError("wrongAudience", `${which} is for app ${aud}, not for this connection's client id ${audiences.map((a) => `'${a}'`).join(" or ")}`);
    }
    if (error.claim === "nbf" || error.claim === "iat") return new RichNotificationError("tokenNotYetValid", `${which} is not valid yet (${error.claim} is in the future)`);
    return new RichNotificationError("malformedValidationToken", `${which} has a missing or invalid '${error.claim}' claim`);
  }
  if (code === "ERR_JWKS_NO_MATCHING_KEY") {
    return new RichNotificationError("unknownSigningKey", `${which} is signed with a key (kid) that the Microsoft sign-in host does not publish`);
  }
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
    return new RichNotificationError("badTokenSignature", `${which} has a signature that does not verify with the Microsoft sign-in host's key: it was forged or altered`);
  }
  if (code === "ERR_JOSE_ALG_NOT_ALLOWED") return new RichNotificationError("badTokenSignature", `${which} is not signed with RS256`);
  return new RichNotificationError("malformedValidationToken", `${which} is not a valid signed JWT (${code ?? "unreadable"})`);
}

// ---------------------------------------------------------------------------------------------------------------
// Encrypted content

/** microsoft.graph.changeNotificationEncryptedContent. */
export interface EncryptedContent {
  data: string;
  dataSignature: string;
  dataKey: string;
  encryptionCertificateId?: string;
  encryptionCertificateThumbprint?: string;
}

export interface DecryptionExpectations {
  /** The `encryptionCertificateId` our subscription was made with: content for another certificate is refused by name. */
  encryptionCertificateId?: string;
}

interface ParsedPrivateKey {
  pem: string;
  key: KeyObject;
  /** Upper-case hex SHA-1 of the certificate when the PEM carries one. */
  thumbprint?: string;
}

// One entry: a trigger decrypts every item of a POST with the same key, and parsing a key costs more than using it.
let lastKey: ParsedPrivateKey | undefined;

function parsePrivateKey(pem: string): ParsedPrivateKey {
  if (lastKey?.pem === pem) return lastKey;
  const keyBlock = /-----BEGIN (RSA )?PRIVATE KEY-----[\s\S]+?-----END (RSA )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (!keyBlock) throw new RichNotificationError("wrongPrivateKey", "no unencrypted private key ('-----BEGIN PRIVATE KEY-----') was found to decrypt the resource data with");
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlock);
  } catch {
    throw new RichNotificationError("wrongPrivateKey", "the private key to decrypt the resource data with could not be read");
  }
  const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  let thumbprint: string | undefined;
  if (certificateBlock) {
    try {
      thumbprint = certificateThumbprint(certificateBlock);
    } catch {
      thumbprint = undefined;
    }
  }
  lastKey = { pem, key, thumbprint };
  return lastKey;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64Field(content: Record<string, unknown>, name: keyof EncryptedContent): Buffer {
  const value = content[name];
  if (typeof value !== "string" || value === "" || !BASE64.test(value)) {
    throw new RichNotificationError("malformedEncryptedContent", `encryptedContent.${name} is missing or not base64`);
  }
  return Buffer.from(value, "base64");
}

/**
 * Checks and decrypts one item's `encryptedContent` (DC "Decrypting resource data", steps 1-6): the data key is
 * RSA-OAEP (SHA-1) decrypted with the private key; HMAC-SHA256 of the base64-decoded `data` under that key must equal
 * `dataSignature` (compared in constant time, before anything is decrypted: "If they don't match, assume the payload
 * has been tampered with and don't decrypt it"); then AES-256-CBC, PKCS#7 padding, IV = the key's first 16 bytes.
 * `privateKeyPem` may also carry the certificate: its thumbprint is then checked against the notification's.
 * Returns the resource (the decrypted JSON).
 */
export function decryptEncryptedContent(content: unknown, privateKeyPem: string, expected: DecryptionExpectations = {}): Record<string, unknown> {
  if (content === null || typeof content !== "object" || Array.isArray(content)) {
    throw new RichNotificationError("malformedEncryptedContent", "encryptedContent is not an object");
  }
  const fields = content as Record<string, unknown>;
  const certificateId = typeof fields.encryptionCertificateId === "string" ? fields.encryptionCertificateId : undefined;
  const thumbprint = typeof fields.encryptionCertificateThumbprint === "string" ? fields.encryptionCertificateThumbprint : undefined;
  const named = `certificate id '${certificateId ?? "(none)"}', thumbprint ${thumbprint ?? "(none)"}`;

  if (expected.encryptionCertificateId !== undefined && certificateId !== expected.encryptionCertificateId) {
    throw new RichNotificationError(
      "wrongCertificate",
      `the resource data was encrypted for certificate id '${certificateId ?? "(none)"}', not for '${expected.encryptionCertificateId}', the certificate of this subscription`,
    );
  }
  const privateKey = parsePrivateKey(privateKeyPem);
  if (privateKey.thumbprint && thumbprint && thumbprint.replace(/[:\s]/g, "").toUpperCase() !== privateKey.thumbprint) {
    throw new RichNotificationError(
      "wrongCertificate",
      `the resource data was encrypted for the certificate with thumbprint ${thumbprint}, not for this one (${privateKey.thumbprint})`,
    );
  }

  const encryptedKey = base64Field(fields, "dataKey");
  const data = base64Field(fields, "data");
  const signature = base64Field(fields, "dataSignature");

  let symmetricKey: Buffer;
  try {
    symmetricKey = privateDecrypt({ key: privateKey.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, encryptedKey);
  } catch {
    throw new RichNotificationError("wrongPrivateKey", `the data key could not be decrypted with this private key (RSA-OAEP): it was encrypted for another certificate (${named})`);
  }
  if (symmetricKey.length !== 32) {
    throw new RichNotificationError("wrongPrivateKey", `the decrypted data key is ${symmetricKey.length} bytes, not the 32 of an AES-256 key (${named})`);
  }

  const actual = createHmac("sha256", symmetricKey).update(data).digest();
  // Security: a constant-time comparison, so response timing reveals nothing about the expected signature.
  if (signature.length !== actual.length || !timingSafeEqual(signature, actual)) {
    throw new RichNotificationError("dataSignatureMismatch", "the encrypted resource data does not match its dataSignature (HMAC-SHA256): it was altered on the way, so it was not decrypted");
  }

  let plaintext: string;
  try {
    const decipher = createDecipheriv("aes-256-cbc", symmetricKey, symmetricKey.subarray(0, 16));
    plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
  } catch {
    throw new RichNotificationError("badPadding", "the resource data did not decrypt: its AES-CBC (PKCS#7) padding is invalid");
  }
  try {
    const resource: unknown = JSON.parse(plaintext);
    if (resource !== null && typeof resource === "object" && !Array.isArray(resource)) return resource as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RichNotificationError("notJson", "the decrypted resource data is not a JSON object");
}

// ---------------------------------------------------------------------------------------------------------------
// The sign-in host's published keys

/** Keys are rotated daily and the configuration "is cached by your app for some time" (DC "How to validate", step 2). */
export const SIGNING_KEYS_TTL_MS = 60 * 60_000;
/** A forced refresh (a token names an unknown kid) is not repeated sooner than this, so forged tokens cannot make us fetch on every POST. */
export const SIGNING_KEYS_MIN_REFRESH_MS = 5 * 60_000;

interface CachedKeys {
  keys: JSONWebKeySet;
  fetchedAt: number;
}

const keyCache = new Map<string, CachedKeys>();
const keyFetches = new Map<string, Promise<JSONWebKeySet>>();

/** For tests: forget every cached key set. */
export function clearChangeTrackingKeyCache(): void {
  keyCache.clear();
  keyFetches.clear();
}

export interface FetchChangeTrackingKeysOptions {
  cloud: MicrosoftCloud;
  /** Per attempt; default 10 s. */
  timeoutMs?: number;
  /** Fetch again even if cached (a token named an unknown key), unless the cached copy is younger than SIGNING_KEYS_MIN_REFRESH_MS. */
  forceRefresh?: boolean;
}

/**
 * The signing keys of the cloud's sign-in host, `{login}/common/discovery/v2.0/keys` (the `jwks_uri` of
 * `https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration`; the doc's JavaScript sample reads
 * that URL), through the connector's tokenless transport, cached per process. MS_GRAPH_LOGIN_URL (a loopback origin)
 * points it at the identity emulator.
 */
export async function fetchChangeTrackingKeys(options: FetchChangeTrackingKeysOptions): Promise<JSONWebKeySet> {
  const loopbackLogin = readLoopbackOverride(LOGIN_URL_ENV);
  const url = new URL(`${loopbackLogin ?? options.cloud.login}/common/discovery/v2.0/keys`);
  const cached = keyCache.get(url.href);
  const age = cached ? clock.now() - cached.fetchedAt : Infinity;
  if (cached && (options.forceRefresh ? age < SIGNING_KEYS_MIN_REFRESH_MS : age < SIGNING_KEYS_TTL_MS)) return cached.keys;

  const running = keyFetches.get(url.href);
  if (running) return running;
  const fetching = downloadKeys(url, options, loopbackLogin !== undefined)
    .then((keys) => {
      keyCache.set(url.href, { keys, fetchedAt: clock.now() });
      return keys;
    })
    .finally(() => keyFetches.delete(url.href));
  keyFetches.set(url.href, fetching);
  return fetching;
}

async function downloadKeys(url: URL, options: FetchChangeTrackingKeysOptions, loopback: boolean): Promise<JSONWebKeySet> {
  const where = `the Microsoft sign-in host ${host(options.cloud.login)}`;
  let response;
  try {
    response = await sendWithoutToken({ method: "GET", url, headers: { Accept: "application/json" }, timeoutMs: options.timeoutMs ?? 10_000 }, loopback);
  } catch (error) {
    const reason = error instanceof TransportFailure ? error.reason : String(error);
    throw new RichNotificationError("signingKeysUnavailable", `could not fetch the signing keys from ${where}: ${reason}`);
  }
  if (response.status !== 200) {
    const status = [response.status, response.statusText].filter(Boolean).join(" ");
    throw new RichNotificationError("signingKeysUnavailable", `${where} answered ${status} for its signing keys (${url.pathname})`);
  }
  let body: unknown;
  try {
    body = JSON.parse(response.body.toString("utf8"));
  } catch {
    body = undefined;
  }
  const keys = (body as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new RichNotificationError("signingKeysUnavailable", `${where} answered its signing keys request without a 'keys' list`);
  }
  return { keys: keys as JSONWebKeySet["keys"] };
}

// ---------------------------------------------------------------------------------------------------------------
// One POST, all steps

export interface OpenRichNotificationsOptions {
  /** Our app's client id: the validation tokens' audience. */
  audience: string;
  /** Whose sign-in host publishes the signing keys. */
  cloud: MicrosoftCloud;
  /** The subscription certificate's private key (PEM; it may carry the certificate too, whose thumbprint is then checked). */
  privateKeyPem: string;
  /** The subscription's `encryptionCertificateId`; items encrypted for another id are refused. */
  encryptionCertificateId?: string;
  /** For the key fetch; default 10 s. */
  timeoutMs?: number;
  /** ms epoch; default the client's clock. */
  now?: number;
}

export interface OpenedNotification {
  /** The item as Graph sent it, without `encryptedContent`. */
  notification: Record<string, unknown>;
  /** The decrypted resource, for an item that carried `encryptedContent`. */
  resource?: Record<string, unknown>;
  /** Why this item's content was refused (altered, or for another certificate); the other items are unaffected. */
  error?: RichNotificationError;
}

/**
 * Opens one delivery POST (`{ value, validationTokens }`). Items without `encryptedContent` (basic or lifecycle
 * notifications) pass through. When any item is encrypted, every validation token must verify first (else the whole
 * POST is refused, as the doc advises), each encrypted item's tenant must be vouched for by a token ("a single token
 * for each distinct app and tenant pair"), and each item is then checked and decrypted on its own. A token signed with
 * a key not in the cached set makes the keys be fetched again once (keys are rotated daily).
 */
export async function openRichNotifications(collection: unknown, options: OpenRichNotificationsOptions): Promise<OpenedNotification[]> {
  const body = (collection ?? {}) as { value?: unknown; validationTokens?: unknown };
  const items = (Array.isArray(body.value) ? body.value : []).filter((item): item is Record<string, unknown> => item !== null && typeof item === "object");
  const encrypted = items.filter((item) => item.encryptedContent !== undefined);
  if (encrypted.length === 0) return items.map((notification) => ({ notification }));

  const tenantIds = [...new Set(encrypted.map((item) => item.tenantId).filter((t): t is string => typeof t === "string"))];
  const verifyWith = async (forceRefresh: boolean) =>
    verifyValidationTokens(body.validationTokens, {
      audience: options.audience,
      signingKeys: await fetchChangeTrackingKeys({ cloud: options.cloud, timeoutMs: options.timeoutMs, forceRefresh }),
      tenantIds: tenantIds.length ? tenantIds : undefined,
      now: options.now,
    });
  let claims: ValidationTokenClaims[];
  try {
    claims = await verifyWith(false);
  } catch (error) {
    if (!(error instanceof RichNotificationError) || error.problem !== "unknownSigningKey") throw error;
    claims = await verifyWith(true);
  }
  const vouched = new Set(claims.map((c) => String(STS_ISSUER.exec(String(c.iss))?.[1] ?? "").toLowerCase()));

  return items.map((item) => {
    const { encryptedContent, ...notification } = item;
    if (encryptedContent === undefined) return { notification };
    try {
      if (typeof item.tenantId === "string" && !vouched.has(item.tenantId.toLowerCase())) {
        throw new RichNotificationError("itemWithoutToken", `no validation token vouches for the item of tenant '${item.tenantId}'`);
      }
      return { notification, resource: decryptEncryptedContent(encryptedContent, options.privateKeyPem, { encryptionCertificateId: options.encryptionCertificateId }) };
    } catch (error) {
      if (error instanceof RichNotificationError) return { notification, error };
      throw error;
    }
  });
}

/** SHA-1 thumbprint of a PEM certificate as Graph writes `encryptionCertificateThumbprint` (upper-case hex). */
export function certificateThumbprint(certificatePem: string): string {
  return createHash("sha1").update(new X509Certificate(certificatePem).raw).digest("hex").toUpperCase();
}
