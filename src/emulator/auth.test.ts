/**
 * The Graph emulator accepting the identity emulator's access tokens over real HTTP (Node's fetch): app-only
 * tokens on /users and refused on /me (also inside $batch), expiry on the injected clock, the audience per
 * cloud, delegated (auth code + PKCE) tokens on /me, and the scopes deciding directory reads and writes.
 */
import { createHash, randomBytes } from "node:crypto";

import { CLOUD_RESOURCES, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TOKEN, READ_ONLY_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { ME_ID, TENANT_ID } from "./tenant";

interface GraphErrorBody {
  error: { code: string; message: string; innerError?: Record<string, unknown> };
}

interface ItemResponse {
  id: string;
  status: number;
  body?: unknown;
}

const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
const ME_ONLY_DELEGATED = "/me request is only valid with delegated authentication flow.";
const REDIRECT_URI = "http://localhost:51234/callback";

let em: GraphEmulator;
let clockMs: number;

beforeAll(async () => {
  em = await startEmulator({ users: 20, identity: true, now: () => clockMs });
});
afterAll(() => em.close());
beforeEach(() => {
  clockMs = Date.now();
  em.reset();
});

function login(target: GraphEmulator = em) {
  if (!target.identity) throw new Error("started without identity");
  return target.identity;
}

async function appToken(target: GraphEmulator = em, resource = target.graphResource): Promise<string> {
  const res = await fetch(login(target).tokenEndpoint(), {
    method: "POST",
    body: new URLSearchParams({ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, scope: `${resource}/.default`, grant_type: "client_credentials" }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(body)}`);
  return String(body.access_token);
}

/** Authorization code with PKCE (S256) for the demo app, redeemed for a delegated token. */
async function userToken(scope: string, target: GraphEmulator = em): Promise<string> {
  const identity = login(target);
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const query = new URLSearchParams({
    client_id: DEMO_CLIENT_ID,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope,
    state: "s",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  const authorize = await fetch(`${identity.authorizeEndpoint()}?${query}`, { redirect: "manual" });
  expect(authorize.status).toBe(302);
  const code = new URL(authorize.headers.get("location") ?? "").searchParams.get("code");
  if (!code) throw new Error(`no code: ${authorize.headers.get("location")}`);
  const res = await fetch(identity.tokenEndpoint(), {
    method: "POST",
    body: new URLSearchParams({
      client_id: DEMO_CLIENT_ID,
      client_secret: DEMO_CLIENT_SECRET,
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(body)}`);
  return String(body.access_token);
}

function call(path: string, token: string, init: RequestInit & { headers?: Record<string, string> } = {}, target: GraphEmulator = em): Promise<Response> {
  return fetch(`${target.origin}${path}`, { redirect: "manual", ...init, headers: { Authorization: `Bearer ${token}`, ...init.headers } });
}

async function expectError(res: Response, status: number, code: string, message: string): Promise<void> {
  const body = (await res.json()) as GraphErrorBody;
  expect({ status: res.status, code: body.error.code, message: body.error.message }).toEqual({ status, code, message });
}

const patchMe = (token: string) =>
  call("/v1.0/me", token, { method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ jobTitle: "Lead" }) });

describe("app-only tokens (client credentials)", () => {
  it("are accepted on /users and logged as valid app tokens", async () => {
    const token = await appToken();
    const res = await call("/v1.0/users?$top=3", token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { value: unknown[] }).value).toHaveLength(3);
    expect(em.log[0]).toMatchObject({ auth: "valid", tokenKind: "app", status: 200 });
    expect(JSON.stringify(em.log)).not.toContain(token);
  });

  it("are refused on /me and below with Graph's 400 BadRequest, in any version", async () => {
    const token = await appToken();
    for (const path of ["/v1.0/me", "/beta/me", "/v1.0/me/drive/root/children", "/v1.0/me/drive/root:/a.txt:"]) {
      await expectError(await call(path, token), 400, "BadRequest", ME_ONLY_DELEGATED);
    }
    // /users/{id} of the same person is fine.
    expect((await call(`/v1.0/users/${ME_ID}`, token)).status).toBe(200);
  });

  it("are refused on a /me item of a $batch while the other items run", async () => {
    const token = await appToken();
    const res = await call("/v1.0/$batch", token, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        requests: [
          { id: "1", method: "GET", url: "/me" },
          { id: "2", method: "GET", url: "/users?$top=1" },
          { id: "3", method: "GET", url: "/me/joinedTeams" },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const byId = new Map(((await res.json()) as { responses: ItemResponse[] }).responses.map((r) => [r.id, r]));
    expect(byId.get("1")).toMatchObject({ status: 400, body: { error: { code: "BadRequest", message: ME_ONLY_DELEGATED } } });
    expect(byId.get("2")?.status).toBe(200);
    expect(byId.get("3")?.status).toBe(400);
  });

  it("may write the directory (Application permissions with admin consent)", async () => {
    const token = await appToken();
    const res = await call(`/v1.0/users/${ME_ID}`, token, { method: "PATCH", headers: { "Content-Type": "application/json" }, body: '{"jobTitle":"Lead"}' });
    expect(res.status).toBe(204);
  });
});

describe("token validation", () => {
  it("answers 401 'expired' once the injected clock passes expiresAt, with Graph's challenge", async () => {
    const token = await appToken();
    expect((await call("/v1.0/users", token)).status).toBe(200);
    const issued = login().tokens.lookup(token);
    expect(issued?.expiresAt).toBe(clockMs + 3599_000);

    clockMs += 3599_000; // expiresAt <= now: expired
    const res = await call("/v1.0/users", token);
    expect(res.headers.get("www-authenticate")).toBe(WWW_AUTHENTICATE);
    await expectError(res, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
    expect(em.log.map((e) => [e.auth, e.tokenKind])).toEqual([
      ["valid", "app"],
      ["invalid", "app"],
    ]);
  });

  it("answers 401 'Invalid audience' for a token of another cloud's Graph", async () => {
    // A GCC High Graph, and a login host issuing for the global Graph.
    const gov = await startEmulator({ users: 1, cloud: "usgov-l4", identity: { graphResource: "https://graph.microsoft.com" } });
    try {
      expect(gov.graphResource).toBe("https://graph.microsoft.us");
      const token = await appToken(gov, "https://graph.microsoft.com");
      expect(gov.identity?.tokens.lookup(token)?.audience).toBe("https://graph.microsoft.com");
      const res = await call("/v1.0/users", token, {}, gov);
      expect(res.headers.get("www-authenticate")).toBe(WWW_AUTHENTICATE);
      await expectError(res, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
      expect(gov.log[0]).toMatchObject({ auth: "invalid", tokenKind: "app" });
    } finally {
      await gov.close();
    }
  });

  it("issues for the cloud's own Graph by default, and that token works there", async () => {
    const dod = await startEmulator({ users: 1, cloud: "usgov-l5-dod", identity: true });
    try {
      const token = await appToken(dod, "https://dod-graph.microsoft.us");
      expect((await call("/v1.0/users", token, {}, dod)).status).toBe(200);
      // The same token means nothing to another emulator's Graph: unknown → the usual 401.
      await expectError(await call("/v1.0/users", token), 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
      expect(em.log[0].tokenKind).toBeUndefined();
    } finally {
      await dod.close();
    }
  });

  it("keeps the static tokens as they are, logged as 'static'", async () => {
    expect((await call("/v1.0/me", DEMO_TOKEN)).status).toBe(200);
    expect((await patchMe(READ_ONLY_TOKEN)).status).toBe(403);
    expect(em.log.map((e) => [e.auth, e.tokenKind])).toEqual([
      ["valid", "static"],
      ["valid", "static"],
    ]);
  });
});

describe("delegated tokens (authorization code + PKCE)", () => {
  it("answer /me with the signed-in user, the tenant's Megan Bowen", async () => {
    const token = await userToken("openid offline_access User.Read");
    const issued = login().tokens.lookup(token);
    expect(issued).toMatchObject({ kind: "user", tenant: TENANT_ID, user: { id: ME_ID } });
    const res = await call("/v1.0/me", token);
    expect(res.status).toBe(200);
    const me = (await res.json()) as Record<string, unknown>;
    expect({ id: me.id, userPrincipalName: me.userPrincipalName, displayName: me.displayName }).toEqual({
      id: issued?.user?.id,
      userPrincipalName: issued?.user?.userPrincipalName,
      displayName: issued?.user?.displayName,
    });
    expect(em.log.at(-1)).toMatchObject({ auth: "valid", tokenKind: "user" });
  });

  it("resolve /me to whoever the login host signs in", async () => {
    const listed = (await (await call("/v1.0/users?$top=2&$select=id,userPrincipalName,displayName", DEMO_TOKEN)).json()) as { value: Record<string, string>[] };
    const other = listed.value[1];
    const alt = await startEmulator({ users: 20, identity: { user: { id: other.id, userPrincipalName: other.userPrincipalName, displayName: other.displayName } } });
    try {
      const token = await userToken("User.Read", alt);
      const me = (await (await call("/v1.0/me", token, {}, alt)).json()) as Record<string, unknown>;
      expect(me).toMatchObject({ id: other.id, displayName: other.displayName });
      expect(me.id).not.toBe(ME_ID);
    } finally {
      await alt.close();
    }
  });

  it("write the directory only with User.ReadWrite.All or Directory.ReadWrite.All", async () => {
    const reader = await userToken("User.Read");
    expect((await call("/v1.0/users?$top=1", reader)).status).toBe(200);
    await expectError(await patchMe(reader), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");

    for (const scope of ["User.ReadWrite.All", "https://graph.microsoft.com/Directory.ReadWrite.All offline_access"]) {
      const writer = await userToken(scope);
      expect((await patchMe(writer)).status).toBe(204);
      expect((await call(`/v1.0/users/${ME_ID}?$select=jobTitle`, writer)).status).toBe(200);
    }
  });

  it("read with .default, and get 403 on directory reads without any Graph scope", async () => {
    const consented = await userToken("https://graph.microsoft.com/.default");
    expect((await call("/v1.0/groups", consented)).status).toBe(200);
    await expectError(await patchMe(consented), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");

    const none = await userToken("openid profile");
    await expectError(await call("/v1.0/users", none), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    await expectError(await call("/v1.0/me", none), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
  });

  it("expire like app tokens", async () => {
    const token = await userToken("User.Read");
    clockMs += 3600_000;
    await expectError(await call("/v1.0/me", token), 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
  });
});

describe("wiring", () => {
  it("exposes the login host, and no identity by default", async () => {
    expect(em.loginOrigin).toBe(em.identity?.origin);
    expect(em.loginOrigin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(em).toMatchObject({ cloud: "global", graphResource: "https://graph.microsoft.com" });
    const plain = await startEmulator({ users: 1 });
    try {
      expect(plain.identity).toBeUndefined();
      expect(plain.loginOrigin).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it("maps each cloud to its Graph resource (reference §7)", () => {
    expect(CLOUD_RESOURCES).toEqual({
      global: "https://graph.microsoft.com",
      "usgov-l4": "https://graph.microsoft.us",
      "usgov-l5-dod": "https://dod-graph.microsoft.us",
      china: "https://microsoftgraph.chinacloudapi.cn",
    });
  });

  it("reset() resets the login host's log but keeps its access tokens", async () => {
    const token = await appToken();
    expect(login().log).toHaveLength(1);
    em.reset();
    expect(login().log).toHaveLength(0);
    expect((await call("/v1.0/users", token)).status).toBe(200);
  });
});
