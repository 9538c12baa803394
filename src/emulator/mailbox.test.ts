/**
 * The emulator's Outlook mail over real HTTP: folders by id and well-known name, messages (list, get, draft,
 * update, delete), per-folder message delta across rounds with @removed and 410, and the change notifications
 * messages make for `me/mailFolders('Inbox')/messages`, `me/messages` and `users/{id}/messages`.
 */
import type { MailFolder, Message } from "@microsoft/microsoft-graph-types";

import { DEMO_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { startReceiver, type Receiver } from "./testReceiver";
import { ME_ID, TENANT_ID, userIdFor } from "./tenant";

let em: GraphEmulator;
let hook: Receiver;

beforeAll(async () => {
  em = await startEmulator();
  hook = await startReceiver();
});
afterAll(async () => {
  await Promise.all([em.close(), hook.close()]);
});
beforeEach(() => {
  em.reset();
  hook.requests.length = 0;
});

interface Collection<T> {
  "@odata.context": string;
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
  value: T[];
}

async function graph<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T; headers: Headers }> {
  const url = path.startsWith("http") ? path : `${em.origin}/v1.0${path}`;
  const res = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${DEMO_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
}

/** Every page of a delta round, following nextLinks; returns the items and the final deltaLink. */
async function deltaRound(url: string, headers: Record<string, string> = {}): Promise<{ items: Record<string, unknown>[]; deltaLink: string; pages: number }> {
  const items: Record<string, unknown>[] = [];
  let next: string | undefined = url;
  let pages = 0;
  for (;;) {
    const { status, json }: { status: number; json: Collection<Record<string, unknown>> } = await graph("GET", next, undefined, headers);
    expect(status).toBe(200);
    pages++;
    items.push(...json.value);
    if (json["@odata.deltaLink"]) return { items, deltaLink: json["@odata.deltaLink"], pages };
    next = json["@odata.nextLink"];
    if (!next) throw new Error("a delta page without nextLink or deltaLink");
  }
}

describe("mail folders and messages", () => {
  it("lists the well-known folders and finds one by its well-known name in either addressing", async () => {
    const { json } = await graph<Collection<MailFolder>>("GET", "/me/mailFolders");
    expect(json["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users('${ME_ID}')/mailFolders`);
    expect(json.value.map((f) => f.displayName)).toEqual(expect.arrayContaining(["Inbox", "Drafts", "Sent Items", "Deleted Items", "Archive"]));
    const inbox = json.value.find((f) => f.displayName === "Inbox");
    expect(Object.keys(inbox ?? {})).toEqual(["id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount", "totalItemCount", "isHidden"]);
    for (const path of ["/me/mailFolders/inbox", "/me/mailFolders('Inbox')", `/me/mailFolders/${String(inbox?.id)}`, `/users/${ME_ID}/mailFolders/Inbox`]) {
      const { status, json: folder } = await graph<MailFolder>("GET", path);
      expect([path, status, folder.id]).toEqual([path, 200, inbox?.id]);
    }
    expect((await graph("GET", "/me/mailFolders/nowhere")).status).toBe(404);
  });

  it("lists messages newest first, 10 a page with a $skip nextLink, with Graph's message properties", async () => {
    for (let i = 0; i < 9; i++) em.mailbox.receive({ subject: `Report ${i}` });
    const first = await graph<Collection<Message>>("GET", "/me/mailFolders/inbox/messages");
    expect(first.json.value).toHaveLength(10);
    expect(first.json.value[0].subject).toBe("Report 8");
    expect(first.json["@odata.nextLink"]).toBe(`${em.origin}/v1.0/me/mailFolders/inbox/messages?$skip=10`);
    const second = await graph<Collection<Message>>("GET", String(first.json["@odata.nextLink"]));
    expect(second.json.value).toHaveLength(3);
    expect(second.json["@odata.nextLink"]).toBeUndefined();
    expect(Object.keys(first.json.value[0])).toEqual([
      "@odata.etag", "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime", "sentDateTime",
      "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId", "conversationId",
      "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink",
      "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
    ]);
    const selected = await graph<Collection<Message>>("GET", "/me/messages?$select=subject,isRead&$top=2");
    expect(selected.json.value.map((m) => Object.keys(m))).toEqual([
      ["@odata.etag", "subject", "isRead", "id"],
      ["@odata.etag", "subject", "isRead", "id"],
    ]);
  });

  it("creates a draft (201), updates it (200, new etag), and deletes a message into Deleted Items, then for good", async () => {
    const draft = await graph<Message & { "@odata.etag": string }>("POST", "/me/messages", { subject: "Plan", body: { contentType: "text", content: "Step 1" }, toRecipients: [{ emailAddress: { address: "AlexW@contoso.onmicrosoft.com" } }] });
    expect(draft.status).toBe(201);
    expect([draft.json.isDraft, draft.json.subject]).toEqual([true, "Plan"]);
    const drafts = await graph<MailFolder>("GET", "/me/mailFolders/drafts");
    expect(draft.json.parentFolderId).toBe(drafts.json.id);

    const updated = await graph<Message & { "@odata.etag": string }>("PATCH", `/me/messages/${String(draft.json.id)}`, { subject: "Plan v2", isRead: false });
    expect(updated.status).toBe(200);
    expect(updated.json.subject).toBe("Plan v2");
    expect(updated.json["@odata.etag"]).not.toBe(draft.json["@odata.etag"]);

    const received = em.mailbox.receive({ subject: "Invoice" });
    expect((await graph("PATCH", `/me/messages/${String(received.id)}`, { subject: "Changed" })).status).toBe(400);
    expect((await graph("DELETE", `/me/messages/${String(received.id)}`)).status).toBe(204);
    const bin = await graph<MailFolder>("GET", "/me/mailFolders/deleteditems");
    expect((await graph<Message>("GET", `/me/messages/${String(received.id)}`)).json.parentFolderId).toBe(bin.json.id);
    expect((await graph("GET", `/me/mailFolders/inbox/messages/${String(received.id)}`)).status).toBe(404);
    expect((await graph("DELETE", `/me/messages/${String(received.id)}`)).status).toBe(204);
    const gone = await graph<{ error: { code: string } }>("GET", `/me/messages/${String(received.id)}`);
    expect([gone.status, gone.json.error.code]).toEqual([404, "ErrorItemNotFound"]);
  });

  it("serves another user's mailbox under /users/{id | userPrincipalName}", async () => {
    const someone = userIdFor(4);
    em.mailbox.receive({ subject: "For user 4" }, { user: someone });
    const { json } = await graph<Collection<Message>>("GET", `/users/${someone}/mailFolders('Inbox')/messages`);
    expect(json.value.map((m) => m.subject)).toEqual(["For user 4"]);
    expect((await graph("GET", "/users/00000000-0000-0000-0000-000000000000/messages")).status).toBe(404);
  });
});

describe("sendMail", () => {
  it("files a copy in Sent Items and delivers to the Inbox of recipients in the tenant, notifying their subscribers", async () => {
    const colleague = userIdFor(4);
    const upn = String((await graph<{ userPrincipalName: string }>("GET", `/users/${colleague}`)).json.userPrincipalName);
    const sub = await graph<{ id: string }>("POST", "/subscriptions", {
      changeType: "created",
      notificationUrl: hook.url,
      resource: `users/${colleague}/mailFolders('Inbox')/messages`,
      expirationDateTime: new Date(Date.now() + 3_600_000).toISOString(),
      clientState: "colleague",
    });
    const sent = await graph("POST", "/me/sendMail", {
      message: { subject: "Lunch?", body: { contentType: "text", content: "Noon?" }, toRecipients: [{ emailAddress: { address: upn } }, { emailAddress: { address: "someone@fabrikam.com" } }] },
    });
    expect(sent.status).toBe(202);
    const inbox = await graph<Collection<Message>>("GET", `/users/${colleague}/mailFolders/inbox/messages`);
    expect(inbox.json.value.map((m) => [m.subject, m.from?.emailAddress?.address, m.isRead])).toEqual([["Lunch?", "MeganB@contoso.onmicrosoft.com", false]]);
    const sentItems = await graph<Collection<Message>>("GET", "/me/mailFolders/sentitems/messages?$top=1");
    expect(sentItems.json.value[0].subject).toBe("Lunch?");
    await em.flushNotifications();
    expect(hook.notifications()[0].value.map((n) => [n.subscriptionId, n.changeType, n.resource])).toEqual([
      [sub.json.id, "created", `Users/${colleague}/Messages/${String(inbox.json.value[0].id)}`],
    ]);
  });
});

describe("message delta per folder", () => {
  it("syncs a folder in pages, then reports created, updated and removed messages, then 410 once tokens expire", async () => {
    for (let i = 0; i < 3; i++) em.mailbox.receive({ subject: `Old ${i}` });
    const initial = await deltaRound("/me/mailFolders/inbox/messages/delta?$select=subject,isRead", { Prefer: "odata.maxpagesize=3" });
    expect(initial.items).toHaveLength(7);
    expect(initial.pages).toBe(3);
    expect(initial.items[0]).toEqual({ "@odata.type": "#microsoft.graph.message", "@odata.etag": expect.stringMatching(/^W\/"/), subject: expect.any(String), isRead: expect.any(Boolean), id: expect.any(String) });
    expect(initial.deltaLink).toMatch(new RegExp(`^${em.origin}/v1\\.0/me/mailFolders/inbox/messages/delta\\?\\$deltatoken=`));

    const quiet = await deltaRound(initial.deltaLink);
    expect(quiet.items).toEqual([]);

    const fresh = em.mailbox.receive({ subject: "New one" });
    const read = initial.items[1];
    const removed = initial.items[2];
    await graph("PATCH", `/me/messages/${String(read.id)}`, { isRead: true });
    await graph("DELETE", `/me/messages/${String(removed.id)}`);
    em.mailbox.receive({ subject: "Elsewhere" }, { folder: "archive" });

    const changes = await deltaRound(quiet.deltaLink);
    expect(changes.items).toEqual([
      { "@odata.type": "#microsoft.graph.message", "@odata.etag": expect.any(String), subject: "New one", isRead: false, id: fresh.id },
      { "@odata.type": "#microsoft.graph.message", "@odata.etag": expect.any(String), subject: read.subject, isRead: true, id: read.id },
      { "@odata.type": "#microsoft.graph.message", id: removed.id, "@removed": { reason: "deleted" } },
    ]);

    em.expireDeltaTokens();
    const expired = await graph<{ error: { code: string } }>("GET", changes.deltaLink);
    expect(expired.status).toBe(410);
    expect(expired.headers.get("location")).toBe(`${em.origin}/v1.0/me/mailFolders/inbox/messages/delta`);
    // A token the emulator never issued is a 400, not a resync.
    expect((await graph("GET", "/me/mailFolders/inbox/messages/delta?$deltatoken=latest")).status).toBe(400);
  });
});

describe("message change notifications", () => {
  function subscribe(resource: string, changeType = "created,updated,deleted") {
    return graph<{ id: string }>("POST", "/subscriptions", {
      changeType,
      notificationUrl: hook.url,
      resource,
      expirationDateTime: new Date(Date.now() + 3_600_000).toISOString(),
      clientState: resource,
    });
  }

  it("notifies inbox, mailbox-wide and per-user subscriptions with Outlook's resource paths", async () => {
    const inbox = (await subscribe("me/mailFolders('Inbox')/messages", "created")).json;
    const all = (await subscribe("me/messages")).json;
    const upn = (await subscribe("users/MeganB@contoso.onmicrosoft.com/messages", "updated")).json;
    const other = (await subscribe(`users/${userIdFor(9)}/messages`)).json;
    for (const sub of [inbox, all, upn, other]) expect(typeof sub.id).toBe("string");

    const message = em.mailbox.receive({ subject: "Hello" });
    await graph("PATCH", `/me/messages/${String(message.id)}`, { isRead: true });
    await em.flushNotifications();

    const [posted] = hook.notifications();
    expect(posted.value.map((n) => [n.subscriptionId, n.changeType])).toEqual([
      [inbox.id, "created"],
      [all.id, "created"],
      [all.id, "updated"],
      [upn.id, "updated"],
    ]);
    const path = `Users/${ME_ID}/Messages/${String(message.id)}`;
    expect(posted.value[0]).toEqual({
      id: expect.any(String),
      subscriptionId: inbox.id,
      subscriptionExpirationDateTime: expect.any(String),
      clientState: "me/mailFolders('Inbox')/messages",
      changeType: "created",
      resource: path,
      tenantId: TENANT_ID,
      resourceData: { "@odata.type": "#Microsoft.Graph.Message", "@odata.id": path, "@odata.etag": `W/"${String(message.changeKey)}"`, id: message.id },
    });
  });
});
