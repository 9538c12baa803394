/**
 * Proves the sign-in host's device code flow (ED v2-oauth2-device-code.md) and its end-session endpoint
 * (ED v2-protocols-oidc.md "Send a sign-out request") over real HTTP.
 */
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, startIdentityEmulator, type IdentityEmulator } from "../identity";
import { decodeJwt } from "../jwt";
import { ME_ID, TENANT_ID } from "../tenant";

const PUBLIC_CLIENT_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const OTHER_PUBLIC_CLIENT_ID = "5e4d3c2b-1a09-4877-a665-544332211009";
const FABRIKAM_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

type Json = Record<string, unknown>;

let em: IdentityEmulator;
let now: number;

beforeAll(async () => {
  em = await startIdentityEmulator({
    now: () => now,
    tenants: [
      { id: TENANT_ID, domains: ["contoso.onmicrosoft.com", "contoso.com"], displayName: "Contoso" },
      { id: FABRIKAM_ID, domains: ["fabrikam.onmicrosoft.com"], displayName: "Fabrikam" },
    ],
    apps: [
      { clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, redirectUris: ["https://oauth2.prismatic.io/callback", "http://localhost/callback"] },
      { clientId: PUBLIC_CLIENT_ID, displayName: "Contoso Printer", redirectUris: ["http://127.0.0.1/native"] },
      { clientId: OTHER_PUBLIC_CLIENT_ID },
    ],
  });
});
afterAll(() => em.close());
beforeEach(() => {
  now = Date.now();
  em.reset();
});

async function post(url: string, form: Record<string, string>): Promise<{ res: Response; body: Json }> {
  const res = await fetch(url, { method: "POST", body: new URLSearchParams(form), redirect: "manual" });
  const text = await res.text();
  return { res, body: res.headers.get("content-type")?.startsWith("application/json") ? (JSON.parse(text) as Json) : { html: text } };
}

async function deviceCode(scope = "User.Read openid profile offline_access", clientId = PUBLIC_CLIENT_ID, tenant = TENANT_ID) {
  const { res, body } = await post(em.deviceCodeEndpoint(tenant), { client_id: clientId, scope });
  expect(res.status).toBe(200);
  return body as { user_code: string; device_code: string; verification_uri: string; expires_in: number; interval: number; message: string };
}

const poll = (device_code: string, extra: Record<string, string> = {}, tenant = TENANT_ID) =>
  post(em.tokenEndpoint(tenant), { grant_type: DEVICE_GRANT, client_id: PUBLIC_CLIENT_ID, device_code, ...extra });

async function expectAad(reply: { res: Response; body: Json }, status: number, error: string, code: number): Promise<void> {
  expect({ status: reply.res.status, error: reply.body.error, codes: reply.body.error_codes }).toEqual({ status, error, codes: [code] });
  expect(String(reply.body.error_description)).toMatch(new RegExp(`^AADSTS${code}: .+\\r\\nTrace ID: `));
}

describe("device authorization request", () => {
  it("answers the documented fields, in the order and wording of Entra's answer", async () => {
    const body = await deviceCode();
    expect(Object.keys(body)).toEqual(["user_code", "device_code", "verification_uri", "expires_in", "interval", "message"]);
    expect(body.user_code).toMatch(/^[A-Z0-9]{9}$/);
    expect(body.device_code).not.toContain(".");
    expect(body.verification_uri).toBe(`${em.origin}/devicelogin`);
    expect(body.expires_in).toBe(900);
    expect(body.interval).toBe(5);
    expect(body.message).toBe(`To sign in, use a web browser to open the page ${em.origin}/devicelogin and enter the code ${body.user_code} to authenticate.`);
    const [entry] = em.log;
    expect(entry).toMatchObject({ method: "POST", url: `/${TENANT_ID}/oauth2/v2.0/devicecode`, status: 200, form: { client_id: PUBLIC_CLIENT_ID } });
  });

  it("needs client_id and scope, a known app, POST, and refuses /consumers for an Entra-only app", async () => {
    await expectAad(await post(em.deviceCodeEndpoint(), { scope: "User.Read" }), 400, "invalid_request", 900144);
    await expectAad(await post(em.deviceCodeEndpoint(), { client_id: PUBLIC_CLIENT_ID }), 400, "invalid_request", 900144);
    await expectAad(await post(em.deviceCodeEndpoint(), { client_id: "00000000-0000-0000-0000-000000000001", scope: "User.Read" }), 400, "unauthorized_client", 700016);
    await expectAad(await post(em.deviceCodeEndpoint("consumers"), { client_id: PUBLIC_CLIENT_ID, scope: "User.Read" }), 400, "invalid_request", 9002332);
    const get = await fetch(em.deviceCodeEndpoint());
    expect(get.status).toBe(400);
    expect(((await get.json()) as Json).error_codes).toEqual([900561]);
  });

  it("issues for the user's home tenant on /organizations", async () => {
    const body = await deviceCode("User.Read", PUBLIC_CLIENT_ID, "organizations");
    await post(`${body.verification_uri}`, { otc: body.user_code });
    const { res, body: tokens } = await poll(body.device_code, {}, "organizations");
    expect(res.status).toBe(200);
    expect(em.tokens.lookup(String(tokens.access_token))?.tenant).toBe(TENANT_ID);
  });
});

describe("device code grant", () => {
  it("answers authorization_pending (AADSTS70016) until the user enters the code, then tokens like the authorization code grant", async () => {
    const started = await deviceCode();
    await expectAad(await poll(started.device_code), 400, "authorization_pending", 70016);

    const form = await fetch(started.verification_uri);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('<input name="otc"');
    // Typed by a person: lower case, with a dash.
    const typed = `${started.user_code.slice(0, 4).toLowerCase()}-${started.user_code.slice(4)}`;
    const approved = await fetch(`${started.verification_uri}?otc=${encodeURIComponent(typed)}`);
    expect(approved.status).toBe(200);
    expect(await approved.text()).toContain("You have signed in to the Contoso Printer application on your device.");

    const { res, body } = await poll(started.device_code, { client_info: "1" });
    expect(res.status).toBe(200);
    expect(Object.keys(body)).toEqual(["token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token", "id_token", "client_info"]);
    expect(body.scope).toBe("User.Read openid profile offline_access");
    expect(em.tokens.lookup(String(body.access_token))).toMatchObject({
      kind: "user",
      tenant: TENANT_ID,
      clientId: PUBLIC_CLIENT_ID,
      scopes: ["User.Read", "openid", "profile", "offline_access"],
      user: { id: ME_ID, userPrincipalName: "MeganB@contoso.onmicrosoft.com" },
    });
    expect(decodeJwt(String(body.id_token))?.payload).toMatchObject({ aud: PUBLIC_CLIENT_ID, tid: TENANT_ID, oid: ME_ID, name: "Megan Bowen" });

    // The refresh token works like the authorization code grant's.
    const refreshed = await post(em.tokenEndpoint(), { grant_type: "refresh_token", client_id: PUBLIC_CLIENT_ID, refresh_token: String(body.refresh_token) });
    expect(refreshed.res.status).toBe(200);
    // Redeemed once: the code is no longer recognized.
    await expectAad(await poll(started.device_code), 400, "bad_verification_code", 70018);
  });

  it("gives no refresh token without offline_access and no id_token without openid; takes MSAL's short grant_type", async () => {
    const started = await deviceCode("User.Read");
    await post(started.verification_uri, { otc: started.user_code });
    const { body } = await poll(started.device_code, { grant_type: "device_code" });
    expect(Object.keys(body)).toEqual(["token_type", "scope", "expires_in", "ext_expires_in", "access_token"]);
  });

  it("answers authorization_declined (AADSTS65004) when the user cancels", async () => {
    const started = await deviceCode();
    const declined = await post(started.verification_uri, { otc: started.user_code, decline: "1" });
    expect(declined.res.status).toBe(200);
    expect(declined.body.html).toContain("You declined to sign in to Contoso Printer");
    await expectAad(await poll(started.device_code), 400, "authorization_declined", 65004);
  });

  it("answers expired_token (AADSTS70019) after 15 minutes, on the token endpoint and the verification page", async () => {
    const started = await deviceCode();
    now += 900_000;
    await expectAad(await poll(started.device_code), 400, "expired_token", 70019);
    const page = await post(started.verification_uri, { otc: started.user_code });
    expect(page.res.status).toBe(400);
    expect(page.body.html).toContain("AADSTS70019: Verification code expired.");
  });

  it("answers bad_verification_code (AADSTS70018) to an unknown device code, or one from another tenant; a wrong user code gets the error page", async () => {
    await expectAad(await poll("emu_dc_unknown"), 400, "bad_verification_code", 70018);
    const started = await deviceCode("User.Read", PUBLIC_CLIENT_ID, "organizations");
    await expectAad(await poll(started.device_code, {}, FABRIKAM_ID), 400, "bad_verification_code", 70018);
    await expectAad(await poll(started.device_code, {}, "contoso.com"), 400, "authorization_pending", 70016);
    const page = await post(started.verification_uri, { otc: "NOTACODE1" });
    expect(page.res.status).toBe(400);
    expect(page.body.html).toContain("AADSTS70018: ");
  });

  it("binds the code to its client, wants device_code, and applies client authentication", async () => {
    const started = await deviceCode();
    await post(started.verification_uri, { otc: started.user_code });
    await expectAad(await poll(started.device_code, { client_id: OTHER_PUBLIC_CLIENT_ID }), 400, "invalid_grant", 70000);
    await expectAad(await post(em.tokenEndpoint(), { grant_type: DEVICE_GRANT, client_id: PUBLIC_CLIENT_ID }), 400, "invalid_request", 900144);
    // A confidential app without "Allow public client flows" must present its credential (AADSTS7000218) ...
    const confidential = await deviceCode("User.Read", DEMO_CLIENT_ID);
    await post(confidential.verification_uri, { otc: confidential.user_code });
    await expectAad(await poll(confidential.device_code, { client_id: DEMO_CLIENT_ID }), 401, "invalid_client", 7000218);
    // ... and with it gets its tokens; the log never shows the device code or the secret.
    const { res } = await poll(confidential.device_code, { client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET });
    expect(res.status).toBe(200);
    const logged = JSON.stringify(em.log);
    expect(logged).not.toContain(confidential.device_code);
    expect(logged).not.toContain(DEMO_CLIENT_SECRET);
  });

  it("honours deviceCodeIntervalSeconds", async () => {
    const quick = await startIdentityEmulator({ deviceCodeIntervalSeconds: 0 });
    try {
      const res = await fetch(quick.deviceCodeEndpoint(), { method: "POST", body: new URLSearchParams({ client_id: DEMO_CLIENT_ID, scope: "User.Read" }) });
      expect(((await res.json()) as Json).interval).toBe(0);
    } finally {
      await quick.close();
    }
  });
});

describe("sign-out", () => {
  it("redirects to a post_logout_redirect_uri registered for an app (GET and POST)", async () => {
    const get = await fetch(`${em.logoutEndpoint("common")}?post_logout_redirect_uri=${encodeURIComponent("http://localhost:8080/callback")}`, { redirect: "manual" });
    expect(get.status).toBe(302);
    expect(get.headers.get("location")).toBe("http://localhost:8080/callback");
    const posted = await post(em.logoutEndpoint(), { post_logout_redirect_uri: "https://oauth2.prismatic.io/callback", client_id: DEMO_CLIENT_ID });
    expect(posted.res.status).toBe(302);
    expect(posted.res.headers.get("location")).toBe("https://oauth2.prismatic.io/callback");
  });

  it("shows the signed-out page for no redirect, an unregistered one, or one registered for another app", async () => {
    for (const url of [
      em.logoutEndpoint(),
      `${em.logoutEndpoint()}?post_logout_redirect_uri=${encodeURIComponent("https://evil.example/steal")}`,
      `${em.logoutEndpoint()}?client_id=${PUBLIC_CLIENT_ID}&post_logout_redirect_uri=${encodeURIComponent("https://oauth2.prismatic.io/callback")}`,
    ]) {
      const res = await fetch(url, { redirect: "manual" });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await res.text()).toContain("You signed out of your account");
    }
  });

  it("shows the error page for an unknown tenant, and leaves issued tokens valid", async () => {
    const unknown = await fetch(em.logoutEndpoint("00000000-0000-0000-0000-00000000dead"));
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("AADSTS90002");
    const app = await post(em.tokenEndpoint(), { grant_type: "client_credentials", client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, scope: "https://graph.microsoft.com/.default" });
    await fetch(em.logoutEndpoint());
    expect(em.tokens.isValid(String(app.body.access_token), now)).toBe(true);
  });
});
