/**
 * What the README promises and no other test checked: an expired certificate is refused before any sign-in,
 * the error hook redacts tokens and strips axios-shaped errors of their request config, and the
 * client-credentials connection's token URL and scope templates work once substituted as the platform does.
 */
import { createConnection } from "@prismatic-io/spectral/dist/testing";
import component from "../index";
import { certificateCredentials, oauthClientCredentials } from "../connections";
import { clearCertificateTokenCache } from "../client/certificate";
import { GraphRequestError } from "../client/errors";
import { LOGIN_URL_ENV } from "../client/hosts";
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from "../emulator";
import { makeTestCertificate, type TestCertificate } from "../emulator/x509";
import { handleGraphError } from "../errorHook";
import { failureOf, harness, rawRequest, runAction, useEmulator } from "./support";

const env = useEmulator({ identity: true });
const TENANT = "contoso.onmicrosoft.com";
const DAY = 86_400_000;

function run(connection: unknown, params: Record<string, unknown>) {
  return harness.action("rawRequest", { connection, method: "GET", ...params }, { logger: env.logger }) as Promise<{ data: unknown }>;
}

describe("Certificate Credentials: an expired certificate", () => {
  const clientId = "9a3f6c21-0b7d-4e58-a1c4-6d2e8f0b3a97";
  beforeEach(() => {
    process.env[LOGIN_URL_ENV] = env.emulator.loginOrigin;
    clearCertificateTokenCache();
  });
  afterAll(() => {
    delete process.env[LOGIN_URL_ENV];
  });

  function connectionWith(certificate: TestCertificate) {
    // Registered, so that only the component's own check can stop the sign-in.
    env.emulator.identity!.registerApp({ clientId, certificatePem: certificate.certificatePem });
    return createConnection(certificateCredentials, {
      tenant: TENANT,
      clientId,
      certificate: `${certificate.certificatePem}\n${certificate.privateKeyPem}`,
      cloud: "https://graph.microsoft.com",
    });
  }

  it("is refused before any sign-in, with the date it expired", async () => {
    const notAfter = new Date(Math.floor((Date.now() - DAY) / 1000) * 1000);
    const expired = await makeTestCertificate({ notBefore: new Date(notAfter.getTime() - 365 * DAY), notAfter });
    const error = await failureOf(run(connectionWith(expired), { url: "/users" }));
    expect(error.message).toBe(
      `Certificate: the certificate expired on ${notAfter.toISOString()}; upload a new one to the app registration and here`,
    );
    expect(env.emulator.identity!.log).toHaveLength(0);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("is still accepted on its last day", async () => {
    const lastDay = await makeTestCertificate({ notBefore: new Date(Date.now() - 365 * DAY), notAfter: new Date(Date.now() + 3_600_000) });
    await run(connectionWith(lastDay), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    expect(env.emulator.identity!.log.map((e) => e.status)).toEqual([200]);
    expect(env.graphRequests().map((e) => e.status)).toEqual([200]);
  });
});

describe("the error hook", () => {
  // JWT-shaped (built here, so no token-shaped literal sits in the repo).
  const token = [{ typ: "JWT", alg: "RS256" }, { aud: "graph" }].map((part) => Buffer.from(JSON.stringify(part)).toString("base64url")).join(".") + ".c2lnbmF0dXJl";

  it("redacts a bearer token that Graph echoed into its error message, and keeps the Graph details", async () => {
    env.emulator.addFault({
      path: "/me",
      fault: {
        kind: "reply",
        status: 400,
        headers: { "content-type": "application/json", "request-id": "11111111-2222-3333-4444-555555555555" },
        body: JSON.stringify({ error: { code: "BadRequest", message: `Header was 'Authorization: Bearer ${token}'.` } }),
      },
    });
    const error = await failureOf(rawRequest(env, { url: "/me" }));
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error.message).toMatch(/^Microsoft Graph 400 BadRequest: Header was 'Authorization: Bearer \[REDACTED\]'\./);
    expect(error.message).not.toContain(token);
    expect(error).toMatchObject({ status: 400, code: "BadRequest", requestId: "11111111-2222-3333-4444-555555555555" });
  });

  it("redacts a token that reached an input error's message", async () => {
    const error = await failureOf(runAction(env, "fetchAllPages", { url: "/users", maxPages: `Bearer ${token}` }));
    expect(error.message).toMatch(/^Max Pages: /);
    expect(error.message).toContain("Bearer [REDACTED]");
    expect(error.message).not.toContain(token);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("turns an axios-shaped error into its words only: no config, no request, no headers", () => {
    const axiosError = Object.assign(new Error(`Request failed: Authorization: Bearer ${token}`), {
      name: "AxiosError",
      isAxiosError: true,
      config: { headers: { Authorization: `Bearer ${token}` } },
      request: { _header: `GET /v1.0/me HTTP/1.1\r\nAuthorization: Bearer ${token}` },
      response: { status: 500, headers: {} },
    });
    const safe = handleGraphError(axiosError) as Error;
    expect(safe).not.toBe(axiosError);
    expect(Object.keys(safe)).toEqual(["name"]);
    expect(safe.name).toBe("AxiosError");
    expect(safe.message).toBe("Request failed: Authorization: Bearer [REDACTED]");
    expect(JSON.stringify(safe, Object.getOwnPropertyNames(safe))).not.toContain(token);
  });

  it("also strips an error that only carries a config (no isAxiosError flag)", () => {
    const withConfig = Object.assign(new Error("socket hang up"), { config: { headers: { Authorization: `Bearer ${token}` } } });
    const safe = handleGraphError(withConfig) as Error & { config?: unknown };
    expect(safe).not.toBe(withConfig);
    expect(safe.config).toBeUndefined();
    expect(safe.message).toBe("socket hang up");
  });

  it("redacts any other error in place, and returns what is not an Error unchanged", () => {
    const plain = new Error(`bearer ${token}`);
    expect(handleGraphError(plain)).toBe(plain);
    expect(plain.message).toBe("bearer [REDACTED]");
    expect(handleGraphError("just words")).toBe("just words");
  });
});

/**
 * Fills `{{#key}}` in each template input from the other inputs (their defaults when not set), as the platform
 * does. It reads the component as the platform receives it (converted), where a template is the input's default.
 */
function substituteTemplates(connectionKey: string, fields: Record<string, string>): Record<string, string> {
  const definition = (component.connections as unknown as { key: string; inputs: { key: string; type: string; default?: string }[] }[]).find(
    (c) => c.key === connectionKey,
  )!;
  const values: Record<string, string> = {};
  for (const input of definition.inputs) if (input.type !== "template" && input.default !== undefined) values[input.key] = input.default;
  Object.assign(values, fields);
  for (const input of definition.inputs) {
    if (input.type === "template") values[input.key] = input.default!.replace(/\{\{#(\w+)\}\}/g, (_m, key: string) => values[key] ?? "");
  }
  return values;
}

describe("OAuth 2.0 Client Credentials: the token URL and scope templates", () => {
  const base = { tenant: TENANT, clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET };

  it.each([
    ["Global (the defaults)", {}, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", "https://graph.microsoft.com/.default"],
    [
      "US Government L4",
      { cloud: "https://graph.microsoft.us", loginHost: "https://login.microsoftonline.us" },
      "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token",
      "https://graph.microsoft.us/.default",
    ],
    [
      "US Government L5",
      { cloud: "https://dod-graph.microsoft.us", loginHost: "https://login.microsoftonline.us" },
      "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token",
      "https://dod-graph.microsoft.us/.default",
    ],
    [
      "China",
      { cloud: "https://microsoftgraph.chinacloudapi.cn", loginHost: "https://login.chinacloudapi.cn" },
      "https://login.chinacloudapi.cn/contoso.onmicrosoft.com/oauth2/v2.0/token",
      "https://microsoftgraph.chinacloudapi.cn/.default",
    ],
  ])("%s: substitutes to the cloud's token URL and .default scope, which the connection accepts", async (_cloud, choice, tokenUrl, scopes) => {
    const fields = substituteTemplates("oauthClientCredentials", { ...base, ...choice });
    expect([fields.tokenUrl, fields.scopes]).toEqual([tokenUrl, scopes]);
    await run(createConnection(oauthClientCredentials, fields, { access_token: env.emulator.token }), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    expect(env.graphRequests().map((e) => e.status)).toEqual([200]);
  });

  it("gets a token Graph accepts when the platform exchanges the secret at the substituted URL and scope", async () => {
    const fields = substituteTemplates("oauthClientCredentials", base);
    // The emulator's Entra stands in for the sign-in host: same path, loopback origin.
    const tokenUrl = new URL(fields.tokenUrl);
    const response = await fetch(`${env.emulator.loginOrigin}${tokenUrl.pathname}`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: fields.clientId, client_secret: fields.clientSecret, scope: fields.scopes }),
    });
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };
    await run(createConnection(oauthClientCredentials, fields, { access_token }), { url: "/users", queryParams: [{ key: "$top", value: "1" }] });
    expect(env.graphRequests()).toMatchObject([{ status: 200, auth: "valid", tokenKind: "app" }]);
  });

  it("refuses a cloud whose sign-in host was left at the default, before sending, naming both hosts", async () => {
    const fields = substituteTemplates("oauthClientCredentials", { ...base, cloud: "https://microsoftgraph.chinacloudapi.cn" });
    expect(fields.tokenUrl).toBe("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    const error = await failureOf(run(createConnection(oauthClientCredentials, fields, { access_token: env.emulator.token }), { url: "/users" }));
    expect(error.message).toMatch(/^Connection: Sign-in Host is on login\.microsoftonline\.com, which signs in to Global, but Microsoft Cloud is China/);
    expect(error.message).toContain("login.chinacloudapi.cn");
    expect(env.emulator.log).toHaveLength(0);
  });
});
