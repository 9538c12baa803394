import { constants as bufferConstants } from "node:buffer";
import { createHmac, randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

import { safeEqual } from "./constantTime";
import { errorReply, innerErrorDate, type Reply, type RequestIds } from "./http";
import type { AttachmentSessionRequest } from "./mailbox";
import { TENANT_ID } from "./tenant";

/**
 * Resumable upload sessions as Graph serves them (reference §6; DC api-reference/v1.0/api/
 * driveitem-createuploadsession.md for drive items, DC concepts/outlook-large-attachments.md for Outlook):
 * the session lives on the emulator's upload host, another origin than Graph, and its URL is the credential.
 * Graph's side (creating a session, storing the finished file or attachment) is in routes.ts; this module
 * owns the byte ranges, the fragment rules, expiry and the answers of the upload host.
 */

/** "Each byte range MUST be a multiple of 320 KiB (327,680 bytes)" when a file is split (driveitem-createuploadsession.md). */
export const FRAGMENT_UNIT = 327_680;
/** "each request must be less than 60 MiB" (driveitem-createuploadsession.md). */
export const MAX_DRIVE_FRAGMENT = 60 * 1024 * 1024;
/**
 * Outlook: "as long as the maximum bytes in any given request is less than 4 MB" (outlook-large-attachments.md).
 * The page does not say whether MB is 10^6 or 2^20 bytes; the emulator takes 4 MiB.
 */
export const MAX_OUTLOOK_FRAGMENT = 4 * 1024 * 1024;
/**
 * Graph documents no lifetime for an upload session, only that "each fragment uploaded during the session
 * extends the expiration time" (DC resources/uploadsession.md). The emulator's default: 15 minutes after the
 * creation or the last accepted fragment (EmulatorOptions.uploadSessionLifetimeMs changes it).
 */
export const DEFAULT_SESSION_LIFETIME_MS = 15 * 60_000;

export type ConflictBehavior = "fail" | "replace" | "rename";

/** Where a finished drive-item upload goes. */
export interface DriveTarget {
  kind: "drive";
  /** Path below the drive root, "/Reports/q3.xlsx". */
  path: string;
  conflictBehavior: ConflictBehavior;
  /** The item being replaced, when the session was created on an existing item's id. */
  itemId?: string;
  /** `item.fileSize` from the create body: every Content-Range must carry this total. */
  fileSize?: number;
  deferCommit: boolean;
}

/** Where a finished attachment goes. */
/** An Outlook attachment session: what mailbox.ts asked for when it was created. */
export type AttachmentTarget = { kind: "attachment" } & AttachmentSessionRequest;

export type SessionTarget = DriveTarget | AttachmentTarget;

interface Session {
  id: string;
  target: SessionTarget;
  /** Allocated on the first fragment (or at create when the size is known): one copy of the file, never per chunk. */
  bytes?: Buffer;
  /** The Content-Range total fixed by the create body or the first fragment. */
  total?: number;
  /** Bytes 0..received-1 are in; fragments must come in order, so the hole is always one range. */
  received: number;
  expiresAt: number;
  /** deferCommit: all bytes in, waiting for the commit POST. */
  complete: boolean;
}

/** What the Graph side does with a finished upload; it answers the final PUT (or the commit POST). */
export interface UploadCompletion {
  drive(target: DriveTarget, bytes: Buffer, ids: RequestIds): Reply;
  attachment(target: AttachmentTarget, bytes: Buffer): { location: string };
  /** Bytes the drive can still take (its quota's `remaining`). */
  driveSpace(): number;
}

/** A session's upload host state, for tests (`emulator.uploadSessions()`). */
export interface UploadSessionInfo {
  uploadUrl: string;
  kind: SessionTarget["kind"];
  received: number;
  total?: number;
  expirationDateTime: string;
}

function bare(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: Buffer.alloc(0), chunked: false };
}

/** A JSON answer of the upload host: plain application/json, not Graph's OData media type. */
function json(status: number, payload: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { "Content-Type": "application/json", ...headers }, body: Buffer.from(JSON.stringify(payload), "utf8"), chunked: false };
}

/** Graph's date-times carry seven fractional digits ("2019-09-25T01:09:30.7671707Z", outlook-large-attachments.md). */
function dateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

export class UploadSessions {
  private sessions = new Map<string, Session>();
  private readonly secret = randomBytes(32);
  origin = "";

  constructor(
    private readonly now: () => number,
    private readonly lifetimeMs: number,
    private readonly complete: UploadCompletion,
  ) {}

  reset(): void {
    this.sessions.clear();
  }

  /** Every open session expires now: its next request answers 404 as after the lifetime. */
  expireAll(): void {
    for (const session of this.sessions.values()) session.expiresAt = this.now();
  }

  list(): UploadSessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      uploadUrl: this.uploadUrl(s),
      kind: s.target.kind,
      received: s.received,
      ...(s.total === undefined ? {} : { total: s.total }),
      expirationDateTime: dateTime(s.expiresAt),
    }));
  }

  /** Creates a session; the caller (routes.ts) has checked the target and shapes Graph's answer. */
  create(target: SessionTarget): { uploadUrl: string; expirationDateTime: string } {
    const id = randomBytes(33).toString("base64url");
    const session: Session = { id, target, received: 0, expiresAt: this.now() + this.lifetimeMs, complete: false };
    if (target.kind === "attachment") session.total = target.size;
    else if (target.fileSize !== undefined) session.total = target.fileSize;
    this.sessions.set(id, session);
    return { uploadUrl: this.uploadUrl(session), expirationDateTime: dateTime(session.expiresAt) };
  }

  private authtoken(id: string): string {
    return createHmac("sha256", this.secret).update(`attachment-session:${id}`).digest("base64url");
  }

  /**
   * Drive: `https://sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337` (uploadsession.md sample) → `/up/{id}`.
   * Outlook: `https://outlook.office.com/api/v2.0/Users('…')/Messages('…')/AttachmentSessions('…')?authtoken=…`
   * (outlook-large-attachments.md sample).
   */
  private uploadUrl(session: Session): string {
    if (session.target.kind === "drive") return `${this.origin}/up/${session.id}`;
    const t = session.target;
    const user = encodeURIComponent(`${t.userId}@${TENANT_ID}`);
    return `${this.origin}/api/v2.0/Users('${user}')/${t.parent}('${encodeURIComponent(t.parentId)}')/AttachmentSessions('${session.id}')?authtoken=${this.authtoken(session.id)}`;
  }

  /** Everything the upload host answers. `method` is upper-case, `url` the path and query as received. */
  route(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer, ids: RequestIds): Reply {
    if (headers.authorization !== undefined) {
      // "Don't include an Authorization header ... may result in a HTTP 401" (driveitem-createuploadsession.md);
      // the body of that 401 is not documented, so the upload host sends the download host's bare challenge.
      return bare(401, { "WWW-Authenticate": `Bearer realm="${TENANT_ID}",client_id="00000003-0000-0ff1-ce00-000000000000"` });
    }
    const parsed = new URL(url, "http://upload.invalid");
    const drive = /^\/up\/([A-Za-z0-9_-]+)$/.exec(parsed.pathname);
    const outlook = /^\/api\/v2\.0\/Users\('[^']*'\)\/(?:Messages|Events)\('[^']*'\)\/AttachmentSessions\('([A-Za-z0-9_-]+)'\)$/.exec(parsed.pathname);
    let session: Session | undefined;
    if (drive) {
      session = this.sessions.get(drive[1]);
      if (session?.target.kind !== "drive") session = undefined;
    } else if (outlook) {
      session = this.sessions.get(outlook[1]);
      const token = parsed.searchParams.get("authtoken") ?? "";
      if (session?.target.kind !== "attachment" || !safeEqual(token, this.authtoken(session.id))) session = undefined;
    }
    const kind: SessionTarget["kind"] = outlook ? "attachment" : "drive";
    if (session && session.expiresAt <= this.now()) {
      // "expired upload sessions are cleaned up later" (driveitem-createuploadsession.md): the emulator forgets at once.
      this.sessions.delete(session.id);
      session = undefined;
    }
    if (!session) return this.notFound(kind, ids);

    switch (method) {
      case "PUT":
        return this.put(session, headers, body, ids);
      case "GET":
        return this.status(session, 200);
      case "DELETE":
        // "DELETE {uploadUrl}" → 204 No Content (driveitem-createuploadsession.md, "Cancel the upload session").
        this.sessions.delete(session.id);
        return bare(204);
      case "POST":
        return this.commit(session, body, ids);
      default:
        return bare(405, { Allow: "GET, PUT, POST, DELETE" });
    }
  }

  /**
   * An unknown, cancelled or expired session. The drive doc says to start over when "the upload session was
   * not found" (404); its body is not documented: the code is OneDrive's `itemNotFound` with the innerError
   * code `uploadSessionNotFound` from DC concepts/errors.md, the message is the emulator's own. Outlook documents
   * nothing here either: ErrorItemNotFound, as Outlook answers unknown items.
   */
  private notFound(kind: SessionTarget["kind"], ids: RequestIds): Reply {
    if (kind === "attachment") {
      return json(404, { error: { code: "ErrorItemNotFound", message: "The specified object was not found in the store." } });
    }
    return this.driveError(ids, 404, "itemNotFound", "The upload session was not found or has expired.", "uploadSessionNotFound");
  }

  private driveError(ids: RequestIds, status: number, code: string, message: string, innerCode: string): Reply {
    return errorReply(ids, status, code, message, "drive", {
      innerError: { code: innerCode, date: innerErrorDate(), "request-id": ids.requestId, "client-request-id": ids.clientRequestId },
    });
  }

  private invalid(session: Session, ids: RequestIds, message: string, innerCode = "invalidRequest", status = 400): Reply {
    if (session.target.kind === "attachment") {
      // Outlook documents no error body for a bad fragment; ErrorInvalidRequest is its generic code.
      return json(status, { error: { code: "ErrorInvalidRequest", message } });
    }
    return this.driveError(ids, status, status === 416 ? "invalidRange" : "invalidRequest", message, innerCode);
  }

  /** The ranges still missing: one open range, since fragments arrive in order. */
  private missing(session: Session): string[] {
    if (session.complete) return [];
    return session.target.kind === "attachment" ? [String(session.received)] : [`${session.received}-`];
  }

  /**
   * Drive: `{"expirationDateTime","nextExpectedRanges":["26-"]}` (202 for a fragment, 200 for GET, as the doc's
   * samples). Outlook: PascalCase `ExpirationDateTime` and `NextExpectedRanges` with a single "{start}" value
   * and an `@odata.context` on outlook.office.com's v2.0 metadata (outlook-large-attachments.md sample, 200).
   */
  private status(session: Session, status: number): Reply {
    if (session.target.kind === "attachment") {
      const t = session.target;
      const context = `https://outlook.office.com/api/v2.0/$metadata#Users('${encodeURIComponent(`${t.userId}@${TENANT_ID}`)}')/${t.parent}('${encodeURIComponent(t.parentId)}')/AttachmentSessions/$entity`;
      return json(200, { "@odata.context": context, ExpirationDateTime: dateTime(session.expiresAt), NextExpectedRanges: this.missing(session) });
    }
    return json(status, { expirationDateTime: dateTime(session.expiresAt), nextExpectedRanges: this.missing(session) });
  }

  private put(session: Session, headers: IncomingHttpHeaders, body: Buffer, ids: RequestIds): Reply {
    const outlook = session.target.kind === "attachment";
    const rangeHeader = header(headers, "content-range") ?? "";
    const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(rangeHeader);
    // The fragment rules below are the drive doc's; their error bodies are not documented (messages are the emulator's own).
    if (!m) return this.invalid(session, ids, `Content-Range must be "bytes {start}-{end}/{total}", got "${rangeHeader}".`);
    const start = Number(m[1]);
    const end = Number(m[2]);
    const total = Number(m[3]);
    const length = end - start + 1;
    if (end < start || end >= total) return this.invalid(session, ids, `Content-Range "${rangeHeader}" is not a valid range of the file.`);
    if (body.length !== length) {
      return this.invalid(session, ids, `The fragment is ${body.length} bytes but Content-Range announces ${length}.`, "fragmentLengthMismatch");
    }
    const limit = outlook ? MAX_OUTLOOK_FRAGMENT : MAX_DRIVE_FRAGMENT;
    if (length >= limit) {
      return this.invalid(session, ids, `A fragment must be smaller than ${limit} bytes; this one is ${length}.`, "invalidRequest", 413);
    }
    if (session.total !== undefined && total !== session.total) {
      // "The total file length in the Content-Range header must be the same on every request" (drive doc).
      return this.invalid(session, ids, `Content-Range total ${total} differs from the session's ${session.total}.`, "fragmentLengthMismatch");
    }
    if (session.total === undefined && total > Math.min(this.complete.driveSpace(), bufferConstants.MAX_LENGTH)) {
      // Over the quota: Graph's 507 (drive doc, for a create with fileSize). The emulator also holds every file
      // in memory, so a total one Buffer cannot hold gets the same answer instead of a crash.
      return this.driveError(ids, 507, "quotaLimitReached", "Insufficient Space Available", "quotaLimitReached");
    }
    if (session.complete || start < session.received) {
      // Bytes already received: 416 (drive doc); the body is DC concepts/errors.md's sample for this case.
      if (outlook) return json(416, { error: { code: "ErrorInvalidRange", message: "Uploaded fragment overlaps with existing data." } });
      return errorReply(ids, 416, "invalidRange", "Uploaded fragment overlaps with existing data.", "drive", {
        innerError: { code: "invalidRange", date: innerErrorDate(), "request-id": ids.requestId, "client-request-id": ids.clientRequestId },
      });
    }
    if (start > session.received) {
      return this.invalid(session, ids, `Fragments must be uploaded in order: expected bytes from ${session.received}, got ${start}.`, "fragmentOutOfOrder", outlook ? 400 : 416);
    }
    const last = end === total - 1;
    if (!outlook && !last && length % FRAGMENT_UNIT !== 0) {
      return this.invalid(session, ids, `Every fragment but the last must be a multiple of 320 KiB (327,680 bytes); this one is ${length} bytes.`);
    }
    session.total = total;
    session.bytes ??= Buffer.allocUnsafe(total);
    body.copy(session.bytes, start);
    session.received = end + 1;
    session.expiresAt = this.now() + this.lifetimeMs;
    if (!last) {
      // Drive: 202 Accepted; Outlook: 200 OK with PascalCase members (outlook-large-attachments.md).
      return this.status(session, outlook ? 200 : 202);
    }
    if (session.target.kind === "drive" && session.target.deferCommit) {
      // deferCommit: the file appears only on an explicit commit (driveitem-createuploadsession.md, "Completing a file").
      session.complete = true;
      return this.status(session, 202);
    }
    return this.finish(session, ids);
  }

  /** deferCommit's commit: POST {uploadUrl} with Content-Length: 0 → 201 with the driveItem (drive doc). */
  private commit(session: Session, body: Buffer, ids: RequestIds): Reply {
    if (session.target.kind !== "drive" || !session.target.deferCommit) return bare(405, { Allow: "GET, PUT, DELETE" });
    if (body.length !== 0) return this.invalid(session, ids, "The commit request must have an empty body (Content-Length: 0).");
    if (!session.complete) return this.invalid(session, ids, "The upload is not complete: send the missing ranges first.", "uploadSessionIncomplete");
    return this.finish(session, ids);
  }

  private finish(session: Session, ids: RequestIds): Reply {
    const bytes = session.bytes ?? Buffer.alloc(0);
    if (session.target.kind === "drive") {
      const reply = this.complete.drive(session.target, bytes, ids);
      // A 409 name conflict keeps the session: the doc's recovery PUTs the item with `sourceUrl` = uploadUrl.
      if (reply.status < 400) this.sessions.delete(session.id);
      return reply;
    }
    const { location } = this.complete.attachment(session.target, bytes);
    this.sessions.delete(session.id);
    // "The final PUT returns 201 Created with an empty body" and the attachment's Location (outlook-large-attachments.md).
    return bare(201, { Location: location });
  }
}
