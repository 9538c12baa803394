/**
 * JSON batching and per-token throttling over real HTTP (Node's fetch): batch envelope validation, shuffled
 * responses, items routed like single requests (faults, throttling, auth, base64 and redirects), dependsOn → 424.
 */
import { READ_ONLY_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { batchServiceTimeMs } from "./batch";
import { startReceiver } from "./testReceiver";

interface ItemResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

interface GraphErrorBody {
  error: { code: string; message: string; innerError?: Record<string, unknown> };
}

const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

let em: GraphEmulator;

beforeAll(async () => {
  em = await startEmulator();
});
afterAll(() => em.close());
beforeEach(() => em.reset());

function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}, token = em.token): Promise<Response> {
  return fetch(`${em.origin}${path}`, { redirect: "manual", ...init, headers: { Authorization: `Bearer ${token}`, ...init.headers } });
}

async function batch(requests: unknown, options: { version?: string; token?: string } = {}): Promise<{ res: Response; responses: ItemResponse[] }> {
  const res = await call(
    `/${options.version ?? "v1.0"}/$batch`,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ requests }) },
    options.token,
  );
  const body = (await res.json()) as { responses: ItemResponse[] };
  return { res, responses: body.responses };
}

function byId(responses: ItemResponse[]): Record<string, ItemResponse> {
  return Object.fromEntries(responses.map((r) => [r.id, r]));
}

async function batchError(body: string, headers: Record<string, string> = { "Content-Type": "application/json" }): Promise<{ status: number; error: GraphErrorBody["error"] }> {
  const res = await call("/v1.0/$batch", { method: "POST", headers, body });
  return { status: res.status, error: ((await res.json()) as GraphErrorBody).error };
}

async function firstUserIds(n: number): Promise<string[]> {
  const res = await call(`/v1.0/users?$top=${n}&$select=id`);
  return ((await res.json()) as { value: { id: string }[] }).value.map((u) => u.id);
}

describe("$batch envelope", () => {
  it("answers 200 with every item, in an order that is not the request order, each routed like a single request", async () => {
    const [a, b] = await firstUserIds(2);
    const requests = [
      { id: "1", method: "GET", url: "/me?$select=id,displayName" },
      { id: "2", method: "GET", url: `users/${a}?$select=id` },
      { id: "3", method: "GET", url: `/users/${b}` },
    ];
    const { res, responses } = await batch(requests);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(responses.map((r) => r.id).sort()).toEqual(["1", "2", "3"]);
    expect(responses.map((r) => r.id)).not.toEqual(["1", "2", "3"]);

    const items = byId(responses);
    expect(items["1"]).toMatchObject({ status: 200, headers: { "Content-Type": ODATA_JSON, "OData-Version": "4.0", "Cache-Control": "no-cache" } });
    expect(items["1"].body).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#users(id,displayName)/$entity`,
      id: "48d31887-5fad-4d73-a9f5-3c356e68a038",
      displayName: "Megan Bowen",
    });
    expect(items["2"].body).toMatchObject({ id: a });
    expect(items["3"].body).toMatchObject({ id: b, userPrincipalName: expect.stringContaining("@") });

    expect(em.log).toHaveLength(2);
    expect(em.log[1].batchItems?.map((i) => [i.id, i.method, i.url, i.status])).toEqual([
      ["1", "GET", "/me?$select=id,displayName", 200],
      ["2", "GET", `users/${a}?$select=id`, 200],
      ["3", "GET", `/users/${b}`, 200],
    ]);
  });

  it("refuses more than 20 requests with 400 BadRequest and runs none of them", async () => {
    const requests = Array.from({ length: 21 }, (_, i) => ({ id: String(i + 1), method: "GET", url: "/me" }));
    const res = await call("/v1.0/$batch", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ requests }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as GraphErrorBody).error.code).toBe("BadRequest");
    expect(em.log[0].batchItems).toBeUndefined();

    const twenty = await batch(requests.slice(0, 20));
    expect(twenty.res.status).toBe(200);
    expect(twenty.responses).toHaveLength(20);
  });

  it("fails the whole batch for malformed JSON, missing members, duplicate ids and a body without Content-Type", async () => {
    const unreadable = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.";
    expect(await batchError("{not json")).toEqual({ status: 400, error: expect.objectContaining({ code: "BadRequest", message: unreadable }) });
    expect((await batchError(JSON.stringify({ requests: [] }), { "Content-Type": "text/plain" })).error.message).toBe(unreadable);
    expect((await batchError(JSON.stringify({ value: [] }))).status).toBe(400);
    expect((await batchError(JSON.stringify({ requests: [{ id: "1", method: "GET" }] }))).status).toBe(400);
    expect((await batchError(JSON.stringify({ requests: [{ method: "GET", url: "/me" }] }))).status).toBe(400);

    const duplicate = await batchError(JSON.stringify({ requests: [{ id: "a", method: "GET", url: "/me" }, { id: "A", method: "GET", url: "/me" }] }));
    expect(duplicate).toEqual({ status: 400, error: expect.objectContaining({ code: "BadRequest", message: "Request Id A has to be unique in a batch." }) });

    const noType = await batchError(JSON.stringify({ requests: [{ id: "1", method: "PATCH", url: "/me", body: { city: "Oslo" } }] }));
    expect(noType.error.message).toBe("Write request id : 1 does not contain Content-Type header or body.");
    expect((await batchError(JSON.stringify({ requests: [{ id: "9", method: "POST", url: "/users", headers: { "Content-Type": "application/json" } }] }))).status).toBe(400);
    expect((await batchError(JSON.stringify({ requests: [{ id: "1", method: "GET", url: "/me", dependsOn: ["7"] }] }))).status).toBe(400);

    // Nothing ran: the PATCH above did not change Megan.
    expect(((await (await call("/v1.0/me?$select=city")).json()) as { city: string }).city).toBe("Pittsburgh");
  });

  it("needs a valid token (items inherit it), POST only, and honours faults scripted on /$batch itself", async () => {
    const anonymous = await fetch(`${em.origin}/v1.0/$batch`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(anonymous.status).toBe(401);
    expect((await call("/v1.0/$batch")).status).toBe(405);
    em.addFault({ method: "POST", path: "/$batch", fault: { kind: "status", status: 503 } });
    expect((await call("/v1.0/$batch", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status).toBe(503);
  });
});

describe("$batch items", () => {
  it("runs dependents after their dependency and answers 424 FailedDependency when it failed", async () => {
    const requests = [
      { id: "4", method: "GET", url: "/me", dependsOn: ["3"] },
      { id: "3", method: "GET", url: "/users/00000000-0000-4000-8000-000000000000" },
      { id: "2", method: "GET", url: "/me?$select=id", dependsOn: ["1"] },
      { id: "1", method: "PATCH", url: "/me", body: { jobTitle: "Lead Auditor" }, headers: { "Content-Type": "application/json" } },
      { id: "5", method: "GET", url: "/me", dependsOn: ["4"] },
    ];
    const { res, responses } = await batch(requests);
    expect(res.status).toBe(200);
    const items = byId(responses);
    expect(items["3"].status).toBe(404);
    expect(items["4"]).toMatchObject({ status: 424, headers: { "Content-Type": "application/json" } });
    expect((items["4"].body as GraphErrorBody).error.code).toBe("FailedDependency");
    expect(items["5"].status).toBe(424);
    expect(items["1"]).toEqual({ id: "1", status: 204, headers: { "Cache-Control": "no-cache", "x-ms-resource-unit": "1" }, body: null });
    expect(items["2"].status).toBe(200);
    const order = em.log[0].batchItems?.map((i) => i.id) ?? [];
    expect(order.indexOf("1")).toBeLessThan(order.indexOf("2"));
    expect(order.indexOf("3")).toBeLessThan(order.indexOf("4"));
    expect(order.indexOf("4")).toBeLessThan(order.indexOf("5"));
  });

  it("fires scripted faults per item: throttled items answer 429 with Retry-After inside a 200 batch", async () => {
    const [id] = await firstUserIds(1);
    em.addFault({ method: "GET", path: `/users/${id}`, times: 2, fault: { kind: "status", status: 429, retryAfter: "3" } });
    em.addFault({ path: "/me", fault: { kind: "reset" } });
    const requests = ["a", "b", "c"].map((key) => ({ id: key, method: "GET", url: `/users/${id}?$select=id` }));
    const { res, responses } = await batch([...requests, { id: "me", method: "GET", url: "/me" }]);
    expect(res.status).toBe(200);
    const statuses = em.log[1].batchItems?.map((i) => [i.id, i.status, i.headers["Retry-After"]]);
    expect(statuses).toEqual([["a", 429, "3"], ["b", 429, "3"], ["c", 200, undefined], ["me", 200, undefined]]);
    const throttled = byId(responses).a;
    expect(throttled.headers).toMatchObject({ "Retry-After": "3", "Content-Type": "application/json" });
    expect((throttled.body as GraphErrorBody).error).toMatchObject({ code: "TooManyRequests", message: "Please retry again later.", innerError: { code: "429", status: "429" } });
    // The reset rule is for real sockets only: it stayed armed for the next real request.
    await expect(call("/v1.0/me")).rejects.toThrow();
  });

  it("delays the whole answer for a slow item", async () => {
    em.addFault({ path: "/me", fault: { kind: "slow", delayMs: 150 } });
    const started = Date.now();
    const { responses } = await batch([{ id: "1", method: "GET", url: "/me" }, { id: "2", method: "GET", url: "/users?$top=1" }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
  });

  it("answers /content with 302 and Location, not followed, and carries non-JSON bodies base64-encoded both ways", async () => {
    const payload = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x80, 0x0a]);
    const { responses } = await batch([
      { id: "up", method: "PUT", url: "/me/drive/root:/batch.bin:/content", body: payload.toString("base64"), headers: { "Content-Type": "application/octet-stream" } },
      { id: "get", method: "GET", url: "/me/drive/root:/batch.bin:/content", dependsOn: ["up"] },
      { id: "count", method: "GET", url: "/users/$count", headers: { ConsistencyLevel: "eventual" } },
    ]);
    const items = byId(responses);
    expect(items.up.status).toBe(201);
    expect(items.up.body).toMatchObject({ name: "batch.bin", size: payload.length, file: { mimeType: "application/octet-stream" } });

    expect(items.get.status).toBe(302);
    expect(items.get).not.toHaveProperty("body");
    const location = items.get.headers.Location;
    expect(location.startsWith(`${em.downloadOrigin}/download/`)).toBe(true);
    expect(em.log.filter((e) => e.server === "download")).toHaveLength(0);
    expect(Buffer.from(await (await fetch(location)).arrayBuffer())).toEqual(payload);

    expect(items.count.headers["Content-Type"]).toMatch(/^text\/plain/);
    expect(Buffer.from(items.count.body as string, "base64").toString("utf8")).toBe("300");
  });

  it("applies the outer token's permissions to every item and serves /beta batches", async () => {
    const [id] = await firstUserIds(1);
    const patch = { id: "w", method: "PATCH", url: `/users/${id}`, body: { jobTitle: "x" }, headers: { "Content-Type": "application/json" } };
    const readOnly = await batch([patch, { id: "r", method: "GET", url: `/users/${id}` }], { token: READ_ONLY_TOKEN });
    const items = byId(readOnly.responses);
    expect(items.w.status).toBe(403);
    expect((items.w.body as GraphErrorBody).error.code).toBe("Authorization_RequestDenied");
    expect(items.r.status).toBe(200);

    const beta = await batch([{ id: "1", method: "GET", url: "/users?$top=1" }], { version: "beta" });
    expect((beta.responses[0].body as { "@odata.context": string })["@odata.context"]).toBe(`${em.origin}/beta/$metadata#users`);
  });
});

describe("throttling", () => {
  it("answers 429 with Retry-After once a token exceeds its budget, and throttled requests still count", async () => {
    em.setThrottle({ requestsPerWindow: 3, windowMs: 2000 });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await call("/v1.0/me?$select=id");
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(last?.headers.get("retry-after"))).toBeLessThanOrEqual(2);
    expect(((await last?.json()) as GraphErrorBody).error.code).toBe("TooManyRequests");

    // Per token: the read-only token has its own budget.
    expect((await call("/v1.0/me", {}, READ_ONLY_TOKEN)).status).toBe(200);
    em.setThrottle(null);
    expect((await call("/v1.0/me")).status).toBe(200);
  });

  it("counts batch items individually: over-budget items answer 429 inside a 200 batch", async () => {
    em.setThrottle({ requestsPerWindow: 2, windowMs: 10_000 });
    const { res, responses } = await batch(["1", "2", "3", "4"].map((id) => ({ id, method: "GET", url: "/me?$select=id" })));
    expect(res.status).toBe(200);
    const items = byId(responses);
    expect([items["1"].status, items["2"].status, items["3"].status, items["4"].status]).toEqual([200, 200, 429, 429]);
    expect(Number(items["3"].headers["Retry-After"])).toBeGreaterThanOrEqual(9);
    expect((await call("/v1.0/me")).status).toBe(429);
    em.reset();
    expect((await call("/v1.0/me")).status).toBe(200);
  });

  it("answers 429 to a request beyond maxConcurrent in flight for the token", async () => {
    em.setThrottle({ requestsPerWindow: 100, windowMs: 1000, maxConcurrent: 2 });
    em.addFault({ path: "/me", times: 3, fault: { kind: "slow", delayMs: 150 } });
    const answers = await Promise.all([0, 1, 2].map(() => call("/v1.0/me")));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 429]);
    expect(answers.find((r) => r.status === 429)?.headers.get("retry-after")).toBe("1");
    expect((await call("/v1.0/me")).status).toBe(200);
  });
});

describe("the $batch time model", () => {
  const item = (id: string, costMs: number, dependsOn: string[] = []) => ({ id, dependsOn, costMs });

  it.each([
    ["one item costs its latency", [item("1", 20)], 20],
    ["four independent items run at once", [item("1", 20), item("2", 20), item("3", 20), item("4", 20)], 20],
    ["twenty independent items take five rounds of four", Array.from({ length: 20 }, (_, i) => item(String(i + 1), 20)), 100],
    ["a chain runs one after another", [item("a", 20), item("b", 20, ["a"]), item("c", 20, ["B"])], 60],
    ["an item answered 424 without running costs nothing", [item("a", 20), item("b", 0, ["a"]), item("c", 20, ["b"])], 40],
    ["a slow item delays only its own slot", [item("1", 150), item("2", 20), item("3", 20)], 150],
  ])("%s", (_name, order, expected) => {
    expect(batchServiceTimeMs(order)).toBe(expected);
  });

  it("answers after the envelope's round trip plus the items' service time, not their sum", async () => {
    const slow = await startEmulator({ users: 10, latencyMs: 60 });
    const headers = { Authorization: `Bearer ${slow.token}`, "Content-Type": "application/json" };
    const timed = async (path: string, init: RequestInit = {}) => {
      const started = Date.now();
      await (await fetch(`${slow.origin}${path}`, { ...init, headers })).text();
      return Date.now() - started;
    };
    try {
      const batchOf = (n: number) =>
        timed("/v1.0/$batch", { method: "POST", body: JSON.stringify({ requests: Array.from({ length: n }, (_, i) => ({ id: String(i + 1), method: "GET", url: "/me" })) }) });
      await batchOf(1); // warms the connection, so the timed calls measure the emulator
      const one = await batchOf(1);
      const twelve = await batchOf(12);
      // Same envelope; one item is one 60 ms round of items, twelve are three rounds of four (their sum would be 660 ms more).
      expect(twelve - one).toBeGreaterThanOrEqual(90);
      expect(slow.log.at(-1)?.batchItems).toHaveLength(12);
    } finally {
      await slow.close();
    }
  });
});

describe("EmulatorOptions.seed", () => {
  const requests = Array.from({ length: 8 }, (_, i) => ({ id: String(i + 1), method: "GET", url: "/organization" }));

  /** The answer orders of three batches, and which of twelve /me requests a 50 % fault rule without a seed hits. */
  async function choices(seed: number | undefined): Promise<{ orders: string[][]; hits: number[] }> {
    const seeded = await startEmulator({ users: 1, ...(seed === undefined ? {} : { seed }) });
    try {
      const post = async () => {
        const res = await fetch(`${seeded.origin}/v1.0/$batch`, {
          method: "POST",
          headers: { Authorization: `Bearer ${seeded.token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ requests }),
        });
        return ((await res.json()) as { responses: ItemResponse[] }).responses.map((r) => r.id);
      };
      const orders = [await post(), await post(), await post()];
      seeded.addFault({ path: "/me", rate: 0.5, times: 100, fault: { kind: "status", status: 503 } });
      const hits: number[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`${seeded.origin}/v1.0/me`, { headers: { Authorization: `Bearer ${seeded.token}` } });
        await res.arrayBuffer();
        if (res.status === 503) hits.push(i);
      }
      return { orders, hits };
    } finally {
      await seeded.close();
    }
  }

  it("makes another emulator with the same seed answer the same requests the same way; another seed differs", async () => {
    const first = await choices(42);
    expect(await choices(42)).toEqual(first);
    // Each batch still gets an order of its own, never the request order.
    expect(new Set(first.orders.map((order) => order.join())).size).toBe(3);
    for (const order of first.orders) expect(order).not.toEqual(requests.map((r) => r.id));
    expect(first.hits.length).toBeGreaterThan(0);
    expect(first.hits.length).toBeLessThan(12);
    const other = await choices(7);
    expect(other.orders).not.toEqual(first.orders);
    expect(other.hits).not.toEqual(first.hits);
  });

  it("unseeded, batch orders follow each batch's request-id (two emulators differ) and rate rules draw from seed 1 as before", async () => {
    const [one, two] = [await choices(undefined), await choices(undefined)];
    expect(one.orders).not.toEqual(two.orders);
    expect(one.hits).toEqual(two.hits);
  });

  it("refuses a seed mulberry32 cannot take", async () => {
    await expect(startEmulator({ seed: -1 })).rejects.toThrow("seed must be an integer from 0 to 4294967295, got -1");
  });
});

describe("an item that answers later (POST /subscriptions and its validation handshake)", () => {
  it("keeps the seeded answer order, dependsOn, per-item faults, base64 bodies and the time model of a batch without it", async () => {
    const receiver = await startReceiver();
    const payload = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    const requestsWith = (first: Record<string, unknown>) => [
      { id: "first", ...first },
      { id: "after", method: "GET", url: "/me?$select=id", dependsOn: ["first"] },
      { id: "throttled", method: "GET", url: "/users?$top=1&$select=id" },
      { id: "bin", method: "PUT", url: "/me/drive/root:/later.bin:/content", body: payload.toString("base64"), headers: { "Content-Type": "application/octet-stream" } },
    ];
    const run = async (first: Record<string, unknown>) => {
      const seeded = await startEmulator({ users: 5, seed: 42, latencyMs: 40 });
      try {
        seeded.addFault({ method: "GET", path: "/users", times: 1, fault: { kind: "status", status: 429, retryAfter: "4" } });
        const started = Date.now();
        const res = await fetch(`${seeded.origin}/v1.0/$batch`, {
          method: "POST",
          headers: { Authorization: `Bearer ${seeded.token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ requests: requestsWith(first) }),
        });
        const { responses } = (await res.json()) as { responses: ItemResponse[] };
        return { elapsed: Date.now() - started, responses, executed: seeded.log.at(-1)?.batchItems?.map((i) => i.id) };
      } finally {
        await seeded.close();
      }
    };
    try {
      const expirationDateTime = new Date(Date.now() + 60 * 60_000).toISOString();
      const later = await run({
        method: "POST",
        url: "/subscriptions",
        headers: { "Content-Type": "application/json" },
        body: { changeType: "updated", resource: "users", notificationUrl: receiver.url, expirationDateTime },
      });
      const atOnce = await run({ method: "GET", url: "/me?$select=id" });

      expect(receiver.requests).toHaveLength(1);
      expect(later.responses.map((r) => r.id)).toEqual(atOnce.responses.map((r) => r.id));
      expect(later.executed).toEqual(atOnce.executed);
      const items = byId(later.responses);
      expect(items.first.status).toBe(201);
      expect(items.after.status).toBe(200);
      expect(items.throttled).toMatchObject({ status: 429, headers: { "Retry-After": "4" } });
      expect(items.bin).toMatchObject({ status: 201, body: { name: "later.bin", size: payload.length } });
      // Envelope 40 ms, then "first" and "after" one after the other (80 ms) beside the two others.
      expect(later.elapsed).toBeGreaterThanOrEqual(115);
      expect(atOnce.elapsed).toBeGreaterThanOrEqual(115);
    } finally {
      await receiver.close();
    }
  });
});
