/**
 * The control surface as an outside client sees it: plain HTTP to `{origin}/_emulator/…` with the control token,
 * then plain Graph requests (and one Raw Request through the harness) that suffer what was scripted.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";

import { importPKCS8, SignJWT } from "jose";

import { rawRequest, useEmulator } from "../tests/support";
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, startEmulator } from "./index";
import { startReceiver, type Receiver } from "./testReceiver";
import { makeTestCertificate } from "./x509";

// With the sign-in host: POST /_emulator/apps registers there, GET /_emulator/log?host=login reads its log.
const env = useEmulator({ identity: true });
let hook: Receiver;

beforeAll(async () => {
  hook = await startReceiver("/hook");
});
afterAll(async () => {
  await hook.close();
});
beforeEach(() => {
  hook.requests.length = 0;
});

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function control(method: string, path: string, body?: unknown, token = env.emulator.controlToken): Promise<Answer> {
  const res = await fetch(`${env.emulator.origin}/_emulator${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function graph(method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${env.emulator.origin}/v1.0${path}`, {
    method,
    headers: { Authorization: `Bearer ${env.emulator.token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const errorOf = (answer: Answer) => answer.json.error as { message: string; field?: string };

describe("the control token", () => {
  it("is required: none, a wrong one and the Graph token all answer 401, and nothing is scripted", async () => {
    const rule = { path: "/me", fault: { kind: "status", status: 503 } };
    const noToken = await fetch(`${env.emulator.origin}/_emulator/faults`, { method: "POST", body: JSON.stringify(rule) });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get("www-authenticate")).toBe('Bearer realm="emulator-control"');
    expect((await control("POST", "/faults", rule, env.emulator.token)).status).toBe(401);
    expect((await control("POST", "/faults", rule, `${env.emulator.controlToken}x`)).status).toBe(401);
    expect((await graph("GET", "/me")).status).toBe(200);
  });

  it("is random per start and is not a Graph token", async () => {
    expect(env.emulator.controlToken).toMatch(/^emulator-control-[A-Za-z0-9_-]{32}$/);
    const res = await fetch(`${env.emulator.origin}/v1.0/me`, { headers: { Authorization: `Bearer ${env.emulator.controlToken}` } });
    expect(res.status).toBe(401);
  });
});

describe("POST /_emulator/faults", () => {
  it("scripts a 429 with Retry-After for N requests, and control calls are neither logged nor faulted", async () => {
    const added = await control("POST", "/faults", { method: "GET", path: "/me", times: 2, fault: { kind: "status", status: 429, retryAfter: "7" } });
    expect(added.status).toBe(201);
    const first = await graph("GET", "/me");
    const second = await graph("GET", "/me");
    const third = await graph("GET", "/me");
    expect([first.status, second.status, third.status]).toEqual([429, 429, 200]);
    expect(first.headers.get("retry-after")).toBe("7");
    expect((first.json.error as { code: string }).code).toBe("TooManyRequests");
    expect(env.emulator.log.map((e) => `${e.method} ${e.url} ${e.status}`)).toEqual(["GET /v1.0/me 429", "GET /v1.0/me 429", "GET /v1.0/me 200"]);
  });

  it("matches a regex path and a method, lets `skip` requests through, and DELETE clears every rule", async () => {
    await control("POST", "/faults", { method: "post", path: { regex: "^/users$" }, skip: 1, fault: { kind: "status", status: 503, retryAfter: 2 } });
    const user = (n: number) => ({
      accountEnabled: true,
      displayName: `Control ${n}`,
      mailNickname: `control${n}`,
      userPrincipalName: `control${n}@contoso.onmicrosoft.com`,
      passwordProfile: { password: "xWwvJ]6NMw+bWH-d" },
    });
    expect((await graph("GET", "/users?$top=1")).status).toBe(200);
    expect((await graph("POST", "/users", user(1))).status).toBe(201);
    const faulted = await graph("POST", "/users", user(2));
    expect([faulted.status, faulted.headers.get("retry-after")]).toEqual([503, "2"]);

    await control("POST", "/faults", { path: "/me", times: 5, fault: { kind: "status", status: 500 } });
    expect((await control("DELETE", "/faults")).status).toBe(200);
    expect((await graph("GET", "/me")).status).toBe(200);
  });

  it("scripts a slow answer, a reset and a reply of any shape", async () => {
    await control("POST", "/faults", { path: "/organization", fault: { kind: "reply", status: 418, headers: { "X-Scripted": "yes" }, body: "not json" } });
    const res = await fetch(`${env.emulator.origin}/v1.0/organization`, { headers: { Authorization: `Bearer ${env.emulator.token}` } });
    expect([res.status, res.headers.get("x-scripted"), await res.text()]).toEqual([418, "yes", "not json"]);

    await control("POST", "/faults", { path: "/me", fault: { kind: "reset" } });
    await expect(graph("GET", "/me")).rejects.toThrow();

    await control("POST", "/faults", { path: "/me", fault: { kind: "slow", delayMs: 150 } });
    const started = Date.now();
    expect((await graph("GET", "/me")).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("fires a rate rule on a seeded fraction of the matching requests: the same seed hits the same requests", async () => {
    const run = async (seed: number): Promise<number[]> => {
      await control("POST", "/reset");
      await control("POST", "/faults", { path: "/me", rate: 0.5, seed, times: 100, fault: { kind: "status", status: 503 } });
      const statuses = [];
      for (let i = 0; i < 20; i++) statuses.push((await graph("GET", "/me")).status);
      return statuses;
    };
    const first = await run(42);
    const hits = first.filter((status) => status === 503).length;
    expect(hits).toBeGreaterThan(3);
    expect(hits).toBeLessThan(17);
    expect(first.filter((status) => status !== 503).every((status) => status === 200)).toBe(true);
    expect(await run(42)).toEqual(first);
    expect(await run(7)).not.toEqual(first);
  });

  it.each([
    ["not JSON", "{path:", "body"],
    ["a rate over 1", { path: "/me", rate: 1.5, fault: { kind: "reset" } }, "rate"],
    ["a fractional seed", { path: "/me", rate: 0.5, seed: 0.5, fault: { kind: "reset" } }, "seed"],
    ["a status Graph's faults do not use", { path: "/me", fault: { kind: "status", status: 418 } }, "fault.status"],
    ["an unknown kind", { path: "/me", fault: { kind: "explode" } }, "fault.kind"],
    ["a versioned path (it would never match)", { path: "/v1.0/me", fault: { kind: "reset" } }, "path"],
    ["an invalid regex", { path: { regex: "(" }, fault: { kind: "reset" } }, "path.regex"],
    ["times 0", { path: "/me", times: 0, fault: { kind: "reset" } }, "times"],
    ["a negative skip", { path: "/me", skip: -1, fault: { kind: "reset" } }, "skip"],
    ["slow without delayMs", { path: "/me", fault: { kind: "slow" } }, "fault.delayMs"],
  ])("refuses %s with a 400 naming the field", async (_what, rule, field) => {
    const answer = await control("POST", "/faults", rule);
    expect(answer.status).toBe(400);
    expect(errorOf(answer).field).toBe(field);
    expect(errorOf(answer).message).toContain(field);
    expect((await graph("GET", "/me")).status).toBe(200);
  });
});

describe("GET /_emulator/log", () => {
  it("returns the Graph requests with the token redacted, from `since` on, and `next` to continue", async () => {
    await graph("GET", "/me");
    await graph("POST", "/me/sendMail", { message: { subject: "hi", toRecipients: [] } });
    const all = await control("GET", "/log");
    expect(all.status).toBe(200);
    const entries = all.json.entries as Record<string, unknown>[];
    expect(entries.map((e) => e.url)).toEqual(["/v1.0/me", "/v1.0/me/sendMail"]);
    expect((entries[0].headers as Record<string, string>).authorization).toBe("Bearer [REDACTED]");
    expect(JSON.stringify(all.json)).not.toContain(env.emulator.token);
    expect(entries[1].body).toContain('"subject":"hi"');
    expect(entries[1]).not.toHaveProperty("bodyBytes");
    expect(all.json.next).toBe(2);

    await graph("GET", "/organization");
    const later = await control("GET", "/log?since=2");
    expect((later.json.entries as Record<string, unknown>[]).map((e) => e.url)).toEqual(["/v1.0/organization"]);
    expect(later.json.next).toBe(3);
    expect(errorOf(await control("GET", "/log?since=-1")).field).toBe("since");
  });
});

describe("the sign-in host from outside: POST /_emulator/apps and GET /_emulator/log?host=login", () => {
  const login = () => env.emulator.identity!;
  const tokenEndpoint = () => login().tokenEndpoint();
  const form = (fields: Record<string, string>) => ({ method: "POST", body: new URLSearchParams(fields) });
  const loginLog = async (query = "") => (await control("GET", `/log?host=login${query}`)).json as { entries: Record<string, unknown>[]; next: number };

  it("registers an app with a secret: its client credentials get an app token Graph accepts, and the log shows the request without the secret", async () => {
    const clientId = randomUUID();
    const clientSecret = `own-secret-${randomBytes(8).toString("hex")}`;
    const registered = await control("POST", "/apps", { clientId: clientId.toUpperCase(), displayName: "Outside Client", clientSecret });
    expect(registered.status).toBe(201);
    expect(registered.json).toEqual({ clientId, displayName: "Outside Client", publicClient: false, redirectUris: [] });
    expect(JSON.stringify(registered.json)).not.toContain(clientSecret);

    const wrong = await fetch(tokenEndpoint(), form({ grant_type: "client_credentials", client_id: clientId, client_secret: "nope", scope: "https://graph.microsoft.com/.default" }));
    expect(wrong.status).toBe(401);
    const granted = await fetch(tokenEndpoint(), form({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope: "https://graph.microsoft.com/.default" }));
    expect(granted.status).toBe(200);
    const { access_token } = (await granted.json()) as { access_token: string };
    const users = await fetch(`${env.emulator.origin}/v1.0/users?$top=1`, { headers: { Authorization: `Bearer ${access_token}` } });
    expect(users.status).toBe(200);

    const log = await loginLog();
    expect(log.entries.map((e) => [e.server, e.method, e.url, e.status])).toEqual([
      ["login", "POST", `/${login().tenantId}/oauth2/v2.0/token`, 401],
      ["login", "POST", `/${login().tenantId}/oauth2/v2.0/token`, 200],
    ]);
    expect(log.entries[1].form).toEqual({ grant_type: "client_credentials", client_id: clientId, client_secret: "[REDACTED]", scope: "https://graph.microsoft.com/.default" });
    expect(log.next).toBe(2);
    expect((await loginLog("&since=1")).entries).toHaveLength(1);
    expect(JSON.stringify(log)).not.toContain(clientSecret);
    expect(JSON.stringify(log)).not.toContain(access_token);
    // The Graph log stays the Graph hosts' own.
    expect(((await control("GET", "/log")).json.entries as { url: string }[]).map((e) => e.url)).toEqual(["/v1.0/users?$top=1"]);
  });

  it("registers a certificate: an assertion signed with the user's own key gets a token; the assertion is redacted in the log", async () => {
    const certificate = await makeTestCertificate();
    const clientId = randomUUID();
    expect((await control("POST", "/apps", { clientId, certificatePem: certificate.certificatePem })).json).toMatchObject({ clientId, publicClient: false });
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", typ: "JWT", "x5t#S256": certificate.thumbprintSha256Base64Url })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(tokenEndpoint())
      .setJti(randomUUID())
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime("10m")
      .sign(await importPKCS8(certificate.privateKeyPem, "RS256"));
    const granted = await fetch(
      tokenEndpoint(),
      form({
        grant_type: "client_credentials",
        client_id: clientId,
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: assertion,
        scope: "https://graph.microsoft.com/.default",
      }),
    );
    expect(granted.status).toBe(200);
    const log = await loginLog();
    expect(log.entries.map((e) => (e.form as Record<string, string>).client_assertion)).toEqual(["[REDACTED]"]);
    expect(JSON.stringify(log)).not.toContain(assertion.split(".")[2]);
  });

  it("registers a public client with a redirect URI: auth code with PKCE and refresh work, and code, verifier and refresh token never reach the log", async () => {
    const clientId = randomUUID();
    const redirectUri = "http://localhost/outside";
    expect((await control("POST", "/apps", { clientId, redirectUris: [redirectUri] })).json).toEqual({ clientId, displayName: "Graph Emulator App", publicClient: true, redirectUris: [redirectUri] });
    const verifier = randomBytes(32).toString("base64url");
    const authorize = new URL(login().authorizeEndpoint());
    for (const [key, value] of Object.entries({
      client_id: clientId,
      response_type: "code",
      redirect_uri: redirectUri,
      scope: "User.Read offline_access",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    })) {
      authorize.searchParams.set(key, value);
    }
    const redirected = await fetch(authorize, { redirect: "manual" });
    expect(redirected.status).toBe(302);
    const code = new URL(String(redirected.headers.get("location"))).searchParams.get("code") as string;
    const redeemed = await fetch(tokenEndpoint(), form({ grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: redirectUri, scope: "User.Read offline_access" }));
    expect(redeemed.status).toBe(200);
    const { refresh_token } = (await redeemed.json()) as { refresh_token: string };
    const refreshed = await fetch(tokenEndpoint(), form({ grant_type: "refresh_token", client_id: clientId, refresh_token, scope: "User.Read offline_access" }));
    expect(refreshed.status).toBe(200);

    const log = await loginLog();
    expect(log.entries.map((e) => e.status)).toEqual([302, 200, 200]);
    expect(log.entries[1].form).toMatchObject({ code: "[REDACTED]", code_verifier: "[REDACTED]" });
    expect(log.entries[2].form).toMatchObject({ refresh_token: "[REDACTED]" });
    const text = JSON.stringify(log);
    for (const secret of [code, verifier, refresh_token]) expect(text).not.toContain(secret);
  });

  it("keeps apps across reset and replaces a registration sent again", async () => {
    const clientId = randomUUID();
    await control("POST", "/apps", { clientId, clientSecret: "first" });
    expect((await control("POST", "/reset")).status).toBe(200);
    await control("POST", "/apps", { clientId, clientSecret: "second" });
    const token = (secret: string) => fetch(tokenEndpoint(), form({ grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope: "https://graph.microsoft.com/.default" }));
    expect([(await token("first")).status, (await token("second")).status]).toEqual([401, 200]);
  });

  it.each([
    ["not JSON", "{clientId:", "body"],
    ["an array", [], "body"],
    ["no clientId", { clientSecret: "s" }, "clientId"],
    ["a clientId that is not a GUID", { clientId: "my-app" }, "clientId"],
    ["a misspelt field (it would register a public client)", { clientId: randomUUID(), secret: "s" }, "secret"],
    ["an empty secret", { clientId: randomUUID(), clientSecret: "" }, "clientSecret"],
    ["a numeric displayName", { clientId: randomUUID(), displayName: 7 }, "displayName"],
    ["a certificate that is not one", { clientId: randomUUID(), certificatePem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" }, "certificatePem"],
    ["a certificate sent with its private key", { clientId: randomUUID(), certificatePem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" }, "certificatePem"],
    ["redirectUris as a string", { clientId: randomUUID(), redirectUris: "http://localhost" }, "redirectUris"],
    ["a relative redirect URI", { clientId: randomUUID(), redirectUris: ["http://localhost/ok", "/callback"] }, "redirectUris[1]"],
  ])("refuses %s with a 400 naming the field, registering nothing", async (_what, app, field) => {
    const answer = await control("POST", "/apps", app);
    expect(answer.status).toBe(400);
    expect(errorOf(answer).field).toBe(field);
    expect(errorOf(answer).message).toContain(field);
    const clientId = (app as { clientId?: string }).clientId;
    if (clientId) {
      const refused = await fetch(tokenEndpoint(), form({ grant_type: "client_credentials", client_id: clientId, client_secret: "s", scope: "https://graph.microsoft.com/.default" }));
      expect(((await refused.json()) as { error_codes: number[] }).error_codes).toEqual([700016]);
    }
  });

  it("refuses an unknown log host, and answers 409 on an emulator started without the sign-in host", async () => {
    expect(errorOf(await control("GET", "/log?host=graph")).field).toBe("host");
    const bare = await startEmulator({ users: 1 });
    try {
      const ask = (method: string, path: string, body?: unknown) =>
        fetch(`${bare.origin}/_emulator${path}`, { method, headers: { Authorization: `Bearer ${bare.controlToken}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      expect((await ask("POST", "/apps", { clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET })).status).toBe(409);
      expect((await ask("GET", "/log?host=login")).status).toBe(409);
    } finally {
      await bare.close();
    }
  });
});

describe("throttling, reset and delta tokens", () => {
  it("POST /_emulator/throttle sets a profile (429 over budget) and null turns it off", async () => {
    expect((await control("POST", "/throttle", { requestsPerWindow: 2, windowMs: 60_000 })).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await graph("GET", "/me")).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await control("POST", "/throttle", null)).json).toEqual({ throttling: false });
    expect((await graph("GET", "/me")).status).toBe(200);
    expect(errorOf(await control("POST", "/throttle", { requestsPerWindow: 2, windowMs: 0 })).field).toBe("windowMs");
    expect((await control("POST", "/throttle", { requestsPerWindow: 0, windowMs: 10 })).status).toBe(400);
  });

  it("POST /_emulator/reset clears the log, faults and throttling", async () => {
    await control("POST", "/faults", { path: "/me", times: 3, fault: { kind: "status", status: 500 } });
    await control("POST", "/throttle", { requestsPerWindow: 1, windowMs: 60_000 });
    await graph("GET", "/me");
    expect((await control("POST", "/reset")).status).toBe(200);
    expect(env.emulator.log).toHaveLength(0);
    expect([(await graph("GET", "/me")).status, (await graph("GET", "/me")).status]).toEqual([200, 200]);
  });

  it("POST /_emulator/delta/expire makes an issued deltaLink answer 410", async () => {
    let page = await graph("GET", "/groups/delta");
    while (page.json["@odata.nextLink"]) page = await graph("GET", String(page.json["@odata.nextLink"]).replace(`${env.emulator.origin}/v1.0`, ""));
    const deltaLink = String(page.json["@odata.deltaLink"]).replace(`${env.emulator.origin}/v1.0`, "");
    expect((await graph("GET", deltaLink)).status).toBe(200);
    expect((await control("POST", "/delta/expire")).status).toBe(200);
    expect((await graph("GET", deltaLink)).status).toBe(410);
  });

  it("POST /_emulator/uploads/expire ends every open upload session: its URL answers 404", async () => {
    const created = await graph("POST", "/me/drive/root:/control.bin:/createUploadSession");
    expect(created.status).toBe(200);
    const uploadUrl = String(created.json.uploadUrl);
    expect((await fetch(uploadUrl)).status).toBe(200);
    expect((await control("POST", "/uploads/expire")).status).toBe(200);
    const expired = await fetch(uploadUrl);
    expect(expired.status).toBe(404);
    expect(env.emulator.uploadSessions()).toEqual([]);
  });
});

describe("change notifications", () => {
  async function subscribe(): Promise<string> {
    const created = await graph("POST", "/subscriptions", {
      changeType: "updated",
      notificationUrl: hook.url,
      lifecycleNotificationUrl: hook.url,
      resource: "users",
      expirationDateTime: new Date(Date.now() + 3_600_000).toISOString(),
      clientState: "control-state",
    });
    expect(created.status).toBe(201);
    return String(created.json.id);
  }

  it("POST /_emulator/notifications/flush delivers queued changes and returns the deliveries", async () => {
    const id = await subscribe();
    await graph("PATCH", "/me", { jobTitle: "Controller" });
    const flushed = await control("POST", "/notifications/flush");
    expect(flushed.status).toBe(200);
    const deliveries = flushed.json.deliveries as { kind: string; url: string; status: number; delivered: boolean }[];
    expect(deliveries.map((d) => [d.kind, d.url, d.status, d.delivered])).toEqual([["notification", hook.url, 202, true]]);
    const received = hook.notifications();
    expect(received[0].value[0]).toMatchObject({ subscriptionId: id, changeType: "updated", clientState: "control-state" });
  });

  it("POST /_emulator/subscriptions/{id}/lifecycle provokes a lifecycle event; 404 for no live subscription, 400 for an unknown event", async () => {
    const id = await subscribe();
    const sent = await control("POST", `/subscriptions/${id}/lifecycle`, { event: "subscriptionRemoved" });
    expect(sent.status).toBe(200);
    expect(sent.json.delivery).toMatchObject({ kind: "lifecycle", url: hook.url, status: 202 });
    expect(hook.notifications().at(-1)?.value[0]).toMatchObject({ subscriptionId: id, lifecycleEvent: "subscriptionRemoved" });
    // subscriptionRemoved ends the subscription, as Graph does.
    expect((await control("POST", `/subscriptions/${id}/lifecycle`, { event: "missed" })).status).toBe(404);
    const other = await subscribe();
    expect(errorOf(await control("POST", `/subscriptions/${other}/lifecycle`, { event: "deleted" })).field).toBe("event");
  });
});

describe("the surface itself", () => {
  it("answers 404 for an unknown endpoint and 405 naming the allowed methods", async () => {
    expect((await control("GET", "/nothing")).status).toBe(404);
    const wrong = await control("GET", "/faults");
    expect(wrong.status).toBe(405);
    expect(errorOf(wrong).message).toContain("POST, DELETE");
    expect(wrong.headers.get("allow")).toBe("POST, DELETE");
    expect((await control("POST", "/subscriptions/%E0%A4%A/lifecycle", { event: "missed" })).status).toBe(400);
  });
});

describe("Raw Request against a fault scripted over HTTP", () => {
  it("waits what Retry-After says and succeeds; the wire shows three attempts", async () => {
    await control("POST", "/faults", { method: "GET", path: "/me", times: 2, fault: { kind: "status", status: 429, retryAfter: "7" } });
    const result = await rawRequest(env, { url: "/me" });
    expect((result.data as { id: string }).id).toBeDefined();
    expect(env.sleeps).toEqual([7000, 7000]);
    expect(env.graphRequests().map((e) => [e.url, e.status, e.headers["retry-attempt"]])).toEqual([
      ["/v1.0/me", 429, undefined],
      ["/v1.0/me", 429, "1"],
      ["/v1.0/me", 200, "2"],
    ]);
  });
});
