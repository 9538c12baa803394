/**
 * Download File's protocol: the item's size and name first (so a file over the cap fails before a byte of it is
 * read), then `/content` on Graph with the token, whose 302 the client follows to the pre-authenticated URL without
 * it (graph-protocol.md §6.3). The bytes come in ranged windows; a dropped window is asked for again with `Range`
 * from the first byte not yet received, so a dropped connection costs at most one window.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import type { ByteRange } from "../inputs";
import { clock } from "./clock";
import { GraphFileTransferError, GraphNetworkError, GraphRequestError, InputError } from "./errors";
import type { GraphResponse } from "./index";
import { FileTransferClient, formatSize, MAX_RESUMES_WITHOUT_PROGRESS } from "./uploadSession";

export interface DownloadPlan {
  /** A drive item path or id path, or a mail attachment path, without /content or /$value. */
  item: string;
  range?: ByteRange;
  maxBytes: number;
  logger: ActionLogger;
}

export interface DownloadedFile {
  data: Buffer;
  contentType: string;
  fileName: string;
  /** The whole file's size, whatever part was downloaded. */
  fileSize: number;
  /** First and last byte downloaded (inclusive). */
  start: number;
  end: number;
}

/** Bytes asked for per request to the download host: what a dropped connection can cost at most. */
export const DOWNLOAD_WINDOW = 16 * 1024 * 1024;
/** Test seam, like attemptBounds: tests shrink the window to cross several with a small file; production never does. */
export const downloadBounds = { windowBytes: DOWNLOAD_WINDOW };
const RESUME_BASE_DELAY_MS = 1_000;
const ATTACHMENT = /\/attachments\/[^/]+$/i;

export async function downloadFile(client: FileTransferClient, plan: DownloadPlan): Promise<DownloadedFile> {
  const attachment = ATTACHMENT.test(plan.item);
  const meta = await client.request({
    method: "GET",
    url: plan.item,
    urlLabel: "Item",
    query: [["$select", attachment ? "name,size,contentType" : "name,size,file,folder"]],
  });
  const info = (meta.data ?? {}) as { name?: unknown; size?: unknown; contentType?: unknown; file?: { mimeType?: unknown }; folder?: unknown };
  if (info.folder) throw new InputError("Item", `'${plan.item}' is a folder, not a file`);
  const fileName = typeof info.name === "string" ? info.name : (plan.item.split("/").pop() ?? "download");
  const fileSize = typeof info.size === "number" ? info.size : undefined;
  if (fileSize === undefined) {
    throw new GraphFileTransferError(`Download File: Graph did not give the size of '${plan.item}', so it cannot be checked against Max File Size`, 0, undefined);
  }
  const contentType =
    (typeof info.file?.mimeType === "string" && info.file.mimeType) || (typeof info.contentType === "string" && info.contentType) || "application/octet-stream";
  const { start, end } = wantedBytes(plan.range, fileSize);
  const length = fileSize === 0 ? 0 : end - start + 1;
  if (length > plan.maxBytes) {
    throw new GraphFileTransferError(
      `Download File: '${fileName}' is ${formatSize(fileSize)}${plan.range ? ` and the range asked for is ${formatSize(length)}` : ""}, more than Max File Size (${formatSize(plan.maxBytes)}); nothing was downloaded. Raise Max File Size (at most 1024 MB), or download it in parts with Byte Range.`,
      0,
      fileSize,
    );
  }
  const base = { contentType, fileName, fileSize, start, end: length === 0 ? start - 1 : end };
  if (length === 0) return { ...base, data: Buffer.alloc(0) };

  if (attachment) {
    // Outlook serves $value from Graph itself (no download host, no ranges): at most 150 MB by Outlook's own limit.
    const whole = await client.request({ method: "GET", url: `${plan.item}/$value`, urlLabel: "Item", responseType: "arraybuffer" });
    const bytes = whole.data as Buffer;
    return { ...base, data: length === bytes.length ? bytes : bytes.subarray(start, end + 1) };
  }
  return { ...base, data: await readInWindows(client, plan, start, end, fileSize) };
}

/** Reads bytes start..end into one buffer of that size, window by window, resuming from the first byte missing. */
async function readInWindows(client: FileTransferClient, plan: DownloadPlan, start: number, end: number, fileSize: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(end - start + 1);
  let received = 0;
  let downloadUrl: string | undefined;
  let failuresInARow = 0;
  while (received < out.length) {
    const from = start + received;
    const to = Math.min(from + downloadBounds.windowBytes - 1, end);
    const range = `bytes=${from}-${to}`;
    let answer: GraphResponse;
    try {
      answer = downloadUrl
        ? await client.requestPreauthenticated({ method: "GET", url: downloadUrl, headers: { Range: range }, responseType: "arraybuffer" })
        : await client.request({ method: "GET", url: `${plan.item}/content`, urlLabel: "Item", headers: [["Range", range]], responseType: "arraybuffer" });
    } catch (error) {
      const status = error instanceof GraphRequestError ? error.status : undefined;
      if (downloadUrl && status !== undefined && [401, 403, 404, 410].includes(status)) {
        // The pre-authenticated URL is valid "a short period of time (a few minutes)" (DC driveitem-get-content.md):
        // Graph hands out a fresh one.
        plan.logger.warn(`Download File: the download URL was refused (${status}); asking Graph for a fresh one`);
        downloadUrl = undefined;
        continue;
      }
      const resumable = error instanceof GraphNetworkError || (status !== undefined && (status === 408 || status === 429 || status >= 500));
      if (!resumable || ++failuresInARow > MAX_RESUMES_WITHOUT_PROGRESS) {
        throw new GraphFileTransferError(
          `Download File: stopped with ${received.toLocaleString("en-US")} of ${out.length.toLocaleString("en-US")} bytes received: ${describe(error)}`,
          received,
          out.length,
          error,
        );
      }
      const delayMs = RESUME_BASE_DELAY_MS * 2 ** (failuresInARow - 1);
      plan.logger.warn(`Download File: ${range}: ${describe(error)}; resuming from byte ${from} in ${delayMs} ms (attempt ${failuresInARow} of ${MAX_RESUMES_WITHOUT_PROGRESS})`);
      await clock.sleep(delayMs);
      continue;
    }
    const body = answer.data as Buffer;
    // After the 302 the answer came from the download host: later windows go there directly, without the token.
    if (!downloadUrl && new URL(answer.url).origin !== client.endpoint.origin) downloadUrl = answer.url;
    if (answer.status === 200) {
      // The host ignored Range and sent the whole file (allowed, §6.3): keep the part wanted.
      if (body.length !== fileSize) throw lengthMismatch(body.length, fileSize, received, out.length);
      body.copy(out, received, from, end + 1);
      received = out.length;
      break;
    }
    const served = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(answer.headers["content-range"] ?? "");
    if (answer.status !== 206 || !served || Number(served[1]) !== from || body.length !== Number(served[2]) - from + 1) {
      throw lengthMismatch(body.length, to - from + 1, received, out.length);
    }
    body.copy(out, received);
    received += body.length;
    failuresInARow = 0;
  }
  return out;
}

function lengthMismatch(got: number, expected: number, received: number, total: number): GraphFileTransferError {
  return new GraphFileTransferError(
    `Download File: the download host sent ${got.toLocaleString("en-US")} bytes where ${expected.toLocaleString("en-US")} were expected; stopped with ${received.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} bytes received`,
    received,
    total,
  );
}

/** The first and last byte to download, from Byte Range and the file's size. */
function wantedBytes(range: ByteRange | undefined, size: number): { start: number; end: number } {
  if (!range) return { start: 0, end: size - 1 };
  if ("suffix" in range) return { start: Math.max(0, size - range.suffix), end: size - 1 };
  if (range.start >= size) {
    throw new InputError("Byte Range", `starts at byte ${range.start}, but the file has ${size.toLocaleString("en-US")} bytes (the last is ${size - 1})`);
  }
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

function describe(error: unknown): string {
  if (error instanceof GraphRequestError) return `${error.status}${error.code ? ` ${error.code}` : ""}${error.graphMessage ? `: ${error.graphMessage}` : ""}`;
  if (error instanceof GraphNetworkError) return error.reason;
  return error instanceof Error ? error.message : String(error);
}
