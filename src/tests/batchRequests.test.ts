/**
 * Batch Requests against the emulator's $batch: chunks of 20, dependsOn kept inside a chunk or waited
 * for across chunks, throttled items resent after the longest Retry-After, answers in the order given.
 */
import type { BatchItemResult } from "../client/batch";
import { failureOf, runAction, useEmulator } from "./support";

const env = useEmulator({ users: 300 });

async function batch(params: Record<string, unknown>): Promise<BatchItemResult[]> {
  return (await runAction(env, "batchRequests", params)).data as BatchItemResult[];
}

/** The requests each $batch call carried, in the order the calls reached the emulator. */
function envelopes(): Array<Array<{ id: string; method: string; url: string; dependsOn?: string[] }>> {
  return env
    .graphRequests()
    .filter((e) => e.url.endsWith("/$batch"))
    .map((e) => JSON.parse(e.body).requests);
}

async function userIds(n: number): Promise<string[]> {
  const page = (await runAction(env, "rawRequest", { url: "/users", method: "GET", queryParams: [{ key: "$top", value: String(n) }, { key: "$select", value: "id" }] })).data as { value: Array<{ id: string }> };
  env.emulator.reset();
  return page.value.map((u) => u.id);
}

describe("Batch Requests", () => {
  it("sends 45 requests in 3 envelopes, resends the 2 throttled items once after the longest Retry-After, and answers in order", async () => {
    const ids = await userIds(45);
    env.emulator.addFault({ method: "GET", path: `/users/${ids[7]}`, fault: { kind: "status", status: 429, retryAfter: "2" } });
    env.emulator.addFault({ method: "GET", path: `/users/${ids[30]}`, fault: { kind: "status", status: 429, retryAfter: "5" } });
    const requests = ids.map((id) => ({ method: "GET", url: `/users/${id}?$select=id,displayName` }));
    const results = await batch({ requests: JSON.stringify(requests) });

    expect(results.map((r) => r.id)).toEqual(ids.map((_, i) => String(i + 1)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.map((r) => (r.body as { id: string }).id)).toEqual(ids);
    const sent = envelopes();
    expect(sent.map((e) => e.length)).toEqual([20, 20, 5, 2]);
    expect(sent[3].map((r) => r.id).sort()).toEqual(["31", "8"]);
    expect(sent[0][0]).toEqual({ id: "1", method: "GET", url: `users/${ids[0]}?$select=id,displayName` });
    expect(env.sleeps).toEqual([5000]);
    expect(env.logLines.some((l) => l.startsWith("warn: Microsoft Graph $batch: 2 request(s) throttled (8, 31)"))).toBe(true);
  });

  it("keeps dependent requests in one envelope with dependsOn, and reports 424 when a dependency failed", async () => {
    const [first] = await userIds(1);
    const results = await batch({
      failOnItemError: "false",
      requests: [
        { id: "a", method: "GET", url: `/users/${first}` },
        { id: "b", method: "GET", url: "/users/00000000-0000-0000-0000-000000000000" },
        { id: "c", method: "GET", url: "/me", dependsOn: ["b"] },
        { id: "d", method: "GET", url: "/me", dependsOn: ["a"] },
      ],
    });
    expect(results.map((r) => [r.id, r.status])).toEqual([["a", 200], ["b", 404], ["c", 424], ["d", 200]]);
    const [envelope] = envelopes();
    expect(envelope.find((r) => r.id === "c")?.dependsOn).toEqual(["b"]);
    expect(envelopes()).toHaveLength(1);
  });

  it("waits for a dependency that landed in an earlier envelope, and answers 424 itself when it failed", async () => {
    const requests = [
      { id: "bad", method: "GET", url: "/users/00000000-0000-0000-0000-000000000000" },
      ...Array.from({ length: 19 }, (_, i) => ({ id: `r${i}`, method: "GET", url: "/me" })),
    ];
    const after = [
      { id: "x", method: "GET", url: "/me", dependsOn: ["r0"] },
      { id: "y", method: "GET", url: "/me", dependsOn: ["bad"] },
    ];
    const results = await batch({ failOnItemError: "false", batchSize: "20", requests: [...requests, ...after] });
    const status = Object.fromEntries(results.map((r) => [r.id, r.status]));
    expect(status).toMatchObject({ r0: 200, bad: 404, x: 200 });
    expect(status.y).toBe(424);
    const sent = envelopes();
    expect(sent.map((e) => e.map((r) => r.id))).toEqual([requests.map((r) => r.id), ["x"]]);
    expect(sent[1][0].dependsOn).toBeUndefined();
  });

  it("runs a dependsOn chain listed last-first as one envelope after another, dependencies first", async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `s${i}`);
    const requests = ids.map((id, i) => ({ id, method: "GET", url: "/me?$select=id", ...(i < 59 ? { dependsOn: [`s${i + 1}`] } : {}) }));
    const results = await batch({ requests: JSON.stringify(requests) });

    expect(results.map((r) => [r.id, r.status])).toEqual(ids.map((id) => [id, 200]));
    const reversed = [...ids].reverse();
    const sent = envelopes();
    expect(sent.map((e) => e.map((r) => r.id))).toEqual([reversed.slice(0, 20), reversed.slice(20, 40), reversed.slice(40)]);
    // Inside an envelope Graph runs the chain by dependsOn; across envelopes the connector waits instead.
    expect(sent.map((e) => e[0].dependsOn)).toEqual([undefined, undefined, undefined]);
    expect(sent[1][1].dependsOn).toEqual(["s39"]);
  });

  it("fails the step with a summary naming each failed id, status and code, unless asked only to report", async () => {
    const error = await failureOf(
      batch({
        requests: [
          { id: "ok", method: "GET", url: "/me" },
          { id: "missing", method: "GET", url: "/users/00000000-0000-0000-0000-000000000000" },
          { id: "after", method: "GET", url: "/me", dependsOn: ["missing"] },
        ],
      }),
    );
    expect(error.message).toBe(
      "Microsoft Graph $batch: 2 of 3 requests failed: 'missing' 404 Request_ResourceNotFound, 'after' 424 FailedDependency. Set Fail On Failed Requests to false to get every answer in the output instead.",
    );
    expect((error.data as BatchItemResult[]).map((r) => r.status)).toEqual([200, 404, 424]);
  });

  it("sends JSON bodies with a Content-Type, assigns missing ids, and makes absolute Graph URLs relative", async () => {
    const results = await batch({
      requests: [
        { method: "GET", url: `${env.emulator.origin}/v1.0/me?$select=id` },
        { id: "1", method: "GET", url: "me" },
        { method: "POST", url: "/users", body: { displayName: "Batch", mailNickname: "batch", userPrincipalName: "batch@contoso.onmicrosoft.com", accountEnabled: true, passwordProfile: { password: "x!Y2-long-enough" } } },
      ],
    });
    expect(results.map((r) => [r.id, r.status])).toEqual([["2", 200], ["1", 200], ["3", 201]]);
    const [envelope] = envelopes();
    expect(envelope[0]).toMatchObject({ id: "2", url: "me?$select=id" });
    expect(envelope[2]).toMatchObject({ id: "3", headers: { "Content-Type": "application/json" } });
  });

  it("decodes a base64 file answer into a file payload", async () => {
    const results = await batch({ requests: [{ id: "f", method: "GET", url: "/users/$count", headers: { ConsistencyLevel: "eventual" } }] });
    const body = results[0].body as { data: Buffer; contentType: string };
    expect(Buffer.isBuffer(body.data)).toBe(true);
    expect(body.data.toString("utf8")).toBe("300");
    expect(body.contentType).toMatch(/^text\/plain/);
  });

  it("resends a throttled item together with the item that got 424 because of it", async () => {
    env.emulator.addFault({ method: "GET", path: "/me", fault: { kind: "status", status: 429, retryAfter: "1" } });
    const results = await batch({
      requests: [
        { id: "1", method: "GET", url: "/me" },
        { id: "2", method: "GET", url: "/me/joinedTeams", dependsOn: ["1"] },
      ],
    });
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(envelopes()).toHaveLength(2);
    expect(envelopes()[1].map((r) => r.id)).toEqual(["1", "2"]);
  });

  it("backs off by round when throttled items carry no Retry-After, even for an item throttled for the first time", async () => {
    env.emulator.addFault({ method: "GET", path: "/me", fault: { kind: "status", status: 429 } });
    env.emulator.addFault({ method: "GET", path: "/me/joinedTeams", fault: { kind: "status", status: 429 } });
    const results = await batch({
      batchSize: 1,
      concurrency: 1,
      requests: [
        { id: "1", method: "GET", url: "/me" },
        { id: "2", method: "GET", url: "/me/joinedTeams", dependsOn: ["1"] },
      ],
    });
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    // Request 2 waits out round 1 unsent (its dependency is throttled), then is throttled itself in round 2.
    expect(envelopes().map((e) => e.map((r) => r.id))).toEqual([["1"], ["1"], ["2"], ["2"]]);
    // 1 s then 2 s, each plus the test's fixed 10 % jitter: the backoff step is the round's.
    expect(env.sleeps).toEqual([1100, 2200]);
  });

  it("gets 100 requests through a Graph-like per-token budget, resending only the items Graph throttled", async () => {
    env.emulator.setThrottle({ requestsPerWindow: 30, windowMs: 10_000 });
    const results = await batch({ requests: Array.from({ length: 100 }, () => ({ method: "GET", url: "/me?$select=id" })) });
    expect(results.every((r) => r.status === 200)).toBe(true);
    const items = env.graphRequests().flatMap((e) => e.batchItems ?? []);
    const throttledItems = items.filter((i) => i.status === 429);
    expect(throttledItems.length).toBeGreaterThan(0);
    // Every item that succeeded was sent until it did, and never again afterwards.
    expect(items.filter((i) => i.status === 200)).toHaveLength(100);
    expect(env.sleeps.every((ms) => ms >= 1000)).toBe(true);
  });

  it.each([
    ["not JSON", "[{", /^Requests: is not valid JSON/],
    ["an empty list", "[]", /^Requests: is empty/],
    ["a bad method", [{ method: "FETCH", url: "/me" }], /^Requests: request 1 \(id '1'\): method 'FETCH' is not one of/],
    ["a duplicate id", [{ id: "1", method: "GET", url: "/me" }, { id: 1, method: "GET", url: "/me" }], /^Requests: request 2: id '1' is used twice/],
    ["ids that differ only in case", [{ id: "a", method: "GET", url: "/me" }, { id: "A", method: "GET", url: "/me" }], /^Requests: request 2: id 'A' is used twice; ids must be unique \(Graph ignores case\)$/],
    ["an unknown dependency", [{ id: "a", method: "GET", url: "/me", dependsOn: ["z"] }], /^Requests: request 'a' depends on 'z', which is not in the list/],
    ["a cycle", [{ id: "a", method: "GET", url: "/me", dependsOn: ["b"] }, { id: "b", method: "GET", url: "/me", dependsOn: ["a"] }], /^Requests: dependsOn forms a cycle: a → b → a/],
    ["a text body without Content-Type", [{ method: "POST", url: "/me/sendMail", body: "hello" }], /^Requests: request 1 \(id '1'\): a text body needs a Content-Type header/],
    ["a foreign URL", [{ method: "GET", url: "https://evil.example.com/v1.0/me" }], /^Requests: request 1 \(id '1'\): url: 'https:\/\/evil\.example\.com' is not the Microsoft Graph origin/],
    ["a URL of another version", [{ method: "GET", url: "https://graph.microsoft.com/beta/me" }], /not the Microsoft Graph origin|another API version/],
    ["an Authorization header", [{ method: "GET", url: "/me", headers: { Authorization: "Bearer x" } }], /^Requests: request 1 \(id '1'\): Authorization is set from the connection/],
  ])("refuses %s before sending anything", async (_what, requests, message) => {
    const error = await failureOf(batch({ requests: typeof requests === "string" ? requests : JSON.stringify(requests) }));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });

  it.each([
    ["a Graph URL whose path smuggles //host", "{origin}/v1.0//evil.example/x", /becomes '\/evil\.example\/x' relative to the version root, which starts with '\/' after the version/],
    ["a Graph URL whose path makes it protocol-relative", "{origin}/v1.0///evil.example/x", /becomes '\/\/evil\.example\/x' relative to the version root, which is protocol-relative/],
    ["a Graph URL whose path is protocol-relative once decoded", "{origin}/v1.0/%2F%2Fevil.example/x", /becomes '%2F%2Fevil\.example\/x' relative to the version root, which is protocol-relative/],
    // The URL check sees the raw text before the URL parser can turn the backslash into '/'.
    ["a Graph URL with a backslash the URL parser would turn into '/'", "{origin}/v1.0/\\evil.example/x", /contains a backslash, which is not allowed in a Graph URL/],
    ["a Graph URL whose path starts with a scheme", "{origin}/v1.0/https:%2F%2Fevil.example/x", /becomes 'https:%2F%2Fevil\.example\/x' relative to the version root, which starts with a scheme/],
    ["a path that starts with a scheme", "/https:evil.example/x", /becomes 'https:evil\.example\/x' relative to the version root, which starts with a scheme/],
    ["a path with an encoded backslash", "/%5Cevil.example", /becomes '%5Cevil\.example' relative to the version root, which contains a backslash or a control character/],
    ["a path with encoded control characters", "/me%0D%0AHost:%20evil", /which contains a backslash or a control character/],
    ["a path that repeats the version to smuggle //host", "/v1.0//evil.example/x", /url: '\/v1\.0\/\/evil\.example\/x' starts with an API version/],
  ])("refuses %s, naming the request, before sending anything", async (_what, url, message) => {
    const error = await failureOf(batch({ requests: JSON.stringify([{ method: "GET", url: "/me" }, { id: "x", method: "GET", url: url.replace("{origin}", env.emulator.origin) }]) }));
    expect(error.message).toMatch(/^Requests: request 2 \(id 'x'\): url:? /);
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("keeps item paths with colons and percent-encoding as given", async () => {
    await batch({
      failOnItemError: "false",
      requests: [
        { method: "GET", url: "/me/drive/root:/reports/q3.csv:/content" },
        { method: "GET", url: `${env.emulator.origin}/v1.0/users/adele%40contoso.onmicrosoft.com?$select=id` },
      ],
    });
    expect(envelopes()[0].map((r) => r.url)).toEqual(["me/drive/root:/reports/q3.csv:/content", "users/adele%40contoso.onmicrosoft.com?$select=id"]);
  });

  it("refuses a Batch Size above Graph's limit of 20", async () => {
    const error = await failureOf(batch({ requests: "[]", batchSize: "25" }));
    expect(error.message).toBe("Batch Size: 25 is more than the allowed 20");
    const zero = await failureOf(batch({ requests: "[]", batchSize: "0" }));
    expect(zero.message).toBe("Batch Size: must be at least 1");
    expect(env.emulator.log).toHaveLength(0);
  });
});
