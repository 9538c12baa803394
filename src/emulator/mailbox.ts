import { createHash, randomBytes } from "node:crypto";

import type { Event, MailFolder, Message, Recipient } from "@microsoft/microsoft-graph-types";

import { emptyReply, GraphError, jsonReply, type Reply } from "./http";
import type { ResourceChange } from "./notifications";
import { parseQuery } from "./odata";
import { ME_ID, type Entity } from "./tenant";

/**
 * Outlook mail for the emulated tenant: well-known folders, messages (shapes as DC api-reference/v1.0/api/
 * message-get.md and mailfolder-list.md samples, typed with @microsoft/microsoft-graph-types), list/get/create/
 * update/delete, per-folder message delta (DC message-delta.md) and the changes that feed change notifications.
 */

/** Top-level folders every mailbox has, with their well-known names (DC api-reference/v1.0/resources/mailfolder.md). */
const WELL_KNOWN_FOLDERS: [wellKnownName: string, displayName: string][] = [
  ["archive", "Archive"],
  ["conversationhistory", "Conversation History"],
  ["deleteditems", "Deleted Items"],
  ["drafts", "Drafts"],
  ["inbox", "Inbox"],
  ["junkemail", "Junk Email"],
  ["outbox", "Outbox"],
  ["sentitems", "Sent Items"],
];

/** Outlook's default message page (DC concepts/paging.md: "the default page size is 10 for Outlook messages"). */
const DEFAULT_PAGE = 10;
/** Outlook caps $top at 1,000 (DC concepts/paging.md, Outlook). */
const MAX_TOP = 1000;

/** PATCH-able message properties (DC api-reference/v1.0/api/message-update.md, "Request body"). */
const WRITABLE = new Set([
  "bccRecipients", "body", "categories", "ccRecipients", "flag", "from", "importance", "inferenceClassification",
  "internetMessageId", "isDeliveryReceiptRequested", "isRead", "isReadReceiptRequested", "replyTo", "sender",
  "subject", "toRecipients",
]);
/** Only a draft's content may change (message-update.md: "Updatable only if isDraft = true"). */
const DRAFT_ONLY = new Set(["body", "bccRecipients", "ccRecipients", "from", "internetMessageId", "replyTo", "sender", "subject", "toRecipients"]);

interface StoredFolder {
  id: string;
  displayName: string;
  wellKnownName: string;
  parentFolderId: string;
}

interface StoredMessage {
  message: Message;
  folderId: string;
  attachments?: StoredAttachment[];
}

/** A file attachment (DC api-reference/v1.0/resources/fileattachment.md); `size` is the byte count here. */
export interface StoredAttachment {
  id: string;
  name: string;
  contentType: string;
  bytes: Buffer;
  isInline: boolean;
  contentId: string | null;
  lastModifiedDateTime: string;
}

/** What an attachment upload session needs to be created (uploadSessions.ts, via routes.ts). */
export interface AttachmentSessionRequest {
  userId: string;
  parent: "Messages" | "Events";
  /** The message or event id. */
  parentId: string;
  name: string;
  size: number;
  contentType: string;
  isInline: boolean;
  contentId?: string;
}

/** Outlook's limit for POST …/attachments: "If the file size is under 3 MB" (DC concepts/outlook-large-attachments.md). */
export const SIMPLE_ATTACHMENT_LIMIT = 3 * 1024 * 1024;
/** "to attach a file of size between 3MB and 150MB" with an upload session (outlook-large-attachments.md). */
export const MAX_ATTACHMENT_SIZE = 150 * 1024 * 1024;

interface UserMailbox {
  userId: string;
  address: string;
  displayName: string;
  rootId: string;
  folders: StoredFolder[];
  messages: Map<string, StoredMessage>;
  events: Map<string, StoredEvent>;
}

/** A calendar event: only what attachments need (DC api-reference/v1.0/resources/event.md). */
interface StoredEvent {
  event: Event;
  attachments?: StoredAttachment[];
}

/** Reads and writes the stored item's attachments in place. */
function liveHolder(stored: { attachments?: StoredAttachment[] }, touched: (hasAttachments: boolean) => void): AttachmentHolder {
  return {
    get attachments() {
      return stored.attachments;
    },
    set attachments(value) {
      stored.attachments = value;
    },
    touched,
  };
}

/** Something attachments hang on: a message or an event. */
interface AttachmentHolder {
  attachments?: StoredAttachment[];
  /** Records a change of the holder's attachments (hasAttachments, lastModifiedDateTime, changeKey). */
  touched(hasAttachments: boolean): void;
}

/** A write that per-folder delta reports (DC message-delta.md): the message id and the folder it touched. */
interface MailChange {
  userId: string;
  folderId: string;
  messageId: string;
}

/** Server-side state behind a delta token; the token itself is random and opaque. */
interface DeltaCursor {
  userId: string;
  folderId: string;
  select?: string[];
  /** "d": a deltaLink; "p": a page of a round (`ids` still to serve, `upTo` the round's end). */
  kind: "d" | "p";
  /** The change sequence the next round starts after. */
  since: number;
  upTo?: number;
  ids?: string[];
  /** Ids in the initial sync are served whole; later ones may be @removed. */
  initial?: boolean;
}

/** Outlook ids are base64 with a type prefix and padding (e.g. "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAA="). */
function outlookId(prefix: string, seed?: string): string {
  const bytes = seed === undefined ? randomBytes(45) : createHash("sha384").update(seed).digest().subarray(0, 45);
  return `${prefix}${bytes.toString("base64url")}AAA=`;
}

function changeKey(): string {
  return randomBytes(20).toString("base64url");
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function recipient(name: string, address: string): Recipient {
  return { emailAddress: { name, address } };
}

const SEED_SENDERS: [string, string, string, string][] = [
  ["Adele Vance", "AdeleV@contoso.onmicrosoft.com", "Q3 budget review", "Hi Megan, the Q3 budget draft is attached for your review before Friday."],
  ["Alex Wilber", "AlexW@contoso.onmicrosoft.com", "Team offsite agenda", "Here is the agenda for next week's offsite. Let me know what is missing."],
  ["Microsoft Entra ID", "MSSecurity-noreply@microsoft.com", "Your weekly sign-in summary", "You signed in from 2 devices this week."],
  ["Lee Gu", "LeeG@contoso.onmicrosoft.com", "Re: Mark 8 launch", "Launch is still on track. Marketing assets land Tuesday."],
];

export class EmulatedMailbox {
  private boxes = new Map<string, UserMailbox>();
  private changes: MailChange[] = [];
  private cursors = new Map<string, DeltaCursor>();
  /** Tokens issued before the last expireDeltaTokens(): recognised, so they answer 410 rather than 400. */
  private expiredTokens = new Set<string>();

  constructor(
    private readonly now: () => number,
    private readonly publish: (change: ResourceChange) => void,
    /** The mailbox owner (a user of the directory, by id or userPrincipalName), or undefined if there is none. */
    private readonly owner: (user: string) => { id: string; address: string; displayName: string } | undefined,
  ) {}

  /** Mail that arrives from outside (a message someone sent the user); `created` for subscribers. */
  receive(message: Partial<Message>, options: { folder?: string; user?: string } = {}): Message {
    const box = this.box(options.user ?? ME_ID);
    const folder = this.folder(box, options.folder ?? "inbox");
    const at = this.now();
    const from = message.from ?? recipient("Adele Vance", "AdeleV@contoso.onmicrosoft.com");
    return this.insert(box, folder, {
      subject: "",
      body: { contentType: "text", content: "" },
      toRecipients: [recipient(box.displayName, box.address)],
      ...message,
      from,
      sender: message.sender ?? from,
      receivedDateTime: message.receivedDateTime ?? iso(at),
      sentDateTime: message.sentDateTime ?? iso(at),
      isRead: message.isRead ?? false,
      isDraft: false,
    });
  }

  /**
   * POST /me/sendMail (DC user-sendmail.md): a copy in the sender's Sent Items unless `saveToSentItems` is false,
   * and the message in the Inbox of every recipient who is a user of this tenant (others are outside the emulator).
   */
  send(senderId: string, message: Partial<Message>, saveToSentItems: boolean): void {
    const sender = this.box(senderId);
    const from = recipient(sender.displayName, sender.address);
    const at = iso(this.now());
    const fields: Partial<Message> = { ...message, from, sender: from, sentDateTime: at, receivedDateTime: at, isDraft: false };
    if (saveToSentItems) this.insert(sender, this.folder(sender, "sentitems"), { ...fields, isRead: true });
    const addresses = [...(message.toRecipients ?? []), ...(message.ccRecipients ?? []), ...(message.bccRecipients ?? [])]
      .map((r) => r.emailAddress?.address)
      .filter((a): a is string => typeof a === "string");
    for (const address of new Set(addresses.map((a) => a.toLowerCase()))) {
      if (!this.owner(address)) continue;
      const box = this.box(address);
      // Bcc recipients are not shown to anyone but the sender.
      this.insert(box, this.folder(box, "inbox"), { ...fields, bccRecipients: [], isRead: false });
    }
  }

  /** The folder id a reference (id or well-known name, any case) names in a user's mailbox. */
  folderId(userId: string, reference: string): string | undefined {
    return this.owner(userId) ? this.findFolder(this.box(userId), reference)?.id : undefined;
  }

  /** Every delta token issued so far answers 410 (as `expireDeltaTokens()` does for users). */
  expireDeltaTokens(): void {
    for (const token of this.cursors.keys()) this.expiredTokens.add(token);
    this.cursors.clear();
  }

  reset(): void {
    this.boxes.clear();
    this.changes = [];
    this.expireDeltaTokens();
  }

  // ---- routes (registered in routes.ts) ----

  /** Handlers for `/me/…` or `/users/{id}/…` below the user: mailFolders…, messages…; undefined if not mail. */
  routes(ctx: MailRequest, userId: string, rawSegments: string[]): MailHandlers | undefined {
    // mailFolders('Inbox') → mailFolders, Inbox (both addressings are Graph's).
    const segments = rawSegments.flatMap((s) => {
      const m = /^([A-Za-z.]+)\('?([^')]*)'?\)$/.exec(s);
      return m ? [m[1], m[2]] : [s];
    });
    const lower = segments.map((s) => s.toLowerCase());
    if (lower[0] !== "mailfolders" && lower[0] !== "messages" && lower[0] !== "events") return undefined;
    const box = (): UserMailbox => this.box(userId);
    if (lower[0] === "events") {
      if (segments.length === 1) {
        return { GET: () => jsonReply(200, { "@odata.context": this.context(ctx, box(), "events"), value: [...box().events.values()].map((e) => e.event) }, "outlook") };
      }
      if (segments.length === 2) {
        return { GET: () => jsonReply(200, { "@odata.context": this.context(ctx, box(), "events/$entity"), ...this.findEvent(box(), segments[1]).event }, "outlook") };
      }
      if (lower[2] === "attachments") return this.attachmentHandlers(ctx, box, "Events", segments[1], segments.slice(3));
      return undefined;
    }
    if (lower[0] === "messages") {
      if (segments.length === 1) return { GET: () => this.list(ctx, box(), undefined), POST: () => this.create(ctx, box(), "drafts") };
      if (segments.length === 2 && lower[1] === "delta") {
        // Message delta is per folder (DC message-delta.md: GET /me/mailFolders/{id}/messages/delta); the message is the emulator's own.
        return { GET: () => { throw new GraphError(400, "ErrorInvalidRequest", "Change tracking of messages needs a folder: /mailFolders/{id}/messages/delta."); } };
      }
      if (segments.length === 2) return this.messageHandlers(ctx, box, segments[1]);
      if (lower[2] === "attachments") return this.attachmentHandlers(ctx, box, "Messages", segments[1], segments.slice(3));
      return undefined;
    }
    if (segments.length === 1) return { GET: () => this.listFolders(ctx, box()) };
    const folder = (): StoredFolder => this.folder(box(), segments[1]);
    if (segments.length === 2) return { GET: () => jsonReply(200, { "@odata.context": this.context(ctx, box(), "mailFolders/$entity"), ...this.folderJson(box(), folder()) }, "outlook") };
    if (lower[2] !== "messages") return undefined;
    if (segments.length === 3) return { GET: () => this.list(ctx, box(), folder()), POST: () => this.create(ctx, box(), folder().id) };
    if (segments.length === 4 && lower[3] === "delta") return { GET: () => this.delta(ctx, box(), folder()) };
    if (segments.length === 4) return this.messageHandlers(ctx, box, segments[3], folder);
    return undefined;
  }

  /** The attachment stored by a finished upload session; its id. */
  addAttachment(userId: string, parent: "Messages" | "Events", parentId: string, attachment: Omit<StoredAttachment, "id" | "lastModifiedDateTime">): string {
    const holder = this.holder(this.box(userId), parent, parentId);
    const id = outlookId("AAMkAGatt");
    (holder.attachments ??= []).push({ ...attachment, id, lastModifiedDateTime: iso(this.now()) });
    holder.touched(true);
    return id;
  }

  /** The attachments of a message or an event, for tests (`emulator.attachments`). */
  attachmentsOf(userId: string, id: string): StoredAttachment[] {
    const box = this.box(userId);
    const stored = box.messages.get(id) ?? box.events.get(id);
    if (!stored) throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    return [...(stored.attachments ?? [])];
  }

  private findEvent(box: UserMailbox, id: string): StoredEvent {
    const stored = box.events.get(id);
    if (!stored) throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    return stored;
  }

  /** A live view of a message's or event's attachments. */
  private holder(box: UserMailbox, parent: "Messages" | "Events", id: string): AttachmentHolder {
    // Adding or removing an attachment changes the item: hasAttachments, lastModifiedDateTime and its changeKey.
    const touch = <T>(item: T, has: boolean): T => ({ ...item, hasAttachments: has, lastModifiedDateTime: iso(this.now()), changeKey: changeKey() });
    if (parent === "Events") {
      const stored = this.findEvent(box, id);
      return liveHolder(stored, (has) => (stored.event = touch(stored.event, has)));
    }
    const stored = this.findMessage(box, id);
    return liveHolder(stored, (has) => (stored.message = touch(stored.message, has)));
  }

  private findMessage(box: UserMailbox, id: string): StoredMessage {
    const stored = box.messages.get(id);
    // Outlook's 404 for an unknown item id (captured answers [3p]; DC concepts/errors.md lists the status).
    if (!stored) throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    return stored;
  }

  /**
   * `messages/{id}/attachments` (DC message-list-attachments.md, message-post-attachments.md),
   * `…/attachments/createUploadSession` (DC attachment-createuploadsession.md), `…/attachments/{id}` and its `$value`.
   */
  private attachmentHandlers(ctx: MailRequest, box: () => UserMailbox, parent: "Messages" | "Events", parentId: string, rest: string[]): MailHandlers | undefined {
    const holder = (): AttachmentHolder => this.holder(box(), parent, parentId);
    const context = (suffix: string): string => this.context(ctx, box(), `${parent.toLowerCase()}('${parentId}')/attachments${suffix}`);
    if (rest.length === 0) {
      return {
        GET: () => jsonReply(200, { "@odata.context": context(""), value: (holder().attachments ?? []).map((a) => attachmentJson(a)) }, "outlook"),
        POST: () => this.postAttachment(ctx, box(), parent, parentId, context("/$entity")),
      };
    }
    if (rest.length === 1 && rest[0].toLowerCase() === "createuploadsession") {
      return { POST: () => this.createAttachmentSession(ctx, box(), parent, parentId) };
    }
    const find = (): StoredAttachment => {
      const found = (holder().attachments ?? []).find((a) => a.id === rest[0]);
      if (!found) throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
      return found;
    };
    if (rest.length === 1) {
      return {
        GET: () => jsonReply(200, { "@odata.context": context("/$entity"), ...attachmentJson(find()) }, "outlook"),
        DELETE: () => {
          const stored = holder();
          const gone = find().id;
          stored.attachments = (stored.attachments ?? []).filter((a) => a.id !== gone);
          stored.touched(stored.attachments.length > 0);
          return emptyReply(204, "outlook");
        },
      };
    }
    if (rest.length === 2 && rest[1] === "$value") {
      // The raw bytes (DC attachment-get.md, "Get the raw contents of a file attachment"): 200, no redirect.
      return {
        GET: () => {
          const a = find();
          return { status: 200, headers: { "Cache-Control": "private", "Content-Type": a.contentType }, body: a.bytes, chunked: false };
        },
      };
    }
    return undefined;
  }

  /** POST …/attachments with a fileAttachment: 201 (DC message-post-attachments.md), under 3 MB. */
  private postAttachment(ctx: MailRequest, box: UserMailbox, parent: "Messages" | "Events", parentId: string, context: string): Reply {
    this.holder(box, parent, parentId);
    const body = ctx.readJson();
    const type = String(body["@odata.type"] ?? "");
    if (!/^#?microsoft\.graph\.fileAttachment$/i.test(type)) {
      // Item and reference attachments exist in Graph; the emulator models file attachments only (own message).
      throw new GraphError(400, "ErrorInvalidRequest", "The emulator accepts only #microsoft.graph.fileAttachment.");
    }
    if (typeof body.name !== "string" || body.name === "" || typeof body.contentBytes !== "string") {
      throw new GraphError(400, "ErrorInvalidRequest", "A file attachment needs name and contentBytes.");
    }
    const bytes = Buffer.from(body.contentBytes, "base64");
    if (bytes.length >= SIMPLE_ATTACHMENT_LIMIT) {
      // Graph documents the limit, not this answer's body: status and code are the emulator's choice.
      throw new GraphError(413, "ErrorRequestEntityTooLarge", "The attachment is 3 MB or larger: use attachments/createUploadSession.");
    }
    const id = this.addAttachment(box.userId, parent, parentId, {
      name: body.name,
      contentType: typeof body.contentType === "string" ? body.contentType : "application/octet-stream",
      bytes,
      isInline: body.isInline === true,
      contentId: typeof body.contentId === "string" ? body.contentId : null,
    });
    const attachment = (this.holder(box, parent, parentId).attachments ?? []).find((a) => a.id === id) as StoredAttachment;
    return jsonReply(201, { "@odata.context": context, ...attachmentJson(attachment) }, "outlook");
  }

  /**
   * POST …/attachments/createUploadSession with `{"AttachmentItem":{"attachmentType":"file","name","size"}}` →
   * 201 with the uploadSession (DC attachment-createuploadsession.md, outlook-large-attachments.md).
   */
  private createAttachmentSession(ctx: MailRequest, box: UserMailbox, parent: "Messages" | "Events", parentId: string): Reply {
    this.holder(box, parent, parentId);
    const body = ctx.readJson();
    const item = body.AttachmentItem;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new GraphError(400, "ErrorInvalidRequest", "The request body needs an AttachmentItem.");
    }
    const a = item as Entity;
    if (String(a.attachmentType ?? "file").toLowerCase() !== "file") {
      throw new GraphError(400, "ErrorInvalidRequest", "Only attachmentType 'file' can be uploaded in a session.");
    }
    const size = a.size;
    if (typeof a.name !== "string" || a.name === "" || typeof size !== "number" || !Number.isInteger(size) || size < 1) {
      throw new GraphError(400, "ErrorInvalidRequest", "AttachmentItem needs a name and a positive integer size.");
    }
    if (size > MAX_ATTACHMENT_SIZE) {
      // 150 MB is documented; this error's body is the emulator's own.
      throw new GraphError(400, "ErrorAttachmentSizeLimitExceeded", `The attachment is larger than the 150 MB Outlook accepts (${size} bytes).`);
    }
    if (!ctx.createAttachmentSession) throw new GraphError(501, "NotImplemented", "This operation target is not yet supported.");
    const session = ctx.createAttachmentSession({
      userId: box.userId,
      parent,
      parentId,
      name: a.name,
      size,
      contentType: typeof a.contentType === "string" ? a.contentType : "application/octet-stream",
      isInline: a.isInline === true,
      ...(typeof a.contentId === "string" ? { contentId: a.contentId } : {}),
    });
    return jsonReply(
      201,
      {
        "@odata.context": `${ctx.origin}/${ctx.version}/$metadata#microsoft.graph.uploadSession`,
        uploadUrl: session.uploadUrl,
        expirationDateTime: session.expirationDateTime,
        nextExpectedRanges: ["0-"],
      },
      "outlook",
    );
  }

  private messageHandlers(ctx: MailRequest, box: () => UserMailbox, id: string, folder?: () => StoredFolder): MailHandlers {
    const find = (): StoredMessage => {
      const stored = box().messages.get(id);
      if (!stored || (folder && stored.folderId !== folder().id)) {
        // Outlook's 404 for an unknown item id (captured answers [3p]; DC concepts/errors.md lists the status).
        throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
      }
      return stored;
    };
    return {
      GET: () => this.getMessage(ctx, box(), find()),
      PATCH: () => this.update(ctx, box(), find()),
      DELETE: () => this.remove(box(), find()),
    };
  }

  // ---- storage ----

  private box(user: string): UserMailbox {
    const owner = this.owner(user);
    // Outlook's answer for a user without a mailbox (captured answers [3p]).
    if (!owner) throw new GraphError(404, "ErrorInvalidUser", `The requested user '${user}' is invalid.`);
    const key = owner.id.toLowerCase();
    const existing = this.boxes.get(key);
    if (existing) return existing;
    const rootId = outlookId("AAMkAGmsgfolderroot", `${key}:root`);
    const folders = WELL_KNOWN_FOLDERS.map(([wellKnownName, displayName]) => ({
      id: outlookId("AQMkAGfolder", `${key}:${wellKnownName}`),
      displayName,
      wellKnownName,
      parentFolderId: rootId,
    }));
    const box: UserMailbox = { userId: key, address: owner.address, displayName: owner.displayName, rootId, folders, messages: new Map(), events: new Map() };
    this.boxes.set(key, box);
    if (key === ME_ID) this.seed(box);
    return box;
  }

  /** Megan Bowen's mailbox starts with a few messages, a sent one and a draft; no changes are logged for them. */
  private seed(box: UserMailbox): void {
    const start = Date.parse("2023-03-14T08:00:00Z");
    SEED_SENDERS.forEach(([name, address, subject, text], i) => {
      const at = iso(start + i * 37 * 60_000);
      const from = recipient(name, address);
      this.store(box, this.folder(box, "inbox"), { subject, body: { contentType: "text", content: text }, from, sender: from, toRecipients: [recipient(box.displayName, box.address)], receivedDateTime: at, sentDateTime: at, isRead: i > 1, isDraft: false }, at);
    });
    const me = recipient(box.displayName, box.address);
    const sent = iso(start + 200 * 60_000);
    this.store(box, this.folder(box, "sentitems"), { subject: "Re: Q3 budget review", body: { contentType: "text", content: "Thanks Adele, looks good." }, from: me, sender: me, toRecipients: [recipient("Adele Vance", "AdeleV@contoso.onmicrosoft.com")], receivedDateTime: sent, sentDateTime: sent, isRead: true, isDraft: false }, sent);
    this.store(box, this.folder(box, "drafts"), { subject: "Offsite travel", body: { contentType: "text", content: "Draft: flights and hotel" }, toRecipients: [], isRead: true, isDraft: true }, sent);
    // One calendar event to attach files to (shape after DC event-get.md's sample, trimmed).
    const eventId = outlookId("AAMkAGevt", `${box.userId}:offsite`);
    box.events.set(eventId, {
      event: {
        id: eventId,
        createdDateTime: sent,
        lastModifiedDateTime: sent,
        changeKey: changeKey(),
        subject: "Team offsite",
        hasAttachments: false,
        isAllDay: false,
        start: { dateTime: "2023-03-21T09:00:00.0000000", timeZone: "UTC" },
        end: { dateTime: "2023-03-21T17:00:00.0000000", timeZone: "UTC" },
        location: { displayName: "Contoso HQ, Building 4" },
        organizer: { emailAddress: { name: box.displayName, address: box.address } },
      },
    });
  }

  private findFolder(box: UserMailbox, reference: string): StoredFolder | undefined {
    const lower = reference.toLowerCase();
    return box.folders.find((f) => f.id === reference || f.wellKnownName === lower);
  }

  private folder(box: UserMailbox, reference: string): StoredFolder {
    const found = this.findFolder(box, reference);
    // Outlook's answer to an unknown folder id (captured answers [3p]).
    if (!found) throw new GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    return found;
  }

  /** A full message as Graph returns it (DC message-get.md sample, property order kept). */
  private store(box: UserMailbox, folder: StoredFolder, fields: Partial<Message>, at: string): StoredMessage {
    const id = outlookId("AAMkAGmsg");
    const conversationId = outlookId("AAQkAGconv");
    const bodyContent = fields.body?.content ?? "";
    const message: Message = {
      id,
      createdDateTime: at,
      lastModifiedDateTime: at,
      changeKey: changeKey(),
      categories: fields.categories ?? [],
      receivedDateTime: fields.receivedDateTime ?? at,
      sentDateTime: fields.sentDateTime ?? (fields.isDraft ? null : at),
      hasAttachments: false,
      internetMessageId: fields.internetMessageId ?? `<${randomBytes(12).toString("hex")}@contoso.onmicrosoft.com>`,
      subject: fields.subject ?? "",
      bodyPreview: bodyContent.replace(/<[^>]*>/g, "").slice(0, 255),
      importance: fields.importance ?? "normal",
      parentFolderId: folder.id,
      conversationId,
      conversationIndex: randomBytes(22).toString("base64"),
      isDeliveryReceiptRequested: fields.isDeliveryReceiptRequested ?? false,
      isReadReceiptRequested: fields.isReadReceiptRequested ?? false,
      isRead: fields.isRead ?? false,
      isDraft: fields.isDraft ?? false,
      webLink: `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(id)}&exvsurl=1&viewmodel=ReadMessageItem`,
      inferenceClassification: fields.inferenceClassification ?? "focused",
      body: fields.body ?? { contentType: "text", content: "" },
      sender: fields.sender ?? null,
      from: fields.from ?? null,
      toRecipients: fields.toRecipients ?? [],
      ccRecipients: fields.ccRecipients ?? [],
      bccRecipients: fields.bccRecipients ?? [],
      replyTo: fields.replyTo ?? [],
      flag: fields.flag ?? { flagStatus: "notFlagged" },
    };
    const stored = { message, folderId: folder.id };
    box.messages.set(id, stored);
    return stored;
  }

  private insert(box: UserMailbox, folder: StoredFolder, fields: Partial<Message>): Message {
    const stored = this.store(box, folder, fields, iso(this.now()));
    this.changed(box, stored, folder, "created");
    return stored.message;
  }

  private changed(box: UserMailbox, stored: StoredMessage, folder: StoredFolder, changeType: "created" | "updated" | "deleted"): void {
    const messageId = String(stored.message.id);
    this.changes.push({ userId: box.userId, folderId: folder.id, messageId });
    this.publish({
      kind: "message",
      changeType,
      userId: box.userId,
      messageId,
      folderId: folder.id,
      folderWellKnownName: folder.wellKnownName,
      changeKey: changeType === "deleted" ? undefined : (stored.message.changeKey ?? undefined),
      resource: changeType === "deleted" ? undefined : { "@odata.type": "#Microsoft.Graph.Message", ...this.json(stored.message) },
    });
  }

  // ---- handlers ----

  private context(ctx: MailRequest, box: UserMailbox, suffix: string): string {
    return `${ctx.origin}/${ctx.version}/$metadata#users('${box.userId}')/${suffix}`;
  }

  private folderJson(box: UserMailbox, folder: StoredFolder): MailFolder {
    const messages = [...box.messages.values()].filter((m) => m.folderId === folder.id);
    return {
      id: folder.id,
      displayName: folder.displayName,
      parentFolderId: folder.parentFolderId,
      childFolderCount: 0,
      unreadItemCount: messages.filter((m) => !m.message.isRead).length,
      totalItemCount: messages.length,
      isHidden: false,
    };
  }

  private listFolders(ctx: MailRequest, box: UserMailbox): Reply {
    const value = box.folders.map((f) => this.folderJson(box, f));
    return jsonReply(200, { "@odata.context": this.context(ctx, box, "mailFolders"), value }, "outlook");
  }

  /** `@odata.etag` first, as in the message-get.md sample. */
  private json(message: Message, select?: string[]): Entity {
    const etag = { "@odata.etag": `W/"${String(message.changeKey)}"` };
    if (!select) return { ...etag, ...message };
    const out: Entity = { ...etag };
    for (const p of select) if (p in message) out[p] = (message as Entity)[p];
    out.id = message.id;
    return out;
  }

  private select(ctx: MailRequest): string[] | undefined {
    const raw = parseQuery(ctx.rawQuery, ctx.version).get("$select");
    return raw === undefined ? undefined : raw.split(",").map((s) => s.trim()).filter(Boolean);
  }

  /** Newest first, `$top` (default 10) and `$skip` in the nextLink, as Outlook pages (DC concepts/paging.md). */
  private list(ctx: MailRequest, box: UserMailbox, folder: StoredFolder | undefined): Reply {
    const options = parseQuery(ctx.rawQuery, ctx.version);
    const top = options.has("$top") ? Number(options.get("$top")) : DEFAULT_PAGE;
    const skip = options.has("$skip") ? Number(options.get("$skip")) : 0;
    if (!Number.isInteger(top) || top < 1 || top > MAX_TOP || !Number.isInteger(skip) || skip < 0) {
      throw new GraphError(400, "ErrorInvalidUrlQuery", "The value of the $top or $skip query option is not valid.");
    }
    const select = this.select(ctx);
    const all = [...box.messages.values()]
      .filter((m) => !folder || m.folderId === folder.id)
      // Newest first; among equal times the later arrival first (the sort is stable).
      .reverse()
      .sort((a, b) => String(b.message.receivedDateTime).localeCompare(String(a.message.receivedDateTime)));
    const page = all.slice(skip, skip + top);
    const path = folder ? `mailFolders('${folder.id}')/messages` : "messages";
    const payload: Entity = { "@odata.context": this.context(ctx, box, path + (select ? `(${select.join(",")})` : "")), value: page.map((m) => this.json(m.message, select)) };
    if (skip + top < all.length) {
      const params = new URLSearchParams(ctx.rawQuery);
      params.set("$skip", String(skip + top));
      payload["@odata.nextLink"] = `${ctx.origin}/${ctx.version}${ctx.path}?${params.toString().replace(/%24/g, "$")}`;
    }
    return jsonReply(200, payload, "outlook");
  }

  private getMessage(ctx: MailRequest, box: UserMailbox, stored: StoredMessage): Reply {
    return jsonReply(200, { "@odata.context": this.context(ctx, box, "messages/$entity"), ...this.json(stored.message, this.select(ctx)) }, "outlook");
  }

  /** POST …/messages: a draft, 201 (DC message-post-messages.md / user-post-messages.md). */
  private create(ctx: MailRequest, box: UserMailbox, folderRef: string): Reply {
    const body = ctx.readJson();
    this.checkWritable(body, true);
    const folder = this.folder(box, folderRef);
    const message = this.insert(box, folder, { ...(body as Partial<Message>), isDraft: true, isRead: true, receivedDateTime: iso(this.now()) });
    return jsonReply(201, { "@odata.context": this.context(ctx, box, "messages/$entity"), ...this.json(message) }, "outlook");
  }

  private checkWritable(body: Entity, draft: boolean): void {
    for (const key of Object.keys(body)) {
      if (key.startsWith("@")) continue;
      if (!WRITABLE.has(key) || (!draft && DRAFT_ONLY.has(key))) {
        // Graph documents which properties update, not this error's text: the message is the emulator's own.
        throw new GraphError(400, "ErrorInvalidPropertyRequest", `The property '${key}' cannot be set${draft ? "" : " on a message that is not a draft"}.`);
      }
    }
  }

  /** PATCH: 200 with the updated message (DC message-update.md). */
  private update(ctx: MailRequest, box: UserMailbox, stored: StoredMessage): Reply {
    const body = ctx.readJson();
    this.checkWritable(body, stored.message.isDraft === true);
    const at = iso(this.now());
    stored.message = { ...stored.message, ...(body as Partial<Message>), lastModifiedDateTime: at, changeKey: changeKey() };
    if (body.body !== undefined) stored.message.bodyPreview = String(stored.message.body?.content ?? "").replace(/<[^>]*>/g, "").slice(0, 255);
    this.changed(box, stored, this.folderById(box, stored.folderId), "updated");
    return jsonReply(200, { "@odata.context": this.context(ctx, box, "messages/$entity"), ...this.json(stored.message) }, "outlook");
  }

  /**
   * DELETE: 204. Graph moves the message to Deleted Items (permanentDelete is the hard delete, DC
   * message-permanentdelete.md); from Deleted Items it is gone. Subscribers of the old folder hear `deleted`,
   * those of Deleted Items `created`.
   */
  private remove(box: UserMailbox, stored: StoredMessage): Reply {
    const from = this.folderById(box, stored.folderId);
    const bin = this.folder(box, "deleteditems");
    const id = String(stored.message.id);
    this.changed(box, stored, from, "deleted");
    if (from.id === bin.id) {
      box.messages.delete(id);
    } else {
      stored.folderId = bin.id;
      stored.message = { ...stored.message, parentFolderId: bin.id, lastModifiedDateTime: iso(this.now()), changeKey: changeKey() };
      this.changed(box, stored, bin, "created");
    }
    return emptyReply(204, "outlook");
  }

  private folderById(box: UserMailbox, id: string): StoredFolder {
    return this.folder(box, id);
  }

  // ---- delta ----

  private issue(cursor: DeltaCursor): string {
    const token = randomBytes(24).toString("base64url");
    this.cursors.set(token, cursor);
    return token;
  }

  /**
   * GET …/mailFolders/{id}/messages/delta (DC message-delta.md): the folder's messages paged by nextLink
   * (`$skiptoken`), then a deltaLink (`$deltatoken`) that later returns what changed in the folder: messages
   * created or updated in full (or their `$select`), messages that left it as `@removed` with reason "deleted".
   * Page size: `Prefer: odata.maxpagesize` (message-delta.md, "Request headers"), default 10.
   * `$deltatoken=latest` is documented for directory objects only (reference §3.4), so here it is an unknown token.
   */
  private delta(ctx: MailRequest, box: UserMailbox, folder: StoredFolder): Reply {
    const options = parseQuery(ctx.rawQuery, ctx.version);
    const base = `${ctx.origin}/${ctx.version}${ctx.path}`;
    const skip = options.get("$skiptoken");
    const deltaToken = options.get("$deltatoken");
    const pageSize = pageSizeOf(ctx.prefer) ?? DEFAULT_PAGE;
    let cursor: DeltaCursor;
    const given = skip ?? (deltaToken === "" ? undefined : deltaToken);
    if (given === undefined) {
      const select = this.select(ctx);
      const ids = [...box.messages.values()].filter((m) => m.folderId === folder.id).map((m) => String(m.message.id));
      cursor = { userId: box.userId, folderId: folder.id, select, kind: "p", since: this.changes.length, upTo: this.changes.length, ids, initial: true };
    } else {
      const found = this.cursors.get(given);
      if (found === undefined && this.expiredTokens.has(given)) throw this.resync(base);
      // The emulator's own answer to a token it never issued; Outlook documents none.
      if (!found || found.userId !== box.userId || found.folderId !== folder.id || (skip !== undefined) === (found.kind === "d")) {
        throw new GraphError(400, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.");
      }
      cursor = found.kind === "d" ? this.round(found) : found;
    }
    const served = (cursor.ids ?? []).slice(0, pageSize);
    const rest = (cursor.ids ?? []).slice(pageSize);
    const value = served.map((id) => {
      const stored = box.messages.get(id);
      if (stored && stored.folderId === folder.id) return { "@odata.type": "#microsoft.graph.message", ...this.json(stored.message, cursor.select) };
      // Outlook reports a message that left the folder as removed, reason "deleted" (DC message-delta.md sample).
      return { "@odata.type": "#microsoft.graph.message", id, "@removed": { reason: "deleted" } };
    });
    const payload: Entity = { "@odata.context": `${ctx.origin}/${ctx.version}/$metadata#Collection(message)`, value };
    if (rest.length > 0) {
      payload["@odata.nextLink"] = `${base}?$skiptoken=${this.issue({ ...cursor, kind: "p", ids: rest })}`;
    } else {
      payload["@odata.deltaLink"] = `${base}?$deltatoken=${this.issue({ userId: cursor.userId, folderId: cursor.folderId, select: cursor.select, kind: "d", since: cursor.upTo ?? cursor.since })}`;
    }
    return jsonReply(200, payload, "outlook");
  }

  /** 410 + Location to restart the folder's sync (DC concepts/delta-query-overview.md, "Synchronization reset"). */
  private resync(base: string): GraphError {
    return new GraphError(410, "SyncStateNotFound", "The sync state is no longer valid; restart the synchronization from the Location.", { Location: base });
  }

  /** A deltaLink's round: every message touched in the folder since, once each, in order of first touch. */
  private round(cursor: DeltaCursor): DeltaCursor {
    const upTo = this.changes.length;
    const ids = new Set<string>();
    for (const change of this.changes.slice(cursor.since, upTo)) {
      if (change.userId === cursor.userId && change.folderId === cursor.folderId) ids.add(change.messageId);
    }
    return { ...cursor, kind: "p", since: cursor.since, upTo, ids: [...ids], initial: false };
  }
}

function pageSizeOf(prefer: string | undefined): number | undefined {
  const m = /odata\.maxpagesize\s*=\s*(\d+)/i.exec(prefer ?? "");
  return m ? Math.max(1, Number(m[1])) : undefined;
}

/** What the mail handlers need of the request. */
export interface MailRequest {
  origin: string;
  version: string;
  /** The request path after the version, e.g. "/me/mailFolders/inbox/messages/delta". */
  path: string;
  rawQuery: string;
  prefer?: string;
  readJson(): Entity;
  /** Starts an attachment upload session on the upload host (uploadSessions.ts). */
  createAttachmentSession?(request: AttachmentSessionRequest): { uploadUrl: string; expirationDateTime: string };
}

/** A fileAttachment as Graph returns it (DC attachment-get.md sample, property order kept). */
function attachmentJson(a: StoredAttachment): Entity {
  return {
    "@odata.type": "#microsoft.graph.fileAttachment",
    "@odata.mediaContentType": a.contentType,
    id: a.id,
    lastModifiedDateTime: a.lastModifiedDateTime,
    name: a.name,
    contentType: a.contentType,
    size: a.bytes.length,
    isInline: a.isInline,
    contentId: a.contentId,
    contentLocation: null,
    contentBytes: a.bytes.toString("base64"),
  };
}

export type MailHandlers = Partial<Record<"GET" | "POST" | "PATCH" | "DELETE", () => Reply>>;
