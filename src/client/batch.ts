/**
 * JSON batching (learn.microsoft.com/graph/json-batching): up to 20 requests per POST /$batch, URLs
 * relative to the version root, a Content-Type for every body, `dependsOn` ids inside one batch, and
 * answers in any order. A 200 batch says nothing about its items: each item is throttled on its own.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import type { GraphClient } from "./index";
import { clock } from "./clock";
import { InputError } from "./errors";
import { GraphEndpoint, resolveGraphUrl } from "./hosts";
import { decideThrottleWait, isThrottled } from "./retry";

/** Graph's limit on requests in one batch. */
export const MAX_BATCH_REQUESTS = 20;
const BATCH_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

export interface BatchItem {
  id: string;
  method: string;
  /** Relative to the version root, without a leading slash. */
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  dependsOn: string[];
}

export interface BatchItemResult {
  id: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const LABEL = "Requests";

/** Validates the Requests input and normalises it to what Graph accepts, before anything is sent. */
export function normalizeBatchRequests(input: unknown, client: Pick<GraphClient, "endpoint" | "assertUserPath">, version: string): BatchItem[] {
  const endpoint = client.endpoint;
  let list = input;
  if (typeof list === "string") {
    if (!list.trim()) throw new InputError(LABEL, "is required: a JSON list of {id?, method, url, headers?, body?, dependsOn?}");
    try {
      list = JSON.parse(list);
    } catch {
      throw new InputError(LABEL, "is not valid JSON; expected a list of {id?, method, url, headers?, body?, dependsOn?}");
    }
  }
  if (list && typeof list === "object" && !Array.isArray(list) && Array.isArray((list as { requests?: unknown }).requests)) {
    list = (list as { requests: unknown[] }).requests;
  }
  if (!Array.isArray(list)) throw new InputError(LABEL, "must be a list of requests");
  if (list.length === 0) throw new InputError(LABEL, "is empty; add at least one request");

  const givenIds = new Set<string>();
  for (const raw of list) {
    const id = (raw as { id?: unknown })?.id;
    if (typeof id === "string" || typeof id === "number") givenIds.add(String(id).toLowerCase());
  }
  let nextId = 1;
  // Graph compares ids ignoring case ("Not case-sensitive", DC concepts/json-batching.md) and refuses the whole batch on a repeat.
  const seen = new Set<string>();
  const items = list.map((raw, index) => {
    const where = `request ${index + 1}`;
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new InputError(LABEL, `${where} is not an object`);
    const r = raw as Record<string, unknown>;
    let id: string;
    if (r.id === undefined || r.id === null || r.id === "") {
      while (givenIds.has(String(nextId)) || seen.has(String(nextId))) nextId++;
      id = String(nextId++);
    } else if (typeof r.id === "string" || typeof r.id === "number") {
      id = String(r.id);
    } else {
      throw new InputError(LABEL, `${where}: id must be text or a number`);
    }
    if (seen.has(id.toLowerCase())) throw new InputError(LABEL, `${where}: id '${id}' is used twice; ids must be unique (Graph ignores case)`);
    seen.add(id.toLowerCase());
    const label = `${where} (id '${id}')`;
    const method = typeof r.method === "string" ? r.method.trim().toUpperCase() : "";
    if (!BATCH_METHODS.includes(method)) {
      throw new InputError(LABEL, `${label}: method '${String(r.method ?? "")}' is not one of ${BATCH_METHODS.join(", ")}`);
    }
    if (typeof r.url !== "string") throw new InputError(LABEL, `${label}: url is required`);
    const url = relativeUrl(r.url, endpoint, version, label);
    try {
      client.assertUserPath(new URL(`${endpoint.versionRoot}/${url}`));
    } catch (error) {
      if (error instanceof InputError) throw new InputError(LABEL, `${label}: ${error.problem}`);
      throw error;
    }
    const headers = readHeaders(r.headers, label);
    const dependsOn = readDependsOn(r.dependsOn, label);
    const body = readBody(r.body, headers, method, label);
    return { id, method, url, headers, body, dependsOn } satisfies BatchItem;
  });
  checkDependencies(items);
  return items;
}

function relativeUrl(raw: string, endpoint: GraphEndpoint, version: string, label: string): string {
  let url: URL;
  try {
    url = resolveGraphUrl(raw, endpoint);
  } catch (error) {
    if (error instanceof InputError) throw new InputError(LABEL, `${label}: url: ${error.problem}`);
    throw error;
  }
  const prefix = `/${version}/`;
  if (!url.pathname.startsWith(prefix)) {
    throw new InputError(LABEL, `${label}: url '${raw}' belongs to another API version than ${version}, the one this batch is sent to`);
  }
  // Batch URLs are relative to the version root: scheme, host and version are stripped (as the Graph SDKs do).
  const relative = `${url.pathname.slice(prefix.length)}${url.search}`;
  const unsafe = unsafeRelativePath(relative.split("?", 1)[0]);
  if (unsafe) {
    throw new InputError(LABEL, `${label}: url '${raw}' becomes '${relative}' relative to the version root, which ${unsafe}; enter a path such as /me/messages`);
  }
  return relative;
}

// Security: Graph resolves an item's url against its version root, so a path that starts with '/' (or '//'),
// carries a scheme, a backslash or a control character could leave that root or name another host.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL_OR_BACKSLASH = /[\\\u0000-\u001f\u007f]/;
const LEADING_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** Why a relative item path is unsafe, checked as sent and percent-decoded; undefined when it is safe. */
function unsafeRelativePath(path: string): string | undefined {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // Not valid percent-encoding: the path as sent is all there is to check.
  }
  for (const form of [path, decoded]) {
    if (form.startsWith("//")) return "is protocol-relative (it would name another host)";
    if (form.startsWith("/")) return "starts with '/' after the version (an empty path segment that could name another host)";
    if (LEADING_SCHEME.test(form)) return "starts with a scheme";
    if (CONTROL_OR_BACKSLASH.test(form)) return "contains a backslash or a control character";
  }
  return undefined;
}

function readHeaders(value: unknown, label: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InputError(LABEL, `${label}: headers must be an object of names and values`);
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (name.toLowerCase() === "authorization") {
      throw new InputError(LABEL, `${label}: Authorization is set from the connection and cannot be given per request`);
    }
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
      throw new InputError(LABEL, `${label}: header '${name}' must have a text value`);
    }
    out[name] = String(v);
  }
  return out;
}

function readDependsOn(value: unknown, label: string): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((d) => {
    if (typeof d !== "string" && typeof d !== "number") throw new InputError(LABEL, `${label}: dependsOn must list request ids`);
    return String(d);
  });
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

const JSON_TYPE = /[/+]json\b/i;

/** A body is a JSON value, or base64 of anything else; either way it needs a Content-Type. */
function readBody(value: unknown, headers: Record<string, string>, method: string, label: string): unknown {
  if (value === undefined || value === null || value === "") return undefined;
  if (method === "GET" || method === "HEAD") throw new InputError(LABEL, `${label}: a ${method} request cannot carry a body`);
  let contentType = headerValue(headers, "content-type");
  const bytes = Buffer.isBuffer(value)
    ? value
    : value instanceof Uint8Array
      ? Buffer.from(value)
      : isFilePayload(value)
        ? Buffer.from(value.data as Uint8Array)
        : undefined;
  if (bytes) {
    if (!contentType) {
      contentType = (isFilePayload(value) && value.contentType) || "application/octet-stream";
      headers["Content-Type"] = contentType;
    }
    return bytes.toString("base64");
  }
  if (typeof value === "string") {
    if (!contentType) {
      throw new InputError(LABEL, `${label}: a text body needs a Content-Type header (Graph takes JSON, or base64 of other content)`);
    }
    if (JSON_TYPE.test(contentType)) {
      try {
        return JSON.parse(value);
      } catch {
        throw new InputError(LABEL, `${label}: the body is not valid JSON although Content-Type is ${contentType}`);
      }
    }
    return Buffer.from(value, "utf8").toString("base64");
  }
  if (!contentType) headers["Content-Type"] = "application/json";
  return value;
}

function isFilePayload(value: unknown): value is { data: Uint8Array; contentType?: string } {
  return !!value && typeof value === "object" && "data" in value && (value as { data: unknown }).data instanceof Uint8Array;
}

/** Every dependsOn names another request of the list, and none forms a cycle; refused before anything is sent. */
export function checkDependencies(items: readonly BatchItem[]): void {
  const ids = new Set(items.map((i) => i.id));
  for (const item of items) {
    for (const dep of item.dependsOn) {
      if (dep === item.id) throw new InputError(LABEL, `request '${item.id}' depends on itself`);
      if (!ids.has(dep)) throw new InputError(LABEL, `request '${item.id}' depends on '${dep}', which is not in the list`);
    }
  }
  dependencyOrder(items);
}

/**
 * Orders items so each follows its dependencies, keeping the given order otherwise, or refuses a cycle
 * naming it. An iterative depth-first search: linear in requests and dependsOn entries, and no recursion,
 * so a chain of any length fits the stack.
 */
export function dependencyOrder(items: readonly BatchItem[]): BatchItem[] {
  const byId = new Map(items.map((i) => [i.id, i]));
  const state = new Map<string, "visiting" | "done">();
  const out: BatchItem[] = [];
  for (const root of items) {
    if (state.has(root.id)) continue;
    state.set(root.id, "visiting");
    const path: Array<{ item: BatchItem; nextDep: number }> = [{ item: root, nextDep: 0 }];
    while (path.length > 0) {
      const top = path[path.length - 1];
      if (top.nextDep === top.item.dependsOn.length) {
        path.pop();
        state.set(top.item.id, "done");
        out.push(top.item);
        continue;
      }
      const dep = byId.get(top.item.dependsOn[top.nextDep++]);
      if (!dep || state.get(dep.id) === "done") continue;
      if (state.get(dep.id) === "visiting") {
        const cycle = path.slice(path.findIndex((step) => step.item === dep)).map((step) => step.item.id);
        throw new InputError(LABEL, `dependsOn forms a cycle: ${nameCycle([...cycle, dep.id])}`);
      }
      state.set(dep.id, "visiting");
      path.push({ item: dep, nextDep: 0 });
    }
  }
  return out;
}

/** `a → b → a`; a long cycle keeps its first ten steps and its end, so the message stays readable. */
function nameCycle(ids: string[]): string {
  const shown = ids.length > 12 ? [...ids.slice(0, 10), `… (${ids.length - 12} more)`, ...ids.slice(-2)] : ids;
  return shown.join(" → ");
}

export interface BatchOptions {
  chunkSize: number;
  concurrency: number;
  maxThrottleRetries: number;
  maxRetryAfterMs: number;
  logger: ActionLogger;
}

interface Chunk {
  items: BatchItem[];
  /** Chunks whose items this chunk's items depend on: they must finish first. */
  after: Set<number>;
}

/**
 * Sends the items in batches and resends throttled ones. Dependent items share a batch where they fit;
 * a dependency that lands in an earlier batch is waited for here instead, and its failure answered with
 * 424 as Graph would.
 */
export async function runBatch(client: GraphClient, items: BatchItem[], options: BatchOptions): Promise<BatchItemResult[]> {
  const results = new Map<string, BatchItemResult>();
  const throttleCount = new Map<string, number>();
  let pending = dependencyOrder(items);
  for (let round = 1; pending.length > 0; round++) {
    const throttled = new Map<string, BatchItemResult>();
    await runRound(client, pending, results, throttled, options);
    pending = pending.filter((i) => !results.has(i.id));
    if (pending.length === 0) break;

    const used = Math.max(0, ...[...throttled.keys()].map((id) => throttleCount.get(id) ?? 0));
    const retryAfters = [...throttled.values()].map((r) => headerValue(r.headers, "retry-after"));
    const wait = decideThrottleWait(options, retryAfters, used, clock.now(), clock.random, round);
    if (!wait.retry || throttled.size === 0) {
      // Out of budget: throttled items keep their 429, and what waits on them cannot run.
      for (const [id, result] of throttled) results.set(id, result);
      for (const item of pending) if (!results.has(item.id)) results.set(item.id, failedDependency(item.id));
      if (!wait.retry && wait.reason === "retry-after-too-long") {
        options.logger.warn(`Microsoft Graph $batch: items were throttled with Retry-After ${Math.ceil(wait.retryAfterMs! / 1000)} s, longer than Longest Throttle Wait; not resending them`);
      }
      break;
    }
    for (const id of throttled.keys()) throttleCount.set(id, (throttleCount.get(id) ?? 0) + 1);
    const { delayMs } = wait;
    options.logger.warn(
      `Microsoft Graph $batch: ${throttled.size} request(s) throttled (${[...throttled.keys()].join(", ")}); resending them in ${delayMs} ms, after the longest Retry-After (round ${round + 1})`,
    );
    await clock.sleep(delayMs);
  }
  return items.map((i) => results.get(i.id) ?? failedDependency(i.id));
}

/** One pass over the pending items: chunked, dependency-ordered, concurrent where independent. */
async function runRound(
  client: GraphClient,
  pending: BatchItem[],
  results: Map<string, BatchItemResult>,
  throttled: Map<string, BatchItemResult>,
  options: BatchOptions,
): Promise<void> {
  const chunkOf = new Map<string, number>();
  const chunks: Chunk[] = [];
  for (const item of pending) {
    let current = chunks[chunks.length - 1];
    if (!current || current.items.length >= options.chunkSize) {
      current = { items: [], after: new Set() };
      chunks.push(current);
    }
    const index = chunks.length - 1;
    for (const dep of item.dependsOn) {
      const depChunk = chunkOf.get(dep);
      if (depChunk !== undefined && depChunk !== index) current.after.add(depChunk);
    }
    current.items.push(item);
    chunkOf.set(item.id, index);
  }

  const done = new Set<number>();
  const running = new Map<number, Promise<void>>();
  const started = new Set<number>();
  const failures: unknown[] = [];
  while (done.size < chunks.length) {
    for (let i = 0; i < chunks.length && running.size < options.concurrency && failures.length === 0; i++) {
      if (started.has(i) || [...chunks[i].after].some((c) => !done.has(c))) continue;
      started.add(i);
      const finish = () => {
        done.add(i);
        running.delete(i);
      };
      running.set(
        i,
        sendChunk(client, chunks[i].items, chunkOf, i, results, throttled, options.logger).then(finish, (error: unknown) => {
          failures.push(error);
          finish();
        }),
      );
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  // A whole batch that failed (after the client's own retries) fails the step: its items' fate is unknown.
  if (failures.length > 0) throw failures[0];
}

async function sendChunk(
  client: GraphClient,
  chunk: BatchItem[],
  chunkOf: Map<string, number>,
  index: number,
  results: Map<string, BatchItemResult>,
  throttled: Map<string, BatchItemResult>,
  logger: ActionLogger,
): Promise<void> {
  const toSend: Array<Record<string, unknown>> = [];
  for (const item of chunk) {
    const outside = item.dependsOn.filter((d) => chunkOf.get(d) !== index);
    // A dependency in another batch (or an earlier round) that failed fails this item as Graph would;
    // one that is waiting out a throttle holds this item back for the next round.
    if (outside.some((d) => throttled.has(d) || (!results.has(d) && chunkOf.get(d) === undefined))) continue;
    if (outside.some((d) => (results.get(d)?.status ?? 200) >= 400)) {
      results.set(item.id, failedDependency(item.id));
      continue;
    }
    const inside = item.dependsOn.filter((d) => chunkOf.get(d) === index && !results.has(d));
    toSend.push({
      id: item.id,
      method: item.method,
      url: item.url,
      ...(Object.keys(item.headers).length ? { headers: item.headers } : {}),
      ...(item.body !== undefined ? { body: item.body } : {}),
      ...(inside.length ? { dependsOn: inside } : {}),
    });
  }
  if (toSend.length === 0) return;
  const response = await client.request({
    method: "POST",
    url: "/$batch",
    body: { bytes: Buffer.from(JSON.stringify({ requests: toSend })), contentType: "application/json" },
  });
  const { byId, strays } = readBatchAnswers(response.data, toSend.map((sent) => sent.id as string));
  if (strays.length > 0) logger.warn(`Microsoft Graph $batch: ignored part of Graph's answer that matched no request sent: ${listFew(strays, "; ")}`);
  const throttledHere = new Set<string>();
  for (const sent of toSend) {
    const id = sent.id as string;
    const answer = byId.get(id)!;
    if (isThrottled(answer.status, headerValue(answer.headers, "retry-after"))) {
      throttled.set(id, answer);
      throttledHere.add(id);
    }
  }
  for (const sent of toSend) {
    const id = sent.id as string;
    if (throttledHere.has(id)) continue;
    const answer = byId.get(id)!;
    // A 424 caused by a throttled dependency is not a failure of this item: it goes again with it.
    const deps = (sent.dependsOn as string[] | undefined) ?? [];
    if (answer.status === 424 && deps.some((d) => throttledHere.has(d) || throttled.has(d))) {
      throttled.set(id, answer);
      continue;
    }
    results.set(id, answer);
  }
}

function failedDependency(id: string): BatchItemResult {
  return {
    id,
    status: 424,
    headers: {},
    body: { error: { code: "FailedDependency", message: "A request this one depends on failed, so it was not run." } },
  };
}

/** Our code for an item whose part of Graph's $batch answer is malformed, duplicated or unreadable. */
export const INVALID_BATCH_RESPONSE = "InvalidBatchResponse";

function invalidAnswer(id: string, problem: string): BatchItemResult {
  return {
    id,
    status: 502,
    headers: {},
    body: {
      error: {
        code: INVALID_BATCH_RESPONSE,
        message: `Graph's $batch answer for this request cannot be used: ${problem}; whether the request ran is unknown`,
      },
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** The first few entries of a list a hostile answer could make arbitrarily long. */
function listFew(entries: string[], separator: string): string {
  return entries.length > 3 ? `${entries.slice(0, 3).join(separator)}${separator}and ${entries.length - 3} more` : entries.join(separator);
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** A value as a message shows it: enough to see what was wrong, never a whole body. */
function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (typeof value === "string") return `the text '${clip(value)}'`;
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return String(value);
}

/**
 * Reads Graph's `{"responses": [...]}` for the ids sent in one call, checked rather than trusted: every sent
 * id gets exactly one result, and a part of the answer that is malformed, answers an id twice, or is missing
 * becomes a 502 naming what was wrong. Answers that match no sent id are returned as `strays`.
 */
export function readBatchAnswers(data: unknown, sentIds: readonly string[]): { byId: Map<string, BatchItemResult>; strays: string[] } {
  const byId = new Map<string, BatchItemResult>();
  const responses = isPlainObject(data) ? data.responses : undefined;
  if (!Array.isArray(responses)) {
    const what = isPlainObject(data) ? `its "responses" is ${describeValue(responses)}` : `it is ${describeValue(data)}`;
    for (const id of sentIds) byId.set(id, invalidAnswer(id, `it has no "responses" list (${what})`));
    return { byId, strays: [] };
  }
  // Graph matches ids ignoring case (DC concepts/json-batching.md); the ids sent are unique that way.
  const sentByKey = new Map(sentIds.map((id) => [id.toLowerCase(), id]));
  const answersOf = new Map<string, Array<Record<string, unknown>>>();
  const strays: string[] = [];
  for (const [index, answer] of responses.entries()) {
    const where = `response ${index + 1} of ${responses.length}`;
    if (!isPlainObject(answer)) strays.push(`${where} is ${describeValue(answer)}, not an object`);
    else if (typeof answer.id !== "string") strays.push(`${where} has id ${describeValue(answer.id)}, not text`);
    else if (!sentByKey.has(answer.id.toLowerCase())) strays.push(`${where} answers id '${clip(answer.id)}', which was not sent in this call`);
    else {
      const id = sentByKey.get(answer.id.toLowerCase())!;
      const answers = answersOf.get(id) ?? [];
      answers.push(answer);
      answersOf.set(id, answers);
    }
  }
  for (const id of sentIds) {
    const answers = answersOf.get(id) ?? [];
    if (answers.length > 1) {
      byId.set(id, invalidAnswer(id, `it answers this request ${answers.length} times (statuses ${listFew(answers.map((a) => describeValue(a.status)), ", ")})`));
    } else if (answers.length === 1) {
      byId.set(id, readItemAnswer(id, answers[0]));
    } else if (strays.length > 0) {
      byId.set(id, invalidAnswer(id, `it has no response for this request, and parts it cannot match to one: ${listFew(strays, "; ")}`));
    } else {
      byId.set(id, { id, status: 502, headers: {}, body: { error: { code: "MissingResponse", message: "Graph's $batch answer had no response for this request" } } });
    }
  }
  // Parts that match no request are named in the failures of the requests left unanswered, or else returned.
  return { byId, strays: answersOf.size === sentIds.length ? strays : [] };
}

/** One item of the answer: an integer HTTP status, headers as an object of text values, a decodable body. */
function readItemAnswer(id: string, answer: Record<string, unknown>): BatchItemResult {
  const { status } = answer;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
    return invalidAnswer(id, `its status is ${describeValue(status)}, not an HTTP status code (a whole number from 100 to 599)`);
  }
  const headers: Record<string, string> = {};
  if (answer.headers !== undefined && answer.headers !== null) {
    if (!isPlainObject(answer.headers)) return invalidAnswer(id, `its headers are ${describeValue(answer.headers)}, not an object of names and values`);
    for (const [name, value] of Object.entries(answer.headers)) {
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        return invalidAnswer(id, `its header '${clip(name)}' is ${describeValue(value)}, not a text value`);
      }
      headers[name] = String(value);
    }
  }
  const body = decodeItemBody(answer.body, headers);
  if (body.problem) return invalidAnswer(id, body.problem);
  return { id, status, headers, body: body.value };
}

const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2,3}={0,2})?$/;

/**
 * Non-JSON item bodies come back base64-encoded ("a base64 URL-encoded value", DC concepts/json-batching.md):
 * return them as a file the next step can use. Text that is not base64 is refused, never decoded into garbage.
 */
function decodeItemBody(body: unknown, headers: Record<string, string>): { value?: unknown; problem?: string } {
  const contentType = headerValue(headers, "content-type");
  if (typeof body === "string" && contentType && !JSON_TYPE.test(contentType)) {
    const compact = body.replace(/\s+/g, "");
    if (!BASE64.test(compact)) return { problem: `its body is not base64, although Graph base64-encodes a ${contentType} body, so it cannot be decoded` };
    return { value: { data: Buffer.from(compact, "base64"), contentType } };
  }
  return { value: body ?? null };
}
