/**
 * Issue 7, sections 1 and 3, on the wire: every step ends and says why (whole-attempt deadline, size bound,
 * paging chains that do not end, unreadable Retry-After, bodies that are not what they claim), and secrets and
 * text that cannot be sent faithfully never reach Graph or a message.
 */
import { randomBytes } from "node:crypto";
import { brotliCompressSync, deflateSync, gunzipSync, gzipSync } from "node:zlib";
import { attemptBounds, DEFAULT_ATTEMPT_TIMEOUT_MS, WHOLE_DECODE_MAX_CODED_BYTES, WHOLE_DECODE_MAX_DECODED_BYTES } from "../client/transport";
import type { CollectedPages } from "../client/paging";
import { MAX_EMPTY_PAGES_IN_A_ROW } from "../client/paging";
import { picklistBounds } from "../dataSources";
import { failureOf, harness, connectionFor, rawRequest, runAction, useEmulator } from "./support";

const env = useEmulator({ users: 300 });
const JSON_TYPE = "application/json;odata.metadata=minimal;charset=utf-8";

function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}) {
  return { kind: "reply" as const, status, headers: { "Content-Type": JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

async function fetchAll(params: Record<string, unknown>): Promise<CollectedPages> {
  return (await runAction(env, "fetchAllPages", params)).data as CollectedPages;
}

describe("a step always ends", () => {
  afterEach(() => {
    attemptBounds.defaultTimeoutMs = DEFAULT_ATTEMPT_TIMEOUT_MS;
  });

  it("bounds the whole attempt with Timeout, body included: a body that stalls after the headers fails, and is retried", async () => {
    env.emulator.addFault({ path: "/users", fault: { kind: "stall" } });
    const started = Date.now();
    const error = await failureOf(rawRequest(env, { url: "/users", timeout: "300" }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.message).toBe(`Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/users: no complete answer within 300 ms (Timeout)`);
    expect(env.graphRequests()).toHaveLength(1);
    // The headers (200) had arrived: only a deadline over the body ends this.
    expect(env.graphRequests()[0].status).toBe(200);

    env.emulator.reset();
    env.emulator.addFault({ path: "/users", fault: { kind: "stall" } });
    const result = await rawRequest(env, { url: "/users", timeout: "300", maxRetries: "1" });
    expect((result.data as { value: unknown[] }).value).toHaveLength(100);
    expect(env.graphRequests()).toHaveLength(2);
  });

  it("bounds every request even when Timeout is empty", async () => {
    attemptBounds.defaultTimeoutMs = 250;
    env.emulator.addFault({ path: "/me", fault: { kind: "stall" } });
    const error = await failureOf(rawRequest(env, { url: "/me" }));
    expect(error.message).toContain("no complete answer within 250 ms (the bound used when Timeout is empty)");
  });

  it("bounds picklist requests too, with their own shorter bound", async () => {
    picklistBounds.timeoutMs = 200;
    try {
      // Picklists retry a failed page twice; a body that stalls every time ends the picklist with the reason.
      env.emulator.addFault({ path: "/groups", times: 3, fault: { kind: "stall" } });
      const error = await failureOf(harness.dataSource("selectGroup", { connection: connectionFor(env.emulator.token) }, { logger: env.logger }));
      expect(error.message).toBe(
        `Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/groups?$select=id,displayName,mail: no complete answer within 200 ms (Timeout) (after 3 attempts)`,
      );
      expect(env.graphRequests().map((e) => e.status)).toEqual([200, 200, 200]);
    } finally {
      picklistBounds.timeoutMs = 30_000;
    }
  });

  it.each([
    ["2147483648", /^Timeout: 2147483648 ms is out of range: enter 1 to 2147483647 ms/],
    ["99999999999999999999", /^Timeout: 100000000000000000000 ms is out of range: enter 1 to 2147483647 ms/],
    ["-5", /^Timeout: '-5' is not a whole number/],
  ])("refuses Timeout %p naming the allowed range, before sending", async (timeout, message) => {
    const error = await failureOf(rawRequest(env, { url: "/me", timeout }));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("accepts the longest Timeout a timer can hold", async () => {
    await rawRequest(env, { url: "/me", timeout: "2147483647" });
    expect(env.graphRequests()).toHaveLength(1);
  });
});

describe("answers have a size bound", () => {
  it("fails early on a Content-Length over Max Response Size, naming size, status and URL", async () => {
    const big = JSON.stringify({ value: [{ blob: "x".repeat(2 * 1024 * 1024) }] });
    env.emulator.addFault({ path: "/users", times: 2, fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE }, body: big } });
    const error = await failureOf(rawRequest(env, { url: "/users", maxResponseBytes: "1", maxRetries: "2" }));
    expect(error.message).toBe(
      `Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/users: the answer (status 200) is larger than Max Response Size (1 MB): Content-Length is 2.0 MB. Ask for less (for example $select or $top), or raise Max Response Size`,
    );
    // Too large is not transient: not sent again.
    expect(env.graphRequests()).toHaveLength(1);

    const fine = await rawRequest(env, { url: "/users", maxResponseBytes: "3" });
    expect(((fine.data as { value: Array<{ blob: string }> }).value[0].blob)).toHaveLength(2 * 1024 * 1024);
  });

  it("bounds a compressed answer by its decompressed size", async () => {
    const bomb = gzipSync(Buffer.from(JSON.stringify({ value: [{ blob: "0".repeat(3 * 1024 * 1024) }] })));
    expect(bomb.length).toBeLessThan(64 * 1024);
    env.emulator.addFault({
      path: "/users",
      fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body: bomb },
    });
    const error = await failureOf(runAction(env, "fetchAllPages", { url: "/users", maxResponseBytes: "2" }));
    expect(error.message).toBe(
      `Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/users: the answer (status 200) is larger than Max Response Size (2 MB): more than that once decoded (gzip). Ask for less (for example $select or $top), or raise Max Response Size`,
    );
    expect(env.graphRequests()[0].headers["accept-encoding"]).toBe("gzip, deflate, br");
  });

  it("decodes a gzip answer under the bound", async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ value: [{ id: "1" }, { id: "2" }] })));
    env.emulator.addFault({ path: "/groups", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body } });
    const data = await fetchAll({ url: "/groups" });
    expect(data.value).toEqual([{ id: "1" }, { id: "2" }]);
  });

  it("refuses a Max Response Size outside 1 to 1024 before sending", async () => {
    const error = await failureOf(rawRequest(env, { url: "/me", maxResponseBytes: "0" }));
    expect(error.message).toBe("Max Response Size (MB): must be at least 1");
    const tooBig = await failureOf(rawRequest(env, { url: "/me", maxResponseBytes: "4096" }));
    expect(tooBig.message).toBe("Max Response Size (MB): 4096 is more than the allowed 1024");
    expect(env.emulator.log).toHaveLength(0);
  });
});

describe("paging chains end", () => {
  it("stops a nextLink that repeats, naming the link and the pages read", async () => {
    const loop = `${env.emulator.origin}/v1.0/users?$skiptoken=again`;
    env.emulator.addFault({ path: "/users", times: 3, fault: jsonReply(200, { value: [{ id: "a" }], "@odata.nextLink": loop }) });
    const error = await failureOf(fetchAll({ url: "/users" }));
    expect(error.message).toBe(
      `Reading page 3 failed after 2 pages and 2 items.\nGraph answered page 2 with an @odata.nextLink that was already read in this chain (${loop}); following it would loop without end`,
    );
    expect(env.graphRequests().map((e) => e.url)).toEqual(["/v1.0/users", "/v1.0/users?$skiptoken=again"]);
    expect(error.resumeFrom).toBeUndefined();
    expect((error.data as CollectedPages).value).toHaveLength(2);
  });

  it(`stops after ${MAX_EMPTY_PAGES_IN_A_ROW} empty pages in a row, keeping the link to go on from`, async () => {
    const link = (n: number) => `${env.emulator.origin}/v1.0/users?$skiptoken=empty${n}`;
    for (let n = 1; n <= MAX_EMPTY_PAGES_IN_A_ROW + 5; n++) {
      env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [], "@odata.nextLink": link(n) }) });
    }
    const error = await failureOf(fetchAll({ url: "/users" }));
    const last = link(MAX_EMPTY_PAGES_IN_A_ROW);
    expect(error.message).toBe(
      `Reading page ${MAX_EMPTY_PAGES_IN_A_ROW + 1} failed after ${MAX_EMPTY_PAGES_IN_A_ROW} pages and 0 items; to go on from the page that failed, use the error's @odata.nextLink: ${last}.\n` +
        `Graph answered ${MAX_EMPTY_PAGES_IN_A_ROW} empty pages in a row (${MAX_EMPTY_PAGES_IN_A_ROW} pages read), each with another @odata.nextLink; stopping at ${last} rather than following the chain without end`,
    );
    expect(env.graphRequests()).toHaveLength(MAX_EMPTY_PAGES_IN_A_ROW);
    expect(error.resumeFrom).toBe(last);
    expect(error.data).toMatchObject({ pageCount: MAX_EMPTY_PAGES_IN_A_ROW, value: [], "@odata.nextLink": last });
  });

  it("lets a few empty pages through (Graph sends them) and holds Max Pages on empty pages", async () => {
    // Two empty pages, then one whose link leads into the emulator's real collection.
    for (const next of ["users?$skiptoken=e1", "users?$skiptoken=e2", "users?$top=100"]) {
      env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [], "@odata.nextLink": `${env.emulator.origin}/v1.0/${next}` }) });
    }
    const data = await fetchAll({ url: "/users" });
    expect(data.value).toHaveLength(300);
    expect(data.pageCount).toBe(6);

    env.emulator.reset();
    for (let n = 1; n <= 10; n++) {
      env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [], "@odata.nextLink": `${env.emulator.origin}/v1.0/users?$skiptoken=e${n}` }) });
    }
    const capped = await fetchAll({ url: "/users", maxPages: "4", maxItems: "1" });
    expect(capped).toMatchObject({ pageCount: 4, stoppedBy: "Max Pages", "@odata.nextLink": `${env.emulator.origin}/v1.0/users?$skiptoken=e4` });
    expect(env.graphRequests()).toHaveLength(4);
  });

  it("names the page that failed and keeps the items read and the link to go on from", async () => {
    env.emulator.addFault({ path: "/users", skip: 1, fault: { kind: "status", status: 500 } });
    const error = await failureOf(fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }] }));
    const [, second] = env.graphRequests();
    const resumeFrom = `${env.emulator.origin}${second.url}`;
    expect(error.message).toMatch(
      new RegExp(`^Reading page 2 failed after 1 page and 100 items; to go on from the page that failed, use the error's @odata.nextLink: ${resumeFrom.replace(/[.?$]/g, "\\$&")}\\.\\nMicrosoft Graph 500 generalException`),
    );
    expect(error).toMatchObject({ status: 500, code: "generalException", page: 2, itemsRead: 100, resumeFrom });
    expect((error.data as CollectedPages).value).toHaveLength(100);
    expect((error.data as CollectedPages)["@odata.nextLink"]).toBe(resumeFrom);

    // Going on from the link reads the rest.
    const rest = await fetchAll({ url: resumeFrom });
    expect(rest.value).toHaveLength(200);
  });

  it("stops a nextLink that leads back to the first page, before requesting it again", async () => {
    const first = `${env.emulator.origin}/v1.0/users`;
    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [{ id: "a" }], "@odata.nextLink": first }) });
    const error = await failureOf(fetchAll({ url: "/users" }));
    expect(error.message).toBe(
      `Reading page 2 failed after 1 page and 1 item.\nGraph answered page 1 with an @odata.nextLink that was already read in this chain (${first}); following it would loop without end`,
    );
    expect(env.graphRequests()).toHaveLength(1);
  });

  it("keeps @odata.count from the first page only, and only when it is a number", async () => {
    const link = `${env.emulator.origin}/v1.0/users?$skiptoken=p2`;
    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [{ id: "a" }], "@odata.count": 5, "@odata.nextLink": link }) });
    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [{ id: "b" }], "@odata.count": 99 }) });
    expect((await fetchAll({ url: "/users" }))["@odata.count"]).toBe(5);

    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [{ id: "a" }], "@odata.count": "5" }) });
    expect(Object.keys(await fetchAll({ url: "/users" }))).not.toContain("@odata.count");
  });

  it("adds no resync, removal count or cap to a plain read that ends", async () => {
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }] });
    expect(Object.keys(data).sort()).toEqual(["pageCount", "value"]);
    expect(data.pageCount).toBe(3);
  });

  it("restarts an expired delta sync at most twice, then reports the 410", async () => {
    const gone = jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: "/v1.0/users/delta?$select=id" });
    env.emulator.addFault({ path: "/users/delta", times: 3, fault: gone });
    const error = await failureOf(fetchAll({ url: "/users/delta", restartOnResync: true }));
    expect(error).toMatchObject({ status: 410, location: `${env.emulator.origin}/v1.0/users/delta?$select=id` });
    expect(env.graphRequests().map((e) => e.status)).toEqual([410, 410, 410]);
    expect(env.logLines.filter((l) => l.startsWith("warn: Microsoft Graph answered 410 Gone"))).toHaveLength(2);
  });

  it("restarts from Graph's Location when the 410 comes on a later page, sending the headers again", async () => {
    const gone = jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: "/v1.0/users/delta?$select=id" });
    env.emulator.addFault({ path: "/users", skip: 1, fault: gone });
    const data = await fetchAll({
      url: "/users",
      queryParams: [{ key: "$top", value: "100" }],
      headers: [{ key: "Prefer", value: "return=minimal" }],
      restartOnResync: true,
    });
    expect(data.resynced).toBe(true);
    const sent = env.graphRequests();
    expect(sent.map((e) => e.status)).toEqual([200, 410, ...sent.slice(2).map(() => 200)]);
    expect(sent[2].url).toBe("/v1.0/users/delta?$select=id");
    expect(sent.map((e) => e.headers.prefer)).toEqual(sent.map(() => "return=minimal"));
  });

  it("reads a long chain of full pages without taking it for a chain of empty pages", async () => {
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "2" }] });
    expect(data.pageCount).toBe(150);
    expect(data.value).toHaveLength(300);
  });

  it.each([["null", null], ["a list", [{ id: "a" }]], ["text", "users"]])("refuses an answer that is %s, not a collection", async (_what, body) => {
    env.emulator.addFault({ path: "/users", fault: jsonReply(200, body) });
    const error = await failureOf(fetchAll({ url: "/users" }));
    expect(error.message).toMatch(/^URL: '\/users' did not answer with a Graph collection/);
  });

  it("counts @removed items among items of any kind", async () => {
    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [null, "text", 7, { id: "x", "@removed": { reason: "deleted" } }, { id: "y" }] }) });
    const data = await fetchAll({ url: "/users" });
    expect(data).toMatchObject({ pageCount: 1, removedCount: 1 });
    expect(data.value).toHaveLength(5);
  });

  it("stops at Max Items exactly on the page that reaches it, and not when the last page reaches a cap", async () => {
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }], maxItems: "200" });
    expect(data).toMatchObject({ pageCount: 2, stoppedBy: "Max Items" });
    expect(env.logLines).toContain(
      "warn: Fetch All Pages stopped at Max Items after 2 pages and 200 items; more remain. The output's @odata.nextLink continues from here.",
    );

    env.logLines.length = 0;
    const whole = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }], maxPages: "3", maxItems: "300" });
    expect(Object.keys(whole).sort()).toEqual(["pageCount", "value"]);
    expect(env.logLines.filter((l) => l.startsWith("warn:"))).toEqual([]);
  });

  it("keeps the count of @removed items in a delta read that fails part-way, and adds none to a plain read that fails", async () => {
    const link = `${env.emulator.origin}/v1.0/users?$skiptoken=p2`;
    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [{ id: "x", "@removed": { reason: "changed" } }, { id: "y" }], "@odata.nextLink": link }) });
    env.emulator.addFault({ path: "/users", fault: jsonReply(400, { error: { code: "badRequest", message: "No." } }) });
    const delta = await failureOf(fetchAll({ url: "/users" }));
    expect(delta.data).toEqual({ value: [{ id: "x", "@removed": { reason: "changed" } }, { id: "y" }], pageCount: 1, removedCount: 1, "@odata.nextLink": link });

    env.emulator.addFault({ path: "/users", fault: jsonReply(200, { value: [{ id: "y" }], "@odata.nextLink": link }) });
    env.emulator.addFault({ path: "/users", fault: jsonReply(400, { error: { code: "badRequest", message: "No." } }) });
    const plain = await failureOf(fetchAll({ url: "/users" }));
    expect(plain.data).toEqual({ value: [{ id: "y" }], pageCount: 1, "@odata.nextLink": link });
  });
});

describe("Retry-After is honoured only when valid", () => {
  it.each([["-1"], ["soon 2020"], ["1.5"], ["Tomorrow, 12:00"]])("treats Retry-After %p as absent: the backoff applies, not 'retry now'", async (retryAfter) => {
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter } });
    await rawRequest(env, { url: "/me" });
    expect(env.graphRequests().map((e) => e.status)).toEqual([429, 200]);
    // 1 s plus the tests' fixed jitter (random 0.5 → 10 %); an honoured "-1" would have waited 0.
    expect(env.sleeps).toEqual([1100]);
    expect(env.logLines.some((l) => l.includes("without Retry-After; backing off 1.1 s"))).toBe(true);
  });

  it("waits what an HTTP-date asks", async () => {
    const at = new Date(Date.now() + 7_000);
    at.setUTCMilliseconds(0);
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter: at.toUTCString() } });
    await rawRequest(env, { url: "/me" });
    expect(env.sleeps).toHaveLength(1);
    expect(env.sleeps[0]).toBeGreaterThan(4_000);
    expect(env.sleeps[0]).toBeLessThanOrEqual(7_000);
  });
});

describe("answers that are not what they claim", () => {
  it("reports a JSON media type over a body that is not JSON, with status, URL and the start of the body", async () => {
    env.emulator.addFault({ path: "/me", times: 3, fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE }, body: "<html><body>Sign in to continue</body></html>" } });
    const error = await failureOf(rawRequest(env, { url: "/me", maxRetries: "2" }));
    expect(error.message).toBe(
      `Microsoft Graph 200 answer is not valid JSON although its Content-Type is ${JSON_TYPE} [GET ${env.emulator.origin}/v1.0/me]. The body starts with: <html><body>Sign in to continue</body></html>`,
    );
    expect(error).toMatchObject({ name: "GraphInvalidResponseError", status: 200 });
    expect(env.graphRequests()).toHaveLength(1);
  });

  it("still returns a non-JSON media type as text", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "reply", status: 200, headers: { "Content-Type": "text/plain" }, body: "{not json" } });
    expect((await rawRequest(env, { url: "/me" })).data).toBe("{not json");
  });

  it("treats a body cut off mid-way as a transient failure: retried for GET, named when retries run out", async () => {
    env.emulator.addFault({ path: "/me", times: 2, fault: { kind: "truncate" } });
    const error = await failureOf(rawRequest(env, { url: "/me", maxRetries: "1" }));
    expect(error.message).toMatch(/^Microsoft Graph request failed: GET .*\/v1\.0\/me: the answer \(status 200\) was cut off before its end \(\d+ of \d+ bytes received\) \(after 2 attempts\)$/);
    expect(env.graphRequests()).toHaveLength(2);
  });

  it("resolves a relative Location on 410 against the Graph origin, and restarts the sync there", async () => {
    env.emulator.addFault({ path: "/users/delta", fault: jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: "/v1.0/users/delta?$select=id" }) });
    const error = await failureOf(fetchAll({ url: "/users/delta" }));
    expect(error).toMatchObject({ status: 410, location: `${env.emulator.origin}/v1.0/users/delta?$select=id` });
    expect(error.message).toContain(`start again from ${env.emulator.origin}/v1.0/users/delta?$select=id.`);

    env.emulator.reset();
    env.emulator.addFault({ path: "/users/delta", fault: jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: "/v1.0/users/delta?$select=id" }) });
    const data = await fetchAll({ url: "/users/delta", restartOnResync: true });
    expect(data.resynced).toBe(true);
    expect(env.graphRequests()[1].url).toBe("/v1.0/users/delta?$select=id");
  });

  it("keeps a 410's Location when it comes on a later page of a delta chain", async () => {
    env.emulator.addFault({ path: "/users", skip: 1, fault: jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: "delta?$select=id" }) });
    const error = await failureOf(fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }] }));
    // Relative to the page's URL (/v1.0/users?...), as RFC 9110 §10.2.2 resolves it.
    expect(error).toMatchObject({ name: "GraphPagingError", page: 2, status: 410, location: `${env.emulator.origin}/v1.0/delta?$select=id` });
  });

  it("does not offer a 410 Location on another origin", async () => {
    env.emulator.addFault({ path: "/users/delta", fault: jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: "https://evil.example.com/v1.0/users/delta" }) });
    const error = await failureOf(fetchAll({ url: "/users/delta", restartOnResync: true }));
    expect(error.location).toBeUndefined();
    expect(error.message).toContain("Graph's Location (https://evil.example.com/v1.0/users/delta) is not on the Graph origin");
    expect(env.emulator.log).toHaveLength(1);
  });
});

describe("the token never shows", () => {
  it("masks the token in the message and body of a Graph error, also when Graph echoes it without 'Bearer'", async () => {
    const token = env.emulator.token;
    env.emulator.addFault({
      path: "/me",
      fault: jsonReply(400, { error: { code: "BadRequest", message: `Token ${token} is malformed`, innerError: { detail: [`got ${token}`, `Bearer ${token}`] } } }),
    });
    const error = await failureOf(rawRequest(env, { url: "/me", debugRequest: true }));
    expect(error.message).toMatch(/^Microsoft Graph 400 BadRequest: Token \[REDACTED\] is malformed/);
    const everything = JSON.stringify({ ...error, m: error.message, s: error.stack });
    expect(everything).not.toContain(token);
    expect(error.data).toEqual({ error: { code: "BadRequest", message: "Token [REDACTED] is malformed", innerError: { detail: ["got [REDACTED]", "Bearer [REDACTED]"] } } });
    expect(env.logLines.length).toBeGreaterThan(0);
    expect(env.logLines.join("\n")).not.toContain(token);
  });

  it("masks the token in the body excerpt of an answer that is not JSON", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE }, body: `oops ${env.emulator.token}` } });
    const error = await failureOf(rawRequest(env, { url: "/me" }));
    expect(error.message).toContain("The body starts with: oops [REDACTED]");
    expect(JSON.stringify({ ...error, m: error.message })).not.toContain(env.emulator.token);
  });

  it("masks the token in log lines and in a paging error built on a link that carries it", async () => {
    const location = `/v1.0/users/delta?$deltatoken=${env.emulator.token}`;
    env.emulator.addFault({ path: "/users/delta", times: 3, fault: jsonReply(410, { error: { code: "syncStateNotFound", message: "Resync required." } }, { Location: location }) });
    const error = await failureOf(fetchAll({ url: "/users/delta", restartOnResync: true }));
    expect(env.graphRequests()).toHaveLength(3);
    expect(env.logLines.filter((l) => l.includes("restarting the full sync from"))).toHaveLength(2);
    expect(env.logLines.join("\n")).not.toContain(env.emulator.token);
    expect(JSON.stringify({ ...error, m: error.message })).not.toContain(env.emulator.token);
    expect(error.message).toContain("$deltatoken=[REDACTED]");
  });
});

describe("text that cannot be sent faithfully is refused before sending", () => {
  const cases: Array<[string, string, Record<string, unknown>, string]> = [
    ["a lone surrogate in URL", "rawRequest", { url: "/users/\uD800x" }, 'URL: "/users/\\ud800x" contains a lone surrogate (U+D800) at position 8'],
    ["a control character in an absolute URL", "rawRequest", { url: "ORIGIN/v1.0/m\te" }, 'URL: "ORIGIN/v1.0/m\\te" contains a control character (U+0009)'],
    ["a backslash in an absolute URL", "rawRequest", { url: "ORIGIN/v1.0\\users" }, "URL: 'ORIGIN/v1.0\\users' contains a backslash, which is not allowed in a Graph URL; use '/'"],
    ["backslash dot segments in an absolute URL", "fetchAllPages", { url: "ORIGIN/v1.0/users\\..\\..\\beta\\me" }, "URL: 'ORIGIN/v1.0/users\\..\\..\\beta\\me' contains a backslash"],
    ["a lone surrogate in a query value", "rawRequest", { url: "/users", queryParams: [{ key: "$search", value: '"displayName:\uDC00"' }] }, "Query Parameter: the value of '$search' \"\\\"displayName:\\udc00\\\"\" contains a lone surrogate (U+DC00)"],
    ["a control character in a query key", "fetchAllPages", { url: "/users", queryParams: [{ key: "$to\u0000p", value: "5" }] }, 'Query Parameter: the key "$to\\u0000p" contains a control character (U+0000) at position 4'],
    ["a line break in a query value", "rawRequest", { url: "/users", queryParams: [{ key: "$filter", value: "startswith(displayName,'A')\n" }] }, "Query Parameter: the value of '$filter'"],
    ["a header value outside Latin-1", "rawRequest", { url: "/me", headers: [{ key: "X-Note", value: "5 €" }] }, "Header: the value of 'X-Note' contains the character U+20AC, which HTTP headers cannot carry (only Latin-1 text; percent-encode or Base64 it) at position 3"],
    ["a control character in a header value", "fetchAllPages", { url: "/users", headers: [{ key: "Prefer", value: "a\u0001b" }] }, "Header: the value of 'Prefer' contains a control character (U+0001) at position 2"],
    ["a lone surrogate in a header value", "rawRequest", { url: "/me", headers: [{ key: "X-Note", value: "\uD83D" }] }, "Header: the value of 'X-Note' contains the character U+D83D"],
  ];
  it.each(cases)("%s", async (_name, action, params, message) => {
    const withOrigin = JSON.parse(JSON.stringify(params).split("ORIGIN").join(env.emulator.origin)) as Record<string, unknown>;
    const error = await failureOf(runAction(env, action, { method: "GET", ...withOrigin }));
    expect(error.message).toContain(message.split("ORIGIN").join(env.emulator.origin));
    expect(error.message.startsWith(message.split(":")[0] + ":")).toBe(true);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("names the picklist's own input", async () => {
    const error = await failureOf(
      harness.dataSource("selectFromCollection", { connection: connectionFor(env.emulator.token), path: "/me/mail\u0085Folders" }, { logger: env.logger }),
    );
    expect(error.message).toMatch(/^Collection Path: "\/me\/mail\\u0085Folders" contains a control character \(U\+0085\)/);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("still sends what is faithful: Latin-1 header text, and non-ASCII query text percent-encoded", async () => {
    await rawRequest(env, {
      url: "/users",
      headers: [{ key: "X-Note", value: "café\tau lait" }, { key: "ConsistencyLevel", value: "eventual" }],
      queryParams: [{ key: "$search", value: '"displayName:Zoë 😀"' }],
    });
    const [sent] = env.graphRequests();
    expect(sent.headers["x-note"]).toBe("café\tau lait");
    expect(sent.url).toBe("/v1.0/users?$search=%22displayName:Zo%C3%AB%20%F0%9F%98%80%22");
  });
});

describe("compressed answers", () => {
  it("hands back decoded bytes, and reads an empty or bodiless gzip answer as empty", async () => {
    const body = gzipSync(Buffer.from("hello"));
    env.emulator.addFault({ path: "/me", fault: { kind: "reply", status: 200, headers: { "Content-Type": "text/plain", "Content-Encoding": "gzip" }, body } });
    const text = await rawRequest(env, { url: "/me", responseType: "text" });
    expect(text.data).toBe("hello");

    env.emulator.addFault({ path: "/me", fault: { kind: "reply", status: 204, headers: { "Content-Encoding": "gzip" }, body: "" } });
    expect((await rawRequest(env, { url: "/me" })).data).toBeNull();
    env.emulator.addFault({ path: "/me", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body: "" } });
    expect((await rawRequest(env, { url: "/me" })).data).toBeNull();
  });

  it("treats a gzip answer cut off mid-way as a transient failure", async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ value: Array.from({ length: 500 }, (_, i) => ({ id: `item-${i}-${Math.random()}` })) })));
    env.emulator.addFault({ path: "/groups", times: 2, fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body: body.subarray(0, body.length - 40) } });
    const error = await failureOf(rawRequest(env, { url: "/groups", maxRetries: "1" }));
    expect(error.message).toMatch(/the answer \(status 200\) was cut off before its end \(\d+ bytes received\) \(after 2 attempts\)$/);
    expect(env.graphRequests()).toHaveLength(2);
  });

  it.each([
    ["deflate", deflateSync],
    ["br", brotliCompressSync],
    ["x-gzip", gzipSync],
  ])("decodes a %s answer", async (coding, encode) => {
    const payload = { value: [{ id: "1", displayName: "Zoë" }] };
    env.emulator.addFault({ path: "/groups", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": coding }, body: encode(Buffer.from(JSON.stringify(payload))) } });
    expect((await rawRequest(env, { url: "/groups" })).data).toEqual(payload);
  });

  // Past WHOLE_DECODE_MAX_CODED_BYTES the answer streams through the decoder instead of being decoded in one call.
  const longCoded = () => {
    // Random text does not compress, so the coded body is as long as the text.
    const body = gzipSync(Buffer.from(JSON.stringify({ value: [{ id: randomBytes(3 * WHOLE_DECODE_MAX_CODED_BYTES).toString("base64") }] })));
    expect(body.length).toBeGreaterThan(2 * WHOLE_DECODE_MAX_CODED_BYTES);
    return body;
  };

  it("decodes a gzip answer too long to decode in one call, whole", async () => {
    const body = longCoded();
    env.emulator.addFault({ path: "/groups", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body } });
    const text = await rawRequest(env, { url: "/groups", responseType: "text" });
    expect(text.data).toBe(gunzipText(body));
  });

  it("treats a long gzip answer cut off mid-way as a transient failure", async () => {
    const body = longCoded();
    env.emulator.addFault({ path: "/groups", times: 2, fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body: body.subarray(0, body.length - 40) } });
    const error = await failureOf(rawRequest(env, { url: "/groups", maxRetries: "1" }));
    expect(error.message).toMatch(/the answer \(status 200\) was cut off before its end \(\d+ bytes received\) \(after 2 attempts\)$/);
    expect(env.graphRequests()).toHaveLength(2);
  });

  it("bounds a long compressed answer by its decompressed size", async () => {
    const text = JSON.stringify({ value: [{ id: randomBytes(WHOLE_DECODE_MAX_CODED_BYTES).toString("base64"), blob: "0".repeat(3 * 1024 * 1024) }] });
    const body = gzipSync(Buffer.from(text));
    expect(body.length).toBeGreaterThan(WHOLE_DECODE_MAX_CODED_BYTES);
    env.emulator.addFault({ path: "/users", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body } });
    const error = await failureOf(rawRequest(env, { url: "/users", maxResponseBytes: "2" }));
    expect(error.message).toBe(
      `Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/users: the answer (status 200) is larger than Max Response Size (2 MB): more than that once decoded (gzip). Ask for less (for example $select or $top), or raise Max Response Size`,
    );
  });
});

describe("compressed answers that expand past the one-call bound", () => {
  // A short coded body that decodes to more than WHOLE_DECODE_MAX_DECODED_BYTES streams through the decoder instead.
  const expanding = (decodedBytes: number) => {
    const text = JSON.stringify({ value: [{ blob: "0".repeat(decodedBytes) }] });
    const body = gzipSync(Buffer.from(text));
    expect(body.length).toBeLessThan(WHOLE_DECODE_MAX_CODED_BYTES);
    expect(text.length).toBeGreaterThan(WHOLE_DECODE_MAX_DECODED_BYTES);
    return { text, body };
  };

  it("decodes one under Max Response Size, whole", async () => {
    const { text, body } = expanding(WHOLE_DECODE_MAX_DECODED_BYTES + 1024);
    env.emulator.addFault({ path: "/users", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body } });
    expect((await rawRequest(env, { url: "/users", responseType: "text", maxResponseBytes: "5" })).data).toBe(text);
  });

  it("bounds one over Max Response Size by its decompressed size", async () => {
    const { body } = expanding(6 * 1024 * 1024);
    env.emulator.addFault({ path: "/users", fault: { kind: "reply", status: 200, headers: { "Content-Type": JSON_TYPE, "Content-Encoding": "gzip" }, body } });
    const error = await failureOf(rawRequest(env, { url: "/users", maxResponseBytes: "5" }));
    expect(error.message).toBe(
      `Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/users: the answer (status 200) is larger than Max Response Size (5 MB): more than that once decoded (gzip). Ask for less (for example $select or $top), or raise Max Response Size`,
    );
  });
});

function gunzipText(body: Buffer): string {
  return gunzipSync(body).toString("utf8");
}
