/**
 * Delta query for users and groups, and the Teams picklist endpoints, over real HTTP (Node's fetch): nextLink →
 * deltaLink rounds, changes made through /users showing up in the next round, "sync from now", 410 resync.
 */
import { startEmulator, type GraphEmulator } from "./index";

interface DeltaPage {
  "@odata.context": string;
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
  value: Record<string, unknown>[];
}

interface GraphErrorBody {
  error: { code: string; message: string; innerError: Record<string, unknown> };
}

const PAGE = 64;
let em: GraphEmulator;

beforeAll(async () => {
  em = await startEmulator({ deltaPageSize: PAGE });
});
afterAll(() => em.close());
beforeEach(() => em.reset());

function call(url: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(url.startsWith("http") ? url : `${em.origin}${url}`, { redirect: "manual", ...init, headers: { Authorization: `Bearer ${em.token}`, ...init.headers } });
}

async function page(url: string, headers: Record<string, string> = {}): Promise<DeltaPage> {
  const res = await call(url, { headers });
  expect(res.status).toBe(200);
  return (await res.json()) as DeltaPage;
}

/** Follows nextLinks to the deltaLink; returns every page. */
async function round(url: string, headers: Record<string, string> = {}): Promise<DeltaPage[]> {
  const pages: DeltaPage[] = [];
  let next: string | undefined = url;
  while (next) {
    const current = await page(next, headers);
    pages.push(current);
    next = current["@odata.nextLink"];
    if (!next) expect(current["@odata.deltaLink"]).toBeDefined();
  }
  return pages;
}

const json = { "Content-Type": "application/json" };

describe("users delta", () => {
  it("pages the initial sync with $skiptoken nextLinks and ends in a $deltatoken deltaLink", async () => {
    const pages = await round("/v1.0/users/delta?$select=displayName,givenName,mobilePhone");
    expect(pages).toHaveLength(Math.ceil(300 / PAGE));
    expect(pages[0]["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users(displayName,givenName,mobilePhone)`);
    expect(pages[1]["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users`);
    for (const p of pages.slice(0, -1)) {
      expect(p["@odata.nextLink"]).toMatch(new RegExp(`^${em.origin}/v1\\.0/users/delta\\?\\$skiptoken=[A-Za-z0-9_-]+$`));
      expect(p["@odata.deltaLink"]).toBeUndefined();
      expect(p.value).toHaveLength(PAGE);
    }
    const last = pages[pages.length - 1];
    expect(last["@odata.deltaLink"]).toMatch(new RegExp(`^${em.origin}/v1\\.0/users/delta\\?\\$deltatoken=[A-Za-z0-9_-]+$`));
    // The token carries the query: nothing of the $select is readable in it.
    expect(Buffer.from(new URL(last["@odata.deltaLink"]!).searchParams.get("$deltatoken")!, "base64url").toString("latin1")).not.toContain("givenName");

    const users = pages.flatMap((p) => p.value);
    expect(new Set(users.map((u) => u.id)).size).toBe(300);
    expect(users[0]).toEqual({ displayName: "Megan Bowen", givenName: "Megan", id: "48d31887-5fad-4d73-a9f5-3c356e68a038" });
    // Properties never set are left out rather than sent as null (DC user-delta.md).
    expect(users.some((u) => "mobilePhone" in u)).toBe(true);
    expect(users.every((u) => u.mobilePhone !== null)).toBe(true);

    const empty = await page(last["@odata.deltaLink"]!);
    expect(empty).toEqual({ "@odata.context": `${em.origin}/v1.0/$metadata#users`, "@odata.deltaLink": expect.stringContaining("/v1.0/users/delta?$deltatoken="), value: [] });
  });

  it("returns exactly the users created, updated and deleted since the deltaLink, then nothing", async () => {
    const initial = await round("/v1.0/users/delta?$select=displayName,jobTitle");
    const deltaLink = initial[initial.length - 1]["@odata.deltaLink"]!;
    const [, updated, deleted, untracked] = initial[0].value;

    const created = await call("/v1.0/users", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ accountEnabled: true, displayName: "Delta Person", mailNickname: "DeltaP", userPrincipalName: "DeltaP@contoso.onmicrosoft.com", passwordProfile: { password: "xWwvJ]6NMw+bWH-d" } }),
    });
    const newId = ((await created.json()) as { id: string }).id;
    expect((await call(`/v1.0/users/${String(updated.id)}`, { method: "PATCH", headers: json, body: JSON.stringify({ jobTitle: "Delta Lead" }) })).status).toBe(204);
    expect((await call(`/v1.0/users/${String(deleted.id)}`, { method: "DELETE" })).status).toBe(204);
    // Only selected properties are tracked: a department change is not reported.
    expect((await call(`/v1.0/users/${String(untracked.id)}`, { method: "PATCH", headers: json, body: JSON.stringify({ department: "Delta" }) })).status).toBe(204);

    const changes = await page(deltaLink);
    expect(changes["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users`);
    expect(changes.value).toEqual([
      { displayName: "Delta Person", id: newId },
      { displayName: updated.displayName, jobTitle: "Delta Lead", id: updated.id },
      { id: deleted.id, "@removed": { reason: "changed" } },
    ]);
    expect(changes["@odata.nextLink"]).toBeUndefined();
    const after = await page(changes["@odata.deltaLink"]!);
    expect(after.value).toEqual([]);
    // The old deltaLink still replays the same round.
    expect((await page(deltaLink)).value).toHaveLength(3);
  });

  it("with Prefer: return=minimal sends only what changed; change rounds page too", async () => {
    const initial = await round("/v1.0/users/delta?$select=displayName,jobTitle,mobilePhone");
    const deltaLink = initial[initial.length - 1]["@odata.deltaLink"]!;
    const ids = initial.flatMap((p) => p.value).slice(1, PAGE + 6).map((u) => String(u.id));
    for (const id of ids) await call(`/v1.0/users/${id}`, { method: "PATCH", headers: json, body: JSON.stringify({ mobilePhone: null, city: "Oslo" }) });

    const pages = await round(deltaLink, { Prefer: "return=minimal" });
    expect(pages).toHaveLength(2);
    const values = pages.flatMap((p) => p.value);
    // Users whose mobilePhone was already null had no tracked change.
    expect(values.length).toBeGreaterThan(PAGE / 2);
    expect(values.length).toBeLessThan(ids.length);
    expect(values.every((v) => Object.keys(v).join() === "mobilePhone,id" && v.mobilePhone === null)).toBe(true);
  });

  it("answers $deltatoken=latest with only a deltaLink, from which later changes are reported", async () => {
    const latest = await page("/v1.0/users/microsoft.graph.delta?$deltatoken=latest&$select=displayName");
    expect(latest.value).toEqual([]);
    expect(latest["@odata.nextLink"]).toBeUndefined();
    expect(latest["@odata.deltaLink"]).toContain("/v1.0/users/delta?$deltatoken=");
    const me = "48d31887-5fad-4d73-a9f5-3c356e68a038";
    await call(`/v1.0/users/${me}`, { method: "PATCH", headers: json, body: JSON.stringify({ displayName: "Megan B." }) });
    expect((await page(latest["@odata.deltaLink"]!)).value).toEqual([{ displayName: "Megan B.", id: me }]);
  });

  it("answers 410 Gone with a Location to restart the sync once the tokens expire", async () => {
    const first = await page("/v1.0/users/delta?$select=displayName");
    const skipLink = first["@odata.nextLink"]!;
    const latest = await page("/v1.0/users/delta?$deltatoken=latest");
    em.expireDeltaTokens();

    for (const stale of [skipLink, latest["@odata.deltaLink"]!]) {
      const res = await call(stale);
      expect(res.status).toBe(410);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = (await res.json()) as GraphErrorBody;
      expect(body.error.code).toBe("resyncRequired");
      expect(body.error.innerError["request-id"]).toBe(res.headers.get("request-id"));
    }
    const gone = await call(skipLink);
    expect(gone.headers.get("location")).toBe(`${em.origin}/v1.0/users/delta?$select=displayName&$deltatoken=`);
    expect((await call(latest["@odata.deltaLink"]!)).headers.get("location")).toBe(`${em.origin}/v1.0/users/delta?$deltatoken=`);

    const restarted = await page(gone.headers.get("location")!);
    expect(restarted["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users(displayName)`);
    expect(restarted.value).toHaveLength(PAGE);

    const forged = await call("/v1.0/users/delta?$deltatoken=not-a-token");
    expect(forged.status).toBe(400);
    expect((await call("/v1.0/users/delta?$top=5")).status).toBe(400);
  });
});

describe("groups delta", () => {
  it("pages groups to a deltaLink that then reports no changes", async () => {
    const small = await startEmulator({ users: 5, deltaPageSize: 8 });
    try {
      const headers = { Authorization: `Bearer ${small.token}` };
      let url: string | undefined = `${small.origin}/beta/groups/delta?$select=displayName,mailNickname`;
      const names: unknown[] = [];
      let last: DeltaPage | undefined;
      let pages = 0;
      while (url) {
        last = (await (await fetch(url, { headers })).json()) as DeltaPage;
        pages++;
        names.push(...last.value.map((g) => g.displayName));
        url = last["@odata.nextLink"];
      }
      expect(pages).toBe(3);
      expect(names).toHaveLength(20);
      const next = (await (await fetch(last!["@odata.deltaLink"]!, { headers })).json()) as DeltaPage;
      expect(next.value).toEqual([]);
      expect(next["@odata.deltaLink"]).toContain(`${small.origin}/beta/groups/delta?$deltatoken=`);
    } finally {
      await small.close();
    }
  });
});

describe("teams and channels", () => {
  it("lists the tenant's teams, pages them with $top and filters by displayName", async () => {
    const all = (await (await call("/v1.0/teams")).json()) as DeltaPage;
    expect(all["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#teams`);
    expect(all.value.map((t) => t.displayName)).toEqual(["Mark 8 Project Team", "Sales and Marketing", "Retail", "Digital Initiative Public Relations"]);
    expect(all.value[2]).toMatchObject({ visibility: "private", isArchived: true, tenantId: expect.any(String), description: expect.any(String) });

    const first = (await (await call("/v1.0/teams?$top=3&$select=id,displayName")).json()) as DeltaPage;
    expect(first.value).toHaveLength(3);
    expect(Object.keys(first.value[0])).toEqual(["id", "displayName"]);
    const second = (await (await call(first["@odata.nextLink"]!)).json()) as DeltaPage;
    expect(second.value.map((t) => t.displayName)).toEqual(["Digital Initiative Public Relations"]);
    expect(second["@odata.nextLink"]).toBeUndefined();

    const filtered = (await (await call("/v1.0/teams?$filter=startswith(displayName,'Sales')")).json()) as DeltaPage;
    expect(filtered.value.map((t) => t.displayName)).toEqual(["Sales and Marketing"]);
  });

  it("lists a General channel plus one to three more per team, and 404s an unknown team like Teams does", async () => {
    const teams = ((await (await call("/v1.0/teams?$select=id")).json()) as DeltaPage).value;
    for (const team of teams) {
      const res = await call(`/v1.0/teams/${String(team.id)}/channels`);
      const body = (await res.json()) as DeltaPage & { "@odata.count": number };
      expect(body["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#teams('${String(team.id)}')/channels`);
      expect(body.value.length).toBeGreaterThanOrEqual(2);
      expect(body.value.length).toBeLessThanOrEqual(4);
      expect(body["@odata.count"]).toBe(body.value.length);
      expect(body.value[0]).toMatchObject({ displayName: "General", membershipType: "standard", email: "" });
      for (const channel of body.value) {
        expect(channel.id).toMatch(/^19:[0-9a-f]{32}@thread\.tacv2$/);
        expect(channel.createdDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(channel.webUrl).toBe(
          `https://teams.microsoft.com/l/channel/${encodeURIComponent(String(channel.id))}/${encodeURIComponent(String(channel.displayName))}?groupId=${String(team.id)}&tenantId=${String(channel.tenantId)}`,
        );
      }
    }

    const missing = await call("/v1.0/teams/00000000-0000-4000-8000-000000000000/channels");
    expect(missing.status).toBe(404);
    const error = ((await missing.json()) as GraphErrorBody).error;
    expect(error).toMatchObject({
      code: "NotFound",
      message: "No team found with Group Id 00000000-0000-4000-8000-000000000000",
      innerError: { code: "ItemNotFound", "request-id": missing.headers.get("request-id") },
    });
    // A group that is not a team is no team either.
    const groups = ((await (await call("/v1.0/groups?$filter=displayName eq 'Finance'&$select=id")).json()) as DeltaPage).value;
    expect((await call(`/v1.0/teams/${String(groups[0].id)}`)).status).toBe(404);
  });
});
