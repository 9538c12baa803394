/**
 * The Graph side of rich change notifications (`includeResourceData: true`): the resource encrypted for the
 * subscriber's certificate, and the validation tokens Microsoft Graph's change-tracking app signs with the
 * sign-in host's keys, which the identity emulator publishes. Tests and local runs only.
 *
 * Source (DC = microsoftgraph/microsoft-graph-docs-contrib): concepts/change-notifications-with-resource-data.md
 * ("Set up change notifications that include resource data", ms.date 05/30/2024), and
 * api-reference/v1.0/resources/changenotificationencryptedcontent.md.
 */
import { createCipheriv, createHash, createHmac, constants, publicEncrypt, randomBytes, randomUUID, X509Certificate, type JsonWebKey, type KeyObject } from "node:crypto";

import { signJwt } from "./jwt";
import { makeTestCertificate, type TestCertificate } from "./x509";

/** Microsoft Graph Change Tracking: the `appid` of every validation token (DC change-notifications-with-resource-data.md, "How to validate", step 4). */
export const CHANGE_TRACKING_APP_ID = "0bf30f3b-4a52-48df-9a82-234910c4a086";

/** The emulator's choice; the doc's sample token is valid for about 8 hours. */
const VALIDATION_TOKEN_LIFETIME_SECONDS = 3600;

/** microsoft.graph.changeNotificationEncryptedContent. */
export interface EncryptedContent {
  /** base64 AES-256-CBC (PKCS#7) ciphertext of the resource's JSON. */
  data: string;
  /** base64 HMAC-SHA256 of the base64-decoded `data`, keyed with the symmetric key. */
  dataSignature: string;
  /** base64 symmetric key, RSA-OAEP (SHA-1, MGF1) encrypted with the subscription's certificate. */
  dataKey: string;
  /** The subscriber's own identifier for the certificate, echoed from the subscription. */
  encryptionCertificateId: string;
  /** Upper-case hex SHA-1 of the certificate, as in the doc's sample ("07293748CC064953A3052FB978C735FB89E61C3D"). */
  encryptionCertificateThumbprint: string;
}

export interface EncryptionCertificate {
  publicKey: KeyObject;
  thumbprint: string;
  keyBits: number;
}

/**
 * Parses `encryptionCertificate` as a subscription carries it: "the Base64-encoded content that the certificate was
 * exported in", public key only. Throws a message fit for a 400 when it is not an RSA certificate of 2,048 to 4,096
 * bits (DC change-notifications-with-resource-data.md, "Managing encryption keys").
 */
export function parseEncryptionCertificate(encryptionCertificateBase64Der: string): EncryptionCertificate {
  const text = encryptionCertificateBase64Der.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new Error("encryptionCertificate is not base64 (export the certificate's DER bytes as base64, without PEM lines)");
  const der = Buffer.from(text, "base64");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    throw new Error("encryptionCertificate is not an X.509 certificate");
  }
  const publicKey = certificate.publicKey;
  const keyBits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (publicKey.asymmetricKeyType !== "rsa") throw new Error("encryptionCertificate must hold an RSA key");
  if (keyBits < 2048 || keyBits > 4096) throw new Error(`encryptionCertificate's RSA key is ${keyBits} bits; it must be between 2048 and 4096 bits`);
  return { publicKey, thumbprint: createHash("sha1").update(der).digest("hex").toUpperCase(), keyBits };
}

/**
 * Encrypts one resource as Graph does (DC change-notifications-with-resource-data.md, "Decrypting resource data",
 * read in reverse): a single-use 32-byte symmetric key; AES-256-CBC with PKCS#7 padding and the first 16 bytes of the
 * key as IV; `dataSignature` = HMAC-SHA256 over the ciphertext bytes with the same key; the key itself encrypted with
 * RSA/ECB/OAEPWithSHA1AndMGF1Padding (changenotificationencryptedcontent.md, `dataKey`).
 */
export function encryptResourceData(resource: object, encryptionCertificate: string | EncryptionCertificate, encryptionCertificateId: string): EncryptedContent {
  const certificate = typeof encryptionCertificate === "string" ? parseEncryptionCertificate(encryptionCertificate) : encryptionCertificate;
  const symmetricKey = randomBytes(32);
  const cipher = createCipheriv("aes-256-cbc", symmetricKey, symmetricKey.subarray(0, 16));
  const data = Buffer.concat([cipher.update(JSON.stringify(resource), "utf8"), cipher.final()]);
  const dataKey = publicEncrypt({ key: certificate.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, symmetricKey);
  return {
    data: data.toString("base64"),
    dataSignature: createHmac("sha256", symmetricKey).update(data).digest("base64"),
    dataKey: dataKey.toString("base64"),
    encryptionCertificateId,
    encryptionCertificateThumbprint: certificate.thumbprint,
  };
}

/** A PEM certificate as a subscription's `encryptionCertificate` carries it: base64 DER, no armour, no line breaks. */
export function base64DerOf(certificatePem: string): string {
  return certificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, "");
}

interface SigningKey {
  certificate: TestCertificate;
  /** base64url SHA-1 of the certificate: both `kid` and `x5t`, as in Microsoft's published key sets. */
  kid: string;
  jwk: JsonWebKey;
  /** base64 DER, the JWK's `x5c[0]`. */
  x5c: string;
}

// Published keys, newest last; the newest signs. Microsoft publishes several keys at once and rotates them.
const signingKeys: SigningKey[] = [];
let firstSigningKey: Promise<void> | undefined;

async function makeSigningKey(): Promise<SigningKey> {
  // Microsoft's token-signing certificates are issued to this name.
  const certificate = await makeTestCertificate({ commonName: "accounts.accesscontrol.windows.net" });
  const x5c = base64DerOf(certificate.certificatePem);
  const jwk = new X509Certificate(Buffer.from(x5c, "base64")).publicKey.export({ format: "jwk" });
  return { certificate, kid: certificate.thumbprintSha1Base64Url, jwk, x5c };
}

/**
 * Makes the process-wide signing key of the emulated sign-in host, once (RSA key generation is slow, and
 * asynchronous). The identity emulator awaits it at start, so that publishing the keys stays synchronous.
 */
export function prepareValidationTokenKeys(): Promise<void> {
  firstSigningKey ??= makeSigningKey().then((key) => {
    signingKeys.push(key);
  });
  return firstSigningKey;
}

function currentSigningKey(): SigningKey {
  const key = signingKeys[signingKeys.length - 1];
  if (!key) throw new Error("the emulated sign-in host has no signing key yet: await prepareValidationTokenKeys() first (startIdentityEmulator does)");
  return key;
}

/** Tests: a new key signs from now on; the previous one stays published (as during Microsoft's daily rotation). */
export async function rotateValidationTokenKey(): Promise<string> {
  await prepareValidationTokenKeys();
  signingKeys.push(await makeSigningKey());
  if (signingKeys.length > 2) signingKeys.shift();
  return currentSigningKey().kid;
}

/** The key id the emulated sign-in host signs validation tokens with (once prepareValidationTokenKeys() is done). */
export function validationTokenKeyId(): string {
  return currentSigningKey().kid;
}

export interface PublishedJwk {
  kty: "RSA";
  use: "sig";
  kid: string;
  x5t: string;
  n: string;
  e: string;
  x5c: string[];
  issuer: string;
}

/**
 * The body of `{login}/{tenant}/discovery/v2.0/keys`: `{"keys":[{kty, use, kid, x5t, n, e, x5c, issuer}]}`, the shape
 * Microsoft publishes. On `common` (and `organizations`, `consumers`) the issuer is the template
 * `{login}/{tenantid}/v2.0`; on a tenant it names the tenant. Once prepareValidationTokenKeys() is done.
 */
export function publishedSigningKeys(loginOrigin: string, tenantId?: string): { keys: PublishedJwk[] } {
  currentSigningKey();
  return {
    keys: signingKeys.map((key) => ({
      kty: "RSA",
      use: "sig",
      kid: key.kid,
      x5t: key.kid,
      n: String(key.jwk.n),
      e: String(key.jwk.e),
      x5c: [key.x5c],
      issuer: `${loginOrigin}/${tenantId ?? "{tenantid}"}/v2.0`,
    })),
  };
}

export interface ValidationTokenOptions {
  /** The subscribing app's client id (`aud`). */
  audience: string;
  /** The tenant of the notification items (`tid`, and the issuer `https://sts.windows.net/{tenantId}/`). */
  tenantId: string;
  /** ms epoch: the emulator's clock. */
  now: number;
  /** Tests only: claims that replace the documented ones (a wrong `appid`, an `exp` in the past, ...). */
  claims?: Record<string, unknown>;
}

/**
 * A validation token as the doc's "Example JWT token" shows it: a v1.0 token issued by `https://sts.windows.net/{tid}/`
 * to the subscribing app (`aud`), from Microsoft Graph Change Tracking (`appid`), RS256 with a `kid` of the sign-in
 * host's published keys. Graph sends one per app and tenant pair of the items in a POST.
 */
export async function signValidationToken(options: ValidationTokenOptions): Promise<string> {
  await prepareValidationTokenKeys();
  const key = currentSigningKey();
  const iat = Math.floor(options.now / 1000);
  const issuer = `https://sts.windows.net/${options.tenantId}/`;
  const payload = {
    aud: options.audience,
    iss: issuer,
    iat,
    nbf: iat,
    exp: iat + VALIDATION_TOKEN_LIFETIME_SECONDS,
    aio: randomBytes(24).toString("base64"),
    appid: CHANGE_TRACKING_APP_ID,
    appidacr: "2",
    idp: issuer,
    tid: options.tenantId,
    uti: randomUUID().replace(/-/g, "").slice(0, 22),
    ver: "1.0",
    ...options.claims,
  };
  return signJwt({ typ: "JWT", alg: "RS256", x5t: key.kid, kid: key.kid }, payload, key.certificate.privateKeyPem);
}

export interface RichNotificationBatch {
  /** The POST body Graph would send: `{ value: [...], validationTokens: [...] }`. */
  body: { value: object[]; validationTokens: string[] };
  /** The subscriber's certificate (PEM) and private key (PEM), to decrypt with. */
  certificate: TestCertificate;
  encryptionCertificateId: string;
}

export interface RichNotificationBatchOptions {
  count: number;
  /** The subscribing app's client id. */
  audience: string;
  tenantId: string;
  /** ms epoch; default Date.now(). */
  now?: number;
  /** Default: a new 2048-bit certificate. */
  certificate?: TestCertificate;
  /** Builds the i-th resource; default a small message. */
  resource?: (index: number) => object;
  clientState?: string;
}

/**
 * Builds `count` rich notifications for one subscription, as one delivery POST would carry them (bench and tests):
 * each item with its own symmetric key, one validation token for the app and tenant pair.
 */
export async function buildRichNotifications(options: RichNotificationBatchOptions): Promise<RichNotificationBatch> {
  const now = options.now ?? Date.now();
  const certificate = options.certificate ?? (await makeTestCertificate());
  const encryptionCertificate = parseEncryptionCertificate(base64DerOf(certificate.certificatePem));
  const encryptionCertificateId = "bench-certificate";
  const subscriptionId = randomUUID();
  const expiry = new Date(now + 3 * 86400_000).toISOString();
  const resourceOf =
    options.resource ??
    ((i: number) => ({
      "@odata.type": "#microsoft.graph.message",
      id: `AAMkAGI2-message-${i}`,
      subject: `Quarterly report ${i}`,
      bodyPreview: "Please find the figures attached.",
      from: { emailAddress: { name: "Adele Vance", address: "adelev@contoso.com" } },
      receivedDateTime: new Date(now).toISOString(),
      isRead: false,
    }));
  const value = Array.from({ length: options.count }, (_, i) => {
    const resource = resourceOf(i) as { id?: string; "@odata.type"?: string };
    return {
      subscriptionId,
      subscriptionExpirationDateTime: expiry,
      changeType: "created",
      resource: `Users/${options.tenantId}/Messages/${resource.id ?? i}`,
      clientState: options.clientState ?? "bench-client-state",
      tenantId: options.tenantId,
      resourceData: { "@odata.type": resource["@odata.type"], "@odata.id": `Users/${options.tenantId}/Messages/${resource.id ?? i}`, id: resource.id },
      encryptedContent: encryptResourceData(resource, encryptionCertificate, encryptionCertificateId),
    };
  });
  return {
    body: { value, validationTokens: [await signValidationToken({ audience: options.audience, tenantId: options.tenantId, now })] },
    certificate,
    encryptionCertificateId,
  };
}
