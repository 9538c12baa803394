/**
 * directReports, the inverse of the emulated org chart: reportPositionsOf against a brute-force inversion of
 * managerPositionOf, then `/users/{id}/directReports`, `/me/directReports` and `$expand=directReports` over
 * real HTTP, against the shapes of DC user-list-directreports.md (its sample: `#directoryObjects`, each item's
 * `@odata.type` first, then the default user properties) and the $expand rules of concepts/known-issues.md.
 */
import type { DirectoryObject, User } from "@microsoft/microsoft-graph-types";

import { startEmulator, type GraphEmulator } from "./index";
import { managerPositionOf, reportPositionsOf, userIdFor } from "./tenant";

/** A directoryObject collection as Graph answers it; each item names its derived type. */
interface Collection<T> {
  "@odata.context": string;
  "@odata.nextLink"?: string;
  value: (T & { "@odata.type": string })[];
}

interface GraphErrorBody {
  error: { code: string; message: string };
}

describe("reportPositionsOf is the inverse of managerPositionOf", () => {
  it.each([0, 1, 2, 3, 15, 16, 17, 23, 24, 25, 45, 127, 128, 129, 1000, 4099])("in a tenant of %i generated users", (generated) => {
    // Positions past `generated` stand for users created by POST: they have no manager and manage no one.
    const length = generated + 3;
    const expected = new Map<number, number[]>();
    for (let position = 0; position < length; position++) {
      const manager = managerPositionOf(position, generated);
      if (manager !== undefined) expected.set(manager, [...(expected.get(manager) ?? []), position]);
    }
    for (let position = 0; position < length; position++) {
      expect({ position, reports: reportPositionsOf(position, generated) }).toEqual({ position, reports: expected.get(position) ?? [] });
    }
  });

  it("answers the edges of a 100,000-user tenant without a scan", () => {
    expect(reportPositionsOf(12_499, 100_000)).toEqual([99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999]);
    expect(reportPositionsOf(12_500, 100_000)).toEqual([]);
    expect(reportPositionsOf(1, 100_000)).toEqual([0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
});

let em: GraphEmulator;

type Init = RequestInit & { headers?: Record<string, string> };

async function json<T>(path: string, init: Init = {}): Promise<{ status: number; body: T }> {
  const url = path.startsWith("http") ? path : `${em.origin}${path}`;
  const res = await fetch(url, { ...init, headers: { Authorization: `Bearer ${em.token}`, ...init.headers } });
  return { status: res.status, body: (await res.json()) as T };
}

async function ok<T>(path: string, init?: Init): Promise<T> {
  const { status, body } = await json<T>(path, init);
  expect(status).toBe(200);
  return body;
}

async function expectError(path: string, status: number, code: string, message: string): Promise<void> {
  const { status: actual, body } = await json<GraphErrorBody>(path);
  expect({ status: actual, code: body.error.code, message: body.error.message }).toEqual({ status, code, message });
}

/** The users of the 45-user tenant in position order (the order /users pages in). */
let byPosition: User[];

/** What GET /users/{id} answers, typed as a directory object the way relationship answers carry it. */
async function asDirectoryObject(id: string): Promise<Record<string, unknown>> {
  const { "@odata.context": context, ...props } = await ok<Record<string, unknown>>(`/v1.0/users/${id}`);
  expect(context).toMatch(/\$entity$/);
  return { "@odata.type": "#microsoft.graph.user", ...props };
}

function idAt(position: number): string {
  return String(byPosition[position].id);
}

function namesAt(positions: number[]): string[] {
  return positions.map((p) => String(byPosition[p].displayName));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

beforeAll(async () => {
  em = await startEmulator({ users: 45 });
  byPosition = (await ok<Collection<User>>("/v1.0/users?$select=id,displayName,userPrincipalName&$top=999")).value;
  expect(byPosition).toHaveLength(45);
  expect(byPosition[1].displayName).toBe("Alex Wilber");
});
afterAll(() => em.close());
beforeEach(() => em.reset());

describe("GET /users/{id}/directReports and /me/directReports", () => {
  it("lists the users whose manager is the user, as typed directoryObjects under #directoryObjects", async () => {
    const alex = idAt(1);
    const body = await ok<Collection<User>>(`/v1.0/users/${alex}/directReports`);
    expect(body["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#directoryObjects`);
    expect(body["@odata.nextLink"]).toBeUndefined();
    const reports = [0, ...range(2, 16)];
    expect(body.value.map((u) => u.displayName)).toEqual(namesAt(reports));
    // Each item is the full default user with its type first, as the documented sample carries it.
    expect(body.value[0]).toEqual(await asDirectoryObject(idAt(0)));
    expect(Object.keys(body.value[0])[0]).toBe("@odata.type");
    const typed: User[] = body.value;
    expect(typed.every((u) => typeof u.id === "string")).toBe(true);

    // Every report names this user as its manager: the inverse holds over HTTP too.
    for (const position of reports) {
      const manager = await ok<User>(`/v1.0/users/${idAt(position)}/manager?$select=id`);
      expect(manager.id).toBe(alex);
    }
  });

  it("resolves a userPrincipalName, /me (Megan Bowen manages no one) and a middle manager", async () => {
    const byUpn = await ok<Collection<User>>(`/v1.0/users/${String(byPosition[2].userPrincipalName)}/directReports?$select=displayName`);
    expect(byUpn.value).toEqual(namesAt(range(16, 24)).map((displayName) => ({ "@odata.type": "#microsoft.graph.user", displayName })));
    expect(await ok<Collection<User>>("/v1.0/me/directReports")).toEqual({ "@odata.context": `${em.origin}/v1.0/$metadata#directoryObjects`, value: [] });
    // User 5 would manage 40..47; the tenant ends at 44.
    const last = await ok<Collection<User>>(`/v1.0/users/${idAt(5)}/directReports?$select=id`);
    expect(last.value.map((u) => u.id)).toEqual(range(40, 45).map(idAt));
  });

  it("pages with $top and a nextLink the way memberOf and members do, $select kept on every page", async () => {
    const seen: User[] = [];
    let link: string | undefined = `/v1.0/users/${idAt(1)}/directReports?$select=id,displayName&$top=6`;
    let pages = 0;
    while (link) {
      const page: Collection<User> = await ok<Collection<User>>(link);
      expect(page["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#directoryObjects`);
      seen.push(...page.value);
      link = page["@odata.nextLink"];
      if (link) expect(link).toMatch(new RegExp(`^${em.origin}/v1\\.0/users/${idAt(1)}/directReports\\?\\$select=id,displayName&\\$top=6&\\$skiptoken=`));
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([0, ...range(2, 16)].map((p) => ({ "@odata.type": "#microsoft.graph.user", id: idAt(p), displayName: byPosition[p].displayName })));
  });

  it("leaves out a deleted report; a user created by POST has no manager and no reports", async () => {
    const deleted = await fetch(`${em.origin}/v1.0/users/${idAt(3)}`, { method: "DELETE", headers: { Authorization: `Bearer ${em.token}` } });
    expect(deleted.status).toBe(204);
    const after = await ok<Collection<User>>(`/v1.0/users/${idAt(1)}/directReports?$select=displayName`);
    expect(after.value.map((u) => u.displayName)).toEqual(namesAt([0, 2, ...range(4, 16)]));

    const res = await fetch(`${em.origin}/v1.0/users`, {
      method: "POST",
      headers: { Authorization: `Bearer ${em.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        accountEnabled: true,
        displayName: "New Hire",
        mailNickname: "newhire",
        userPrincipalName: "newhire@contoso.onmicrosoft.com",
        passwordProfile: { password: "xWwvJ]6NMw+bWH-d" },
      }),
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as User;
    expect(await ok<Collection<User>>(`/v1.0/users/${String(created.id)}/directReports`)).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#directoryObjects`,
      value: [],
    });
    await expectError(`/v1.0/users/${String(created.id)}/manager`, 404, "Request_ResourceNotFound", "Resource 'manager' does not exist or one of its queried reference-property objects are not present.");
    // Position 45 is the first created user; the generated rule would have made user 5 its manager.
    const five = await ok<Collection<User>>(`/v1.0/users/${idAt(5)}/directReports?$select=id`);
    expect(five.value.map((u) => u.id)).not.toContain(created.id);
  });

  it("refuses what memberOf refuses: other options (501) and a /$count segment", async () => {
    const alex = idAt(1);
    await expectError(`/v1.0/users/${alex}/directReports?$filter=displayName eq 'x'`, 501, "NotImplemented", "The emulator does not support $filter on a directory relationship.");
    await expectError(`/v1.0/users/${alex}/directReports?$count=true`, 501, "NotImplemented", "The emulator does not support $count on a directory relationship.");
    await expectError(`/v1.0/users/${alex}/directReports?$select=shoeSize`, 400, "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.");
    // memberOf has no /$count segment in the emulator; directReports follows it.
    for (const relationship of ["memberOf", "directReports"]) {
      const { status } = await json<GraphErrorBody>(`/v1.0/users/${alex}/${relationship}/$count`, { headers: { ConsistencyLevel: "eventual" } });
      expect({ relationship, status }).toEqual({ relationship, status: 400 });
    }
    await expectError("/v1.0/users/nobody@contoso.onmicrosoft.com/directReports", 404, "Request_ResourceNotFound", "Resource 'nobody@contoso.onmicrosoft.com' does not exist or one of its queried reference-property objects are not present.");
  });
});

describe("$expand=directReports", () => {
  it("expands a user's reports with a nested $select, typed, in the documented property", async () => {
    const alex = idAt(1);
    const user = await ok<User & { "@odata.context": string }>(`/v1.0/users/${alex}?$select=displayName&$expand=directReports($select=id,displayName)`);
    const { directReports, ...rest } = user;
    expect(rest).toEqual({ "@odata.context": `${em.origin}/v1.0/$metadata#users(displayName)/$entity`, displayName: "Alex Wilber" });
    // The property is user.directReports, a directoryObject list, as @microsoft/microsoft-graph-types declares it.
    const reports: DirectoryObject[] | null | undefined = directReports;
    expect(reports).toEqual([0, ...range(2, 16)].map((p) => ({ "@odata.type": "#microsoft.graph.user", id: idAt(p), displayName: byPosition[p].displayName })));

    const full = await ok<User>(`/v1.0/users/${idAt(2)}?$expand=directReports`);
    expect(full.directReports?.[0]).toEqual(await asDirectoryObject(idAt(16)));
    expect(full.directReports).toHaveLength(8);
  });

  it("/me expands to an empty list for a user with no reports, next to manager", async () => {
    const me = await ok<User>("/v1.0/me?$select=displayName&$expand=directReports,manager($select=displayName)");
    expect(me).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#users(displayName)/$entity`,
      displayName: "Megan Bowen",
      directReports: [],
      manager: { "@odata.type": "#microsoft.graph.user", displayName: "Alex Wilber" },
    });
  });

  it("expands on every user of a list page, and the nextLink keeps the expansion", async () => {
    const page = await ok<Collection<User>>("/v1.0/users?$select=displayName&$top=3&$expand=directReports($select=displayName)");
    expect(page.value.map((u) => [u.displayName, (u.directReports ?? []).length])).toEqual([
      ["Megan Bowen", 0],
      ["Alex Wilber", 15],
      [byPosition[2].displayName, 8],
    ]);
    expect(page["@odata.nextLink"]).toContain("&$expand=directReports($select=displayName)&$skiptoken=");
  });

  it("refuses what Graph refuses and what the emulator does not model", async () => {
    await expectError("/v1.0/me?$expand=directReports,directReports", 400, "BadRequest", "The navigation property 'directReports' was expanded more than once.");
    await expectError("/v1.0/me?$expand=directReports($top=2)", 501, "NotImplemented", "The emulator nests only $select in $expand, not '$top=2'.");
    await expectError("/v1.0/me?$expand=directReports($select=shoeSize)", 400, "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.");
  });
});

describe("a 100,000-user tenant", () => {
  it("serves the reports of the last managers without scanning the tenant", async () => {
    const small = em;
    em = await startEmulator({ users: 100_000 });
    try {
      const last = await ok<Collection<User>>(`/v1.0/users/${userIdFor(12_499)}/directReports?$select=id`);
      expect(last.value.map((u) => u.id)).toEqual(range(99_992, 100_000).map(userIdFor));
      expect((await ok<Collection<User>>(`/v1.0/users/${userIdFor(12_500)}/directReports`)).value).toEqual([]);
      const expanded = await ok<User>(`/v1.0/users/${userIdFor(99)}?$select=id&$expand=directReports($select=id)`);
      expect(expanded.directReports?.map((u) => u.id)).toEqual(range(792, 800).map(userIdFor));
    } finally {
      await em.close();
      em = small;
    }
  });
});
