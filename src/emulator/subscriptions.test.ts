/**
 * Subscriptions and change notifications over real HTTP: the validation handshake against both URLs, lifetimes,
 * CRUD and reauthorize (alone and inside $batch), expiry on the emulator's clock, batched delivery with retries,
 * lifecycle events.
 * A loopback receiver stands in for the webhook; the assertions are on what crossed the wire.
 */
import { constants, createDecipheriv, createHmac, privateDecrypt } from "node:crypto";

import { base64DerOf, DEMO_CLIENT_ID, DEMO_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { makeTestCertificate, type TestCertificate } from "./x509";
import { startReceiver, type Receiver } from "./testReceiver";
import { ME_ID, TENANT_ID, userIdFor } from "./tenant";

let em: GraphEmulator;
let hook: Receiver;
let other: Receiver;
let virtualMs = 0;
const MINUTE = 60_000;
let certificate: TestCertificate;
let encryptionCertificate: string;

beforeAll(async () => {
  certificate = await makeTestCertificate();
  encryptionCertificate = base64DerOf(certificate.certificatePem);
  em = await startEmulator({ now: () => Date.now() + virtualMs, notifications: { validationTimeoutMs: 300, deliveryTimeoutMs: 300 } });
  hook = await startReceiver("/hook?flow=42");
  other = await startReceiver("/other");
});
afterAll(async () => {
  await Promise.all([em.close(), hook.close(), other.close()]);
});
beforeEach(() => {
  virtualMs = 0;
  em.reset();
  hook.requests.length = 0;
  other.requests.length = 0;
  hook.respond(null);
  other.respond(null);
});

async function graph(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${em.origin}/v1.0${path}`, {
    method,
    headers: { Authorization: `Bearer ${DEMO_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function inMinutes(minutes: number): string {
  return new Date(Date.now() + virtualMs + minutes * MINUTE).toISOString();
}

function subscribe(overrides: Record<string, unknown> = {}) {
  return graph("POST", "/subscriptions", {
    changeType: "updated,deleted",
    notificationUrl: hook.url,
    resource: "users",
    expirationDateTime: inMinutes(60),
    clientState: "secret-client-state",
    ...overrides,
  });
}

describe("POST /subscriptions", () => {
  it("validates the notification URL with a URL-encoded token and answers 201 with Graph's subscription shape", async () => {
    const { status, json } = await subscribe({ lifecycleNotificationUrl: other.url });
    expect(status).toBe(201);
    expect(json).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#subscriptions/$entity`,
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      resource: "users",
      applicationId: DEMO_CLIENT_ID,
      changeType: "updated,deleted",
      clientState: "secret-client-state",
      notificationUrl: hook.url,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: other.url,
      expirationDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/),
      creatorId: ME_ID,
      includeResourceData: false,
      latestSupportedTlsVersion: "v1_2",
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
      notificationContentType: "application/json",
    });
    // One validation POST to each URL; the notification URL's own query string is kept.
    for (const [receiver, path] of [
      [hook, "/hook?flow=42&validationToken="],
      [other, "/other?validationToken="],
    ] as const) {
      expect(receiver.requests).toHaveLength(1);
      const [validation] = receiver.requests;
      expect(validation.method).toBe("POST");
      expect(validation.url.startsWith(path)).toBe(true);
      expect(validation.headers["content-type"]).toBe("text/plain; charset=utf-8");
      const token = new URL(validation.url, "http://x").searchParams.get("validationToken") ?? "";
      expect(token).toContain(" ");
      expect(validation.url).not.toContain(" ");
    }
    expect(em.subscriptions().map((s) => s.id)).toEqual([json.id]);
  });

  it.each([
    ["echoes the token URL-encoded", (token: string) => ({ status: 200, type: "text/plain", body: encodeURIComponent(token) })],
    ["answers 500", () => ({ status: 500, type: "text/plain", body: "" })],
    ["answers JSON", (token: string) => ({ status: 200, type: "application/json", body: token })],
  ])("is refused with 400 when the endpoint %s", async (_name, answer) => {
    hook.respond((req, res) => {
      const token = new URL(req.url, "http://x").searchParams.get("validationToken") ?? "";
      const { status, type, body } = answer(token);
      res.writeHead(status, { "Content-Type": type });
      res.end(body);
    });
    const { status, json } = await subscribe();
    expect(status).toBe(400);
    expect((json.error as { message: string }).message).toMatch(/^Subscription validation request failed\./);
    expect(em.subscriptions()).toHaveLength(0);
  });

  it("is refused when the lifecycle URL fails validation, or the endpoint is slower than the budget", async () => {
    other.respond((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    expect((await subscribe({ lifecycleNotificationUrl: other.url })).status).toBe(400);
    expect(other.requests).toHaveLength(1);

    hook.respond((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(new URL(req.url, "http://x").searchParams.get("validationToken") ?? "");
      }, 600);
    });
    const slow = await subscribe();
    expect(slow.status).toBe(400);
    expect((slow.json.error as { message: string }).message).toBe("Subscription validation request timed out.");
    expect(em.subscriptions()).toHaveLength(0);
  });

  it.each([
    ["users", 41_760],
    ["me/mailFolders('Inbox')/messages", 10_080],
    ["me/drive/root", 42_300],
    ["teams/0e8f/channels/19:abc/messages", 4_320],
  ])("refuses a lifetime beyond the maximum for %s (%i minutes), naming it", async (resource, max) => {
    const changeType = resource === "users" ? "updated" : "updated";
    expect((await subscribe({ resource, changeType, expirationDateTime: inMinutes(max - 1) })).status).toBe(201);
    const { status, json } = await subscribe({ resource, changeType, expirationDateTime: inMinutes(max + 1) });
    expect(status).toBe(400);
    expect((json.error as { message: string }).message).toContain(`${max} minutes`);
  });

  it("allows Outlook messages with resource data 1,440 minutes and requires the certificate and its id", async () => {
    const rich = { resource: "me/messages", changeType: "created", includeResourceData: true, encryptionCertificate, encryptionCertificateId: "cert-1" };
    expect((await subscribe({ ...rich, expirationDateTime: inMinutes(1_441) })).status).toBe(400);
    const missing = await subscribe({ ...rich, encryptionCertificateId: undefined, expirationDateTime: inMinutes(60) });
    expect(missing.status).toBe(400);
    expect((missing.json.error as { message: string }).message).toContain("encryptionCertificateId");
    const notACertificate = await subscribe({ ...rich, encryptionCertificate: "MIIB", expirationDateTime: inMinutes(60) });
    expect(notACertificate.status).toBe(400);
    expect((notACertificate.json.error as { message: string }).message).toContain("encryptionCertificate");
    expect((await subscribe({ ...rich, expirationDateTime: inMinutes(1_439) })).status).toBe(201);
  });

  it("checks change types per resource, clientState length and the expiry, before calling the endpoint", async () => {
    expect((await subscribe({ changeType: "created" })).status).toBe(400);
    expect((await subscribe({ resource: "me/drive/root", changeType: "updated,deleted" })).status).toBe(400);
    expect((await subscribe({ clientState: "x".repeat(129) })).status).toBe(400);
    expect((await subscribe({ expirationDateTime: inMinutes(-1) })).status).toBe(400);
    expect((await subscribe({ resource: "nonsense/things" })).status).toBe(400);
    expect((await subscribe({ clientState: "x".repeat(128) })).status).toBe(201);
    expect(hook.requests).toHaveLength(1);
  });
});

describe("GET, PATCH, DELETE, reauthorize", () => {
  it("moves an expiry under 45 minutes to 45 minutes, as Graph does", async () => {
    const before = Date.now() + virtualMs;
    const { status, json } = await subscribe({ expirationDateTime: inMinutes(5) });
    expect(status).toBe(201);
    const minutes = (Date.parse(String(json.expirationDateTime)) - before) / MINUTE;
    expect(minutes).toBeGreaterThanOrEqual(45);
    expect(minutes).toBeLessThan(45.5);
  });

  it("lists, renews within the maximum, reauthorizes without extending, and deletes", async () => {
    const { json: created } = await subscribe();
    const id = String(created.id);
    const list = await graph("GET", "/subscriptions");
    expect(list.json["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#subscriptions`);
    expect((list.json.value as { id: string }[]).map((s) => s.id)).toEqual([id]);

    const renewed = await graph("PATCH", `/subscriptions/${id}`, { expirationDateTime: inMinutes(41_000) });
    expect(renewed.status).toBe(200);
    expect(Date.parse(String(renewed.json.expirationDateTime))).toBeGreaterThan(Date.parse(String(created.expirationDateTime)));
    expect((await graph("PATCH", `/subscriptions/${id}`, { expirationDateTime: inMinutes(50_000) })).status).toBe(400);

    const reauthorized = await graph("POST", `/subscriptions/${id}/reauthorize`);
    expect(reauthorized.status).toBe(204);
    expect((await graph("GET", `/subscriptions/${id}`)).json.expirationDateTime).toBe(renewed.json.expirationDateTime);

    expect((await graph("DELETE", `/subscriptions/${id}`)).status).toBe(204);
    expect((await graph("DELETE", `/subscriptions/${id}`)).status).toBe(404);
    expect((await graph("GET", `/subscriptions/${id}`)).status).toBe(404);
    expect(em.subscriptions()).toHaveLength(0);
  });

  it("ends a subscription when its expiry passes on the emulator's clock: gone from GET, nothing delivered", async () => {
    const { json } = await subscribe({ expirationDateTime: inMinutes(60) });
    await graph("PATCH", `/users/${userIdFor(3)}`, { jobTitle: "Before expiry" });
    virtualMs += 61 * MINUTE;
    expect((await graph("GET", `/subscriptions/${String(json.id)}`)).status).toBe(404);
    expect((await graph("GET", "/subscriptions")).json.value).toEqual([]);
    await graph("PATCH", `/users/${userIdFor(3)}`, { jobTitle: "After expiry" });
    expect(await em.flushNotifications()).toEqual([]);
    expect(hook.notifications()).toEqual([]);
  });
});

describe("delivery", () => {
  it("POSTs user changes batched per URL, items shaped as Graph's, several subscriptions in one POST", async () => {
    const first = (await subscribe()).json;
    const second = (await subscribe({ resource: `users/${userIdFor(5)}`, changeType: "updated", clientState: "second" })).json;
    const elsewhere = (await subscribe({ notificationUrl: other.url, changeType: "deleted" })).json;
    hook.requests.length = 0;
    other.requests.length = 0;

    await graph("PATCH", `/users/${userIdFor(5)}`, { jobTitle: "Analyst" });
    await graph("DELETE", `/users/${userIdFor(6)}`);
    const entries = await em.flushNotifications();

    expect(entries.map((e) => [e.url, e.notifications, e.status])).toEqual(
      expect.arrayContaining([
        [hook.url, 3, 202],
        [other.url, 1, 202],
      ]),
    );
    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0].headers["content-type"]).toBe("application/json; charset=utf-8");
    const [posted] = hook.notifications();
    expect(posted.value.map((n) => [n.subscriptionId, n.changeType, n.resource])).toEqual([
      [first.id, "updated", `Users/${userIdFor(5)}`],
      [second.id, "updated", `Users/${userIdFor(5)}`],
      [first.id, "deleted", `Users/${userIdFor(6)}`],
    ]);
    expect(posted.value[0]).toEqual({
      id: expect.any(String),
      subscriptionId: first.id,
      subscriptionExpirationDateTime: first.expirationDateTime,
      clientState: "secret-client-state",
      changeType: "updated",
      resource: `Users/${userIdFor(5)}`,
      tenantId: TENANT_ID,
      resourceData: { "@odata.type": "#Microsoft.Graph.User", "@odata.id": `Users/${userIdFor(5)}`, id: userIdFor(5) },
    });
    expect(other.notifications()[0].value.map((n) => [n.subscriptionId, n.changeType])).toEqual([[elsewhere.id, "deleted"]]);
    // Delivered once: the next flush has nothing to send.
    expect(await em.flushNotifications()).toEqual([]);
  });

  it("keeps what the receiver refused or answered too slowly, and delivers it with the next flush", async () => {
    await subscribe();
    let answers = 0;
    hook.respond((_req, res) => {
      answers++;
      if (answers === 1) {
        res.writeHead(503);
        res.end();
      } else if (answers === 2) {
        setTimeout(() => {
          res.writeHead(202);
          res.end();
        }, 600);
      } else {
        res.writeHead(202);
        res.end();
      }
    });
    hook.requests.length = 0;
    await graph("PATCH", `/users/${userIdFor(7)}`, { city: "Oslo" });
    const [refused] = await em.flushNotifications();
    expect([refused.status, refused.delivered, refused.error]).toEqual([503, false, "answered 503"]);
    const [slow] = await em.flushNotifications();
    expect([slow.delivered, slow.error]).toEqual([false, "timed out"]);
    const [delivered] = await em.flushNotifications();
    expect([delivered.status, delivered.delivered]).toEqual([202, true]);
    expect(hook.requests).toHaveLength(3);
    const bodies = hook.requests.map((r) => JSON.parse(r.body) as { value: { id: string }[] });
    // The same notification each time (same id), as a redelivery.
    expect(new Set(bodies.map((b) => b.value[0].id)).size).toBe(1);
    expect(em.deliveries).toHaveLength(3);
  });

  it("gives up on a notification the receiver has refused for more than 4 hours, as Graph does", async () => {
    await subscribe({ expirationDateTime: inMinutes(600) });
    hook.respond((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    await graph("PATCH", `/users/${userIdFor(8)}`, { city: "Quito" });
    expect((await em.flushNotifications()).map((e) => e.status)).toEqual([500]);
    virtualMs += 3 * 60 * MINUTE;
    expect((await em.flushNotifications()).map((e) => e.status)).toEqual([500]);
    virtualMs += 61 * MINUTE;
    expect(await em.flushNotifications()).toEqual([]);
  });

  it("announces a new user as updated and a drive upload as updated on me/drive/root", async () => {
    const users = (await subscribe()).json;
    const drive = (await subscribe({ resource: "me/drive/root", changeType: "updated", notificationUrl: other.url })).json;
    const created = await graph("POST", "/users", {
      accountEnabled: true,
      displayName: "Adele Vance",
      mailNickname: "AdeleV",
      userPrincipalName: "AdeleV@contoso.onmicrosoft.com",
      passwordProfile: { password: "xWwvJ]6NMw+bWH-d" },
    });
    const res = await fetch(`${em.origin}/v1.0/me/drive/root:/reports/q3.csv:/content`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${DEMO_TOKEN}`, "Content-Type": "text/csv" },
      body: "a,b\n1,2\n",
    });
    expect(res.status).toBe(201);
    await em.flushNotifications();
    expect(hook.notifications()[0].value.map((n) => [n.subscriptionId, n.changeType, n.resource])).toEqual([[users.id, "updated", `Users/${String(created.json.id)}`]]);
    expect(other.notifications()[0].value).toEqual([
      {
        id: expect.any(String),
        subscriptionId: drive.id,
        subscriptionExpirationDateTime: drive.expirationDateTime,
        clientState: "secret-client-state",
        changeType: "updated",
        resource: "me/drive/root",
        tenantId: TENANT_ID,
      },
    ]);
  });

  it("delivers by itself with autoDeliverMs", async () => {
    const auto = await startEmulator({ notifications: { autoDeliverMs: 20 } });
    try {
      const sub = await fetch(`${auto.origin}/v1.0/subscriptions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${DEMO_TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ changeType: "updated", notificationUrl: other.url, resource: "users", expirationDateTime: inMinutes(30), clientState: "c" }),
      });
      expect(sub.status).toBe(201);
      await fetch(`${auto.origin}/v1.0/users/${userIdFor(1)}`, {
        method: "PATCH",
        headers: { Authorization: `Bearer ${DEMO_TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ city: "Lima" }),
      });
      for (let i = 0; i < 100 && auto.deliveries.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(auto.deliveries.map((d) => [d.url, d.notifications, d.delivered])).toEqual([[other.url, 1, true]]);

      // A failing receiver is not hammered every tick: auto delivery waits (1 s after a first failure) ...
      other.respond((_req, res) => {
        res.writeHead(503);
        res.end();
      });
      await fetch(`${auto.origin}/v1.0/users/${userIdFor(2)}`, {
        method: "PATCH",
        headers: { Authorization: `Bearer ${DEMO_TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ city: "Cusco" }),
      });
      for (let i = 0; i < 100 && auto.deliveries.length === 1; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 200));
      expect(auto.deliveries.map((d) => d.status)).toEqual([202, 503]);
      // ... while an explicit flush still redelivers at once.
      other.respond(null);
      expect((await auto.flushNotifications()).map((d) => [d.status, d.notifications])).toEqual([[202, 1]]);
    } finally {
      await auto.close();
    }
  });
});

describe("rich notifications", () => {
  it("encrypts each message for the subscription's certificate and signs a validation token for the app", async () => {
    const { json: sub } = await subscribe({
      resource: "me/mailFolders('Inbox')/messages",
      changeType: "created",
      includeResourceData: true,
      encryptionCertificate,
      encryptionCertificateId: "flow-cert-1",
    });
    const message = em.mailbox.receive({ subject: "Encrypted hello" });
    await em.flushNotifications();
    const [posted] = hook.notifications();
    expect(posted.validationTokens).toHaveLength(1);
    const claims = JSON.parse(Buffer.from(String(posted.validationTokens?.[0]).split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;
    expect([claims.aud, claims.iss, claims.appid]).toEqual([DEMO_CLIENT_ID, `https://sts.windows.net/${TENANT_ID}/`, "0bf30f3b-4a52-48df-9a82-234910c4a086"]);

    const [item] = posted.value;
    expect(item.subscriptionId).toBe(sub.id);
    const content = item.encryptedContent as Record<string, string>;
    expect(content.encryptionCertificateId).toBe("flow-cert-1");
    expect(content.encryptionCertificateThumbprint).toBe(certificate.thumbprintSha1Hex);
    // Decrypt as the docs describe (RSA-OAEP-SHA1 key, HMAC-SHA256 over the data, AES-CBC with the key's first 16 bytes as IV).
    const key = privateDecrypt({ key: certificate.privateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, Buffer.from(content.dataKey, "base64"));
    const data = Buffer.from(content.data, "base64");
    expect(createHmac("sha256", key).update(data).digest("base64")).toBe(content.dataSignature);
    const decipher = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16));
    const resource = JSON.parse(Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8")) as Record<string, unknown>;
    expect([resource["@odata.type"], resource.id, resource.subject]).toEqual(["#Microsoft.Graph.Message", message.id, "Encrypted hello"]);
  });
});

describe("lifecycle events", () => {
  it.each(["reauthorizationRequired", "missed", "subscriptionRemoved"] as const)("POSTs %s to the lifecycle URL", async (event) => {
    const { json } = await subscribe({ lifecycleNotificationUrl: other.url });
    other.requests.length = 0;
    const entry = await em.sendLifecycleEvent(String(json.id), event);
    expect([entry.kind, entry.url, entry.status]).toEqual(["lifecycle", other.url, 202]);
    expect(JSON.parse(other.requests[0].body)).toEqual({
      value: [
        {
          subscriptionId: json.id,
          subscriptionExpirationDateTime: json.expirationDateTime,
          tenantId: TENANT_ID,
          clientState: "secret-client-state",
          lifecycleEvent: event,
        },
      ],
    });
    expect(em.subscriptions()).toHaveLength(event === "subscriptionRemoved" ? 0 : 1);
  });

  it("has nowhere to send lifecycle events without a lifecycle URL", async () => {
    const { json } = await subscribe();
    await expect(em.sendLifecycleEvent(String(json.id), "missed")).rejects.toThrow(/no lifecycleNotificationUrl/);
  });
});

describe("the calling app", () => {
  it("takes applicationId from an app-only token, lists only that app's subscriptions, and refuses me/ resources", async () => {
    const other = "3f1d9b2e-6c4a-4e8b-9a7d-1b2c3d4e5f60";
    const withIdentity = await startEmulator({
      identity: { apps: [{ clientId: DEMO_CLIENT_ID, clientSecret: "demo-secret" }, { clientId: other, clientSecret: "other-secret" }] },
    });
    try {
      const identity = withIdentity.identity;
      if (!identity) throw new Error("no identity host");
      const tokenFor = async (clientId: string, secret: string): Promise<string> => {
        const res = await fetch(identity.tokenEndpoint(), {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope: `${withIdentity.graphResource}/.default` }),
        });
        return ((await res.json()) as { access_token: string }).access_token;
      };
      const call = async (token: string, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${withIdentity.origin}/v1.0${path}`, {
          method,
          headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      const mine = await tokenFor(other, "other-secret");
      const demo = await tokenFor(DEMO_CLIENT_ID, "demo-secret");
      const body = { changeType: "updated", notificationUrl: hook.url, resource: "users", expirationDateTime: inMinutes(60), clientState: "s" };
      const created = await call(mine, "POST", "/subscriptions", body);
      expect(created.status).toBe(201);
      expect([created.json.applicationId, created.json.creatorId]).toEqual([other, other]);
      expect(((await call(mine, "GET", "/subscriptions")).json.value as unknown[]).length).toBe(1);
      expect((await call(demo, "GET", "/subscriptions")).json.value).toEqual([]);
      expect((await call(demo, "GET", `/subscriptions/${String(created.json.id)}`)).status).toBe(404);
      const me = await call(mine, "POST", "/subscriptions", { ...body, resource: "me/messages", changeType: "created" });
      expect(me.status).toBe(400);
    } finally {
      await withIdentity.close();
    }
  });

});

describe("inside $batch", () => {
  interface Item {
    id: string;
    status: number;
    headers: Record<string, string>;
    body?: Record<string, unknown> | null;
  }

  async function batch(requests: unknown[]): Promise<Record<string, Item>> {
    const res = await graph("POST", "/$batch", { requests });
    expect(res.status).toBe(200);
    return Object.fromEntries((res.json.responses as Item[]).map((item) => [item.id, item]));
  }

  function createItem(id: string, overrides: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
    return {
      id,
      method: "POST",
      url: "/subscriptions",
      headers: { "Content-Type": "application/json" },
      body: { changeType: "updated,deleted", notificationUrl: hook.url, resource: "users", expirationDateTime: inMinutes(60), clientState: "batched", ...overrides },
      ...extra,
    };
  }

  const validations = (receiver: Receiver) => receiver.requests.filter((r) => r.url.includes("validationToken="));

  it("creates a subscription once both URLs passed the handshake: the item answers 201 with the subscription", async () => {
    const items = await batch([createItem("sub", { lifecycleNotificationUrl: other.url }), { id: "me", method: "GET", url: "/me?$select=id" }]);
    expect(items.sub.status).toBe(201);
    expect(items.sub.headers["Content-Type"]).toMatch(/^application\/json/);
    const [stored] = em.subscriptions();
    expect(items.sub.body).toMatchObject({
      "@odata.context": `${em.origin}/v1.0/$metadata#subscriptions/$entity`,
      id: stored.id,
      resource: "users",
      changeType: "updated,deleted",
      clientState: "batched",
      notificationUrl: hook.url,
      lifecycleNotificationUrl: other.url,
      expirationDateTime: stored.expirationDateTime,
      applicationId: DEMO_CLIENT_ID,
      creatorId: ME_ID,
    });
    expect(items.me).toMatchObject({ status: 200, body: { id: ME_ID } });
    // The handshake crossed the wire to each URL, as for a POST /subscriptions of its own.
    for (const [receiver, path] of [
      [hook, "/hook?flow=42&validationToken="],
      [other, "/other?validationToken="],
    ] as const) {
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.requests[0].method).toBe("POST");
      expect(receiver.requests[0].url.startsWith(path)).toBe(true);
      expect(receiver.requests[0].headers["content-type"]).toBe("text/plain; charset=utf-8");
    }
    expect(em.log.at(-1)?.batchItems?.map((i) => [i.id, i.status]).sort()).toEqual([["me", 200], ["sub", 201]]);

    // The subscription is live: a change to a user reaches the receiver.
    expect((await graph("PATCH", `/users/${ME_ID}`, { jobTitle: "Batched" })).status).toBe(204);
    await em.flushNotifications();
    expect(hook.notifications()[0].value[0]).toMatchObject({ subscriptionId: stored.id, clientState: "batched", changeType: "updated" });
  });

  it("answers 400 ValidationError for the item whose receiver fails, while the other items answer 200", async () => {
    hook.respond((_req, res) => {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end();
    });
    const items = await batch([createItem("sub"), { id: "me", method: "GET", url: "/me?$select=id" }, { id: "users", method: "GET", url: "/users?$top=1&$select=id" }]);
    expect(items.sub.status).toBe(400);
    expect((items.sub.body as { error: { code: string; message: string } }).error).toMatchObject({
      code: "ValidationError",
      message: expect.stringMatching(/^Subscription validation request failed\. .*answered 500/),
    });
    expect([items.me.status, items.users.status]).toEqual([200, 200]);
    expect(validations(hook)).toHaveLength(1);
    expect(em.subscriptions()).toHaveLength(0);
  });

  it("runs dependents after the handshake, and answers 424 to them when it failed", async () => {
    const chain = (prefix: string) => [
      { id: `${prefix}-me`, method: "GET", url: "/me?$select=id", dependsOn: [`${prefix}-list`] },
      { id: `${prefix}-list`, method: "GET", url: "/subscriptions", dependsOn: [`${prefix}-sub`] },
      createItem(`${prefix}-sub`, { clientState: prefix }),
    ];
    const ok = await batch(chain("ok"));
    expect(ok["ok-sub"].status).toBe(201);
    // The list ran after the creation had finished: it holds the new subscription.
    expect(ok["ok-list"].status).toBe(200);
    expect((ok["ok-list"].body?.value as { id: string }[]).map((s) => s.id)).toEqual([ok["ok-sub"].body?.id]);
    expect(ok["ok-me"].status).toBe(200);
    const order = em.log.at(-1)?.batchItems?.map((i) => i.id);
    expect(order).toEqual(["ok-sub", "ok-list", "ok-me"]);

    hook.respond((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("not the token");
    });
    const failed = await batch(chain("failed"));
    expect(failed["failed-sub"].status).toBe(400);
    expect([failed["failed-list"].status, failed["failed-me"].status]).toEqual([424, 424]);
    expect((failed["failed-list"].body as { error: { code: string } }).error.code).toBe("FailedDependency");
    expect(em.subscriptions().map((s) => s.clientState)).toEqual(["ok"]);
  });

  it("renews, reauthorizes and deletes a subscription inside a batch as outside it", async () => {
    const { json } = await subscribe();
    const id = String(json.id);
    const renewTo = inMinutes(120);
    const items = await batch([
      { id: "renew", method: "PATCH", url: `/subscriptions/${id}`, headers: { "Content-Type": "application/json" }, body: { expirationDateTime: renewTo } },
      { id: "reauthorize", method: "POST", url: `/subscriptions/${id}/reauthorize`, headers: { "Content-Type": "application/json" }, body: {}, dependsOn: ["renew"] },
      { id: "delete", method: "DELETE", url: `/subscriptions/${id}`, dependsOn: ["reauthorize"] },
    ]);
    expect(items.renew.status).toBe(200);
    expect(Date.parse(String(items.renew.body?.expirationDateTime))).toBe(Date.parse(renewTo));
    expect([items.reauthorize.status, items.delete.status]).toEqual([204, 204]);
    expect(em.subscriptions()).toHaveLength(0);
  });

  it("counts the item as a request of the token in flight while its handshake runs", async () => {
    em.setThrottle({ requestsPerWindow: 100, windowMs: 60_000, maxConcurrent: 1 });
    let duringHandshake: number | undefined;
    hook.respond(async (req, res) => {
      duringHandshake = (await graph("GET", "/me?$select=id")).status;
      const token = new URL(req.url, "http://x").searchParams.get("validationToken") ?? "";
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(token);
    });
    const items = await batch([createItem("sub")]);
    expect(items.sub.status).toBe(201);
    expect(duringHandshake).toBe(429);
    // Its place was given back once it answered.
    expect((await graph("GET", "/me?$select=id")).status).toBe(200);
  });
});
