import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What a handler answers; the server adds the per-request headers (request-id, ...) when writing it. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Stream as Transfer-Encoding: chunked (Graph's JSON responses) instead of sending Content-Length. */
  chunked: boolean;
}

/** Per-request identity shared by every reply. */
export interface RequestIds {
  requestId: string;
  clientRequestId: string;
}

/**
 * Which Graph workload answers: it decides Cache-Control and x-ms-resource-unit. Captured responses:
 * directory `Cache-Control: no-cache` + `x-ms-resource-unit`; Outlook sendMail `Cache-Control: private`;
 * gateway-generated errors follow msgraph-sdk-javascript ChaosHandler (`Cache-Control: no-store`).
 */
export type Workload = "gateway" | "directory" | "outlook" | "drive" | "teams";

export const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

const CACHE_CONTROL: Record<Workload, string | undefined> = {
  gateway: "no-store",
  directory: "no-cache",
  outlook: "private",
  drive: undefined,
  teams: undefined,
};

/** A Graph error to be turned into the error envelope by the dispatcher. */
export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Workload-specific innerError members placed before date / request-id / client-request-id. */
    readonly inner?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function workloadHeaders(workload: Workload, resourceUnits?: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const cache = CACHE_CONTROL[workload];
  if (cache) headers["Cache-Control"] = cache;
  if (workload === "directory" && resourceUnits !== undefined) headers["x-ms-resource-unit"] = String(resourceUnits);
  return headers;
}

/** An OData JSON payload: Graph streams these (chunked) and marks them OData-Version 4.0. */
export function jsonReply(
  status: number,
  payload: unknown,
  workload: Workload,
  options: { headers?: Record<string, string>; resourceUnits?: number } = {},
): Reply {
  return {
    status,
    headers: {
      ...workloadHeaders(workload, options.resourceUnits),
      "Content-Type": ODATA_JSON,
      "OData-Version": "4.0",
      ...options.headers,
    },
    body: Buffer.from(JSON.stringify(payload), "utf8"),
    chunked: true,
  };
}

export function emptyReply(
  status: number,
  workload: Workload,
  options: { headers?: Record<string, string>; resourceUnits?: number } = {},
): Reply {
  return {
    status,
    headers: { ...workloadHeaders(workload, options.resourceUnits), ...options.headers },
    body: Buffer.alloc(0),
    chunked: false,
  };
}

export function textReply(status: number, text: string, workload: Workload, resourceUnits?: number): Reply {
  return {
    status,
    headers: { ...workloadHeaders(workload, resourceUnits), "Content-Type": "text/plain;charset=utf-8" },
    body: Buffer.from(text, "utf8"),
    chunked: false,
  };
}

/** innerError.date: UTC, no fraction, no offset (DC concepts/errors.md samples). */
export function innerErrorDate(now = new Date()): string {
  return now.toISOString().slice(0, 19);
}

/**
 * The Graph error envelope `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
 * (DC concepts/aad-advanced-queries.md samples). Error bodies carry `Content-Type: application/json`
 * (DC concepts/throttling.md sample) and no OData-Version.
 */
export function errorReply(
  ids: RequestIds,
  status: number,
  code: string,
  message: string,
  workload: Workload,
  options: { headers?: Record<string, string>; innerError?: Record<string, unknown>; resourceUnits?: number } = {},
): Reply {
  const innerError = options.innerError ?? {
    date: innerErrorDate(),
    "request-id": ids.requestId,
    "client-request-id": ids.clientRequestId,
  };
  return {
    status,
    headers: {
      ...workloadHeaders(workload, options.resourceUnits),
      "Content-Type": "application/json",
      ...options.headers,
    },
    body: Buffer.from(JSON.stringify({ error: { code, message, innerError } }), "utf8"),
    chunked: workload !== "gateway",
  };
}

/** Listens on loopback; resolves with the port (the ephemeral one when `port` is 0). */
export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Closes a server and every connection it holds, idle keep-alive sockets included. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Whether `Accept-Encoding` lets the answer be gzip-coded (RFC 9110 §12.5.3): `gzip` (or `x-gzip`) with q > 0, or
 * `*` with q > 0 when gzip is not named. Graph compresses its JSON for clients that ask (graph-protocol.md).
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  let star: boolean | undefined;
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q\s*=\s*([\d.]+)\s*$/.exec(p)).find((m) => m !== null);
    const allowed = q ? Number(q[1]) > 0 : true;
    if (name.trim() === "gzip" || name.trim() === "x-gzip") return allowed;
    if (name.trim() === "*") star = allowed;
  }
  return star === true;
}

/** The entity-tags of an If-Match / If-None-Match list; a OneDrive tag holds a comma, so the list is not split on commas. */
export function entityTags(list: string): string[] {
  return (list.match(/\*|(?:W\/)?"[^"]*"/g) ?? []).map((tag) => tag.replace(/^W\//, ""));
}
