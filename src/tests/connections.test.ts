/**
 * The three connections against the emulator's Graph and Entra sides: client credentials (the platform's
 * token), certificate credentials (the component signs in itself through MSAL), and the cloud checks that
 * catch a login host or scope of another cloud before the first call.
 */
import { createConnection } from "@prismatic-io/spectral/dist/testing";
import { certificateCredentials, oauth, oauthClientCredentials } from "../connections";
import { clearCertificateTokenCache } from "../client/certificate";
import { clock } from "../client/clock";
import { LOGIN_URL_ENV } from "../client/hosts";
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from "../emulator";
import { makeTestCertificate, type TestCertificate } from "../emulator/x509";
import { signIn } from "../runner/login";
import { failureOf, harness, useEmulator } from "./support";

const env = useEmulator({ identity: true });
const TENANT = "contoso.onmicrosoft.com";

async function run(connection: unknown, params: Record<string, unknown>) {
  return harness.action("rawRequest", { connection, method: "GET", ...params }, { logger: env.logger }) as Promise<{ data: unknown }>;
}

/** What the platform does for a client-credentials connection: exchange the secret for an app token. */
async function platformClientCredentialsToken(scope = `${env.emulator.graphResource}/.default`): Promise<string> {
  const response = await fetch(env.emulator.identity!.tokenEndpoint(TENANT), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, scope }),
  });
  const body = (await response.json()) as { access_token: string };
  return body.access_token;
}

function clientCredentialsConnection(token: string, fields: Record<string, unknown> = {}) {
  return createConnection(
    oauthClientCredentials,
    {
      tenant: TENANT,
      clientId: DEMO_CLIENT_ID,
      clientSecret: DEMO_CLIENT_SECRET,
      cloud: "https://graph.microsoft.com",
      loginHost: "https://login.microsoftonline.com",
      tokenUrl: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`,
      scopes: "https://graph.microsoft.com/.default",
      ...fields,
    },
    { access_token: token, token_type: "Bearer", expires_in: 3599 },
  );
}

describe("OAuth 2.0 Client Credentials", () => {
  it("calls Graph with the app token the platform obtained", async () => {
    const token = await platformClientCredentialsToken();
    env.emulator.log.length = 0;
    const result = await run(clientCredentialsConnection(token), { url: "/users", queryParams: [{ key: "$top", value: "5" }] });
    expect((result.data as { value: unknown[] }).value).toHaveLength(5);
    expect(env.graphRequests()[0]).toMatchObject({ auth: "valid", tokenKind: "app" });
  });

  it("refuses /me before sending: app-only tokens have no signed-in user, and says what to use instead", async () => {
    const token = await platformClientCredentialsToken();
    env.emulator.log.length = 0;
    const error = await failureOf(run(clientCredentialsConnection(token), { url: "/me/messages" }));
    expect(error.message).toBe(
      "URL: '/me/messages' needs a signed-in user, but this connection signs in as the app itself, and app-only tokens have no user behind them. Name the user instead: /users/{id or userPrincipalName}/messages",
    );
    expect(env.emulator.log).toHaveLength(0);
  });

  it("refuses /me inside a batch too", async () => {
    const token = await platformClientCredentialsToken();
    const error = await failureOf(
      harness.action("batchRequests", { connection: clientCredentialsConnection(token), requests: '[{"method":"GET","url":"/me"}]' }, { logger: env.logger }),
    );
    expect(error.message).toMatch(/^Requests: request 1 \(id '1'\): '\/me' needs a signed-in user/);
  });

  it.each([
    ["common", /^Connection: Tenant 'common' cannot be used here: an app signing in as itself must name the one tenant/],
    ["organizations", /^Connection: Tenant 'organizations' cannot be used here/],
    ["", /^Connection: Tenant is required/],
  ])("refuses the tenant %p with an explanation", async (tenant, message) => {
    const error = await failureOf(run(clientCredentialsConnection("t", { tenant }), { url: "/users" }));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("refuses a sign-in host of another cloud, naming both hosts", async () => {
    const error = await failureOf(
      run(clientCredentialsConnection("t", { cloud: "https://graph.microsoft.us", tokenUrl: "", scopes: "" }), { url: "/users" }),
    );
    expect(error.message).toBe(
      "Connection: Sign-in Host is on login.microsoftonline.com, which signs in to Global, but Microsoft Cloud is US Government L4 / GCC High, whose Graph host graph.microsoft.us only accepts tokens from login.microsoftonline.us. Choose the matching Microsoft Cloud, or change Sign-in Host.",
    );
    expect(env.emulator.log).toHaveLength(0);
  });
});

describe("OAuth 2.0 Authorization Code: the cloud checks", () => {
  const fields = {
    authorizeUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    tokenUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    scopes: "https://graph.microsoft.com/User.Read.All offline_access",
    clientId: "x",
    clientSecret: "y",
  };

  it("keeps working with the spec's defaults (Global)", async () => {
    const connection = createConnection(oauth, fields, { access_token: env.emulator.token });
    await run(connection, { url: "/me" });
    expect(env.graphRequests()).toHaveLength(1);
  });

  it("calls /me as the user the platform signed in (PKCE), and explains a 401 once that token expired", async () => {
    const clientId = "7c1e9b24-3d5f-4a8e-b6c2-0f9d8e7a6b5c";
    env.emulator.identity!.registerApp({ clientId, redirectUris: ["http://localhost/callback"] });
    const login = await signIn({
      loginOrigin: env.emulator.loginOrigin!,
      tenant: TENANT,
      clientId,
      scope: "openid offline_access User.Read",
      open: async (url) => {
        const answer = await fetch(url, { redirect: "manual" });
        await fetch(answer.headers.get("location")!.replace("://localhost:", "://127.0.0.1:"));
      },
    });
    const connection = createConnection(oauth, fields, { access_token: login.accessToken, refresh_token: login.refreshToken });
    const me = await run(connection, { url: "/me?$select=userPrincipalName" });
    expect((me.data as { userPrincipalName: string }).userPrincipalName).toBe("MeganB@contoso.onmicrosoft.com");
    expect(env.graphRequests()[0]).toMatchObject({ auth: "valid", tokenKind: "user" });

    env.advanceTime(3_600_000);
    const error = await failureOf(run(connection, { url: "/me" }));
    expect(error.message).toMatch(/^Microsoft Graph 401 InvalidAuthenticationToken: Access token has expired or is not yet valid\./);
    expect(error.message).toContain("Hint: the access token was missing, expired or issued for another audience.");
  });

  it("refuses a Token URL of the Global cloud when the cloud is China", async () => {
    const connection = createConnection(oauth, { ...fields, cloud: "https://microsoftgraph.chinacloudapi.cn" }, { access_token: "t" });
    const error = await failureOf(run(connection, { url: "/me" }));
    expect(error.message).toBe(
      "Connection: Authorize URL is on login.microsoftonline.com, which signs in to Global, but Microsoft Cloud is China, operated by 21Vianet, whose Graph host microsoftgraph.chinacloudapi.cn only accepts tokens from login.chinacloudapi.cn. Choose the matching Microsoft Cloud, or change Authorize URL.",
    );
  });

  it("refuses scopes of another cloud's Graph, naming both hosts and the fix", async () => {
    const connection = createConnection(
      oauth,
      {
        ...fields,
        authorizeUrl: "https://login.microsoftonline.us/common/oauth2/v2.0/authorize",
        tokenUrl: "https://login.microsoftonline.us/common/oauth2/v2.0/token",
        cloud: "https://dod-graph.microsoft.us",
      },
      { access_token: "t" },
    );
    const error = await failureOf(run(connection, { url: "/me" }));
    expect(error.message).toBe(
      "Connection: Scopes ask for https://graph.microsoft.com/User.Read.All, a permission of graph.microsoft.com, but Microsoft Cloud is US Government L5 / DoD (dod-graph.microsoft.us); a token for one cloud is refused by another. Use https://dod-graph.microsoft.us/User.Read.All.",
    );
    expect(env.emulator.log).toHaveLength(0);
  });

  it("refuses an unknown cloud", async () => {
    const connection = createConnection(oauth, { ...fields, cloud: "https://graph.microsoft.de" }, { access_token: "t" });
    const error = await failureOf(run(connection, { url: "/me" }));
    expect(error.message).toMatch(/^Connection: Microsoft Cloud 'https:\/\/graph\.microsoft\.de' is not one of Global/);
  });
});

describe("Certificate Credentials", () => {
  let certificate: TestCertificate;
  let pem: string;
  const clientId = "5d2c8a14-7b3e-4f09-9c61-2e8d4b7a1f35";
  const realNow = clock.now;

  beforeAll(async () => {
    certificate = await makeTestCertificate();
    pem = `${certificate.certificatePem}\n${certificate.privateKeyPem}`;
    env.emulator.identity!.registerApp({ clientId, certificatePem: certificate.certificatePem });
  });
  beforeEach(() => {
    process.env[LOGIN_URL_ENV] = env.emulator.loginOrigin;
    clearCertificateTokenCache();
    clock.now = realNow;
  });
  afterAll(() => {
    delete process.env[LOGIN_URL_ENV];
    clock.now = realNow;
  });

  function certConnection(fields: Record<string, unknown> = {}) {
    return createConnection(certificateCredentials, { tenant: TENANT, clientId, certificate: pem, cloud: "https://graph.microsoft.com", ...fields });
  }

  it("signs in with a client assertion and calls Graph as the app", async () => {
    const result = await run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "2" }] });
    expect((result.data as { value: unknown[] }).value).toHaveLength(2);
    const [signIn] = env.emulator.identity!.log;
    expect(signIn).toMatchObject({ method: "POST", status: 200 });
    expect(signIn.url.split("?")[0]).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(signIn.form).toMatchObject({
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: "[REDACTED]",
      scope: "https://graph.microsoft.com/.default",
    });
    expect(env.graphRequests()[0]).toMatchObject({ auth: "valid", tokenKind: "app" });
  });

  it("asks for one token for many actions, and a new one shortly before it expires", async () => {
    for (let i = 0; i < 5; i++) await run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    expect(env.emulator.identity!.log).toHaveLength(1);
    expect(env.graphRequests()).toHaveLength(5);

    // 56 minutes later the 60-minute token is inside the 5-minute renewal margin.
    clock.now = () => realNow() + 56 * 60_000;
    await run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    expect(env.emulator.identity!.log).toHaveLength(2);
  });

  it("signs in again, once, when Graph refuses the cached token", async () => {
    await run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    const revoked = env.emulator.identity!.tokens.all().at(-1)!;
    env.emulator.identity!.tokens.revoke(revoked.accessToken);
    await run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    expect(env.graphRequests().map((e) => e.status)).toEqual([200, 401, 200]);
    expect(env.emulator.identity!.log).toHaveLength(2);
    expect(env.logLines.some((l) => l.includes("Graph refused the cached token (401); signing in again"))).toBe(true);
  });

  it("shares one sign-in between steps that start together", async () => {
    await Promise.all(Array.from({ length: 4 }, () => run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "1" }] })));
    expect(env.emulator.identity!.log).toHaveLength(1);
  });

  it("carries Entra's AADSTS code and message when the tenant is unknown", async () => {
    const error = await failureOf(run(certConnection({ tenant: "nowhere.onmicrosoft.com" }), { url: "/users" }));
    expect(error.message).toMatch(/^Connection: Microsoft Entra \(login\.microsoftonline\.com\) refused the certificate sign-in: 400 invalid_request: AADSTS90002: Tenant 'nowhere\.onmicrosoft\.com' not found/);
    expect(env.graphRequests()).toHaveLength(0);
  });

  it("carries Entra's AADSTS code when the client is wrong", async () => {
    const error = await failureOf(run(certConnection({ clientId: "00000000-0000-0000-0000-00000000dead" }), { url: "/users" }));
    expect(error.message).toMatch(/refused the certificate sign-in: 400 unauthorized_client: AADSTS700016: /);
  });

  it("carries Entra's AADSTS code when the certificate is not the registered one", async () => {
    const other = await makeTestCertificate();
    const error = await failureOf(run(certConnection({ certificate: `${other.certificatePem}\n${other.privateKeyPem}` }), { url: "/users" }));
    expect(error.message).toMatch(/refused the certificate sign-in: 401 invalid_client: AADSTS700027: /);
  });

  it.each([
    ["no certificate", "hello", /^Certificate: no '-----BEGIN CERTIFICATE-----' block was found/],
    ["no key", () => certificate.certificatePem, /^Certificate: no private key was found/],
    ["an encrypted key", () => `${certificate.certificatePem}\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----`, /^Certificate: the private key is encrypted/],
    ["another certificate's key", async () => `${certificate.certificatePem}\n${(await makeTestCertificate()).privateKeyPem}`, /^Certificate: the private key does not belong to the certificate/],
    ["a garbled certificate", () => `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n${certificate.privateKeyPem}`, /^Certificate: the certificate block is not a valid X\.509 certificate/],
  ])("refuses %s before any sign-in", async (_what, value, message) => {
    const text = typeof value === "function" ? await value() : value;
    const error = await failureOf(run(certConnection({ certificate: text }), { url: "/users" }));
    expect(error.message).toMatch(message);
    expect(env.emulator.identity!.log).toHaveLength(0);
  });

  it("never logs the key or the assertion, even with Debug Request on", async () => {
    await run(certConnection(), { url: "/users", queryParams: [{ key: "$top", value: "1" }], debugRequest: "true" });
    const everything = env.logLines.join("\n");
    expect(everything).not.toContain("PRIVATE KEY");
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(env.logLines.length).toBeGreaterThan(0);
  });
});
