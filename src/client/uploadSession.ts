/**
 * Upload File's protocol: one simple request for a small file, otherwise an upload session whose chunks go to a
 * pre-authenticated URL on another host (graph-protocol.md §6). The session is resumed, never restarted, after a
 * failure: Graph says which bytes it still expects.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import type { ConflictBehavior, UploadDestination, UploadFileContent } from "../inputs";
import { clock } from "./clock";
import { GraphFileTransferError, GraphNetworkError, GraphRequestError } from "./errors";
import type { GraphRequest, GraphResponse, PreauthenticatedRequest } from "./index";
import { quickXorHash } from "./quickXorHash";

/** What the upload needs of the client: Graph requests with the token, pre-authenticated ones without. */
export interface FileTransferClient {
  readonly endpoint: { origin: string };
  request(req: GraphRequest): Promise<GraphResponse>;
  requestPreauthenticated(req: PreauthenticatedRequest): Promise<GraphResponse>;
}

export interface UploadPlan {
  destination: UploadDestination;
  content: UploadFileContent;
  conflictBehavior: ConflictBehavior;
  /** Bytes per PUT: a multiple of 320 KiB under 60 MiB (checked by the Chunk Size input). */
  chunkSize: number;
  logger: ActionLogger;
}

export type UploadResult =
  | { kind: "drive"; item: Record<string, unknown>; uploadedBy: "simple" | "session" }
  | { kind: "attachment"; attachment: Record<string, unknown>; uploadedBy: "simple" | "session" };

/** Outlook takes a file under 3 MB in one POST; from 3 MB to 150 MB only a session (DC outlook-large-attachments.md). */
export const OUTLOOK_SIMPLE_LIMIT = 3_000_000;
export const OUTLOOK_SESSION_LIMIT = 150 * 1024 * 1024;
/** Outlook asks for PUTs under 4 MB (same page): 12 × 320 KiB is the largest valid fragment below it. */
export const OUTLOOK_MAX_CHUNK = 12 * 320 * 1024;
/** Failed chunks in a row (without Graph accepting a new byte) before the session is given up and cancelled. */
export const MAX_RESUMES_WITHOUT_PROGRESS = 5;
/** Sessions started for one file: the first, and new ones after Graph forgot or expired the previous. */
export const MAX_SESSIONS = 3;
const RESUME_BASE_DELAY_MS = 1_000;

export async function uploadFile(client: FileTransferClient, plan: UploadPlan): Promise<UploadResult> {
  const { destination, content } = plan;
  const size = content.bytes.length;
  if (destination.kind === "attachment") {
    if (size > OUTLOOK_SESSION_LIMIT) {
      throw new GraphFileTransferError(
        `Upload File: ${formatSize(size)} is larger than the 150 MB Outlook allows for an attachment; upload it to OneDrive and share a link instead`,
        0,
        size,
      );
    }
    if (size < OUTLOOK_SIMPLE_LIMIT) return attachInOneRequest(client, plan);
    return uploadInSession(client, plan, Math.min(plan.chunkSize, OUTLOOK_MAX_CHUNK));
  }
  if (size <= plan.chunkSize) return putInOneRequest(client, plan);
  return uploadInSession(client, plan, plan.chunkSize);
}

async function putInOneRequest(client: FileTransferClient, plan: UploadPlan): Promise<UploadResult> {
  const { destination, content, conflictBehavior } = plan;
  if (destination.kind !== "drive") throw new Error("unreachable: a simple PUT is for drive items");
  const response = await client.request({
    method: "PUT",
    url: `${destination.itemPath}/content`,
    urlLabel: "Destination",
    query: [["@microsoft.graph.conflictBehavior", conflictBehavior]],
    body: { bytes: content.bytes, contentType: content.contentType ?? "application/octet-stream" },
  });
  const item = asObject(response.data);
  checkHash(item, content.bytes);
  return { kind: "drive", item, uploadedBy: "simple" };
}

async function attachInOneRequest(client: FileTransferClient, plan: UploadPlan): Promise<UploadResult> {
  const { destination, content } = plan;
  if (destination.kind !== "attachment") throw new Error("unreachable: an attachment POST is for messages and events");
  const body = {
    "@odata.type": "#microsoft.graph.fileAttachment",
    name: destination.name,
    contentType: content.contentType ?? "application/octet-stream",
    contentBytes: content.bytes.toString("base64"),
  };
  const response = await client.request({
    method: "POST",
    url: `${destination.parentPath}/attachments`,
    urlLabel: "Destination",
    body: { bytes: Buffer.from(JSON.stringify(body), "utf8"), contentType: "application/json" },
  });
  const attachment = asObject(response.data);
  delete attachment.contentBytes;
  return { kind: "attachment", attachment, uploadedBy: "simple" };
}

interface Session {
  uploadUrl: string;
  /** The first byte Graph expects. */
  offset: number;
  /** The last byte of the range Graph expects next, when it named one. */
  rangeEnd?: number;
}

async function uploadInSession(client: FileTransferClient, plan: UploadPlan, chunkSize: number): Promise<UploadResult> {
  const { content, logger } = plan;
  const bytes = content.bytes;
  const total = bytes.length;
  const outlook = plan.destination.kind === "attachment";
  let sessionsStarted = 1;
  let session = await createSession(client, plan);
  let offset = session.offset;
  let failuresInARow = 0;
  const chunks = Math.ceil(total / chunkSize);
  logger.info(`Upload File: ${formatSize(total)} in ${chunks} chunk${chunks === 1 ? "" : "s"} of up to ${formatSize(chunkSize)} through an upload session`);

  for (;;) {
    const end = Math.min(offset + chunkSize, total, session.rangeEnd !== undefined ? session.rangeEnd + 1 : total);
    let answer: GraphResponse;
    try {
      answer = await client.requestPreauthenticated({
        method: "PUT",
        url: session.uploadUrl,
        // Graph: chunks MUST NOT be compressed; Content-Range's total is the same on every request (§6.1).
        headers: { "Content-Range": `bytes ${offset}-${end - 1}/${total}` },
        // A view into the file, not a copy: memory stays the file plus what the socket buffers.
        body: { bytes: bytes.subarray(offset, end), contentType: "application/octet-stream" },
        idempotent: true,
      });
    } catch (error) {
      const status = error instanceof GraphRequestError ? error.status : undefined;
      if (status === 404 && sessionsStarted < MAX_SESSIONS) {
        // Graph answers 404 to an expired or unknown upload URL; the bytes it held are gone, so a new session starts.
        logger.warn(`Upload File: Graph no longer knows the upload session (404; expired or cleaned up); starting a new one from byte 0`);
        sessionsStarted++;
        session = await createSession(client, plan);
        offset = session.offset;
        failuresInARow = 0;
        continue;
      }
      if (!isResumable(error) || ++failuresInARow > MAX_RESUMES_WITHOUT_PROGRESS) {
        throw await cancelAfterFailure(client, session, offset, total, error, failuresInARow);
      }
      const why = status ? `answered ${status}` : "the connection failed";
      if (status !== 416) {
        const delayMs = RESUME_BASE_DELAY_MS * 2 ** (failuresInARow - 1);
        logger.warn(`Upload File: bytes ${offset}-${end - 1}: ${why}; asking the session where to resume in ${delayMs} ms (attempt ${failuresInARow} of ${MAX_RESUMES_WITHOUT_PROGRESS})`);
        await clock.sleep(delayMs);
      } else {
        logger.warn(`Upload File: bytes ${offset}-${end - 1}: Graph already has some of them (416); asking the session where to resume`);
      }
      const resumed = await readSessionStatus(client, session, offset, total, error);
      if (resumed === "gone") {
        if (sessionsStarted >= MAX_SESSIONS) throw await cancelAfterFailure(client, session, offset, total, error, failuresInARow);
        sessionsStarted++;
        session = await createSession(client, plan);
        offset = session.offset;
        failuresInARow = 0;
        continue;
      }
      if (resumed.offset > offset) failuresInARow = 0;
      session = resumed;
      offset = resumed.offset;
      continue;
    }

    const body = asObject(answer.data);
    const finished = outlook ? answer.status === 201 : (answer.status === 200 || answer.status === 201) && typeof body.id === "string";
    if (finished) {
      if (outlook) {
        const location = answer.headers.location;
        return {
          kind: "attachment",
          attachment: { name: plan.destination.name, size: total, location, id: attachmentIdFrom(location) },
          uploadedBy: "session",
        };
      }
      checkHash(body, bytes);
      return { kind: "drive", item: body, uploadedBy: "session" };
    }
    const next = nextExpected(body);
    if (next === undefined && end >= total) {
      throw await cancelAfterFailure(
        client,
        session,
        end,
        total,
        new Error(`Graph answered ${answer.status} to the last chunk without the finished item`),
        0,
      );
    }
    const nextOffset = next?.offset ?? end;
    if (nextOffset > offset) failuresInARow = 0;
    session = { uploadUrl: session.uploadUrl, offset: nextOffset, rangeEnd: next?.rangeEnd };
    offset = nextOffset;
  }
}

async function createSession(client: FileTransferClient, plan: UploadPlan): Promise<Session> {
  const { destination, content } = plan;
  const size = content.bytes.length;
  const request: GraphRequest =
    destination.kind === "drive"
      ? {
          method: "POST",
          url: `${destination.itemPath}/createUploadSession`,
          urlLabel: "Destination",
          body: jsonBody({ item: { "@microsoft.graph.conflictBehavior": plan.conflictBehavior, name: destination.name, fileSize: size } }),
        }
      : {
          method: "POST",
          url: `${destination.parentPath}/attachments/createUploadSession`,
          urlLabel: "Destination",
          body: jsonBody({
            AttachmentItem: { attachmentType: "file", name: destination.name, size, contentType: content.contentType ?? "application/octet-stream" },
          }),
        };
  const response = await client.request(request);
  const body = asObject(response.data);
  const uploadUrl = body.uploadUrl ?? body.UploadUrl;
  if (typeof uploadUrl !== "string" || !uploadUrl) {
    throw new GraphFileTransferError(`Upload File: Graph created an upload session (status ${response.status}) but gave no uploadUrl`, 0, size);
  }
  const next = nextExpected(body);
  return { uploadUrl, offset: next?.offset ?? 0, rangeEnd: next?.rangeEnd };
}

/** GET on the upload URL: where Graph wants the upload to continue, or "gone" when it no longer knows the session. */
async function readSessionStatus(
  client: FileTransferClient,
  session: Session,
  offset: number,
  total: number,
  cause: unknown,
): Promise<Session | "gone"> {
  let status: GraphResponse;
  try {
    status = await client.requestPreauthenticated({ method: "GET", url: session.uploadUrl });
  } catch (error) {
    if (error instanceof GraphRequestError && error.status === 404) return "gone";
    throw await cancelAfterFailure(client, session, offset, total, error, 0, cause);
  }
  const next = nextExpected(asObject(status.data));
  // A session that expects nothing more has every byte: the last PUT is sent again to get the item.
  if (!next) return { uploadUrl: session.uploadUrl, offset: Math.max(0, total - ((total % 327_680) || 327_680)) };
  return { uploadUrl: session.uploadUrl, offset: next.offset, rangeEnd: next.rangeEnd };
}

/** Cancels the session (DELETE, 204) and says how many bytes Graph had accepted when the upload stopped. */
async function cancelAfterFailure(
  client: FileTransferClient,
  session: Session,
  accepted: number,
  total: number,
  error: unknown,
  failuresInARow: number,
  firstCause?: unknown,
): Promise<GraphFileTransferError> {
  let cancelled = true;
  try {
    await client.requestPreauthenticated({ method: "DELETE", url: session.uploadUrl });
  } catch {
    // Graph cleans up abandoned sessions itself when they expire (DC driveitem-createuploadsession.md).
    cancelled = false;
  }
  const said = describeFailure(error);
  const earlier = firstCause && firstCause !== error ? ` (after: ${describeFailure(firstCause)})` : "";
  const tries = failuresInARow > MAX_RESUMES_WITHOUT_PROGRESS ? ` after ${MAX_RESUMES_WITHOUT_PROGRESS} resumes without progress` : "";
  return new GraphFileTransferError(
    `Upload File: the upload stopped${tries} with ${accepted.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} bytes accepted by Graph: ${said}${earlier}. ` +
      (cancelled ? "The upload session was cancelled; nothing was saved." : "Cancelling the upload session failed too; Graph discards it when it expires."),
    accepted,
    total,
    error,
  );
}

function describeFailure(error: unknown): string {
  if (error instanceof GraphRequestError) {
    return `${error.status}${error.code ? ` ${error.code}` : ""}${error.graphMessage ? `: ${error.graphMessage}` : ""}`;
  }
  if (error instanceof GraphNetworkError) return error.reason;
  return error instanceof Error ? error.message : String(error);
}

/** Resets, timeouts, 5xx, throttling (after the sender's own retries) and 416 re-sync through the session's status. */
function isResumable(error: unknown): boolean {
  if (error instanceof GraphNetworkError) return true;
  if (!(error instanceof GraphRequestError)) return false;
  return error.status === 416 || error.status === 408 || error.status === 429 || error.status >= 500;
}

/**
 * The first range Graph still expects: `nextExpectedRanges` (drive) or `NextExpectedRanges` (Outlook), each
 * "start-end", "start-" or, from Outlook, a bare "start" (graph-protocol.md §6.1, §6.2).
 */
export function nextExpected(body: Record<string, unknown>): { offset: number; rangeEnd?: number } | undefined {
  const ranges = body.nextExpectedRanges ?? body.NextExpectedRanges;
  if (!Array.isArray(ranges) || ranges.length === 0) return undefined;
  let first: { offset: number; rangeEnd?: number } | undefined;
  for (const range of ranges) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d*))?\s*$/.exec(String(range));
    if (!m) continue;
    const offset = Number(m[1]);
    if (!first || offset < first.offset) first = { offset, rangeEnd: m[2] ? Number(m[2]) : undefined };
  }
  return first;
}

/** Compares OneDrive's quickXorHash of the stored file with the local bytes' (personal OneDrive may not send one). */
function checkHash(item: Record<string, unknown>, bytes: Buffer): void {
  const file = item.file as { hashes?: { quickXorHash?: unknown } } | undefined;
  const remote = file?.hashes?.quickXorHash;
  if (typeof remote !== "string") return;
  const local = quickXorHash(bytes);
  if (remote !== local) {
    throw new GraphFileTransferError(
      `Upload File: the stored file does not match the one sent: OneDrive's quickXorHash is ${remote}, the local file's is ${local}. ` +
        `The item '${String(item.name ?? "")}' (id ${String(item.id ?? "unknown")}) is corrupt; upload it again or delete it.`,
      bytes.length,
      bytes.length,
    );
  }
}

function attachmentIdFrom(location: string | undefined): string | undefined {
  const m = location ? /Attachments\('([^']+)'\)/i.exec(location) : null;
  return m ? decodeURIComponent(m[1]) : undefined;
}

function jsonBody(value: unknown): { bytes: Buffer; contentType: string } {
  return { bytes: Buffer.from(JSON.stringify(value), "utf8"), contentType: "application/json" };
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Buffer.isBuffer(value) ? { ...(value as Record<string, unknown>) } : {};
}

export function formatSize(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB` : `${bytes.toLocaleString("en-US")} bytes`;
}
