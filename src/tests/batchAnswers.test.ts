/**
 * Batch Requests against a hostile $batch answer: the emulator's scripted `reply` plays a server that answers
 * 200 with a malformed `responses`. Every request still gets exactly one result; a part of the answer that is
 * not usable becomes a 502 InvalidBatchResponse naming what was wrong, counted as failed, never resent, and
 * never a crash of the step.
 */
import type { BatchItemResult } from "../client/batch";
import { failureOf, runAction, useEmulator } from "./support";

const env = useEmulator({ users: 5 });

const REQUESTS = [
  { id: "a", method: "GET", url: "/me" },
  { id: "b", method: "GET", url: "/me/joinedTeams" },
];
const A_OK = { id: "a", status: 200, headers: { "Content-Type": "application/json" }, body: { id: "me" } };

/** The next POST /$batch answers 200 with exactly this body. */
function answerBatchWith(body: unknown, contentType = "application/json"): void {
  env.emulator.addFault({
    method: "POST",
    path: "/$batch",
    fault: { kind: "reply", status: 200, headers: { "Content-Type": contentType }, body: typeof body === "string" ? body : JSON.stringify(body) },
  });
}

async function batch(params: Record<string, unknown>): Promise<BatchItemResult[]> {
  return (await runAction(env, "batchRequests", { requests: JSON.stringify(REQUESTS), ...params })).data as BatchItemResult[];
}

function errorOf(result: BatchItemResult): { code?: string; message?: string } {
  return (result.body as { error?: { code?: string; message?: string } }).error ?? {};
}

/** The ids each $batch call carried, in arrival order. */
function sentIds(): string[][] {
  return env
    .graphRequests()
    .filter((e) => e.url.endsWith("/$batch"))
    .map((e) => (JSON.parse(e.body) as { requests: Array<{ id: string }> }).requests.map((r) => r.id));
}

describe("Batch Requests checks Graph's answer", () => {
  it.each([
    ["a body that is not JSON", "<html>oops</html>", "text/html", { a: /it has no "responses" list \(it is the text '<html>oops<\/html>'\)/, b: /no "responses" list/ }],
    ["responses that are not a list", { responses: { a: A_OK } }, undefined, { a: /its "responses" is an object/, b: /its "responses" is an object/ }],
    ["an answer with no responses", {}, undefined, { a: /its "responses" is missing/, b: /its "responses" is missing/ }],
    ["an item that is not an object", { responses: [A_OK, 42] }, undefined, { b: /no response for this request, and parts it cannot match to one: response 2 of 2 is 42, not an object/ }],
    ["an item without a text id", { responses: [A_OK, { id: 2, status: 200 }] }, undefined, { b: /response 2 of 2 has id 2, not text/ }],
    ["an unknown id", { responses: [A_OK, { id: "zzz", status: 200 }] }, undefined, { b: /response 2 of 2 answers id 'zzz', which was not sent in this call/ }],
    ["an id answered twice", { responses: [A_OK, { id: "b", status: 200 }, { id: "B", status: 404 }] }, undefined, { b: /it answers this request 2 times \(statuses 200, 404\)/ }],
    ["a status as text", { responses: [A_OK, { id: "b", status: "200" }] }, undefined, { b: /its status is the text '200', not an HTTP status code \(a whole number from 100 to 599\)/ }],
    ["a status that is not an integer", { responses: [A_OK, { id: "b", status: 200.5 }] }, undefined, { b: /its status is 200\.5, not an HTTP status code/ }],
    ["a status out of range", { responses: [A_OK, { id: "b", status: 700 }] }, undefined, { b: /its status is 700, not an HTTP status code/ }],
    ["a missing status", { responses: [A_OK, { id: "b" }] }, undefined, { b: /its status is missing/ }],
    ["headers that are not an object", { responses: [A_OK, { id: "b", status: 200, headers: ["Content-Type: application/json"] }] }, undefined, { b: /its headers are a list, not an object of names and values/ }],
    ["a header value that is not text", { responses: [A_OK, { id: "b", status: 429, headers: { "Retry-After": { seconds: 1 } } }] }, undefined, { b: /its header 'Retry-After' is an object, not a text value/ }],
    ["a body that is not base64", { responses: [A_OK, { id: "b", status: 200, headers: { "Content-Type": "image/png" }, body: "not base64!" }] }, undefined, { b: /its body is not base64, although Graph base64-encodes a image\/png body/ }],
  ])("turns %s into a failure of the request it concerns", async (_what, body, contentType, expected) => {
    answerBatchWith(body, contentType);
    const results = await batch({ failOnItemError: "false" });

    expect(results.map((r) => r.id)).toEqual(["a", "b"]);
    for (const result of results) {
      const pattern = expected[result.id as keyof typeof expected];
      if (pattern === undefined) {
        expect(result).toEqual({ id: "a", status: 200, headers: { "Content-Type": "application/json" }, body: { id: "me" } });
        continue;
      }
      expect(result.status).toBe(502);
      expect(errorOf(result).code).toBe("InvalidBatchResponse");
      expect(errorOf(result).message).toMatch(/^Graph's \$batch answer for this request cannot be used: /);
      expect(errorOf(result).message).toMatch(pattern);
      expect(errorOf(result).message).toMatch(/; whether the request ran is unknown$/);
    }
    // An unusable answer says nothing about whether the request ran, so it is never sent again.
    expect(sentIds()).toEqual([["a", "b"]]);
  });

  it("fails the step under Fail On Failed Requests with a summary that names the request and what was wrong", async () => {
    answerBatchWith({ responses: [A_OK, { id: "b", status: "429", headers: { "Retry-After": "1" } }] });
    const error = await failureOf(batch({}));
    expect(error.message).toBe(
      "Microsoft Graph $batch: 1 of 2 requests failed: 'b' 502 InvalidBatchResponse (Graph's $batch answer for this request cannot be used: its status is the text '429', not an HTTP status code (a whole number from 100 to 599); whether the request ran is unknown). Set Fail On Failed Requests to false to get every answer in the output instead.",
    );
    expect((error.data as BatchItemResult[]).map((r) => [r.id, r.status])).toEqual([["a", 200], ["b", 502]]);
    // A throttle spelled as text is not a throttle: nothing waits, nothing is resent.
    expect(env.sleeps).toEqual([]);
    expect(sentIds()).toEqual([["a", "b"]]);
  });

  it("names only the first few parts of an answer flooded with duplicates and strays", async () => {
    const flood = Array.from({ length: 500 }, (_, i) => ({ id: i % 2 ? "a" : `stray-${i}`, status: 200 + (i % 7) }));
    answerBatchWith({ responses: flood });
    const [a, b] = await batch({ failOnItemError: "false" });
    expect(errorOf(a).message).toBe(
      "Graph's $batch answer for this request cannot be used: it answers this request 250 times (statuses 201, 203, 205, and 247 more); whether the request ran is unknown",
    );
    expect(errorOf(b).message).toBe(
      "Graph's $batch answer for this request cannot be used: it has no response for this request, and parts it cannot match to one: response 1 of 500 answers id 'stray-0', which was not sent in this call; response 3 of 500 answers id 'stray-2', which was not sent in this call; response 5 of 500 answers id 'stray-4', which was not sent in this call; and 247 more; whether the request ran is unknown",
    );
  });

  it("keeps reporting a request Graph's answer left out as MissingResponse", async () => {
    answerBatchWith({ responses: [A_OK] });
    const [, missing] = await batch({ failOnItemError: "false" });
    expect(missing).toMatchObject({ id: "b", status: 502 });
    expect(errorOf(missing).code).toBe("MissingResponse");
  });

  it("answers 424 itself for a request whose dependency, in an earlier call, got an unusable answer", async () => {
    answerBatchWith({ responses: [{ id: "a", status: null }] });
    const results = await batch({ failOnItemError: "false", batchSize: "1", requests: JSON.stringify([REQUESTS[0], { ...REQUESTS[1], dependsOn: ["a"] }]) });
    expect(results.map((r) => [r.id, r.status, errorOf(r).code])).toEqual([
      ["a", 502, "InvalidBatchResponse"],
      ["b", 424, "FailedDependency"],
    ]);
    expect(sentIds()).toEqual([["a"]]);
  });

  it("uses every answer when all requests are answered, and warns about a part that matches none", async () => {
    const bOk = { id: "b", status: 200, headers: { "Content-Type": "application/json" }, body: { value: [] } };
    answerBatchWith({ responses: [{ id: "zzz", status: 200 }, bOk, A_OK] });
    const results = await batch({});
    expect(results.map((r) => [r.id, r.status])).toEqual([["a", 200], ["b", 200]]);
    expect(env.logLines).toContain(
      "warn: Microsoft Graph $batch: ignored part of Graph's answer that matched no request sent: response 1 of 3 answers id 'zzz', which was not sent in this call",
    );
  });

  it("matches answers to requests ignoring the case of ids, as Graph does", async () => {
    answerBatchWith({ responses: [{ ...A_OK, id: "A" }, { id: "B", status: 204, body: null }] });
    const results = await batch({});
    expect(results.map((r) => [r.id, r.status])).toEqual([["a", 200], ["b", 204]]);
  });

  it("decodes base64 bodies in either alphabet, with or without padding", async () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x00]);
    answerBatchWith({
      responses: [
        { id: "a", status: 200, headers: { "Content-Type": "image/png" }, body: bytes.toString("base64") },
        { id: "b", status: 200, headers: { "Content-Type": "image/png" }, body: bytes.toString("base64url") },
      ],
    });
    const results = await batch({});
    for (const result of results) expect((result.body as { data: Buffer }).data.equals(bytes)).toBe(true);
  });
});
