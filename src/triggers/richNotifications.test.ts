/**
 * Rich notifications end to end between the two sides: the emulator encrypts and signs as Graph does, the
 * component's module verifies and decrypts; the signing keys travel over HTTP from the emulated sign-in host.
 */
import { constants, createCipheriv, createHmac, generateKeyPairSync, publicEncrypt, randomBytes, X509Certificate } from "node:crypto";
import { clock } from "../client/clock";
import { GLOBAL_CLOUD } from "../client/clouds";
import { LOGIN_URL_ENV } from "../client/hosts";
import { startEmulator, type GraphEmulator } from "../emulator";
import { signJwt } from "../emulator/jwt";
import {
  base64DerOf,
  buildRichNotifications,
  encryptResourceData,
  publishedSigningKeys,
  rotateValidationTokenKey,
  signValidationToken,
  validationTokenKeyId,
} from "../emulator/richNotifications";
import { TENANT_ID } from "../emulator/tenant";
import { makeTestCertificate, type TestCertificate } from "../emulator/x509";
import {
  CHANGE_TRACKING_APP_ID,
  clearChangeTrackingKeyCache,
  decryptEncryptedContent,
  fetchChangeTrackingKeys,
  openRichNotifications,
  RichNotificationError,
  SIGNING_KEYS_TTL_MS,
  verifyValidationTokens,
  type EncryptedContent,
} from "./richNotifications";

const APP_ID = "9a7c3e51-2f4b-4d86-b0e3-5c1d7f2a8e64";
const NOW = Date.parse("2026-12-01T12:00:00Z");
const MESSAGE = { "@odata.type": "#microsoft.graph.message", id: "AAMkAGI2TAAA=", subject: "Q3 figures", body: { contentType: "html", content: "<p>Hi ✓</p>" } };

let certificate: TestCertificate;
let otherCertificate: TestCertificate;

beforeAll(async () => {
  certificate = await makeTestCertificate();
  otherCertificate = await makeTestCertificate();
});

/** What the test expects a call to fail with: the problem code and a piece of the message. */
function failure(fn: () => unknown): { problem: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof RichNotificationError) return { problem: error.problem, message: error.message };
    throw error;
  }
  throw new Error("expected a RichNotificationError, nothing was thrown");
}

async function asyncFailure(promise: Promise<unknown>): Promise<{ problem: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RichNotificationError) return { problem: error.problem, message: error.message };
    throw error;
  }
  throw new Error("expected a RichNotificationError, nothing was thrown");
}

/** Builds encryptedContent the way the docs describe, without the emulator, so a test can plant one defect. */
function handMadeContent(plaintext: Buffer, options: { pad?: boolean } = {}): EncryptedContent {
  const key = randomBytes(32);
  const cipher = createCipheriv("aes-256-cbc", key, key.subarray(0, 16));
  cipher.setAutoPadding(options.pad ?? true);
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const publicKey = new X509Certificate(certificate.certificatePem).publicKey;
  return {
    data: data.toString("base64"),
    dataSignature: createHmac("sha256", key).update(data).digest("base64"),
    dataKey: publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, key).toString("base64"),
    encryptionCertificateId: "hand-made",
    encryptionCertificateThumbprint: certificate.thumbprintSha1Hex,
  };
}

describe("encryptedContent: emulator encrypts, component decrypts", () => {
  it("round-trips a resource and labels it with the certificate's id and upper-case SHA-1 thumbprint", () => {
    const content = encryptResourceData(MESSAGE, base64DerOf(certificate.certificatePem), "cert-2026");
    expect(content).toEqual({
      data: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/),
      dataSignature: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
      dataKey: expect.stringMatching(/^[A-Za-z0-9+/]{342}==$/), // 256 bytes: RSA-2048 ciphertext
      encryptionCertificateId: "cert-2026",
      encryptionCertificateThumbprint: certificate.thumbprintSha1Hex,
    });
    expect(content.encryptionCertificateThumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(JSON.stringify(content)).not.toContain("Q3 figures");
    expect(decryptEncryptedContent(content, certificate.privateKeyPem)).toEqual(MESSAGE);
    // The PEM may hold the certificate too (as the connection's PEM input does); its thumbprint then matches.
    expect(decryptEncryptedContent(content, certificate.certificatePem + certificate.privateKeyPem, { encryptionCertificateId: "cert-2026" })).toEqual(MESSAGE);
  });

  it("uses a new symmetric key for every item", () => {
    const der = base64DerOf(certificate.certificatePem);
    const a = encryptResourceData(MESSAGE, der, "c");
    const b = encryptResourceData(MESSAGE, der, "c");
    expect(a.dataKey).not.toBe(b.dataKey);
    expect(a.data).not.toBe(b.data);
  });

  it("decrypts what the docs' recipe produces (independent of the emulator)", () => {
    const content = handMadeContent(Buffer.from(JSON.stringify({ id: "1", displayName: "Adele" })));
    expect(decryptEncryptedContent(content, certificate.privateKeyPem)).toEqual({ id: "1", displayName: "Adele" });
  });

  it("refuses tampered data (HMAC-SHA256 mismatch) before decrypting it", () => {
    const content = encryptResourceData(MESSAGE, base64DerOf(certificate.certificatePem), "c");
    const data = Buffer.from(content.data, "base64");
    data[data.length - 1] ^= 0x01;
    expect(failure(() => decryptEncryptedContent({ ...content, data: data.toString("base64") }, certificate.privateKeyPem))).toEqual({
      problem: "dataSignatureMismatch",
      message: expect.stringContaining("does not match its dataSignature (HMAC-SHA256)"),
    });
    const signature = Buffer.from(content.dataSignature, "base64");
    signature[0] ^= 0x80;
    expect(failure(() => decryptEncryptedContent({ ...content, dataSignature: signature.toString("base64") }, certificate.privateKeyPem)).problem).toBe(
      "dataSignatureMismatch",
    );
    expect(failure(() => decryptEncryptedContent({ ...content, dataSignature: "AAAA" }, certificate.privateKeyPem)).problem).toBe("dataSignatureMismatch");
  });

  it("refuses a private key that is not the certificate's, naming the certificate the data was encrypted for", () => {
    const content = encryptResourceData(MESSAGE, base64DerOf(certificate.certificatePem), "cert-2026");
    expect(failure(() => decryptEncryptedContent(content, otherCertificate.privateKeyPem))).toEqual({
      problem: "wrongPrivateKey",
      message: `the data key could not be decrypted with this private key (RSA-OAEP): it was encrypted for another certificate (certificate id 'cert-2026', thumbprint ${certificate.thumbprintSha1Hex})`,
    });
  });

  it("refuses content for another certificate by id or by thumbprint before trying to decrypt it", () => {
    const content = encryptResourceData(MESSAGE, base64DerOf(certificate.certificatePem), "cert-2026");
    expect(failure(() => decryptEncryptedContent(content, certificate.privateKeyPem, { encryptionCertificateId: "cert-2027" }))).toEqual({
      problem: "wrongCertificate",
      message: "the resource data was encrypted for certificate id 'cert-2026', not for 'cert-2027', the certificate of this subscription",
    });
    expect(failure(() => decryptEncryptedContent(content, otherCertificate.certificatePem + otherCertificate.privateKeyPem))).toEqual({
      problem: "wrongCertificate",
      message: `the resource data was encrypted for the certificate with thumbprint ${certificate.thumbprintSha1Hex}, not for this one (${otherCertificate.thumbprintSha1Hex})`,
    });
  });

  it("reports bad padding and a plaintext that is not JSON as such", () => {
    const unpadded = handMadeContent(Buffer.alloc(32, 0x41), { pad: false }); // last byte 0x41 is no PKCS#7 padding
    expect(failure(() => decryptEncryptedContent(unpadded, certificate.privateKeyPem))).toEqual({
      problem: "badPadding",
      message: "the resource data did not decrypt: its AES-CBC (PKCS#7) padding is invalid",
    });
    expect(failure(() => decryptEncryptedContent(handMadeContent(Buffer.from("not json")), certificate.privateKeyPem)).problem).toBe("notJson");
  });

  it("names a missing or malformed field and a missing key", () => {
    const content = encryptResourceData(MESSAGE, base64DerOf(certificate.certificatePem), "c");
    expect(failure(() => decryptEncryptedContent({ ...content, dataKey: undefined }, certificate.privateKeyPem))).toEqual({
      problem: "malformedEncryptedContent",
      message: "encryptedContent.dataKey is missing or not base64",
    });
    expect(failure(() => decryptEncryptedContent("x", certificate.privateKeyPem)).problem).toBe("malformedEncryptedContent");
    expect(failure(() => decryptEncryptedContent(content, certificate.certificatePem)).problem).toBe("wrongPrivateKey");
  });

  it("refuses an encryption certificate Graph would refuse (not RSA, or not 2048-4096 bits)", () => {
    expect(() => encryptResourceData(MESSAGE, "not base64!", "c")).toThrow("encryptionCertificate is not base64");
    expect(() => encryptResourceData(MESSAGE, Buffer.from("hello").toString("base64"), "c")).toThrow("encryptionCertificate is not an X.509 certificate");
  });
});

describe("validation tokens against the sign-in host's published keys", () => {
  let emulator: GraphEmulator;
  const realNow = clock.now;
  let nowMs = NOW;

  beforeAll(async () => {
    emulator = await startEmulator({ identity: true, now: () => nowMs });
    process.env[LOGIN_URL_ENV] = emulator.loginOrigin;
  });
  afterAll(async () => {
    delete process.env[LOGIN_URL_ENV];
    clock.now = realNow;
    await emulator.close();
  });
  beforeEach(() => {
    nowMs = NOW;
    clock.now = () => nowMs;
    clearChangeTrackingKeyCache();
    emulator.reset();
  });

  const keyRequests = () => emulator.identity!.log.filter((e) => e.url.includes("/discovery/"));
  const keys = () => fetchChangeTrackingKeys({ cloud: GLOBAL_CLOUD, timeoutMs: 2000 });
  const token = (claims?: Record<string, unknown>, tenantId = TENANT_ID) => signValidationToken({ audience: APP_ID, tenantId, now: NOW, claims });
  const verify = async (tokens: unknown, extra: { tenantIds?: string[]; now?: number } = {}) =>
    verifyValidationTokens(tokens, { audience: APP_ID, signingKeys: await keys(), now: NOW + 60_000, ...extra });

  it("publishes the key set in Microsoft's shape at /common and /{tenant}/discovery/v2.0/keys", async () => {
    const common = (await (await fetch(`${emulator.loginOrigin}/common/discovery/v2.0/keys`)).json()) as ReturnType<typeof publishedSigningKeys>;
    expect(common.keys).toHaveLength(1);
    const [key] = common.keys;
    expect(Object.keys(key).sort()).toEqual(["e", "issuer", "kid", "kty", "n", "use", "x5c", "x5t"]);
    expect(key).toMatchObject({ kty: "RSA", use: "sig", e: "AQAB", kid: validationTokenKeyId(), issuer: "https://login.microsoftonline.com/{tenantid}/v2.0" });
    // x5t is the certificate's SHA-1 in base64url, and the certificate holds the same public key as n/e.
    const x509 = new X509Certificate(Buffer.from(key.x5c[0], "base64"));
    expect(key.x5t).toBe(Buffer.from(x509.fingerprint.replace(/:/g, ""), "hex").toString("base64url"));
    expect(x509.publicKey.export({ format: "jwk" })).toMatchObject({ n: key.n, e: key.e });

    const tenant = (await (await fetch(`${emulator.loginOrigin}/contoso.onmicrosoft.com/discovery/v2.0/keys`)).json()) as typeof common;
    expect(tenant.keys[0]).toMatchObject({ kid: key.kid, issuer: `https://login.microsoftonline.com/${TENANT_ID}/v2.0` });
    const unknown = await fetch(`${emulator.loginOrigin}/fabrikam.onmicrosoft.com/discovery/v2.0/keys`);
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("AADSTS90002");
  });

  it("fetches the keys once over HTTP through MS_GRAPH_LOGIN_URL and caches them for an hour", async () => {
    const first = await keys();
    expect(first.keys[0].kid).toBe(validationTokenKeyId());
    expect(keyRequests()).toEqual([expect.objectContaining({ method: "GET", url: "/common/discovery/v2.0/keys", status: 200 })]);

    await Promise.all([keys(), keys()]);
    // A forced refresh (an unknown kid) inside five minutes of the last fetch is served from the cache.
    nowMs += 5 * 60_000 - 1;
    await fetchChangeTrackingKeys({ cloud: GLOBAL_CLOUD, forceRefresh: true });
    expect(keyRequests()).toHaveLength(1);
    nowMs = NOW + SIGNING_KEYS_TTL_MS - 1;
    await keys();
    expect(keyRequests()).toHaveLength(1);

    nowMs += 1;
    await keys();
    expect(keyRequests()).toHaveLength(2);
  });

  it("forced refresh fetches again once the cached copy is five minutes old", async () => {
    await keys();
    nowMs += 5 * 60_000;
    await fetchChangeTrackingKeys({ cloud: GLOBAL_CLOUD, forceRefresh: true });
    expect(keyRequests()).toHaveLength(2);
  });

  it("fetches concurrent first requests once", async () => {
    await Promise.all([keys(), keys(), keys()]);
    expect(keyRequests()).toHaveLength(1);
  });

  it("says which host failed when the keys cannot be had", async () => {
    process.env[LOGIN_URL_ENV] = emulator.origin; // the Graph emulator has no such route
    try {
      expect(await asyncFailure(keys())).toEqual({
        problem: "signingKeysUnavailable",
        message: expect.stringMatching(/^the Microsoft sign-in host login\.microsoftonline\.com answered [45]\d\d .*for its signing keys \(\/common\/discovery\/v2\.0\/keys\)$/),
      });
    } finally {
      process.env[LOGIN_URL_ENV] = emulator.loginOrigin;
    }
  });

  it("accepts a valid token and returns its claims", async () => {
    const [claims] = await verify([await token()], { tenantIds: [TENANT_ID] });
    expect(claims).toMatchObject({ aud: APP_ID, iss: `https://sts.windows.net/${TENANT_ID}/`, appid: CHANGE_TRACKING_APP_ID, tid: TENANT_ID, ver: "1.0" });
  });

  it("accepts a v2.0-style token whose publisher is in azp", async () => {
    const v2 = await token({ appid: undefined, azp: CHANGE_TRACKING_APP_ID, ver: "2.0" });
    await expect(verify([v2])).resolves.toHaveLength(1);
  });

  it("rejects a token for another app (audience)", async () => {
    const other = await signValidationToken({ audience: "11111111-2222-3333-4444-555555555555", tenantId: TENANT_ID, now: NOW });
    expect(await asyncFailure(verify([other]))).toEqual({
      problem: "wrongAudience",
      message: `the validation token is for app '11111111-2222-3333-4444-555555555555', not for this connection's client id '${APP_ID}'`,
    });
  });

  it("rejects a token from another issuer, or from a tenant the items do not name", async () => {
    expect(await asyncFailure(verify([await token({ iss: "https://login.example.com/evil/" })]))).toEqual({
      problem: "wrongIssuer",
      message: "the validation token was issued by 'https://login.example.com/evil/', expected https://sts.windows.net/{tenant id}/ (Microsoft identity platform)",
    });
    const otherTenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
    expect(await asyncFailure(verify([await token({}, otherTenant)], { tenantIds: [TENANT_ID] }))).toEqual({
      problem: "wrongIssuer",
      message: `the validation token was issued by 'https://sts.windows.net/${otherTenant}/', expected https://sts.windows.net/${TENANT_ID}/`,
    });
    // iss and tid must agree.
    expect((await asyncFailure(verify([await token({ tid: otherTenant })]))).problem).toBe("wrongIssuer");
  });

  it("rejects a token that another app (not Graph Change Tracking) obtained: appid / azp", async () => {
    const stranger = "22222222-3333-4444-5555-666666666666";
    expect(await asyncFailure(verify([await token({ appid: stranger })]))).toEqual({
      problem: "wrongPublisher",
      message: `the validation token was issued to app '${stranger}', not to Microsoft Graph Change Tracking (${CHANGE_TRACKING_APP_ID}): another app, not Microsoft Graph, sent this notification`,
    });
    expect((await asyncFailure(verify([await token({ appid: undefined, azp: stranger })]))).problem).toBe("wrongPublisher");
    expect((await asyncFailure(verify([await token({ appid: undefined })]))).problem).toBe("wrongPublisher");
  });

  it("rejects an expired token (beyond 5 minutes of clock skew) and names when it expired", async () => {
    const expiresAt = NOW + 3600_000;
    await expect(verify([await token()], { now: expiresAt + 299_000 })).resolves.toHaveLength(1);
    expect(await asyncFailure(verify([await token()], { now: expiresAt + 301_000 }))).toEqual({
      problem: "tokenExpired",
      message: `the validation token expired at ${new Date(expiresAt).toISOString()}`,
    });
    // A token whose nbf is ahead of our clock by more than the skew is not valid yet.
    expect((await asyncFailure(verify([await token()], { now: NOW - 301_000 }))).problem).toBe("tokenNotYetValid");
  });

  it("rejects a token signed with a key the sign-in host does not publish", async () => {
    const stranger = await makeTestCertificate();
    const forged = await signJwt(
      { typ: "JWT", alg: "RS256", kid: "not-a-published-kid" },
      { aud: APP_ID, iss: `https://sts.windows.net/${TENANT_ID}/`, exp: Math.floor(NOW / 1000) + 3600, appid: CHANGE_TRACKING_APP_ID },
      stranger.privateKeyPem,
    );
    expect(await asyncFailure(verify([forged]))).toEqual({
      problem: "unknownSigningKey",
      message: "the validation token is signed with a key (kid) that the Microsoft sign-in host does not publish",
    });
  });

  it("rejects a token whose signature does not verify: another key under the published kid, or an altered payload", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const claims = { aud: APP_ID, iss: `https://sts.windows.net/${TENANT_ID}/`, exp: Math.floor(NOW / 1000) + 3600, appid: CHANGE_TRACKING_APP_ID };
    const forged = await signJwt({ typ: "JWT", alg: "RS256", kid: validationTokenKeyId() }, claims, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    expect(await asyncFailure(verify([forged]))).toEqual({
      problem: "badTokenSignature",
      message: "the validation token has a signature that does not verify with the Microsoft sign-in host's key: it was forged or altered",
    });

    const [header, , signature] = (await token()).split(".");
    const altered = Buffer.from(JSON.stringify({ ...claims, aud: APP_ID, tid: TENANT_ID, extra: 1 })).toString("base64url");
    expect((await asyncFailure(verify([`${header}.${altered}.${signature}`]))).problem).toBe("badTokenSignature");
  });

  it("checks every token and names the one that failed", async () => {
    const bad = await signValidationToken({ audience: "someone-else", tenantId: TENANT_ID, now: NOW });
    expect(await asyncFailure(verify([await token(), bad]))).toEqual({ problem: "wrongAudience", message: expect.stringMatching(/^validation token 2 of 2 is for app 'someone-else'/) });
  });

  it("rejects a POST with encrypted data but no tokens, and junk in place of a token", async () => {
    expect((await asyncFailure(verify([])))).toMatchObject({ problem: "missingValidationTokens" });
    expect((await asyncFailure(verify(undefined)))).toMatchObject({ problem: "missingValidationTokens" });
    expect(await asyncFailure(verify(["not.a.jwt"]))).toMatchObject({ problem: "malformedValidationToken" });
    expect(await asyncFailure(verify([42]))).toEqual({ problem: "malformedValidationToken", message: "the validation token is not a string" });
  });

  it("opens a whole batch built for the bench: tokens verify, every item decrypts", async () => {
    const batch = await buildRichNotifications({ count: 5, audience: APP_ID, tenantId: TENANT_ID, now: NOW, certificate });
    await expect(verify(batch.body.validationTokens, { tenantIds: [TENANT_ID] })).resolves.toHaveLength(1);
    const resources = batch.body.value.map((item) =>
      decryptEncryptedContent((item as { encryptedContent: unknown }).encryptedContent, certificate.privateKeyPem, { encryptionCertificateId: batch.encryptionCertificateId }),
    );
    expect(resources.map((r) => r.subject)).toEqual(["Quarterly report 0", "Quarterly report 1", "Quarterly report 2", "Quarterly report 3", "Quarterly report 4"]);
  });
  describe("openRichNotifications: one delivery POST", () => {
    const open = (body: unknown, extra: { encryptionCertificateId?: string; privateKeyPem?: string } = {}) =>
      openRichNotifications(body, { audience: APP_ID, cloud: GLOBAL_CLOUD, privateKeyPem: certificate.privateKeyPem, now: nowMs + 1000, ...extra });
    const lifecycle = { subscriptionId: "s-1", lifecycleEvent: "reauthorizationRequired", tenantId: TENANT_ID, clientState: "x" };

    it("hands back each resource without encryptedContent, and passes basic or lifecycle items through", async () => {
      const batch = await buildRichNotifications({ count: 3, audience: APP_ID, tenantId: TENANT_ID, now: NOW, certificate });
      const opened = await open({ ...batch.body, value: [...batch.body.value, lifecycle] }, { encryptionCertificateId: batch.encryptionCertificateId });
      expect(opened.map((o) => o.resource?.subject)).toEqual(["Quarterly report 0", "Quarterly report 1", "Quarterly report 2", undefined]);
      expect(opened[0].notification).toMatchObject({ changeType: "created", tenantId: TENANT_ID, resourceData: { id: "AAMkAGI2-message-0" } });
      expect(opened[0].notification).not.toHaveProperty("encryptedContent");
      expect(opened[3]).toEqual({ notification: lifecycle });
      expect(keyRequests()).toHaveLength(1);
      // A POST with nothing encrypted needs no keys and no tokens.
      expect(await open({ value: [lifecycle] })).toEqual([{ notification: lifecycle }]);
      expect(keyRequests()).toHaveLength(1);
    });

    it("refuses only the altered item, and the whole POST when a token fails", async () => {
      const batch = await buildRichNotifications({ count: 2, audience: APP_ID, tenantId: TENANT_ID, now: NOW, certificate });
      const [first, second] = batch.body.value as Array<{ encryptedContent: EncryptedContent }>;
      const altered = { ...second, encryptedContent: { ...second.encryptedContent, data: Buffer.from("forged").toString("base64") } };
      const opened = await open({ ...batch.body, value: [first, altered] });
      expect(opened[0].resource).toBeDefined();
      expect(opened[1]).not.toHaveProperty("resource");
      expect(opened[1].error).toMatchObject({ problem: "dataSignatureMismatch" });

      const strangerToken = await signValidationToken({ audience: "someone-else", tenantId: TENANT_ID, now: NOW });
      expect(await asyncFailure(open({ ...batch.body, validationTokens: [strangerToken] }))).toMatchObject({ problem: "wrongAudience" });
      expect(await asyncFailure(open({ value: batch.body.value }))).toMatchObject({ problem: "missingValidationTokens" });
    });

    it("refuses an item whose tenant no token vouches for", async () => {
      const otherTenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
      const ours = await buildRichNotifications({ count: 1, audience: APP_ID, tenantId: TENANT_ID, now: NOW, certificate });
      const theirs = await buildRichNotifications({ count: 1, audience: APP_ID, tenantId: otherTenant, now: NOW, certificate });
      // The token of the other tenant is missing: the issuer check (tenantIds from the items) still passes for ours.
      const body = { value: [...ours.body.value, ...theirs.body.value], validationTokens: ours.body.validationTokens };
      const opened = await open(body);
      expect(opened[0].resource).toBeDefined();
      expect(opened[1].error).toMatchObject({ problem: "itemWithoutToken", message: `no validation token vouches for the item of tenant '${otherTenant}'` });
    });

    it("fetches the keys again when a token names a key published after they were cached (daily rotation)", async () => {
      await keys();
      await rotateValidationTokenKey();
      const batch = await buildRichNotifications({ count: 1, audience: APP_ID, tenantId: TENANT_ID, now: NOW, certificate });
      // Within five minutes of the last fetch the cached keys are kept: a flood of forged kids cannot make us fetch.
      expect(await asyncFailure(open(batch.body))).toMatchObject({ problem: "unknownSigningKey" });
      expect(keyRequests()).toHaveLength(1);
      nowMs += 5 * 60_000;
      const opened = await open(batch.body);
      expect(opened[0].resource).toBeDefined();
      expect(keyRequests()).toHaveLength(2);
    });
  });
});
