/**
 * The Change Notifications trigger, run as the platform runs it: a loopback webhook receiver turns every HTTP
 * request the Graph emulator sends into a trigger payload for Spectral's harness and writes the trigger's
 * response back; deploy, undeploy and scheduled runs call the lifecycle handlers and perform the same way.
 * Assertions are on what crossed the wire: the emulator's request log, its subscriptions, its deliveries.
 */
import { X509Certificate } from "node:crypto";
import { request } from "node:http";
import { connectionFor, harness, useEmulator } from "./support";
import { FlowHost, startFlowHost } from "../runner/webhookReceiver";
import { STATE_KEY_PREFIX, SubscriptionState } from "../triggers/subscriptions";
import { BRANCHES } from "../triggers/changeNotifications";
import { clock } from "../client/clock";
import { LOGIN_URL_ENV } from "../client/hosts";
import { buildRichNotifications } from "../emulator/richNotifications";
import { TENANT_ID } from "../emulator/tenant";
import { makeTestCertificate, TestCertificate } from "../emulator/x509";
import { clearChangeTrackingKeyCache } from "../triggers/richNotifications";

const env = useEmulator({ identity: true });
const STATE_KEY = `${STATE_KEY_PREFIX}flow-stable-id`;

let host: FlowHost | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

async function flow(params: Record<string, unknown> = {}): Promise<FlowHost> {
  host = await startFlowHost({
    triggerKey: "changeNotifications",
    params: { connection: connectionFor(env.emulator.token), resource: "users", changeTypes: ["created", "updated", "deleted"], ...params },
    logger: env.logger,
  });
  return host;
}

function stateOf(h: FlowHost): SubscriptionState {
  return h.crossFlowState[STATE_KEY] as SubscriptionState;
}

function post(url: string, body: string, contentType = "application/json"): Promise<{ status: number; contentType?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "Content-Type": contentType } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"], body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function graphCalls(method: string, pathPattern: RegExp) {
  return env.graphRequests().filter((e) => e.method === method && pathPattern.test(e.url.split("?")[0]));
}

function outputOf(execution: { result?: unknown }) {
  const result = execution.result as { branch: string; payload: { body: { data: Record<string, unknown> }; rawBody: { data: unknown } } };
  return { branch: result.branch, data: result.payload.body.data, rawBody: result.payload.rawBody.data };
}

async function graph(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${env.emulator.origin}/v1.0${path}`, {
    method,
    headers: { Authorization: `Bearer ${env.emulator.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
  return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
}

async function someUserIds(count: number): Promise<string[]> {
  const page = await graph("GET", `/users?$top=${count}&$select=id`);
  return (page.value as Array<{ id: string }>).map((u) => u.id);
}

/** A change made in the emulator, as another client of Graph would make it. */
async function renameUser(id: string, displayName: string): Promise<void> {
  await graph("PATCH", `/users/${id}`, { displayName });
}

// The client's clock follows the emulator's virtual clock, so expiry times agree on both sides.
let offsetMs = 0;
beforeEach(() => {
  offsetMs = 0;
  clock.now = () => Date.now() + offsetMs;
});
function advance(ms: number): void {
  offsetMs += ms;
  env.advanceTime(ms);
}

describe("Select Subscription Resource", () => {
  it("offers common resources and the signed-in user's mail folders, read from Graph", async () => {
    const { result } = (await harness.dataSource("selectSubscriptionResource", { connection: connectionFor(env.emulator.token) }, { logger: env.logger })) as {
      result: Array<{ key: string; label: string }>;
    };
    expect(result).toContainEqual({ key: "users", label: "Users of the tenant" });
    const inbox = result.find((e) => e.label === "Mail folder: Inbox");
    expect(inbox?.key).toMatch(/^me\/mailFolders\('.+'\)\/messages$/);
    expect(env.graphRequests().map((e) => e.url.split("?")[0])).toEqual(["/v1.0/me/mailFolders"]);
  });
});

describe("URL validation", () => {
  it("echoes Graph's validationToken at once, URL-decoded, as text/plain, without calling Graph", async () => {
    const h = await flow();
    const answer = await post(`${h.url}?validationToken=${encodeURIComponent("Validation: Testing client application <b>&</b> 100%")}`, "", "text/plain; charset=utf-8");
    expect(answer).toEqual({ status: 200, contentType: "text/plain", body: "Validation: Testing client application <b>&</b> 100%" });
    expect(outputOf(h.executions[0]).branch).toBe(BRANCHES.validation);
    expect(env.graphRequests()).toHaveLength(0);
  });
});

describe("the subscription's lifecycle", () => {
  it("creates one subscription for the flow's URL with a random client state, both URLs validated by Graph", async () => {
    const h = await flow();
    await h.deploy();
    const subs = env.emulator.subscriptions();
    expect(subs).toHaveLength(1);
    const [sub] = subs;
    expect(sub.notificationUrl).toBe(h.url);
    expect(sub.lifecycleNotificationUrl).toBe(h.url);
    expect(sub.resource).toBe("users");
    // Graph supports only updated and deleted for users: created is not asked for.
    expect(sub.changeType).toBe("updated,deleted");
    // 32 random bytes in base64url; Graph allows up to 128 characters.
    expect(sub.clientState).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const state = stateOf(h);
    expect(state).toMatchObject({ subscriptionId: sub.id, clientState: sub.clientState, resource: "users" });
    // Graph's handshake reached the trigger for the notification URL and the lifecycle URL, and was answered.
    const validations = h.executions.filter((e) => e.url.includes("validationToken="));
    expect(validations.length).toBe(2);
    expect(validations.every((e) => e.status === 200)).toBe(true);
    // The default expiry is the longest Graph allows for users: 41,760 minutes.
    const minutes = (Date.parse(sub.expirationDateTime) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(41_760 - 5);
    expect(minutes).toBeLessThanOrEqual(41_760);
    expect(env.logLines.join("\n")).not.toContain(sub.clientState as string);
  });

  it("is idempotent: three creates leave one subscription, renewed; a lost state finds it again instead of making a second", async () => {
    const h = await flow();
    await h.deploy();
    const first = stateOf(h);
    await h.deploy();
    await h.deploy();
    expect(env.emulator.subscriptions().map((s) => s.id)).toEqual([first.subscriptionId]);
    expect(graphCalls("POST", /\/subscriptions$/)).toHaveLength(1);
    expect(graphCalls("PATCH", new RegExp(`/subscriptions/${first.subscriptionId}$`))).toHaveLength(2);
    expect(stateOf(h).clientState).toBe(first.clientState);

    // A redeploy that lost crossFlowState: the subscription pointing at this flow is found by its URL.
    delete h.crossFlowState[STATE_KEY];
    await h.deploy();
    // Graph returns the subscription's clientState to the app that made it, so it is adopted, not remade.
    expect(env.emulator.subscriptions().map((s) => s.id)).toEqual([first.subscriptionId]);
    expect(graphCalls("POST", /\/subscriptions$/)).toHaveLength(1);
    expect(stateOf(h)).toMatchObject({ subscriptionId: first.subscriptionId, clientState: first.clientState });
  });

  it("after a lost state, a subscription whose clientState Graph does not return is deleted and made again, never two", async () => {
    const h = await flow();
    await h.deploy();
    const first = stateOf(h);
    delete h.crossFlowState[STATE_KEY];
    const listed = env.emulator.subscriptions().map((s) => ({ ...s, target: undefined, clientState: null }));
    env.emulator.addFault({
      method: "GET",
      path: "/subscriptions",
      fault: { kind: "reply", status: 200, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ value: listed }) },
    });
    await h.deploy();
    const subs = env.emulator.subscriptions();
    expect(subs).toHaveLength(1);
    expect(subs[0].id).not.toBe(first.subscriptionId);
    expect(graphCalls("DELETE", new RegExp(`/subscriptions/${first.subscriptionId}$`))).toHaveLength(1);
    expect(stateOf(h)).toMatchObject({ subscriptionId: subs[0].id, clientState: subs[0].clientState });
  });

  it("replaces the subscription when the inputs changed (another resource), never keeping two", async () => {
    const h = await flow();
    await h.deploy();
    const old = stateOf(h).subscriptionId;
    const other = await startFlowHost({
      triggerKey: "changeNotifications",
      params: { connection: connectionFor(env.emulator.token), resource: "groups", changeTypes: ["updated"] },
      logger: env.logger,
    });
    try {
      // Same flow URL and state, new inputs: simulate the redeploy by pointing the new host's state at the old one.
      other.crossFlowState[STATE_KEY] = { ...stateOf(h), notificationUrl: other.url };
      await other.deploy();
      const subs = env.emulator.subscriptions();
      expect(subs.filter((s) => s.notificationUrl === other.url)).toHaveLength(1);
      expect(subs.find((s) => s.notificationUrl === other.url)?.resource).toBe("groups");
      expect(graphCalls("DELETE", new RegExp(`/subscriptions/${old}$`))).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it("delete removes the subscription and clears the state; a subscription Graph no longer has (404) is a success", async () => {
    const h = await flow();
    await h.deploy();
    const state = stateOf(h);
    await h.undeploy();
    expect(env.emulator.subscriptions()).toHaveLength(0);
    expect(h.crossFlowState[STATE_KEY]).toBeUndefined();

    h.crossFlowState[STATE_KEY] = state;
    await h.undeploy();
    const deletes = graphCalls("DELETE", new RegExp(`/subscriptions/${state.subscriptionId}$`));
    expect(deletes.map((d) => d.status)).toEqual([204, 404]);
    expect(h.crossFlowState[STATE_KEY]).toBeUndefined();
  });

  it("refuses an expiration longer than Graph allows for the resource, naming the maximum, before any request", async () => {
    const h = await flow({ resource: "me/mailFolders('Inbox')/messages", expirationMinutes: "20000" });
    await expect(h.deploy()).rejects.toThrow(
      "Expiration (minutes): 20000 minutes is longer than Microsoft Graph allows for Outlook message, event, contact: at most 10080 minutes",
    );
    expect(env.graphRequests()).toHaveLength(0);
  });
});

describe("notifications", () => {
  it("hands Graph's notifications to the flow with 202, without the client state", async () => {
    const h = await flow();
    await h.deploy();
    const secret = stateOf(h).clientState;
    const [id] = await someUserIds(1);
    await renameUser(id, "Adele Vance (renamed)");
    await env.emulator.flushNotifications();
    const execution = await h.waitFor((e) => e.result !== undefined && outputOf(e).branch === BRANCHES.notification);
    expect(execution.status).toBe(202);
    const { data, rawBody } = outputOf(execution);
    const notifications = data.notifications as Array<Record<string, unknown>>;
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({ changeType: "updated", subscriptionId: stateOf(h).subscriptionId });
    expect(JSON.stringify(notifications[0].resourceData ?? notifications[0].resource)).toContain(id);
    expect(JSON.stringify(execution.result)).not.toContain(secret);
    expect(rawBody).toBeNull();
    expect(env.emulator.deliveries.at(-1)?.status).toBe(202);
    // Graph drops a receiver that answers slower than 3 s (DC change-notifications-delivery-webhooks.md).
    expect(env.emulator.deliveries.at(-1)?.ms).toBeLessThan(3000);
  });

  it("drops forged and foreign items, counted and logged without the secret", async () => {
    const h = await flow();
    await h.deploy();
    const { subscriptionId, clientState } = stateOf(h);
    const item = { subscriptionId, changeType: "updated", resource: "Users/1", tenantId: "t" };
    const answer = await post(
      h.url,
      JSON.stringify({
        value: [
          { ...item, clientState: "guessed" },
          { ...item, clientState: `${clientState}x` },
          { ...item, clientState: undefined },
          { ...item, subscriptionId: "not-ours", clientState },
        ],
      }),
    );
    expect(answer.status).toBe(202);
    const { branch, data } = outputOf(h.executions.at(-1)!);
    expect(branch).toBe(BRANCHES.ignored);
    expect(data.notifications).toEqual([]);
    expect(data.dropped).toEqual({ forged: 3, unknownSubscription: 1, unverified: 0 });
    const log = env.logLines.join("\n");
    expect(log).toContain("dropped 4 of 4 notifications: 3 with a client state that does not match");
    expect(log).not.toContain(clientState);
    expect(log).not.toContain("guessed");
  });

  it("drops a replayed delivery of an earlier subscription, and the earlier secret on the new one", async () => {
    const h = await flow();
    await h.deploy();
    const [id] = await someUserIds(1);
    await renameUser(id, "Alex Wilber (renamed)");
    const [delivery] = await env.emulator.flushNotifications();
    const captured = typeof delivery.body === "string" ? delivery.body : JSON.stringify(delivery.body);
    const old = stateOf(h);
    await h.undeploy();
    await h.deploy();
    const fresh = stateOf(h);
    expect(fresh.subscriptionId).not.toBe(old.subscriptionId);

    await post(h.url, captured);
    expect(outputOf(h.executions.at(-1)!).data.dropped).toEqual({ forged: 0, unknownSubscription: 1, unverified: 0 });
    await post(h.url, captured.split(old.subscriptionId).join(fresh.subscriptionId));
    const { branch, data } = outputOf(h.executions.at(-1)!);
    expect(branch).toBe(BRANCHES.ignored);
    expect(data.dropped).toEqual({ forged: 1, unknownSubscription: 0, unverified: 0 });
  });

  it("reads changed resources through $batch, one call per 20 notifications", async () => {
    const h = await flow({ fetchChangedResources: true, selectProperties: "id,displayName" });
    await h.deploy();
    const ids = await someUserIds(25);
    for (const [i, id] of ids.entries()) await renameUser(id, `Batch User ${i}`);
    const before = env.emulator.log.length;
    await env.emulator.flushNotifications();
    const executions = h.executions.filter((e) => e.result && outputOf(e).branch === BRANCHES.notification);
    const delivered = executions.flatMap((e) => outputOf(e).data.notifications as Array<{ content?: { id: string; displayName: string } }>);
    expect(delivered).toHaveLength(25);
    expect(delivered.map((n) => n.content?.id).sort()).toEqual([...ids].sort());
    expect(delivered[0].content).toMatchObject({ id: expect.any(String), displayName: expect.stringMatching(/^Batch User/) });
    expect(delivered[0].content).not.toHaveProperty("mail");
    const batches = env.emulator.log.slice(before).filter((e) => e.method === "POST" && e.url.endsWith("/$batch"));
    const perExecution = executions.map((e) => Math.ceil((outputOf(e).data.notifications as unknown[]).length / 20));
    expect(batches.length).toBe(perExecution.reduce((a, b) => a + b, 0));
    expect(batches.every((b) => (b.batchItems ?? []).length <= 20)).toBe(true);
    const itemUrls = batches.flatMap((b) => b.batchItems ?? []).map((i) => i.url.replace(/^\//, "").toLowerCase());
    expect(itemUrls).toContain(`users/${ids[0]}?$select=id,displayname`.toLowerCase());
    expect(env.emulator.log.slice(before).filter((e) => e.method === "GET" && /\/users\//.test(e.url))).toHaveLength(0);
  });
});

describe("mail", () => {
  it("delivers a new Inbox message with the message itself, read through $batch", async () => {
    const h = await flow({ resource: "me/mailFolders('Inbox')/messages", changeTypes: ["created"], fetchChangedResources: true, selectProperties: "id,subject" });
    await h.deploy();
    const message = env.emulator.mailbox.receive({ subject: "Quarterly report", from: { emailAddress: { address: "adele@contoso.com" } } });
    await env.emulator.flushNotifications();
    const execution = await h.waitFor((e) => e.result !== undefined && outputOf(e).branch === BRANCHES.notification);
    const [notification] = outputOf(execution).data.notifications as Array<{ changeType: string; content?: { id: string; subject: string }; fetchError?: unknown }>;
    expect(notification.fetchError).toBeUndefined();
    expect(notification).toMatchObject({ changeType: "created", contentSource: "fetched", content: { id: message.id, subject: "Quarterly report" } });
    expect(env.graphRequests().filter((e) => e.url.endsWith("/$batch"))).toHaveLength(1);
  });
});

describe("lifecycle events", () => {
  it("reauthorizationRequired renews the subscription (PATCH) and reaches the flow only as a lifecycle outcome", async () => {
    const h = await flow();
    await h.deploy();
    const { subscriptionId } = stateOf(h);
    const patchesBefore = graphCalls("PATCH", /\/subscriptions\//).length;
    const delivery = await env.emulator.sendLifecycleEvent(subscriptionId, "reauthorizationRequired");
    expect(delivery.status).toBe(202);
    const { branch, data } = outputOf(h.executions.at(-1)!);
    expect(branch).toBe(BRANCHES.lifecycle);
    expect(data.notifications).toEqual([]);
    expect(data.lifecycleEvents).toEqual([{ subscriptionId, lifecycleEvent: "reauthorizationRequired", action: "renewed" }]);
    expect(graphCalls("PATCH", new RegExp(`/subscriptions/${subscriptionId}$`)).length).toBe(patchesBefore + 1);
  });

  it("subscriptionRemoved recreates the subscription and sends the flow to resync", async () => {
    const h = await flow();
    await h.deploy();
    const old = stateOf(h);
    const delivery = await env.emulator.sendLifecycleEvent(old.subscriptionId, "subscriptionRemoved");
    expect(delivery.status).toBe(202);
    const { branch, data } = outputOf(h.executions.filter((e) => !e.url.includes("validationToken")).at(-1)!);
    expect(branch).toBe(BRANCHES.resync);
    expect(data.lifecycleEvents).toEqual([{ subscriptionId: old.subscriptionId, lifecycleEvent: "subscriptionRemoved", action: "recreated" }]);
    const subs = env.emulator.subscriptions();
    expect(subs).toHaveLength(1);
    expect(subs[0].id).not.toBe(old.subscriptionId);
    expect(stateOf(h).subscriptionId).toBe(subs[0].id);
    expect(stateOf(h).clientState).not.toBe(old.clientState);
  });

  it("missed goes to the resync branch and calls nothing", async () => {
    const h = await flow();
    await h.deploy();
    const { subscriptionId } = stateOf(h);
    const before = env.graphRequests().length;
    await env.emulator.sendLifecycleEvent(subscriptionId, "missed");
    const { branch, data } = outputOf(h.executions.at(-1)!);
    expect(branch).toBe(BRANCHES.resync);
    expect(data.lifecycleEvents).toEqual([{ subscriptionId, lifecycleEvent: "missed", action: "resync needed" }]);
    expect(env.graphRequests().length).toBe(before);
  });
});

describe("scheduled renewal", () => {
  it("extends the subscription on each scheduled run", async () => {
    const h = await flow({ expirationMinutes: "60" });
    await h.deploy();
    const { subscriptionId, expirationDateTime } = stateOf(h);
    advance(30 * 60_000);
    const result = (await h.runScheduled()) as { branch: string; payload: { body: { data: { action: string } } } };
    expect(result.branch).toBe(BRANCHES.renewal);
    expect(result.payload.body.data.action).toBe("renewed");
    const [patch] = graphCalls("PATCH", new RegExp(`/subscriptions/${subscriptionId}$`));
    const asked = Date.parse(JSON.parse(patch.body).expirationDateTime);
    // 30 minutes later, extended again to the full hour (less a minute for clock skew).
    expect(asked - Date.parse(expirationDateTime)).toBeGreaterThanOrEqual(30 * 60_000 - 1000);
    expect(Date.parse(stateOf(h).expirationDateTime)).toBe(asked);
    expect(Date.parse(env.emulator.subscriptions()[0].expirationDateTime)).toBe(asked);
  });

  it("recreates the subscription when Graph dropped it (expired)", async () => {
    const h = await flow({ expirationMinutes: "60" });
    await h.deploy();
    const old = stateOf(h);
    advance(2 * 60 * 60_000);
    expect(env.emulator.subscriptions()).toHaveLength(0);
    const result = (await h.runScheduled()) as { branch: string; payload: { body: { data: { action: string } } } };
    expect(result.branch).toBe(BRANCHES.renewal);
    expect(result.payload.body.data.action).toBe("recreated");
    expect(graphCalls("PATCH", new RegExp(`/subscriptions/${old.subscriptionId}$`)).map((e) => e.status)).toEqual([404]);
    expect(env.emulator.subscriptions()).toHaveLength(1);
    expect(stateOf(h).subscriptionId).toBe(env.emulator.subscriptions()[0].id);
  });
});

describe("rich notifications (resource data)", () => {
  let certificate: TestCertificate;
  beforeAll(async () => {
    certificate = await makeTestCertificate();
    process.env[LOGIN_URL_ENV] = env.emulator.loginOrigin;
  });
  afterAll(() => {
    delete process.env[LOGIN_URL_ENV];
  });
  beforeEach(() => clearChangeTrackingKeyCache());

  const richFlow = () =>
    flow({
      resource: "me/mailFolders('Inbox')/messages",
      changeTypes: ["created"],
      includeResourceData: true,
      encryptionCertificate: `${certificate.certificatePem}\n${certificate.privateKeyPem}`,
      encryptionCertificateId: "bench-certificate",
      selectProperties: "id,subject",
    });

  /** What Graph would POST for our subscription: `count` messages encrypted with our certificate, one validation token. */
  async function graphDelivery(h: FlowHost, count: number, audience?: string) {
    const state = stateOf(h);
    const { body } = await buildRichNotifications({
      count,
      audience: audience ?? (state.applicationId as string),
      tenantId: TENANT_ID,
      certificate,
      clientState: state.clientState,
    });
    for (const item of body.value as Array<Record<string, unknown>>) item.subscriptionId = state.subscriptionId;
    return body as { value: Array<Record<string, unknown> & { encryptedContent: { data: string } }>; validationTokens: string[] };
  }

  it("subscribes with the certificate and $select, at most 1440 minutes for Outlook", async () => {
    const h = await richFlow();
    await h.deploy();
    const [sub] = env.emulator.subscriptions();
    expect(sub.includeResourceData).toBe(true);
    expect(sub.encryptionCertificate).toBe(new X509Certificate(certificate.certificatePem).raw.toString("base64"));
    expect(sub.encryptionCertificateId).toBe("bench-certificate");
    expect(sub.resource).toBe("me/mailFolders('Inbox')/messages?$select=id,subject");
    expect((Date.parse(sub.expirationDateTime) - Date.now()) / 60_000).toBeLessThanOrEqual(1440);
    expect(JSON.stringify(env.emulator.log)).not.toContain("PRIVATE KEY");
  });

  it("verifies the validation tokens, decrypts each item and hands the resource itself to the flow, with no extra GET", async () => {
    const h = await richFlow();
    await h.deploy();
    const before = env.graphRequests().length;
    const answer = await post(h.url, JSON.stringify(await graphDelivery(h, 3)));
    expect(answer.status).toBe(202);
    const { branch, data } = outputOf(h.executions.at(-1)!);
    expect(branch).toBe(BRANCHES.notification);
    const notifications = data.notifications as Array<Record<string, unknown>>;
    expect(notifications.map((n) => (n.content as { subject: string }).subject)).toEqual(["Quarterly report 0", "Quarterly report 1", "Quarterly report 2"]);
    expect(notifications.every((n) => n.contentSource === "decrypted" && n.encryptedContent === undefined && n.clientState === undefined)).toBe(true);
    expect(env.graphRequests().length).toBe(before);
    // The signing keys came from the sign-in host's published key set.
    expect(env.emulator.identity!.log.some((e) => e.url.includes("/discovery/v2.0/keys"))).toBe(true);
  });

  it("end to end: a mail arriving in the Inbox reaches the flow decrypted from Graph's own delivery", async () => {
    const h = await richFlow();
    await h.deploy();
    const before = env.graphRequests().length;
    const message = env.emulator.mailbox.receive({ subject: "Board minutes", from: { emailAddress: { address: "megan@contoso.com" } } });
    const [delivery] = await env.emulator.flushNotifications();
    expect(delivery.status).toBe(202);
    expect((delivery.body as { validationTokens?: string[] }).validationTokens).toHaveLength(1);
    const execution = await h.waitFor((e) => e.result !== undefined && outputOf(e).branch === BRANCHES.notification);
    const [notification] = outputOf(execution).data.notifications as Array<{ contentSource: string; content: { id: string; subject: string } }>;
    expect(notification.contentSource).toBe("decrypted");
    expect(notification.content).toMatchObject({ id: message.id, subject: "Board minutes" });
    expect(env.graphRequests().length).toBe(before);
  });

  it("drops an item whose data was tampered with, and keeps the others", async () => {
    const h = await richFlow();
    await h.deploy();
    const body = await graphDelivery(h, 3);
    const data = Buffer.from(body.value[1].encryptedContent.data, "base64");
    data[0] ^= 0xff;
    body.value[1].encryptedContent.data = data.toString("base64");
    expect((await post(h.url, JSON.stringify(body))).status).toBe(202);
    const out = outputOf(h.executions.at(-1)!).data;
    expect((out.notifications as Array<{ content: { subject: string } }>).map((n) => n.content.subject)).toEqual(["Quarterly report 0", "Quarterly report 2"]);
    expect(out.dropped).toEqual({ forged: 0, unknownSubscription: 0, unverified: 1 });
    expect(env.logLines.join("\n")).toMatch(/dropped notification .*signature/i);
  });

  it("drops every item of a POST whose validation token is for another app (wrong audience)", async () => {
    const h = await richFlow();
    await h.deploy();
    const answer = await post(h.url, JSON.stringify(await graphDelivery(h, 2, "11111111-2222-3333-4444-555555555555")));
    expect(answer.status).toBe(202);
    const { branch, data } = outputOf(h.executions.at(-1)!);
    expect(branch).toBe(BRANCHES.ignored);
    expect(data.notifications).toEqual([]);
    expect(data.dropped).toEqual({ forged: 0, unknownSubscription: 0, unverified: 2 });
    expect(env.logLines.join("\n")).toMatch(/dropped 2 notifications with resource data: the validation token is for app '11111111-2222-3333-4444-555555555555'/);
  });

  it("drops encrypted items that come without validation tokens", async () => {
    const h = await richFlow();
    await h.deploy();
    const body = (await graphDelivery(h, 1)) as { value: unknown[]; validationTokens?: string[] };
    delete body.validationTokens;
    await post(h.url, JSON.stringify(body));
    expect(outputOf(h.executions.at(-1)!).data.dropped).toEqual({ forged: 0, unknownSubscription: 0, unverified: 1 });
  });
});
