/**
 * Fetch All Pages against the emulator: nextLinks followed verbatim through the origin check, headers
 * resent on every page, caps that hand back the nextLink, retries of one page only, delta queries.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { CollectedPages } from "../client/paging";
import { BASE_URL_ENV } from "../client/hosts";
import { failureOf, header, runAction, useEmulator } from "./support";

const env = useEmulator({ users: 1000 });

async function fetchAll(params: Record<string, unknown>): Promise<CollectedPages> {
  return (await runAction(env, "fetchAllPages", params)).data as CollectedPages;
}

describe("Fetch All Pages", () => {
  it("follows @odata.nextLink verbatim to the last page and returns every item once", async () => {
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "999" }, { key: "$select", value: "id,displayName" }] });
    expect(data.value).toHaveLength(1000);
    expect(new Set(data.value.map((u) => (u as { id: string }).id)).size).toBe(1000);
    expect(data.pageCount).toBe(2);
    expect(data["@odata.nextLink"]).toBeUndefined();
    expect(data.stoppedBy).toBeUndefined();
    const [first, second] = env.graphRequests();
    expect(first.url).toBe("/v1.0/users?$top=999&$select=id,displayName");
    expect(second.url).toMatch(/^\/v1\.0\/users\?.*\$skiptoken=/);
    expect(second.url).not.toMatch(/\$skip=/);
  });

  it("sends the headers again on every page, and keeps @odata.count from the first page", async () => {
    const data = await fetchAll({
      url: "/users",
      queryParams: [{ key: "$top", value: "400" }, { key: "$count", value: "true" }],
      headers: [{ key: "ConsistencyLevel", value: "eventual" }],
    });
    expect(data["@odata.count"]).toBe(1000);
    expect(data.pageCount).toBe(3);
    const sent = env.graphRequests();
    expect(sent.map((e) => header(e, "consistencylevel"))).toEqual(["eventual", "eventual", "eventual"]);
  });

  it("stops at Max Pages, says so in the log, and returns the nextLink to continue from", async () => {
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }], maxPages: "3" });
    expect(data.pageCount).toBe(3);
    expect(data.value).toHaveLength(300);
    expect(data.stoppedBy).toBe("Max Pages");
    expect(data["@odata.nextLink"]).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users\\?`));
    expect(env.logLines.some((l) => /^warn: Fetch All Pages stopped at Max Pages after 3 pages and 300 items/.test(l))).toBe(true);

    const rest = await fetchAll({ url: data["@odata.nextLink"] });
    expect(rest.value).toHaveLength(700);
    const ids = new Set([...data.value, ...rest.value].map((u) => (u as { id: string }).id));
    expect(ids.size).toBe(1000);
  });

  it("stops at Max Items on a page boundary, so the nextLink skips nothing", async () => {
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "300" }], maxItems: "500" });
    expect(data.value).toHaveLength(600);
    expect(data.stoppedBy).toBe("Max Items");
    expect(data["@odata.nextLink"]).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users\\?.*\\$skiptoken=`));
  });

  it("retries a throttled page only; pages already read are not fetched again", async () => {
    // Page 1 passes; page 2 is throttled twice, then the read goes on to the end.
    env.emulator.addFault({ path: "/users", skip: 1, times: 2, fault: { kind: "status", status: 429, retryAfter: "4" } });
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "250" }] });
    expect(data.pageCount).toBe(4);
    expect(data.value).toHaveLength(1000);
    const sent = env.graphRequests();
    expect(sent.map((e) => e.status)).toEqual([200, 429, 429, 200, 200, 200]);
    expect(sent[1].url).toBe(sent[3].url);
    expect(sent[2].url).toBe(sent[3].url);
    expect(new Set(sent.map((e) => e.url)).size).toBe(4);
    expect(sent.map((e) => header(e, "retry-attempt"))).toEqual([undefined, undefined, "1", "2", undefined, undefined]);
    expect(env.sleeps).toEqual([4000, 4000]);
  });

  it("refuses a foreign-origin URL before sending anything", async () => {
    const error = await failureOf(fetchAll({ url: "https://evil.example.com/v1.0/users?$skiptoken=abc" }));
    expect(error.message).toMatch(/^URL: 'https:\/\/evil\.example\.com' is not the Microsoft Graph origin in use/);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("refuses to follow a nextLink that points at another origin, and sends it no token", async () => {
    // A Graph stand-in whose first page links to a foreign host: the chain must stop there.
    const seen: string[] = [];
    const rogue = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ value: [{ id: "1" }], "@odata.nextLink": "https://evil.example.com/v1.0/users?$skiptoken=steal" }));
    });
    await new Promise<void>((resolve) => rogue.listen(0, "127.0.0.1", resolve));
    const saved = process.env[BASE_URL_ENV];
    process.env[BASE_URL_ENV] = `http://127.0.0.1:${(rogue.address() as AddressInfo).port}`;
    try {
      const error = await failureOf(fetchAll({ url: "/users" }));
      expect(error.message).toMatch(/^Reading page 2 failed after 1 page and 1 item\.\nURL: 'https:\/\/evil\.example\.com' is not the Microsoft Graph origin in use/);
      expect(error.resumeFrom).toBeUndefined();
      expect(seen).toEqual(["GET /v1.0/users"]);
    } finally {
      process.env[BASE_URL_ENV] = saved;
      rogue.close();
    }
  });

  it("refuses a URL that is not a collection, pointing to Raw Request", async () => {
    const error = await failureOf(fetchAll({ url: "/me" }));
    expect(error.message).toMatch(/^URL: '\/me' did not answer with a Graph collection/);
  });

  it.each([
    [{ maxPages: "two" }, /^Max Pages: 'two' is not a whole number/],
    [{ maxItems: "-5" }, /^Max Items: '-5' is not a whole number/],
    [{ restartOnResync: "yes" }, /^Restart Expired Delta Sync: 'yes' is not true or false/],
    [{ url: "" }, /^URL: is required/],
  ])("refuses bad input %j before sending anything", async (params, message) => {
    const error = await failureOf(fetchAll({ url: "/users", ...params }));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });
});

describe("Fetch All Pages on delta queries", () => {
  const created = {
    displayName: "Delta Person",
    mailNickname: "deltap",
    userPrincipalName: "deltap@contoso.onmicrosoft.com",
    accountEnabled: true,
    passwordProfile: { password: "x!Y2-long-enough" },
  };

  it("returns the initial sync and its deltaLink, then only what changed since, with @removed items kept and counted", async () => {
    const initial = await fetchAll({ url: "/users/delta", queryParams: [{ key: "$select", value: "id,displayName,jobTitle" }] });
    expect(initial.value).toHaveLength(1000);
    expect(initial.pageCount).toBeGreaterThan(1);
    expect(initial["@odata.deltaLink"]).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users/delta\\?.*\\$deltatoken=`));
    expect(initial.removedCount).toBe(0);

    const [victim, changed] = initial.value as Array<{ id: string }>;
    await runAction(env, "rawRequest", { url: "/users", method: "POST", data: created });
    await runAction(env, "rawRequest", { url: `/users/${changed.id}`, method: "PATCH", data: { jobTitle: "Delta Tester" } });
    await runAction(env, "rawRequest", { url: `/users/${victim.id}`, method: "DELETE" });

    const changes = await fetchAll({ url: initial["@odata.deltaLink"] });
    const byId = new Map((changes.value as Array<Record<string, unknown>>).map((u) => [u.id, u]));
    expect(changes.value).toHaveLength(3);
    expect(byId.get(victim.id)).toEqual({ id: victim.id, "@removed": { reason: "changed" } });
    expect(byId.get(changed.id)).toMatchObject({ jobTitle: "Delta Tester" });
    expect([...byId.values()].some((u) => u.displayName === "Delta Person")).toBe(true);
    expect(changes.removedCount).toBe(1);
    expect(changes["@odata.deltaLink"]).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users/delta\\?.*\\$deltatoken=.+`));
    expect(changes["@odata.deltaLink"]).not.toBe(initial["@odata.deltaLink"]);
  });

  it("reports an expired delta token with the URL to restart from", async () => {
    const initial = await fetchAll({ url: "/users/delta", queryParams: [{ key: "$select", value: "id" }] });
    env.emulator.expireDeltaTokens();
    const error = await failureOf(fetchAll({ url: initial["@odata.deltaLink"] }));
    expect(error.status).toBe(410);
    expect(error.message).toMatch(/^Microsoft Graph 410 resyncRequired: /);
    expect(error.message).toContain(`Graph needs a full sync; start again from ${error.location}`);
    expect(error.location).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users/delta\\?`));
  });

  it("restarts the full sync from Graph's Location when Restart Expired Delta Sync is on", async () => {
    const initial = await fetchAll({ url: "/users/delta", queryParams: [{ key: "$select", value: "id" }] });
    env.emulator.expireDeltaTokens();
    env.emulator.log.length = 0;
    const again = await fetchAll({ url: initial["@odata.deltaLink"], restartOnResync: "true" });
    expect(again.resynced).toBe(true);
    expect(again.value).toHaveLength(1000);
    expect(again["@odata.deltaLink"]).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users/delta\\?.*\\$deltatoken=.+`));
    expect(env.graphRequests()[0].status).toBe(410);
    expect(env.logLines.some((l) => l.startsWith("warn: Microsoft Graph answered 410 Gone: the delta token expired; restarting the full sync from"))).toBe(true);
  });
});

describe("Fetch All Pages under Graph-like throttling", () => {
  it("finishes a long read inside a per-token budget, waiting what each 429 asked", async () => {
    env.emulator.setThrottle({ requestsPerWindow: 3, windowMs: 10_000 });
    const data = await fetchAll({ url: "/users", queryParams: [{ key: "$top", value: "100" }] });
    expect(data.value).toHaveLength(1000);
    const statuses = env.graphRequests().map((e) => e.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(env.sleeps.length).toBe(statuses.filter((s) => s === 429).length);
    expect(env.sleeps.every((ms) => ms >= 1000 && ms % 1000 === 0)).toBe(true);
  });
});
