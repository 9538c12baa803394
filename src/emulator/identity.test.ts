/**
 * Proves the identity (Entra ID v2.0) emulator over real HTTP (Node's fetch): each grant's success and its
 * documented refusals, certificate client assertions, PKCE, refresh-token rotation, expiry through the
 * injected clock, the AADSTS error envelope and the redaction of secrets in the log.
 */
import { createHash, createPrivateKey, randomBytes, randomUUID, X509Certificate } from "node:crypto";

import {
  DEMO_CLIENT_ID,
  DEMO_CLIENT_SECRET,
  JWT_BEARER_ASSERTION_TYPE,
  makeTestCertificate,
  startIdentityEmulator,
  type IdentityEmulator,
  type TestCertificate,
} from "./identity";
import { decodeJwt, signJwt, type JsonObject } from "./jwt";
import { ME_ID, TENANT_ID } from "./tenant";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GRAPH_DEFAULT = "https://graph.microsoft.com/.default";
const CERT_CLIENT_ID = "2b6f0c1d-8e4a-4f3b-9c7d-1a2b3c4d5e6f";
const PUBLIC_CLIENT_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const FABRIKAM_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

interface AadErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

type Json = Record<string, unknown>;

let em: IdentityEmulator;
let now: number;
let cert: TestCertificate;
let otherCert: TestCertificate;

beforeAll(async () => {
  cert = await makeTestCertificate();
  otherCert = await makeTestCertificate({ commonName: "Not Registered" });
  em = await startIdentityEmulator({
    now: () => now,
    tenants: [
      { id: TENANT_ID, domains: ["contoso.onmicrosoft.com", "contoso.com"], displayName: "Contoso" },
      { id: FABRIKAM_ID, domains: ["fabrikam.onmicrosoft.com", "fabrikam.com"], displayName: "Fabrikam" },
    ],
    apps: [
      { clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, redirectUris: ["https://oauth2.prismatic.io/callback", "http://localhost/callback"] },
      { clientId: CERT_CLIENT_ID, certificatePem: cert.certificatePem, redirectUris: ["https://app.contoso.com/signin-oidc"] },
      { clientId: PUBLIC_CLIENT_ID, redirectUris: ["http://127.0.0.1/native"] },
    ],
  });
});
afterAll(() => em.close());
beforeEach(() => {
  now = Date.now();
  em.reset();
});

function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const url = path.startsWith("http") ? path : `${em.origin}${path}`;
  return fetch(url, { method: "POST", body: new URLSearchParams(form), headers });
}

async function token(form: Record<string, string>, tenant: string = TENANT_ID, headers?: Record<string, string>): Promise<{ res: Response; body: Json }> {
  const res = await post(`/${tenant}/oauth2/v2.0/token`, form, headers);
  return { res, body: (await res.json()) as Json };
}

/** The AADSTS envelope, key for key (ED reference-error-codes.md). */
async function expectAad(res: Response, status: number, error: string, code: number): Promise<AadErrorBody> {
  const body = (await res.json()) as AadErrorBody;
  expect({ status: res.status, error: body.error, codes: body.error_codes }).toEqual({ status, error, codes: [code] });
  expect(Object.keys(body)).toEqual(["error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"]);
  expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  expect(body.trace_id).toMatch(UUID);
  expect(body.correlation_id).toMatch(UUID);
  expect(body.error_description).toBe(
    `${body.error_description.split("\r\n")[0]}\r\nTrace ID: ${body.trace_id}\r\nCorrelation ID: ${body.correlation_id}\r\nTimestamp: ${body.timestamp}`,
  );
  expect(body.error_description.startsWith(`AADSTS${code}: `)).toBe(true);
  expect(body.error_uri).toBe(`${em.origin}/error?code=${code}`);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  return body;
}

const secretForm = (extra: Record<string, string> = {}) => ({
  client_id: DEMO_CLIENT_ID,
  client_secret: DEMO_CLIENT_SECRET,
  scope: GRAPH_DEFAULT,
  grant_type: "client_credentials",
  ...extra,
});

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

async function authorize(params: Record<string, string>, tenant: string = TENANT_ID): Promise<Response> {
  return fetch(`${em.origin}/${tenant}/oauth2/v2.0/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });
}

/** Runs /authorize for the demo app and returns the code and the PKCE verifier. */
async function getCode(
  scope = "openid offline_access User.Read",
  extra: Record<string, string> = {},
  tenant: string = TENANT_ID,
): Promise<{ code: string; verifier: string; redirectUri: string }> {
  const { verifier, challenge } = pkce();
  const redirectUri = extra.redirect_uri ?? "http://localhost:51234/callback";
  const res = await authorize(
    { client_id: DEMO_CLIENT_ID, response_type: "code", redirect_uri: redirectUri, scope, state: "st-1", code_challenge: challenge, code_challenge_method: "S256", ...extra },
    tenant,
  );
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location") ?? "");
  const code = location.searchParams.get("code");
  if (!code) throw new Error(`no code in ${location.href}`);
  return { code, verifier, redirectUri };
}

const redeemForm = (code: string, verifier: string, redirectUri = "http://localhost:51234/callback", extra: Record<string, string> = {}) => ({
  client_id: DEMO_CLIENT_ID,
  client_secret: DEMO_CLIENT_SECRET,
  grant_type: "authorization_code",
  code,
  redirect_uri: redirectUri,
  code_verifier: verifier,
  ...extra,
});

function assertion(claims: JsonObject = {}, header: JsonObject = {}, key: TestCertificate = cert): Promise<string> {
  const sec = Math.floor(now / 1000);
  return signJwt(
    { alg: "RS256", typ: "JWT", x5t: key.thumbprintSha1Base64Url, ...header } as JsonObject & { alg: "RS256" },
    { aud: em.tokenEndpoint(), iss: CERT_CLIENT_ID, sub: CERT_CLIENT_ID, jti: randomUUID(), nbf: sec, iat: sec, exp: sec + 600, ...claims },
    key.privateKeyPem,
  );
}

const assertionForm = (jwt: string) => ({
  client_id: CERT_CLIENT_ID,
  scope: GRAPH_DEFAULT,
  grant_type: "client_credentials",
  client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
  client_assertion: jwt,
});

describe("client credentials with a secret", () => {
  it("answers the documented token shape, without a refresh token, and registers an opaque app token", async () => {
    const { res, body } = await token(secretForm());
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store, no-cache");
    expect(res.headers.get("x-ms-request-id")).toMatch(UUID);
    expect(Object.keys(body)).toEqual(["token_type", "expires_in", "ext_expires_in", "access_token"]);
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599 });
    const accessToken = String(body.access_token);
    expect(accessToken).not.toContain(".");
    expect(em.tokens.lookup(accessToken)).toEqual({
      accessToken,
      kind: "app",
      tenant: TENANT_ID,
      clientId: DEMO_CLIENT_ID,
      scopes: [GRAPH_DEFAULT],
      audience: "https://graph.microsoft.com",
      issuedAt: now,
      expiresAt: now + 3599_000,
    });
  });

  it("accepts a verified domain as the tenant, client_secret_basic, and the Graph appId as resource", async () => {
    const byDomain = await token(secretForm(), "Contoso.com");
    expect(em.tokens.lookup(String(byDomain.body.access_token))?.tenant).toBe(TENANT_ID);
    const basic = Buffer.from(`${DEMO_CLIENT_ID}:${encodeURIComponent(DEMO_CLIENT_SECRET)}`).toString("base64");
    const viaBasic = await token({ grant_type: "client_credentials", scope: GRAPH_DEFAULT }, TENANT_ID, { Authorization: `Basic ${basic}` });
    expect(viaBasic.res.status).toBe(200);
    const byAppId = await token(secretForm({ scope: "00000003-0000-0000-c000-000000000000/.default" }), FABRIKAM_ID);
    expect(em.tokens.lookup(String(byAppId.body.access_token))).toMatchObject({ tenant: FABRIKAM_ID, audience: "https://graph.microsoft.com" });
  });

  it("refuses a wrong secret (401 invalid_client AADSTS7000215) and a missing one (AADSTS7000218)", async () => {
    const wrong = await expectAad(await post(`/${TENANT_ID}/oauth2/v2.0/token`, secretForm({ client_secret: "nope" })), 401, "invalid_client", 7000215);
    expect(wrong.error_description).toContain(`Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${DEMO_CLIENT_ID}'.`);
    const form: Record<string, string> = secretForm();
    delete form.client_secret;
    await expectAad(await post(`/${TENANT_ID}/oauth2/v2.0/token`, form), 401, "invalid_client", 7000218);
  });

  it("refuses an unknown client with 400 unauthorized_client AADSTS700016", async () => {
    const body = await expectAad(await post(`/${TENANT_ID}/oauth2/v2.0/token`, secretForm({ client_id: "11111111-2222-4333-8444-555555555555" })), 400, "unauthorized_client", 700016);
    expect(body.error_description).toMatch(/^AADSTS700016: Application with identifier '11111111-2222-4333-8444-555555555555' was not found in the directory 'Contoso'\. /);
  });

  it("refuses unknown and malformed tenants (AADSTS90002, AADSTS900023) and the tenant-independent endpoints", async () => {
    const missing = await expectAad(await post("/99999999-9999-4999-8999-999999999999/oauth2/v2.0/token", secretForm()), 400, "invalid_request", 90002);
    expect(missing.error_description).toMatch(/^AADSTS90002: Tenant '99999999-9999-4999-8999-999999999999' not found\. /);
    await expectAad(await post("/nowhere.example/oauth2/v2.0/token", secretForm()), 400, "invalid_request", 90002);
    await expectAad(await post("/not_a_tenant/oauth2/v2.0/token", secretForm()), 400, "invalid_request", 900023);
    await expectAad(await post("/common/oauth2/v2.0/token", secretForm()), 400, "invalid_request", 9001023);
    await expectAad(await post("/consumers/oauth2/v2.0/token", secretForm()), 400, "invalid_request", 9001023);
    await expectAad(await post("/organizations/oauth2/v2.0/token", secretForm()), 400, "invalid_request", 50059);
  });

  it("wants exactly one {resource}/.default scope for this cloud's Graph", async () => {
    const call = (scope: string) => post(`/${TENANT_ID}/oauth2/v2.0/token`, secretForm({ scope }));
    const named = await expectAad(await call("User.Read"), 400, "invalid_scope", 1002012);
    expect(named.error_description).toMatch(/^AADSTS1002012: The provided value for scope User\.Read is not valid\. Client credential flows must have a scope value with \/\.default suffixed/);
    await expectAad(await call("https%3A%2F%2Fgraph.microsoft.com%2F.default"), 400, "invalid_scope", 1002012);
    const otherCloud = await expectAad(await call("https://graph.microsoft.us/.default"), 400, "invalid_resource", 500011);
    expect(otherCloud.error_description).toMatch(/^AADSTS500011: The resource principal named https:\/\/graph\.microsoft\.us was not found in the tenant named Contoso\./);
    await expectAad(await call("https://graph.microsoft.com/.default https://outlook.office.com/.default"), 400, "invalid_scope", 700022);
    await expectAad(await call("user.read/.default"), 400, "invalid_scope", 70011);
    const form: Record<string, string> = secretForm();
    delete form.scope;
    const noScope = await expectAad(await post(`/${TENANT_ID}/oauth2/v2.0/token`, form), 400, "invalid_request", 900144);
    expect(noScope.error_description).toMatch(/^AADSTS900144: The request body must contain the following parameter: 'scope'\./);
  });

  it("issues for the cloud it is configured for", async () => {
    const gov = await startIdentityEmulator({ graphResource: "https://graph.microsoft.us" });
    try {
      const ok = await post(gov.tokenEndpoint(), secretForm({ scope: "https://graph.microsoft.us/.default" }));
      const body = (await ok.json()) as Json;
      expect(gov.tokens.lookup(String(body.access_token))?.audience).toBe("https://graph.microsoft.us");
      const wrong = await post(gov.tokenEndpoint(), secretForm());
      expect(wrong.status).toBe(400);
      expect(((await wrong.json()) as AadErrorBody).error_codes).toEqual([500011]);
    } finally {
      await gov.close();
    }
  });

  it("answers protocol errors: not a form, GET, no or unknown grant_type", async () => {
    const json = await fetch(em.tokenEndpoint(), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(secretForm()) });
    expect((await expectAad(json, 400, "invalid_request", 900144)).error_description).toContain("'grant_type'");
    await expectAad(await fetch(em.tokenEndpoint()), 400, "invalid_request", 900561);
    await expectAad(await post(em.tokenEndpoint(), { client_id: DEMO_CLIENT_ID }), 400, "invalid_request", 900144);
    await expectAad(await post(em.tokenEndpoint(), secretForm({ grant_type: "password" })), 400, "unsupported_grant_type", 70003);
  });

  it("uses the caller's client-request-id as correlation_id", async () => {
    const id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const res = await post(em.tokenEndpoint(), secretForm({ client_secret: "nope" }), { "client-request-id": id });
    expect((await expectAad(res, 401, "invalid_client", 7000215)).correlation_id).toBe(id);
  });
});

describe("client credentials with a certificate assertion", () => {
  it("accepts an RS256 assertion with x5t and a PS256 one with x5t#S256", async () => {
    const rs = await token(assertionForm(await assertion()));
    expect(rs.res.status).toBe(200);
    expect(em.tokens.lookup(String(rs.body.access_token))).toMatchObject({ kind: "app", clientId: CERT_CLIENT_ID });
    const ps = await token(assertionForm(await assertion({}, { alg: "PS256", x5t: undefined, "x5t#S256": cert.thumbprintSha256Base64Url })));
    expect(ps.res.status).toBe(200);
    const byDomain = await token(assertionForm(await assertion({ aud: `${em.origin}/contoso.onmicrosoft.com/oauth2/v2.0/token` })));
    expect(byDomain.res.status).toBe(200);
  });

  it("refuses a tampered assertion and one signed by an unregistered certificate (AADSTS700027)", async () => {
    const [h, , s] = (await assertion()).split(".");
    const forged = Buffer.from(JSON.stringify({ aud: em.tokenEndpoint(), iss: CERT_CLIENT_ID, sub: CERT_CLIENT_ID, exp: Math.floor(now / 1000) + 86400 })).toString("base64url");
    const tampered = await expectAad(await post(em.tokenEndpoint(), assertionForm(`${h}.${forged}.${s}`)), 401, "invalid_client", 700027);
    expect(tampered.error_description).toContain("Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.");
    const foreign = await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({}, { x5t: otherCert.thumbprintSha1Base64Url }, otherCert))), 401, "invalid_client", 700027);
    expect(foreign.error_description).toContain(`[Reason - The key was not found., Thumbprint of key used by client: '${otherCert.thumbprintSha1Hex}'`);
    // A secret-only app has no key to check an assertion against.
    const onSecretApp = { ...assertionForm(await assertion({ iss: DEMO_CLIENT_ID, sub: DEMO_CLIENT_ID })), client_id: DEMO_CLIENT_ID };
    await expectAad(await post(em.tokenEndpoint(), onSecretApp), 401, "invalid_client", 700027);
  });

  it("refuses expired, misaddressed and mis-issued assertions", async () => {
    const sec = Math.floor(now / 1000);
    const expired = await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({ nbf: sec - 7200, iat: sec - 7200, exp: sec - 3600 }))), 401, "invalid_client", 700024);
    expect(expired.error_description).toMatch(/^AADSTS700024: Client assertion is not within its valid time range\. Current time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z, assertion valid from /);
    await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({ nbf: sec + 3600 }))), 401, "invalid_client", 700024);
    await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({ aud: "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token" }))), 401, "invalid_client", 700023);
    await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({ iss: DEMO_CLIENT_ID, sub: DEMO_CLIENT_ID }))), 401, "invalid_client", 700021);
    await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({ sub: DEMO_CLIENT_ID }))), 401, "invalid_client", 50048);
  });

  it("refuses malformed assertions: garbage, HS256, no thumbprint", async () => {
    await expectAad(await post(em.tokenEndpoint(), assertionForm("not-a-jwt")), 401, "invalid_client", 50027);
    const [, p, s] = (await assertion()).split(".");
    const hs = `${Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")}.${p}.${s}`;
    await expectAad(await post(em.tokenEndpoint(), assertionForm(hs)), 401, "invalid_client", 5002738);
    await expectAad(await post(em.tokenEndpoint(), assertionForm(await assertion({}, { x5t: undefined }))), 401, "invalid_client", 5002723);
  });
});

describe("authorization code with PKCE", () => {
  it("redirects back with code, state and session_state, then redeems for user tokens", async () => {
    const { verifier, challenge } = pkce();
    const res = await authorize({
      client_id: DEMO_CLIENT_ID,
      response_type: "code",
      redirect_uri: "http://localhost:51234/callback", // registered as http://localhost/callback: loopback ports don't count
      scope: "openid profile offline_access https://graph.microsoft.com/User.Read Mail.Read",
      state: "xyz",
      nonce: "n-0S6",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe("http://localhost:51234/callback");
    expect([...location.searchParams.keys()]).toEqual(["code", "state", "session_state"]);
    expect(location.searchParams.get("state")).toBe("xyz");
    expect(location.searchParams.get("session_state")).toMatch(UUID);

    const { res: tokenRes, body } = await token(redeemForm(location.searchParams.get("code") ?? "", verifier, undefined, { client_info: "1" }));
    expect(tokenRes.status).toBe(200);
    expect(Object.keys(body)).toEqual(["token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token", "id_token", "client_info"]);
    expect(body.scope).toBe("User.Read Mail.Read openid profile offline_access");
    expect(String(body.refresh_token)).not.toContain(".");
    expect(em.tokens.lookup(String(body.access_token))).toMatchObject({
      kind: "user",
      tenant: TENANT_ID,
      clientId: DEMO_CLIENT_ID,
      scopes: ["User.Read", "Mail.Read", "openid", "profile", "offline_access"],
      audience: "https://graph.microsoft.com",
      user: { id: ME_ID, userPrincipalName: "MeganB@contoso.onmicrosoft.com" },
    });
    const idToken = decodeJwt(String(body.id_token));
    expect(idToken?.header).toEqual({ typ: "JWT", alg: "none" });
    expect(idToken?.payload).toMatchObject({ aud: DEMO_CLIENT_ID, tid: TENANT_ID, oid: ME_ID, nonce: "n-0S6", ver: "2.0", name: "Megan Bowen", iss: `${em.origin}/${TENANT_ID}/v2.0` });
    expect(JSON.parse(Buffer.from(String(body.client_info), "base64url").toString())).toEqual({ uid: ME_ID, utid: TENANT_ID });
  });

  it("returns a refresh token only with offline_access, and an id_token only with openid", async () => {
    const plain = await getCode("User.Read");
    const { body } = await token(redeemForm(plain.code, plain.verifier));
    expect(Object.keys(body)).toEqual(["token_type", "scope", "expires_in", "ext_expires_in", "access_token"]);
    const offline = await getCode("User.Read offline_access");
    const { body: withRefresh } = await token(redeemForm(offline.code, offline.verifier));
    expect(withRefresh).toHaveProperty("refresh_token");
    expect(withRefresh).not.toHaveProperty("id_token");
  });

  it("refuses a wrong or missing code_verifier with invalid_grant AADSTS501481", async () => {
    const { code } = await getCode();
    const body = await expectAad(await post(em.tokenEndpoint(), redeemForm(code, pkce().verifier)), 400, "invalid_grant", 501481);
    expect(body.error_description).toMatch(/^AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request\./);
    const second = await getCode();
    const form: Record<string, string> = redeemForm(second.code, second.verifier);
    delete form.code_verifier;
    await expectAad(await post(em.tokenEndpoint(), form), 400, "invalid_grant", 501481);
  });

  it("redeems a code once, within 10 minutes, for the same redirect URI, tenant and client", async () => {
    const first = await getCode();
    expect((await token(redeemForm(first.code, first.verifier))).res.status).toBe(200);
    await expectAad(await post(em.tokenEndpoint(), redeemForm(first.code, first.verifier)), 400, "invalid_grant", 54005);

    const late = await getCode();
    now += 10 * 60_000 + 1;
    await expectAad(await post(em.tokenEndpoint(), redeemForm(late.code, late.verifier)), 400, "invalid_grant", 70008);

    const moved = await getCode();
    await expectAad(await post(em.tokenEndpoint(), redeemForm(moved.code, moved.verifier, "http://localhost:51234/other")), 401, "invalid_client", 500112);
    await expectAad(await post(em.tokenEndpoint(FABRIKAM_ID), redeemForm(moved.code, moved.verifier)), 400, "invalid_grant", 700005);
    await expectAad(await post(em.tokenEndpoint(), redeemForm("garbage", moved.verifier)), 400, "invalid_grant", 9002313);
  });

  it("needs the secret of a confidential client and refuses one from a public client", async () => {
    const { code, verifier } = await getCode();
    const form: Record<string, string> = redeemForm(code, verifier);
    delete form.client_secret;
    await expectAad(await post(em.tokenEndpoint(), form), 401, "invalid_client", 7000218);
    await expectAad(await post(em.tokenEndpoint(), { ...form, client_secret: "nope" }), 401, "invalid_client", 7000215);

    const { verifier: v2, challenge } = pkce();
    const res = await authorize({ client_id: PUBLIC_CLIENT_ID, response_type: "code", redirect_uri: "http://127.0.0.1:40000/native", scope: "User.Read", code_challenge: challenge, code_challenge_method: "S256" });
    const publicCode = new URL(res.headers.get("location") ?? "").searchParams.get("code") ?? "";
    const publicForm = { client_id: PUBLIC_CLIENT_ID, grant_type: "authorization_code", code: publicCode, redirect_uri: "http://127.0.0.1:40000/native", code_verifier: v2 };
    await expectAad(await post(em.tokenEndpoint(), { ...publicForm, client_secret: "anything" }), 401, "invalid_client", 700025);
    const ok = await token(publicForm);
    expect(ok.res.status).toBe(200);
    expect(em.tokens.lookup(String(ok.body.access_token))?.clientId).toBe(PUBLIC_CLIENT_ID);
  });

  it("lets the redemption narrow the scopes but not widen them (consent_required AADSTS65001)", async () => {
    const { code, verifier } = await getCode("openid offline_access User.Read Mail.Read");
    const narrowed = await token(redeemForm(code, verifier, undefined, { scope: "User.Read" }));
    expect(narrowed.body.scope).toBe("User.Read");
    const again = await getCode("openid User.Read");
    await expectAad(await post(em.tokenEndpoint(), redeemForm(again.code, again.verifier, undefined, { scope: "Mail.Send" })), 400, "consent_required", 65001);
  });

  it("signs /common users into their home tenant; domain_hint picks another", async () => {
    const home = await getCode("User.Read", {}, "common");
    const homeToken = await token(redeemForm(home.code, home.verifier), "common");
    expect(em.tokens.lookup(String(homeToken.body.access_token))?.tenant).toBe(TENANT_ID);
    const hinted = await getCode("User.Read", { domain_hint: "fabrikam.com" }, "organizations");
    const hintedToken = await token(redeemForm(hinted.code, hinted.verifier), FABRIKAM_ID);
    expect(em.tokens.lookup(String(hintedToken.body.access_token))?.tenant).toBe(FABRIKAM_ID);
  });

  it("supports response_mode=fragment and form_post", async () => {
    const { challenge } = pkce();
    const base = { client_id: DEMO_CLIENT_ID, response_type: "code", redirect_uri: "https://oauth2.prismatic.io/callback", scope: "User.Read", state: "s", code_challenge: challenge, code_challenge_method: "S256" };
    const fragment = await authorize({ ...base, response_mode: "fragment" });
    const location = new URL(fragment.headers.get("location") ?? "");
    expect(location.search).toBe("");
    expect(new URLSearchParams(location.hash.slice(1)).get("code")).toBeTruthy();
    const formPost = await authorize({ ...base, response_mode: "form_post" });
    expect(formPost.status).toBe(200);
    const html = await formPost.text();
    expect(html).toContain('action="https://oauth2.prismatic.io/callback"');
    expect(html).toMatch(/name="code" value="emu_code_[\w-]+"/);
  });
});

describe("authorize errors", () => {
  it("shows an error page, not a redirect, for an unknown client, tenant or redirect URI", async () => {
    const { challenge } = pkce();
    const base = { client_id: DEMO_CLIENT_ID, response_type: "code", redirect_uri: "http://localhost/callback", scope: "User.Read", code_challenge: challenge, code_challenge_method: "S256" };
    const page = async (res: Response, code: number) => {
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await res.text()).toContain(`AADSTS${code}: `);
    };
    await page(await authorize({ ...base, client_id: "11111111-2222-4333-8444-555555555555" }), 700016);
    await page(await authorize(base, "99999999-9999-4999-8999-999999999999"), 90002);
    await page(await authorize({ ...base, redirect_uri: "https://evil.example/callback" }), 50011);
    await page(await authorize({ ...base, redirect_uri: "http://localhost/Callback" }), 50011); // paths are case-sensitive
    await page(await authorize({ ...base, redirect_uri: "https://oauth2.prismatic.io:8443/callback" }), 50011); // only loopback ignores the port
  });

  it("sends protocol errors to the redirect URI with error, error_description and state", async () => {
    const base = { client_id: DEMO_CLIENT_ID, response_type: "code", redirect_uri: "http://localhost/callback", state: "keep-me" };
    const redirected = async (params: Record<string, string>, error: string, code: number) => {
      const res = await authorize(params);
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get("location") ?? "");
      expect(location.searchParams.get("error")).toBe(error);
      expect(location.searchParams.get("error_description")).toMatch(new RegExp(`^AADSTS${code}: .*\\r\\nTrace ID: .*\\r\\nCorrelation ID: .*\\r\\nTimestamp: `));
      expect(location.searchParams.get("state")).toBe("keep-me");
      expect(location.searchParams.get("code")).toBeNull();
    };
    await redirected(base, "invalid_request", 900144); // no scope
    await redirected({ ...base, scope: "https://graph.microsoft.us/User.Read" }, "invalid_resource", 500011);
    await redirected({ ...base, scope: "User.Read", response_type: "token" }, "unsupported_response_type", 70005);
    await redirected({ ...base, scope: "User.Read", code_challenge: "too-short", code_challenge_method: "S256" }, "invalid_request", 501491);
  });
});

describe("refresh tokens", () => {
  async function refreshable(scope = "openid offline_access User.Read Mail.Read"): Promise<string> {
    const { code, verifier } = await getCode(scope);
    const { body } = await token(redeemForm(code, verifier));
    return String(body.refresh_token);
  }
  const refreshForm = (refreshToken: string, extra: Record<string, string> = {}) => ({
    client_id: DEMO_CLIENT_ID,
    client_secret: DEMO_CLIENT_SECRET,
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    ...extra,
  });

  it("rotates: each refresh returns a new refresh token and the old one keeps working", async () => {
    const first = await refreshable();
    const a = await token(refreshForm(first));
    expect(a.res.status).toBe(200);
    expect(Object.keys(a.body)).toEqual(["token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token", "id_token"]);
    expect(a.body.refresh_token).not.toBe(first);
    expect(a.body.scope).toBe("User.Read Mail.Read openid offline_access");
    const b = await token(refreshForm(first));
    expect(b.res.status).toBe(200);
    const c = await token(refreshForm(String(a.body.refresh_token)));
    expect(c.res.status).toBe(200);
    expect(new Set([a.body.access_token, b.body.access_token, c.body.access_token]).size).toBe(3);
    expect(em.tokens.lookup(String(c.body.access_token))).toMatchObject({ kind: "user", user: { id: ME_ID } });
  });

  it("narrows to a subset of the grant, expands .default to it, and refuses anything more", async () => {
    const rt = await refreshable();
    const narrowed = await token(refreshForm(rt, { scope: "User.Read" }));
    expect(narrowed.body.scope).toBe("User.Read");
    expect(narrowed.body).not.toHaveProperty("id_token");
    // The rotated token still carries the whole grant.
    const widened = await token(refreshForm(String(narrowed.body.refresh_token), { scope: "Mail.Read openid" }));
    expect(widened.body.scope).toBe("Mail.Read openid");
    const all = await token(refreshForm(rt, { scope: GRAPH_DEFAULT }));
    expect(all.body.scope).toBe("User.Read Mail.Read");
    await expectAad(await post(em.tokenEndpoint(), refreshForm(rt, { scope: "Mail.Send" })), 400, "invalid_grant", 65001);
  });

  it("refuses unknown, foreign-client and inactive refresh tokens", async () => {
    await expectAad(await post(em.tokenEndpoint(), refreshForm("emu_rt_unknown")), 400, "invalid_grant", 9002313);
    const rt = await refreshable();
    await expectAad(
      await post(em.tokenEndpoint(), { client_id: PUBLIC_CLIENT_ID, grant_type: "refresh_token", refresh_token: rt }),
      400,
      "invalid_grant",
      70000,
    );
    const form: Record<string, string> = refreshForm(rt);
    delete form.client_secret;
    await expectAad(await post(em.tokenEndpoint(), form), 401, "invalid_client", 7000218);
    now += 91 * 86400_000;
    const inactive = await expectAad(await post(em.tokenEndpoint(), refreshForm(rt)), 400, "invalid_grant", 700082);
    expect(inactive.error_description).toMatch(/^AADSTS700082: The refresh token has expired due to inactivity\. The token was issued on .+ and was inactive for 91\.00:00:00\./);
  });
});

describe("expiry, registry and log", () => {
  it("keeps expired tokens in the registry with expiresAt in the past", async () => {
    const { body } = await token(secretForm());
    const accessToken = String(body.access_token);
    expect(em.tokens.isValid(accessToken, now)).toBe(true);
    now += 3600_000;
    const issued = em.tokens.lookup(accessToken);
    expect(issued?.expiresAt).toBeLessThan(now);
    expect(em.tokens.isValid(accessToken, now)).toBe(false);
    expect(em.tokens.lookup("emu_at_never-issued")).toBeUndefined();
  });

  it("honours tokenLifetimeSeconds", async () => {
    const short = await startIdentityEmulator({ tokenLifetimeSeconds: 60 });
    try {
      const body = (await (await post(short.tokenEndpoint(), secretForm())).json()) as Json;
      expect(body).toMatchObject({ expires_in: 60, ext_expires_in: 60 });
    } finally {
      await short.close();
    }
  });

  it("logs every request with the secrets redacted", async () => {
    const { code, verifier } = await getCode();
    const redeemed = await token(redeemForm(code, verifier));
    const refreshToken = String(redeemed.body.refresh_token);
    await token({ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, grant_type: "refresh_token", refresh_token: refreshToken });
    const jwt = await assertion();
    await token(assertionForm(jwt));
    await token(secretForm({ client_secret: "wrong-but-still-secret" }));

    expect(em.log.map((e) => `${e.method} ${e.status}`)).toEqual(["GET 302", "POST 200", "POST 200", "POST 200", "POST 401"]);
    const text = JSON.stringify(em.log);
    for (const secret of [DEMO_CLIENT_SECRET, "wrong-but-still-secret", jwt, verifier, refreshToken, code]) expect(text).not.toContain(secret);
    expect(em.log[1].form).toMatchObject({ grant_type: "authorization_code", code: "[REDACTED]", code_verifier: "[REDACTED]", client_secret: "[REDACTED]", client_id: DEMO_CLIENT_ID });
    expect(em.log[2].form.refresh_token).toBe("[REDACTED]");
    expect(em.log[3].form.client_assertion).toBe("[REDACTED]");
    expect(em.log[0].form.code_challenge_method).toBe("S256");
    expect(em.log[0].at).toBe(now);
  });

  it("redacts secrets put in the token URL's query string", async () => {
    await post(`${em.tokenEndpoint()}?client_secret=${DEMO_CLIENT_SECRET}&x=1`, secretForm());
    expect(em.log[0].url).toBe(`/${TENANT_ID}/oauth2/v2.0/token?client_secret=%5BREDACTED%5D&x=1`);
  });

  it("reset clears the log, codes and refresh tokens but keeps apps and access tokens", async () => {
    const { code, verifier } = await getCode();
    const { body } = await token(redeemForm(code, verifier));
    const second = await getCode();
    em.reset();
    expect(em.log).toEqual([]);
    expect(em.tokens.lookup(String(body.access_token))).toBeDefined();
    await expectAad(await post(em.tokenEndpoint(), redeemForm(second.code, second.verifier)), 400, "invalid_grant", 9002313);
    await expectAad(
      await post(em.tokenEndpoint(), { client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, grant_type: "refresh_token", refresh_token: String(body.refresh_token) }),
      400,
      "invalid_grant",
      9002313,
    );
    expect((await token(secretForm())).res.status).toBe(200);
  });

  it("registers apps at run time", async () => {
    const clientId = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716";
    em.registerApp({ clientId, clientSecret: "late-secret" });
    expect((await token(secretForm({ client_id: clientId, client_secret: "late-secret" }))).res.status).toBe(200);
  });
});

describe("defaults", () => {
  it("serves the Graph emulator's tenant and a demo app that Prismatic's callback can use", async () => {
    const plain = await startIdentityEmulator();
    try {
      expect(plain.tenantId).toBe(TENANT_ID);
      const cc = (await (await post(`${plain.origin}/contoso.onmicrosoft.com/oauth2/v2.0/token`, secretForm())).json()) as Json;
      expect(plain.tokens.lookup(String(cc.access_token))).toMatchObject({ kind: "app", tenant: TENANT_ID, clientId: DEMO_CLIENT_ID });
      const { challenge } = pkce();
      const res = await fetch(
        `${plain.authorizeEndpoint()}?${new URLSearchParams({ client_id: DEMO_CLIENT_ID, response_type: "code", redirect_uri: "https://oauth2.prismatic.io/callback", scope: "offline_access User.Read", state: "cfg-var-id", code_challenge: challenge, code_challenge_method: "S256" })}`,
        { redirect: "manual" },
      );
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toMatch(/^https:\/\/oauth2\.prismatic\.io\/callback\?code=emu_code_[\w-]+&state=cfg-var-id&session_state=/);
    } finally {
      await plain.close();
    }
  });
});

describe("makeTestCertificate", () => {
  it("builds a self-signed v3 certificate that node parses and whose thumbprints match", () => {
    const x509 = new X509Certificate(cert.certificatePem);
    expect(x509.subject).toBe("CN=Graph Emulator Test");
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.fingerprint.replace(/:/g, "")).toBe(cert.thumbprintSha1Hex);
    expect(x509.fingerprint256.replace(/:/g, "").toLowerCase()).toBe(Buffer.from(cert.thumbprintSha256Base64Url, "base64url").toString("hex"));
    expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(x509.checkPrivateKey(createPrivateKey(cert.privateKeyPem))).toBe(true);
  });
});
