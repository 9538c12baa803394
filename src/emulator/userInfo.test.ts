/**
 * OpenID Connect UserInfo on the Graph host (ED userinfo.md: GET or POST https://graph.microsoft.com/oidc/userinfo with
 * the access token), over real HTTP: claims per consented scope, `sub` equal to the id_token's, and Graph's 401 for
 * no token, an expired one or an app-only one.
 */
import { createHash, randomBytes } from "node:crypto";

import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { ME_ID, userIdFor } from "./tenant";

const REDIRECT_URI = "http://localhost:51234/callback";
const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

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

function login(target: GraphEmulator) {
  if (!target.identity) throw new Error("started without identity");
  return target.identity;
}

/** Signs in through the authorization-code flow (PKCE) of the demo app; the token response as sent. */
async function signIn(scope: string, target: GraphEmulator = em, app = { id: DEMO_CLIENT_ID, secret: DEMO_CLIENT_SECRET }): Promise<{ access_token: string; id_token?: string }> {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const query = new URLSearchParams({
    client_id: app.id,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope,
    state: "s",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  const authorize = await fetch(`${login(target).authorizeEndpoint()}?${query}`, { redirect: "manual" });
  const code = new URL(authorize.headers.get("location") ?? "").searchParams.get("code");
  if (!code) throw new Error(`no code: ${authorize.status} ${authorize.headers.get("location")}`);
  const res = await fetch(login(target).tokenEndpoint(), {
    method: "POST",
    body: new URLSearchParams({ client_id: app.id, client_secret: app.secret, grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  });
  const body = (await res.json()) as { access_token: string; id_token?: string };
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function appToken(): Promise<string> {
  const res = await fetch(login(em).tokenEndpoint(), {
    method: "POST",
    body: new URLSearchParams({ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, scope: `${em.graphResource}/.default`, grant_type: "client_credentials" }),
  });
  return String(((await res.json()) as Record<string, unknown>).access_token);
}

/** The id_token's claims: its payload segment, base64url JSON. */
function idTokenClaims(idToken: string | undefined): Record<string, unknown> {
  if (!idToken) throw new Error("no id_token");
  return JSON.parse(Buffer.from(idToken.split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;
}

async function userInfo(token: string | undefined, method = "GET", target: GraphEmulator = em): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${target.origin}/oidc/userinfo`, { method, headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const MEGAN = {
  name: "Megan Bowen",
  family_name: "Bowen",
  given_name: "Megan",
  email: "MeganB@contoso.onmicrosoft.com",
};

describe("GET and POST /oidc/userinfo", () => {
  it("answer the documented claims, in the sample's order, with the id_token's sub (signed in with openid profile email)", async () => {
    const tokens = await signIn("openid profile email User.Read");
    const idToken = idTokenClaims(tokens.id_token);
    for (const method of ["GET", "POST"]) {
      const answer = await userInfo(tokens.access_token, method);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(Object.keys(answer.json)).toEqual(["sub", "name", "family_name", "given_name", "picture", "email"]);
      expect(answer.json).toEqual({ sub: idToken.sub, ...MEGAN, picture: `${em.origin}/v1.0/me/photo/$value` });
    }
    // Pairwise: the subject is not the object id.
    expect(idToken.sub).not.toBe(ME_ID);
    expect(idToken.oid).toBe(ME_ID);
    // The picture link answers the user's photo with the same token.
    const picture = await fetch(String((await userInfo(tokens.access_token)).json.picture), { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    expect([picture.status, picture.headers.get("content-type")]).toEqual([200, "image/jpeg"]);
  });

  it("name claims need profile and email needs email: openid alone answers only sub", async () => {
    const only = await signIn("openid User.Read");
    expect((await userInfo(only.access_token)).json).toEqual({ sub: idTokenClaims(only.id_token).sub });
    const email = await signIn("openid email");
    expect((await userInfo(email.access_token)).json).toEqual({ sub: idTokenClaims(email.id_token).sub, email: MEGAN.email });
    const profile = await signIn("openid profile");
    expect(Object.keys((await userInfo(profile.access_token)).json)).toEqual(["sub", "name", "family_name", "given_name", "picture"]);
  });

  it("the static demo token stands for Megan in the demo app with every OIDC scope: the demo app's sub", async () => {
    const tokens = await signIn("openid");
    const answer = await userInfo(DEMO_TOKEN);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ sub: idTokenClaims(tokens.id_token).sub, ...MEGAN, picture: `${em.origin}/v1.0/me/photo/$value` });
  });

  it("refuses a delegated token without openid with 403", async () => {
    const tokens = await signIn("User.Read");
    const answer = await userInfo(tokens.access_token);
    expect(answer.status).toBe(403);
    expect((answer.json.error as Record<string, unknown>).code).toBe("Authorization_RequestDenied");
  });

  it("answers Graph's 401 InvalidAuthenticationToken with the bearer challenge without a token, for an expired one and for an app-only one", async () => {
    const none = await userInfo(undefined);
    expect([none.status, none.headers.get("www-authenticate")]).toEqual([401, WWW_AUTHENTICATE]);
    expect(none.json.error).toMatchObject({ code: "InvalidAuthenticationToken", message: "Access token is empty." });

    const tokens = await signIn("openid profile");
    clockMs += 2 * 3600_000;
    const expired = await userInfo(tokens.access_token);
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatchObject({ code: "InvalidAuthenticationToken", message: "Access token has expired or is not yet valid." });
    clockMs = Date.now();

    const app = await userInfo(await appToken());
    expect([app.status, app.headers.get("www-authenticate")]).toEqual([401, WWW_AUTHENTICATE]);
    expect((app.json.error as Record<string, unknown>).code).toBe("InvalidAuthenticationToken");
    // The token never shows in the log.
    const logged = em.log.filter((entry) => entry.url === "/oidc/userinfo");
    expect(logged.map((entry) => [entry.server, entry.status, entry.headers.authorization])).toEqual([
      ["graph", 401, undefined],
      ["graph", 401, "Bearer [REDACTED]"],
      ["graph", 401, "Bearer [REDACTED]"],
    ]);
  });

  it("refuses other methods with 405", async () => {
    expect((await userInfo(DEMO_TOKEN, "PUT")).status).toBe(405);
  });
});

describe("another user, and another app", () => {
  let other: GraphEmulator;
  const otherApp = { id: "0f1e2d3c-4b5a-4697-8877-665544332211", secret: "other-app-secret" };
  // Generated user 4 has no photo (tenant.ts hasPhoto).
  const userId = userIdFor(4);

  beforeAll(async () => {
    other = await startEmulator({ users: 20, identity: {
        user: { id: userId, userPrincipalName: "someone@contoso.com", displayName: "Some One" },
        apps: [
          { clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, redirectUris: [REDIRECT_URI] },
          { clientId: otherApp.id, clientSecret: otherApp.secret, redirectUris: [REDIRECT_URI] },
        ],
      },
    });
  });
  afterAll(() => other.close());

  it("the sub is pairwise: each app's UserInfo sub equals its own id_token's, and the two differ", async () => {
    const demo = await signIn("openid", other);
    const second = await signIn("openid", other, otherApp);
    const subs = [idTokenClaims(demo.id_token).sub, idTokenClaims(second.id_token).sub];
    expect([(await userInfo(demo.access_token, "GET", other)).json.sub, (await userInfo(second.access_token, "GET", other)).json.sub]).toEqual(subs);
    expect(subs[0]).not.toBe(subs[1]);
  });

  it("a user without a profile photo gets no picture claim, and the directory's names and mail", async () => {
    const tokens = await signIn("openid profile email", other);
    const user = (await (await fetch(`${other.origin}/v1.0/users/${userId}?$select=displayName,givenName,surname,mail`, { headers: { Authorization: `Bearer ${DEMO_TOKEN}` } })).json()) as Record<string, string>;
    expect(Object.values(user).every((value) => typeof value === "string" && value !== "")).toBe(true);
    expect(user.mail).not.toBe("someone@contoso.com");
    const answer = await userInfo(tokens.access_token, "GET", other);
    expect(answer.json).toEqual({ sub: idTokenClaims(tokens.id_token).sub, name: user.displayName, family_name: user.surname, given_name: user.givenName, email: user.mail });
  });
});

describe("discovery", () => {
  it("publishes this Graph emulator's /oidc/userinfo, so a client that follows the discovery document stays on the emulator", async () => {
    const discovery = await fetch(`${login(em).origin}/${login(em).tenantId}/v2.0/.well-known/openid-configuration`);
    const endpoint = ((await discovery.json()) as { userinfo_endpoint: string }).userinfo_endpoint;
    expect(endpoint).toBe(`${em.origin}/oidc/userinfo`);
    const { access_token } = await signIn("openid profile");
    const res = await fetch(endpoint, { headers: { Authorization: `Bearer ${access_token}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "Megan Bowen" });
  });
});
