/**
 * The sign-in host's OpenID discovery document over real HTTP: its shape per authority (tenant by id or
 * domain, common, organizations, consumers), and that a client following only what it discovered gets a
 * token, an id token whose `iss` matches the published issuer, and the published signing keys.
 */
import { createHash, randomBytes } from "node:crypto";

import { CONSUMERS_TENANT_ID } from "./discovery";
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, startIdentityEmulator, type IdentityEmulator } from "./identity";
import { decodeJwt } from "./jwt";
import { TENANT_ID } from "./tenant";

type Json = Record<string, unknown>;

let em: IdentityEmulator;
beforeAll(async () => {
  em = await startIdentityEmulator();
});
afterAll(() => em.close());

async function discover(authority: string): Promise<{ res: Response; body: Json }> {
  const res = await fetch(`${em.origin}/${authority}/v2.0/.well-known/openid-configuration`);
  return { res, body: (await res.json()) as Json };
}

describe("GET /{tenant}/v2.0/.well-known/openid-configuration", () => {
  it("for a tenant by domain: every URL names the tenant id, a concrete issuer, Entra's fields", async () => {
    const { res, body } = await discover("contoso.onmicrosoft.com");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const base = `${em.origin}/${TENANT_ID}`;
    expect(body).toEqual({
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: expect.arrayContaining(["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "name", "tid", "ver", "email"]),
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
      msgraph_host: "graph.microsoft.com",
    });
    // The tenant id and the domain are the same authority.
    expect((await discover(TENANT_ID)).body).toEqual(body);
  });

  it.each([
    ["common", "{tenantid}"],
    ["organizations", "{tenantid}"],
    ["consumers", CONSUMERS_TENANT_ID],
  ])("for %s: URLs keep the authority, the issuer is %s", async (authority, issuerTenant) => {
    const { res, body } = await discover(authority);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({
      token_endpoint: `${em.origin}/${authority}/oauth2/v2.0/token`,
      authorization_endpoint: `${em.origin}/${authority}/oauth2/v2.0/authorize`,
      jwks_uri: `${em.origin}/${authority}/discovery/v2.0/keys`,
      issuer: `${em.origin}/${issuerTenant}/v2.0`,
      tenant_region_scope: null,
    });
  });

  it("answers an unknown tenant with Entra's AADSTS90002 error, and a POST with 404", async () => {
    const res = await fetch(`${em.origin}/nowhere.example.com/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(400);
    const error = (await res.json()) as { error: string; error_codes: number[] };
    expect(error).toMatchObject({ error: "invalid_request", error_codes: [90002] });
    const post = await fetch(`${em.origin}/common/v2.0/.well-known/openid-configuration`, { method: "POST" });
    expect(post.status).toBe(404);
  });

  it("names the cloud: msgraph_host, userinfo and cloud_instance_name follow the Graph resource", async () => {
    const china = await startIdentityEmulator({ graphResource: "https://microsoftgraph.chinacloudapi.cn" });
    try {
      const body = (await (await fetch(`${china.origin}/common/v2.0/.well-known/openid-configuration`)).json()) as Json;
      expect(body).toMatchObject({
        msgraph_host: "microsoftgraph.chinacloudapi.cn",
        userinfo_endpoint: "https://microsoftgraph.chinacloudapi.cn/oidc/userinfo",
        cloud_instance_name: "chinacloudapi.cn",
      });
    } finally {
      await china.close();
    }
  });

  it("leads a client to a token, an id token from the published issuer and the published keys", async () => {
    const { body: config } = await discover("common");
    const verifier = randomBytes(32).toString("base64url");
    const authorize = new URL(String(config.authorization_endpoint));
    const redirectUri = "http://localhost/callback";
    authorize.search = new URLSearchParams({
      client_id: DEMO_CLIENT_ID,
      response_type: "code",
      redirect_uri: redirectUri,
      scope: "openid profile User.Read",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    }).toString();
    const redirected = await fetch(authorize, { redirect: "manual" });
    expect(redirected.status).toBe(302);
    const code = new URL(redirected.headers.get("location") ?? "").searchParams.get("code") ?? "";

    const tokenRes = await fetch(String(config.token_endpoint), {
      method: "POST",
      body: new URLSearchParams({ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier }),
    });
    expect(tokenRes.status).toBe(200);
    const tokens = (await tokenRes.json()) as { access_token: string; id_token: string };
    expect(tokens.access_token).toEqual(expect.any(String));
    const claims = (decodeJwt(tokens.id_token)?.payload ?? {}) as { iss?: string; tid?: string };
    // Clients fill the {tenantid} template from the token's tid, then compare (OIDC Core §3.1.3.7).
    expect(claims.tid).toBe(TENANT_ID);
    expect(claims.iss).toBe(String(config.issuer).replace("{tenantid}", TENANT_ID));

    const keys = (await (await fetch(String(config.jwks_uri))).json()) as { keys: { kty: string; use: string; kid: string }[] };
    expect(keys.keys.length).toBeGreaterThan(0);
    expect(keys.keys[0]).toMatchObject({ kty: "RSA", use: "sig" });
  });
});
