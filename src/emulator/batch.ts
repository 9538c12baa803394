import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

import { errorReply, GraphError, type Reply, type RequestIds } from "./http";
import { mulberry32 } from "./random";
import { unreadableJson } from "./routes";
import type { BatchItemLogEntry } from "./types";

/** "JSON batch requests are currently limited to 20 individual requests" (DC concepts/json-batching.md). */
export const MAX_BATCH_REQUESTS = 20;

/** One parsed sub-request of POST /$batch. */
export interface BatchItem {
  /** As sent; compared case-insensitively ("Not case-sensitive", DC concepts/json-batching.md). */
  id: string;
  method: string;
  /** As sent, relative to the version root. */
  url: string;
  /** With a leading slash, without the query: what routing and fault rules see. */
  path: string;
  rawQuery: string;
  /** Lower-cased names, as Node presents a real request's headers. */
  headers: IncomingHttpHeaders;
  body: Buffer;
  dependsOn: string[];
}

/** What running one item produced. */
export interface ItemOutcome {
  reply: Reply;
  /** A `slow` fault on the item: the item takes this much longer (see batchServiceTimeMs). */
  delayMs: number;
}

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH"]);

/**
 * Graph's whole-batch 400 for a structurally malformed payload. The docs only say "If the batch request itself
 * is malformed, the status code is 400" (DC concepts/json-batching.md); the message is the emulator's own.
 */
function malformed(detail?: string): GraphError {
  return new GraphError(400, "BadRequest", detail ?? "Invalid batch payload format.");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Validates the batch envelope; anything wrong with it fails the whole batch with 400, before any item runs. */
export function parseBatch(headers: IncomingHttpHeaders, body: Buffer): BatchItem[] {
  const type = typeof headers["content-type"] === "string" ? headers["content-type"] : "";
  if (!/^application\/json(\s*;|\s*$)/i.test(type)) throw unreadableJson();
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw unreadableJson();
  }
  if (!isObject(parsed) || !Array.isArray(parsed.requests)) throw malformed();
  if (parsed.requests.length === 0) throw malformed("The batch request must contain at least one request.");
  if (parsed.requests.length > MAX_BATCH_REQUESTS) {
    // Server text undocumented (reference §4: assert the 400 and code only); this wording is ours.
    throw malformed(`The batch request contains ${parsed.requests.length} requests; the maximum is ${MAX_BATCH_REQUESTS}.`);
  }
  const seen = new Set<string>();
  const items = parsed.requests.map((raw: unknown): BatchItem => {
    if (!isObject(raw)) throw malformed();
    const { id, method, url } = raw;
    if (typeof id !== "string" || id === "" || typeof method !== "string" || method === "" || typeof url !== "string" || url === "") {
      throw malformed();
    }
    // Whole-batch 400, ids compared case-insensitively (microsoft-graph-docs issue #4449, msgraph-sdk-java issue #559).
    if (seen.has(id.toLowerCase())) throw malformed(`Request Id ${id} has to be unique in a batch.`);
    seen.add(id.toLowerCase());
    if (raw.headers !== undefined && (!isObject(raw.headers) || Object.values(raw.headers).some((v) => typeof v !== "string"))) {
      throw malformed();
    }
    const itemHeaders: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries((raw.headers as Record<string, string> | undefined) ?? {})) itemHeaders[name.toLowerCase()] = value;
    const upper = method.toUpperCase();
    const hasBody = raw.body !== undefined && raw.body !== null;
    if ((hasBody && !itemHeaders["content-type"]) || (WRITE_METHODS.has(upper) && !hasBody)) {
      // Whole-batch 400 with Graph's text (quoted in a Team.cs comment of a Graph SDK found by code search;
      // Softeria/ms-365-mcp-server PR #683: "a batch-level validation failure ... none of the sub-requests run").
      throw malformed(`Write request id : ${id} does not contain Content-Type header or body.`);
    }
    if (raw.dependsOn !== undefined && (!Array.isArray(raw.dependsOn) || raw.dependsOn.some((d) => typeof d !== "string"))) throw malformed();
    const relative = url.startsWith("/") ? url : `/${url}`;
    const q = relative.indexOf("?");
    return {
      id,
      method: upper,
      url,
      path: q < 0 ? relative : relative.slice(0, q),
      rawQuery: q < 0 ? "" : relative.slice(q + 1),
      headers: itemHeaders,
      body: hasBody ? encodeBody(raw.body, itemHeaders["content-type"] as string) : Buffer.alloc(0),
      dependsOn: (raw.dependsOn as string[] | undefined) ?? [],
    };
  });
  executionOrder(items);
  return items;
}

/** "Might be a JSON object or a base64 URL-encoded value, for example, when the body is an image" (DC concepts/json-batching.md). */
function encodeBody(body: unknown, contentType: string): Buffer {
  if (typeof body === "string" && !/json/i.test(contentType)) return Buffer.from(body, "base64");
  return Buffer.from(JSON.stringify(body), "utf8");
}

/**
 * Items ordered so every dependency runs first, otherwise in request order. A dependsOn naming no item of
 * the batch, or a cycle, is a malformed batch (undocumented server text; the JS SDK refuses these client-side).
 */
function executionOrder(items: BatchItem[]): BatchItem[] {
  const byId = new Map(items.map((item) => [item.id.toLowerCase(), item]));
  for (const item of items) {
    for (const dep of item.dependsOn) {
      if (!byId.has(dep.toLowerCase()) || dep.toLowerCase() === item.id.toLowerCase()) {
        throw malformed(`Request Id ${item.id} depends on Id ${dep}, which is not another request of this batch.`);
      }
    }
  }
  const done = new Set<string>();
  const order: BatchItem[] = [];
  while (order.length < items.length) {
    const next = items.find((item) => !done.has(item.id.toLowerCase()) && item.dependsOn.every((d) => done.has(d.toLowerCase())));
    if (!next) throw malformed("The dependsOn references of the batch form a cycle.");
    done.add(next.id.toLowerCase());
    order.push(next);
  }
  return order;
}

/** An item's body in the batch response: JSON as an object, anything else base64, nothing for an empty body. */
function itemBody(reply: Reply, method: string): unknown {
  if (reply.body.length === 0 || method === "HEAD") return undefined;
  const type = reply.headers["Content-Type"] ?? "";
  if (/^application\/json/i.test(type)) return JSON.parse(reply.body.toString("utf8")) as unknown;
  // Non-JSON bodies (files, text/plain counts) travel base64-encoded (reference §4; DP GraphMockResponsePlugin).
  return reply.body.toString("base64");
}

/** Unseeded runs take the batch's request-id as the shuffle's seed: stable per batch, different between batches. */
function seedOfRequestId(requestId: string): number {
  return createHash("sha256").update(requestId).digest().readUInt32BE(0);
}

/** "Individual responses might appear in a different order than the requests" (DC concepts/json-batching.md): never request order. */
function shuffled<T>(values: T[], seed: number): T[] {
  const out = [...values];
  const random = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  if (out.length > 1 && out.every((v, i) => v === values[i])) out.push(out.shift() as T);
  return out;
}

/**
 * How many items of one batch the service runs at once. Graph documents no general figure; Microsoft's answer
 * on Q&A 1660054 (2024-05-28) says "Microsoft Graph dispatches up to four individual requests from a batch to
 * the Outlook service simultaneously". The emulator applies that figure to every workload.
 */
export const BATCH_ITEM_PARALLELISM = 4;

/**
 * The emulator's time model of a batch, on top of the envelope's own round trip (one `latencyMs`, as any
 * request): each item that runs costs what a single request of its own would (`latencyMs`, plus a `slow`
 * fault's delay), items run at most BATCH_ITEM_PARALLELISM at a time in execution order, and an item starts
 * only after the items it depends on have finished. Items answered 424 without running cost nothing.
 * Returns when the last item finishes, counted from the start of the first.
 */
export function batchServiceTimeMs(
  order: ReadonlyArray<{ id: string; dependsOn: readonly string[]; costMs: number }>,
  parallelism = BATCH_ITEM_PARALLELISM,
): number {
  const finishedAt = new Map<string, number>();
  const slots: number[] = Array.from({ length: Math.max(1, parallelism) }, () => 0);
  let end = 0;
  for (const item of order) {
    const ready = Math.max(0, ...item.dependsOn.map((d) => finishedAt.get(d.toLowerCase()) ?? 0));
    if (item.costMs <= 0) {
      finishedAt.set(item.id.toLowerCase(), ready);
      continue;
    }
    const slot = slots.indexOf(Math.min(...slots));
    const finish = Math.max(ready, slots[slot]) + item.costMs;
    slots[slot] = finish;
    finishedAt.set(item.id.toLowerCase(), finish);
    end = Math.max(end, finish);
  }
  return end;
}

/**
 * Runs the items (dependencies first) through `execute` and builds `{"responses":[…]}`. An item whose
 * dependency answered non-2xx is not run and answers 424 (DC concepts/json-batching.md, "dependsOn").
 * An item may answer later (POST /subscriptions waits for its validation handshake): the next item starts once
 * it has, so faults, throttling and seeded draws meet the items in execution order whatever each one waits for.
 * `delayMs` is the items' service time (batchServiceTimeMs), each running item costing `itemLatencyMs`.
 * `orderSeed` shuffles the answers (the run's SeededChoices); default one taken from the batch's request-id.
 */
export async function runBatch(
  items: BatchItem[],
  ids: RequestIds,
  execute: (item: BatchItem) => ItemOutcome | Promise<ItemOutcome>,
  itemLatencyMs = 0,
  orderSeed: number = seedOfRequestId(ids.requestId),
): Promise<{ reply: Reply; log: BatchItemLogEntry[]; delayMs: number }> {
  const statuses = new Map<string, number>();
  const log: BatchItemLogEntry[] = [];
  const responses = new Map<BatchItem, Record<string, unknown>>();
  const schedule: Array<{ id: string; dependsOn: string[]; costMs: number }> = [];
  for (const item of executionOrder(items)) {
    const failed = item.dependsOn.find((d) => {
      const status = statuses.get(d.toLowerCase()) ?? 0;
      return status < 200 || status > 299;
    });
    let reply: Reply;
    let costMs = 0;
    if (failed !== undefined) {
      // Graph documents only the status ("fails with status code 424 (Failed Dependency)"); the code follows the
      // reason phrase as Dev Proxy's batch failures do (reference §1.3, "424 FailedDependency").
      reply = errorReply(ids, 424, "FailedDependency", `Failed dependency: request ${failed} did not succeed.`, "gateway");
    } else {
      const produced = execute(item);
      // A synchronous item continues at once: a batch of only such items still runs without letting any other
      // request in between, as it always has.
      const outcome = produced instanceof Promise ? await produced : produced;
      reply = outcome.reply;
      costMs = itemLatencyMs + outcome.delayMs;
    }
    schedule.push({ id: item.id, dependsOn: item.dependsOn, costMs });
    statuses.set(item.id.toLowerCase(), reply.status);
    const headers = { ...reply.headers };
    const response: Record<string, unknown> = { id: item.id, status: reply.status, headers };
    const body = itemBody(reply, item.method);
    // The docs sample gives a 204 item `"body": null` and a 302 item no body at all (reference §4).
    if (body !== undefined) response.body = body;
    else if (reply.status === 204) response.body = null;
    responses.set(item, response);
    log.push({ id: item.id, method: item.method, url: item.url, status: reply.status, headers });
  }
  const payload = { responses: shuffled(items, orderSeed).map((item) => responses.get(item)) };
  return {
    reply: {
      status: 200,
      // The batch envelope's headers in the DC concepts/json-batching.md response sample.
      headers: { "Content-Type": "application/json" },
      body: Buffer.from(JSON.stringify(payload), "utf8"),
      chunked: true,
    },
    log,
    delayMs: batchServiceTimeMs(schedule),
  };
}
