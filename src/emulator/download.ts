import type { IncomingHttpHeaders } from "node:http";

import { entityTags, type Reply } from "./http";
import { itemETag, TENANT_ID, type Drive } from "./tenant";

export interface DownloadState {
  drive: Drive;
  tempauthValid(itemId: string, tempauth: string): boolean;
}

function bare(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: Buffer.alloc(0), chunked: false };
}

/**
 * The pre-authenticated download host (SharePoint's download.aspx in real tenants). The URL itself is the
 * credential; an Authorization header "may result in a HTTP 401" (DC driveitem-createuploadsession.md), and
 * clients must drop it on a cross-origin redirect (msgraph-sdk-design middleware/RedirectHandler.md).
 */
export function routeDownload(method: string, url: string, headers: IncomingHttpHeaders, state: DownloadState): Reply {
  if (method !== "GET" && method !== "HEAD") return bare(405, { Allow: "GET, HEAD" });
  if (headers.authorization !== undefined) {
    // SharePoint's bearer challenge: realm is the tenant id, client_id the SharePoint resource app id.
    return bare(401, {
      "WWW-Authenticate": `Bearer realm="${TENANT_ID}",client_id="00000003-0000-0ff1-ce00-000000000000",trusted_issuers="00000001-0000-0000-c000-000000000000@*",authorization_uri="https://login.windows.net/common/oauth2/authorize"`,
    });
  }
  const parsed = new URL(url, "http://download.invalid");
  const m = /^\/download\/([A-Za-z0-9]+)$/.exec(parsed.pathname);
  const tempauth = parsed.searchParams.get("tempauth");
  const file = m ? state.drive.get(m[1]) : undefined;
  if (!m || !file || !tempauth || !state.tempauthValid(file.id, tempauth)) return bare(404);

  const common = {
    "Content-Type": file.mimeType,
    "Accept-Ranges": "bytes",
    ETag: itemETag(file),
    "Last-Modified": new Date(file.lastModifiedDateTime).toUTCString(),
  };
  // The downloadUrl answers 304 to an If-None-Match naming the file's current eTag (graph-protocol.md §6.3).
  const ifNoneMatch = headers["if-none-match"];
  if (typeof ifNoneMatch === "string" && entityTags(ifNoneMatch).some((tag) => tag === "*" || tag === common.ETag)) {
    return bare(304, { ETag: common.ETag, "Last-Modified": common["Last-Modified"] });
  }
  const range = typeof headers.range === "string" ? parseRange(headers.range, file.bytes.length) : undefined;
  if (range === "unsatisfiable") return bare(416, { "Content-Range": `bytes */${file.bytes.length}` });
  if (range) {
    return {
      status: 206,
      headers: { ...common, "Content-Range": `bytes ${range.start}-${range.end}/${file.bytes.length}` },
      body: file.bytes.subarray(range.start, range.end + 1),
      chunked: false,
    };
  }
  return { status: 200, headers: common, body: file.bytes, chunked: false };
}

/** A single `bytes=` range (RFC 9110 §14.1.2); multi-range and malformed headers are ignored (full 200). */
function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
