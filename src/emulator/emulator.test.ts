/**
 * Proves the emulator over real HTTP (Node's fetch): the Graph headers and error envelope, paging and
 * $count rules, scripted faults, the pre-authenticated download host and the writable user collection.
 */
import { DEMO_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { quickXorHash } from "./quickxor";
import { indexOfUserId, userIdFor } from "./tenant";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

interface Page {
  "@odata.context": string;
  "@odata.count"?: number;
  "@odata.nextLink"?: string;
  value: Record<string, unknown>[];
}

interface GraphErrorBody {
  error: { code: string; message: string; innerError: Record<string, string> };
}

let em: GraphEmulator;

function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  const url = path.startsWith("http") ? path : `${em.origin}${path}`;
  return fetch(url, { redirect: "manual", ...init, headers: { Authorization: `Bearer ${em.token}`, ...init.headers } });
}

async function json<T>(path: string, init?: RequestInit & { headers?: Record<string, string> }): Promise<{ res: Response; body: T }> {
  const res = await call(path, init);
  return { res, body: (await res.json()) as T };
}

async function expectError(path: string, status: number, code: string, message?: string, init?: RequestInit & { headers?: Record<string, string> }) {
  const { res, body } = await json<GraphErrorBody>(path, init);
  expect(res.status).toBe(status);
  expect(body.error.code).toBe(code);
  if (message !== undefined) expect(body.error.message).toBe(message);
  return body;
}

beforeAll(async () => {
  em = await startEmulator();
});
afterAll(() => em.close());
beforeEach(() => em.reset());

describe("headers and errors", () => {
  it("stamps Graph's response headers and echoes client-request-id", async () => {
    const res = await call("/v1.0/me", { headers: { "client-request-id": "11111111-2222-4333-8444-555555555555" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("request-id")).toMatch(UUID);
    expect(res.headers.get("client-request-id")).toBe("11111111-2222-4333-8444-555555555555");
    expect(res.headers.get("date")).toMatch(/GMT$/);
    expect(res.headers.get("odata-version")).toBe("4.0");
    expect(res.headers.get("content-type")).toBe(ODATA_JSON);
    expect(JSON.parse(res.headers.get("x-ms-ags-diagnostic") ?? "{}")).toHaveProperty("ServerInfo.DataCenter");
    expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000");
    const me = (await res.json()) as Record<string, unknown>;
    expect(me["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users/$entity`);
    expect(me).toMatchObject({ displayName: "Megan Bowen", userPrincipalName: "MeganB@contoso.onmicrosoft.com", id: expect.stringMatching(UUID) });
  });

  it("uses the error envelope with innerError ids equal to the headers", async () => {
    const res = await call("/v1.0/users/00000000-0000-4000-8000-000000000000");
    const body = (await res.json()) as GraphErrorBody;
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("client-request-id")).toBe(res.headers.get("request-id"));
    expect(body.error).toEqual({
      code: "Request_ResourceNotFound",
      message: "Resource '00000000-0000-4000-8000-000000000000' does not exist or one of its queried reference-property objects are not present.",
      innerError: { date: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/), "request-id": res.headers.get("request-id"), "client-request-id": res.headers.get("request-id") },
    });
  });

  it("answers 401 InvalidAuthenticationToken with Graph's challenge and never logs the token", async () => {
    const missing = await fetch(`${em.origin}/v1.0/me`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe(
      'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
    );
    expect(((await missing.json()) as GraphErrorBody).error).toMatchObject({ code: "InvalidAuthenticationToken", message: "Access token is empty." });

    const wrong = await fetch(`${em.origin}/v1.0/me`, { headers: { Authorization: "Bearer not-the-token" } });
    expect(((await wrong.json()) as GraphErrorBody).error.message).toBe("Access token validation failure. Invalid audience.");

    await call("/v1.0/me");
    expect(em.log.map((e) => e.auth)).toEqual(["none", "invalid", "valid"]);
    expect(em.log[2].headers.authorization).toBe("Bearer [REDACTED]");
    expect(JSON.stringify(em.log)).not.toContain(DEMO_TOKEN);
  });

  it("rejects unknown versions and segments the way Graph does", async () => {
    await expectError("/v2.0/me", 400, "BadRequest", "Invalid version.");
    await expectError("/v1.0/foo", 400, "BadRequest", "Resource not found for the segment 'foo'.");
    await expectError("/v1.0/users", 405, "Request_BadRequest", undefined, { method: "PUT" });
  });

  it("answers HEAD like GET without a body", async () => {
    const res = await call("/v1.0/me", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });
});

describe("paging and queries", () => {
  it("follows absolute nextLinks with opaque skiptokens through all 300 users", async () => {
    const ids = new Set<string>();
    let url: string | undefined = "/v1.0/users?$top=5";
    let pages = 0;
    while (url) {
      const body: Page = (await json<Page>(url)).body;
      pages++;
      body.value.forEach((u) => ids.add(String(u.id)));
      url = body["@odata.nextLink"];
      if (url) {
        expect(url.startsWith(`${em.origin}/v1.0/users?$top=5&$skiptoken=`)).toBe(true);
        expect(new URL(url).searchParams.get("$skiptoken")).not.toMatch(/^\d+$/);
      }
    }
    expect(pages).toBe(60);
    expect(ids.size).toBe(300);
  });

  it("adds @odata.count on the first page only, and only with ConsistencyLevel: eventual", async () => {
    const plain = await json<Page>("/v1.0/users?$count=true&$top=10");
    expect(plain.body["@odata.count"]).toBeUndefined();

    const eventual = { ConsistencyLevel: "eventual" };
    const first = await json<Page>("/v1.0/users?$count=true&$top=100&$select=id,displayName", { headers: eventual });
    expect(first.body["@odata.count"]).toBe(300);
    expect(first.body["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users(id,displayName)`);
    expect(Object.keys(first.body.value[0])).toEqual(["id", "displayName"]);
    const second = await json<Page>(first.body["@odata.nextLink"]!, { headers: eventual });
    expect(second.body["@odata.count"]).toBeUndefined();

    await expectError("/v1.0/users/$count", 400, "Request_BadRequest", "$count is not currently supported.");
    const count = await call("/v1.0/users/$count", { headers: eventual });
    expect(count.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await count.text()).toBe("300");
  });

  it("validates $top, $skip, $select and $filter like the directory service", async () => {
    await expectError("/v1.0/users?$top=1000", 400, "Request_UnsupportedQuery", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.");
    await expectError("/v1.0/users?$skip=5", 400, "Request_BadRequest", "'$skip' is not supported by the service.");
    await expectError("/v1.0/users?$select=id,shoeSize", 400, "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.");
    await expectError("/v1.0/users?$filter=endswith(mail,'.com')", 400, "Request_UnsupportedQuery", "Unsupported Query.");

    const adeles = await json<Page>("/v1.0/users?$filter=startswith(displayName,'Adele')&$top=999");
    expect(adeles.body.value.length).toBeGreaterThan(0);
    expect(adeles.body.value.every((u) => String(u.displayName).startsWith("Adele"))).toBe(true);

    const target = adeles.body.value[0];
    const byMail = await json<Page>(`/v1.0/users?$filter=${encodeURIComponent(`mail eq '${String(target.mail)}'`)}`);
    expect(byMail.body.value.map((u) => u.id)).toEqual([target.id]);

    const enabled = await call("/v1.0/users/$count?$filter=accountEnabled eq true", { headers: { ConsistencyLevel: "eventual" } });
    expect(Number(await enabled.text())).toBe(300 - 13);
  });

  it("resolves users by id and by userPrincipalName", async () => {
    const { body } = await json<Page>("/v1.0/users?$top=3&$select=id,userPrincipalName");
    const user = body.value[2];
    expect((await json<Record<string, unknown>>(`/v1.0/users/${String(user.id)}`)).body.id).toBe(user.id);
    expect((await json<Record<string, unknown>>(`/v1.0/users/${String(user.userPrincipalName)}`)).body.id).toBe(user.id);
  });

  it("serves groups, joined teams and the beta default property set", async () => {
    const groups = await json<Page>("/v1.0/groups");
    expect(groups.body.value).toHaveLength(20);
    expect(groups.body["@odata.nextLink"]).toBeUndefined();
    const teams = await json<Page>("/v1.0/me/joinedTeams");
    expect(teams.body.value.length).toBeGreaterThanOrEqual(3);
    expect(teams.body.value[0]).toMatchObject({ id: expect.stringMatching(UUID), isArchived: false, tenantId: expect.stringMatching(UUID) });
    const beta = await json<Page>("/beta/users?top=2");
    expect(beta.body.value).toHaveLength(2);
    expect(beta.body.value[0]).toHaveProperty("accountEnabled");
  });
});

describe("faults", () => {
  it("throttles twice with Graph's 429 body, then answers normally", async () => {
    em.addFault({ path: "/me", times: 2, fault: { kind: "status", status: 429, retryAfter: "3" } });
    for (let i = 0; i < 2; i++) {
      const res = await call("/v1.0/me?$select=id");
      const body = (await res.json()) as GraphErrorBody;
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("3");
      expect(body.error).toMatchObject({
        code: "TooManyRequests",
        message: "Please retry again later.",
        innerError: { code: "429", message: "Please retry after", status: "429", "request-id": res.headers.get("request-id") },
      });
    }
    expect((await call("/beta/me")).status).toBe(200);
  });

  it("matches method and RegExp paths, omits Retry-After unless given, and reset() clears faults", async () => {
    em.addFault({ method: "POST", path: /^\/users/, fault: { kind: "status", status: 503 } });
    expect((await call("/v1.0/users?$top=1")).status).toBe(200);
    const res = await call("/v1.0/users", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBeNull();
    expect(((await res.json()) as GraphErrorBody).error.code).toBe("serviceNotAvailable");

    em.addFault({ path: "/me", fault: { kind: "status", status: 500 } });
    em.reset();
    expect((await call("/v1.0/me")).status).toBe(200);
    expect(em.log).toHaveLength(1);
  });

  it("resets the socket, truncates or stalls the body and delays on request", async () => {
    em.addFault({ path: "/me", fault: { kind: "reset" } });
    await expect(call("/v1.0/me")).rejects.toThrow();
    expect(em.log[0].status).toBe(0);

    em.addFault({ path: "/users", fault: { kind: "truncate" } });
    const truncated = await call("/v1.0/users?$top=50");
    expect(truncated.status).toBe(200);
    await expect(truncated.text()).rejects.toThrow();

    em.addFault({ path: "/users", fault: { kind: "stall" } });
    const stalled = await call("/v1.0/users?$top=50");
    expect(stalled.status).toBe(200);
    const reader = stalled.body!.getReader();
    const first = await reader.read();
    expect(Number(stalled.headers.get("content-length"))).toBeGreaterThan(first.value!.length);
    const next = await Promise.race([reader.read(), new Promise((resolve) => setTimeout(() => resolve("stalled"), 150))]);
    expect(next).toBe("stalled");
    await reader.cancel();

    em.addFault({ path: "/me", fault: { kind: "slow", delayMs: 150 } });
    const started = Date.now();
    expect((await call("/v1.0/me")).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe("files", () => {
  it("redirects /content to the download host, which serves bytes only without Authorization", async () => {
    const redirect = await call("/v1.0/me/drive/root:/logo.png:/content");
    expect(redirect.status).toBe(302);
    expect(await redirect.text()).toBe("");
    const location = redirect.headers.get("location")!;
    expect(location.startsWith(`${em.downloadOrigin}/download/`)).toBe(true);
    expect(new URL(location).searchParams.get("tempauth")).toBeTruthy();

    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("image/png");
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes[0]).toBe(0x89);
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");

    const withAuth = await fetch(location, { headers: { Authorization: `Bearer ${em.token}` } });
    expect(withAuth.status).toBe(401);
    const hits = em.log.filter((e) => e.server === "download");
    expect(hits.map((e) => [e.auth, e.status])).toEqual([["none", 200], ["valid", 401]]);
    expect(hits[1].headers.authorization).toBe("Bearer [REDACTED]");

    expect((await fetch(location.replace(/tempauth=[^&]+/, "tempauth=forged"))).status).toBe(404);
    const ranged = await fetch(location, { headers: { Range: "bytes=0-3" } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(0, 4));
  });

  it("exposes item metadata with a downloadUrl and OneDrive's quickXorHash", async () => {
    const { body: item } = await json<Record<string, unknown>>("/v1.0/me/drive/root:/hello.txt");
    const { body: byId } = await json<Record<string, unknown>>(`/v1.0/me/drive/items/${String(item.id)}`);
    expect(byId).toMatchObject({ name: "hello.txt", size: item.size, file: { mimeType: "text/plain" } });
    const text = await (await fetch(String(item["@microsoft.graph.downloadUrl"]))).text();
    expect(text).toContain("Grüße");
    expect(Buffer.byteLength(text)).toBe(item.size);
    expect((byId.file as { hashes: { quickXorHash: string } }).hashes.quickXorHash).toBe(quickXorHash(Buffer.from(text)));
  });

  it("uploads binary bytes with PUT (201 new, 200 replace) and logs them unchanged", async () => {
    const payload = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc3, 0x28, 0x0a]);
    const created = await json<Record<string, unknown>>("/v1.0/me/drive/root:/blob.bin:/content", { method: "PUT", body: payload, headers: { "Content-Type": "application/octet-stream" } });
    expect(created.res.status).toBe(201);
    expect(created.body.size).toBe(payload.length);
    expect(em.log[0].bodyBytes.equals(payload)).toBe(true);

    const replaced = await call("/v1.0/me/drive/root:/blob.bin:/content", { method: "PUT", body: "text", headers: { "Content-Type": "text/plain" } });
    expect(replaced.status).toBe(200);
    const redirect = await call(`/v1.0/me/drive/items/${String(created.body.id)}/content`);
    expect(await (await fetch(redirect.headers.get("location")!)).text()).toBe("text");
  });

  it("accepts sendMail with 202 and no body", async () => {
    const res = await call("/v1.0/me/sendMail", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message: { subject: "Hi" } }) });
    expect(res.status).toBe(202);
    expect(res.headers.get("content-length")).toBe("0");
    expect(res.headers.get("content-type")).toBeNull();
    expect(await res.text()).toBe("");
  });
});

describe("writable users", () => {
  const newUser = {
    accountEnabled: true,
    displayName: "Test Person",
    mailNickname: "TestP",
    userPrincipalName: "TestP@contoso.onmicrosoft.com",
    passwordProfile: { forceChangePasswordNextSignIn: true, password: "xWwvJ]6NMw+bWH-d" },
  };
  const asJson = { "Content-Type": "application/json" };

  it("creates, reads, patches and deletes a user; reset() restores the seed", async () => {
    const created = await json<Record<string, unknown>>("/v1.0/users", { method: "POST", headers: asJson, body: JSON.stringify(newUser) });
    expect(created.res.status).toBe(201);
    const id = String(created.body.id);
    expect(id).toMatch(UUID);
    expect(created.res.headers.get("location")).toContain(`/directoryObjects/${id}/Microsoft.DirectoryServices.User`);
    expect(created.body).not.toHaveProperty("passwordProfile");

    expect((await json<Record<string, unknown>>(`/v1.0/users/${newUser.userPrincipalName}`)).body.id).toBe(id);
    const patched = await call(`/v1.0/users/${id}`, { method: "PATCH", headers: asJson, body: JSON.stringify({ jobTitle: "Tester" }) });
    expect(patched.status).toBe(204);
    expect(await patched.text()).toBe("");
    expect((await json<Record<string, unknown>>(`/v1.0/users/${id}?$select=jobTitle`)).body.jobTitle).toBe("Tester");

    const count = await call("/v1.0/users/$count", { headers: { ConsistencyLevel: "eventual" } });
    expect(await count.text()).toBe("301");
    expect((await call(`/v1.0/users/${id}`, { method: "DELETE" })).status).toBe(204);
    await expectError(`/v1.0/users/${id}`, 404, "Request_ResourceNotFound");

    const seeded = (await json<Page>("/v1.0/users?$top=1")).body.value[0];
    await call(`/v1.0/users/${String(seeded.id)}`, { method: "DELETE" });
    em.reset();
    expect((await call(`/v1.0/users/${String(seeded.id)}`)).status).toBe(200);
  });

  it("rejects bad payloads with Graph's messages", async () => {
    const post = (body: string, headers: Record<string, string> = asJson) => ({ method: "POST", headers, body });
    const { mailNickname: _omitted, ...withoutNickname } = newUser;
    await expectError("/v1.0/users", 400, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of resource 'User'.", post(JSON.stringify(withoutNickname)));
    const unreadable = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.";
    await expectError("/v1.0/users", 400, "BadRequest", unreadable, post("{not json"));
    await expectError("/v1.0/users", 400, "BadRequest", unreadable, post(JSON.stringify(newUser), { "Content-Type": "text/plain" }));
    const upn = (await json<Record<string, unknown>>("/v1.0/me")).body.userPrincipalName;
    await expectError("/v1.0/users", 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.", post(JSON.stringify({ ...newUser, userPrincipalName: upn })));
  });
});

describe("tenant generation", () => {
  it("derives GUIDs from the index and decodes them back", () => {
    for (const index of [0, 1, 2, 299, 1600, 99_999, 4_000_000]) {
      expect(indexOfUserId(userIdFor(index))).toBe(index);
    }
    expect(indexOfUserId("00000000-0000-4000-8000-000000000000")).toBeUndefined();
  });

  it("pages a 100,000-user tenant at $top=999 without materialising it", async () => {
    const big = await startEmulator({ users: 100_000 });
    try {
      const headers = { Authorization: `Bearer ${big.token}`, ConsistencyLevel: "eventual" };
      let url: string | undefined = `${big.origin}/v1.0/users?$top=999&$select=id&$count=true`;
      const ids = new Set<string>();
      let first: Page | undefined;
      let last: Page | undefined;
      while (url) {
        last = (await (await fetch(url, { headers })).json()) as Page;
        first ??= last;
        last.value.forEach((u) => ids.add(String(u.id)));
        url = last["@odata.nextLink"];
      }
      expect(first?.["@odata.count"]).toBe(100_000);
      expect(first?.value).toHaveLength(999);
      expect(last?.value).toHaveLength(100_000 % 999);
      expect(ids.size).toBe(100_000);
      const lastUser = String(last?.value.at(-1)?.id);
      const found = await fetch(`${big.origin}/v1.0/users/${lastUser}?$select=id,userPrincipalName`, { headers });
      expect(((await found.json()) as Record<string, unknown>).userPrincipalName).toMatch(/^[A-Za-z]+\.[A-Za-z]+\d+@contoso\.onmicrosoft\.com$/);
    } finally {
      await big.close();
    }
  });

  it("applies latencyMs and closes promptly with idle keep-alive sockets", async () => {
    const other = await startEmulator({ users: 1, latencyMs: 60, tokens: ["custom-token"] });
    expect(other.token).toBe("custom-token");
    const sent = Date.now();
    await (await fetch(`${other.origin}/v1.0/me`, { headers: { Authorization: "Bearer custom-token" } })).text();
    expect(Date.now() - sent).toBeGreaterThanOrEqual(55);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(500);
  });
});
