/**
 * Query fidelity over real HTTP: $orderby (basic and advanced-query rules, paging in order), $expand of
 * manager, memberOf and members, the delta() function form, and the routes a builder tries first.
 */
import { startEmulator, type GraphEmulator } from "./index";

interface Page {
  "@odata.context": string;
  "@odata.count"?: number;
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
  value: Record<string, unknown>[];
}

interface GraphErrorBody {
  error: { code: string; message: string };
}

let em: GraphEmulator;

type Init = RequestInit & { headers?: Record<string, string> };

function call(path: string, init: Init = {}): Promise<Response> {
  const url = path.startsWith("http") ? path : `${em.origin}${path}`;
  return fetch(url, { redirect: "manual", ...init, headers: { Authorization: `Bearer ${em.token}`, ...init.headers } });
}

async function json<T>(path: string, init?: Init): Promise<{ res: Response; body: T }> {
  const res = await call(path, init);
  return { res, body: (await res.json()) as T };
}

async function expectError(path: string, status: number, code: string, message: string, init?: Init): Promise<void> {
  const { res, body } = await json<GraphErrorBody>(path, init);
  expect({ status: res.status, code: body.error.code, message: body.error.message }).toEqual({ status, code, message });
}

const ADVANCED = { headers: { ConsistencyLevel: "eventual" } };

/** Users 0..11 of the generated tenant by displayName (user 0 is Megan Bowen, the signed-in user). */
const BY_NAME = [
  "Alex Wilber", "Allan Deyoung", "Bianca Pinchon", "Brian Johnson", "Cameron White", "Christie Cline",
  "Debra Berger", "Diego Siciliani", "Emily Braun", "Enrico Cattaneo", "Gerhart Moser", "Megan Bowen",
];

beforeAll(async () => {
  em = await startEmulator({ users: 12 });
});
afterAll(() => em.close());
beforeEach(() => em.reset());

async function names(path: string, init?: Init): Promise<string[]> {
  const { res, body } = await json<Page>(path, init);
  expect(res.status).toBe(200);
  return body.value.map((u) => String(u.displayName));
}

describe("$orderby", () => {
  it("sorts users by displayName ascending and descending without an advanced query", async () => {
    expect(await names("/v1.0/users?$orderby=displayName&$select=displayName")).toEqual(BY_NAME);
    expect(await names("/v1.0/users?$orderby=displayName%20desc&$select=displayName")).toEqual([...BY_NAME].reverse());
    expect(await names("/v1.0/users?$orderby=displayName asc&$select=displayName")).toEqual(BY_NAME);
  });

  it("sorts by userPrincipalName case-insensitively, which differs from the name order", async () => {
    const created = await call("/v1.0/users", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        accountEnabled: true,
        displayName: "aaron Zed",
        mailNickname: "zed",
        userPrincipalName: "zed@contoso.onmicrosoft.com",
        passwordProfile: { password: "Passw0rd!Passw0rd" },
      }),
    });
    expect(created.status).toBe(201);
    const { body } = await json<Page>("/v1.0/users?$orderby=userPrincipalName&$select=userPrincipalName,displayName");
    const upns = body.value.map((u) => String(u.userPrincipalName));
    expect(upns[0]).toBe("Alex.Wilber@contoso.onmicrosoft.com");
    expect(upns.slice(-2)).toEqual(["MeganB@contoso.onmicrosoft.com", "zed@contoso.onmicrosoft.com"]);
    expect(await names("/v1.0/users?$orderby=displayName&$select=displayName")).toEqual(["aaron Zed", ...BY_NAME]);
  });

  it("re-sorts after a write (the emulator caches an order only until the users change)", async () => {
    expect(await names("/v1.0/users?$orderby=displayName&$select=displayName")).toEqual(BY_NAME);
    const patched = await call(`/v1.0/users/${await userId("Alex Wilber")}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ displayName: "Zoe Wilber" }),
    });
    expect(patched.status).toBe(204);
    expect(await names("/v1.0/users?$orderby=displayName&$select=displayName")).toEqual([...BY_NAME.slice(1), "Zoe Wilber"]);
  });

  it("keeps the order across pages: the nextLink carries $orderby and the pages join up", async () => {
    const seen: string[] = [];
    let link: string | undefined = "/v1.0/users?$orderby=displayName%20desc&$top=5&$select=displayName";
    const links: string[] = [];
    while (link) {
      const { res, body }: { res: Response; body: Page } = await json<Page>(link);
      expect(res.status).toBe(200);
      seen.push(...body.value.map((u) => String(u.displayName)));
      link = body["@odata.nextLink"];
      if (link) links.push(link);
    }
    expect(seen).toEqual([...BY_NAME].reverse());
    expect(links).toHaveLength(2);
    for (const l of links) expect(l).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\?\$orderby=displayName%20desc&\$top=5&\$select=displayName&\$skiptoken=/);
  });

  it("refuses other properties, several keys and an order with $filter unless the query is advanced", async () => {
    const sorting = "Sorting not supported for current query.";
    await expectError("/v1.0/users?$orderby=jobTitle", 400, "Request_UnsupportedQuery", sorting);
    await expectError("/v1.0/users?$orderby=createdDateTime", 400, "Request_UnsupportedQuery", sorting);
    await expectError("/v1.0/users?$orderby=displayName,userPrincipalName", 400, "Request_UnsupportedQuery", sorting);
    await expectError("/v1.0/users?$filter=startswith(displayName,'a')&$orderby=displayName", 400, "Request_UnsupportedQuery", sorting);
    // The header alone is not an advanced query: $count=true is needed too.
    await expectError("/v1.0/users?$filter=startswith(displayName,'a')&$orderby=displayName", 400, "Request_UnsupportedQuery", sorting, ADVANCED);
    await expectError(
      "/v1.0/users?$orderby=shoeSize",
      400,
      "Request_BadRequest",
      "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.",
    );
    await expectError("/v1.0/teams?$orderby=displayName", 400, "Request_UnsupportedQuery", sorting);
  });

  it("sorts a filtered list, and by createdDateTime, in an advanced query (the devblogs sample)", async () => {
    const { res, body } = await json<Page>(
      "/v1.0/users?$filter=startswith(displayName,'al')&$orderby=displayName&$select=id,displayName&$count=true",
      ADVANCED,
    );
    expect(res.status).toBe(200);
    expect(body["@odata.count"]).toBe(2);
    expect(body.value.map((u) => u.displayName)).toEqual(["Alex Wilber", "Allan Deyoung"]);
    const newest = await names("/v1.0/users?$orderby=createdDateTime%20desc&$count=true&$top=2&$select=displayName", ADVANCED);
    expect(newest).toEqual(["Gerhart Moser", "Enrico Cattaneo"]);
  });

  it("sorts groups by displayName", async () => {
    const asc = await names("/v1.0/groups?$orderby=displayName&$select=displayName");
    expect(asc.slice(0, 3)).toEqual(["All Company", "Contoso Admins", "Contoso Events"]);
    expect(asc).toHaveLength(20);
    const desc = await names("/v1.0/groups?$orderby=displayName desc&$select=displayName");
    expect(desc).toEqual([...asc].reverse());
    await expectError("/v1.0/groups?$orderby=mail", 400, "Request_UnsupportedQuery", "Sorting not supported for current query.");
  });
});

describe("delta() function form", () => {
  it.each(["/v1.0/users/delta()", "/v1.0/users/microsoft.graph.delta()", "/v1.0/groups/delta()"])("%s answers like /delta", async (path) => {
    const plain = await json<Page>(path.replace(/(microsoft\.graph\.)?delta\(\)$/, "delta") + "?$select=displayName");
    const fn = await json<Page>(`${path}?$select=displayName`);
    expect(fn.res.status).toBe(200);
    expect(fn.body["@odata.context"]).toBe(plain.body["@odata.context"]);
    expect(fn.body.value).toEqual(plain.body.value);
    expect(fn.body["@odata.nextLink"] ?? fn.body["@odata.deltaLink"]).toMatch(/\/(users|groups)\/delta\?/);
  });
});

const MEGAN = "48d31887-5fad-4d73-a9f5-3c356e68a038";

async function entity(path: string): Promise<Record<string, unknown>> {
  const { res, body } = await json<Record<string, unknown>>(path);
  expect(res.status).toBe(200);
  return body;
}

/** What GET /users/{id} answers, typed as a directory object the way relationship answers carry it. */
async function asDirectoryObject(kind: "user" | "group", id: string): Promise<Record<string, unknown>> {
  const { "@odata.context": context, ...props } = await entity(`/v1.0/${kind}s/${id}`);
  expect(context).toMatch(/\$entity$/);
  return { "@odata.type": `#microsoft.graph.${kind}`, ...props };
}

async function groupId(name: string): Promise<string> {
  const { body } = await json<Page>(`/v1.0/groups?$filter=displayName eq '${name}'&$select=id`);
  expect(body.value).toHaveLength(1);
  return String(body.value[0].id);
}

async function userId(displayName: string): Promise<string> {
  const { body } = await json<Page>(`/v1.0/users?$filter=displayName eq '${displayName}'&$select=id`);
  expect(body.value).toHaveLength(1);
  return String(body.value[0].id);
}

describe("manager and memberOf", () => {
  it("/me/manager answers the manager as a directoryObject entity; the head of the chart has none (404)", async () => {
    const alex = await userId("Alex Wilber");
    const body = await entity("/v1.0/me/manager");
    expect(body).toEqual({ "@odata.context": `${em.origin}/v1.0/$metadata#directoryObjects/$entity`, ...(await asDirectoryObject("user", alex)) });
    expect(Object.keys(body).slice(0, 2)).toEqual(["@odata.context", "@odata.type"]);
    await expectError(
      `/v1.0/users/${alex}/manager`,
      404,
      "Request_ResourceNotFound",
      "Resource 'manager' does not exist or one of its queried reference-property objects are not present.",
    );
    expect(await entity(`/v1.0/users/${MEGAN}/manager?$select=id,displayName`)).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#directoryObjects/$entity`,
      "@odata.type": "#microsoft.graph.user",
      id: alex,
      displayName: "Alex Wilber",
    });
  });

  it("/me/memberOf lists typed groups under #directoryObjects", async () => {
    const body = await entity("/v1.0/me/memberOf?$select=displayName");
    expect(body).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#directoryObjects`,
      value: [
        { "@odata.type": "#microsoft.graph.group", displayName: "Mark 8 Project Team" },
        { "@odata.type": "#microsoft.graph.group", displayName: "All Company" },
      ],
    });
    const full = await entity("/v1.0/me/memberOf");
    expect((full.value as unknown[])[1]).toEqual(await asDirectoryObject("group", await groupId("All Company")));
    await expectError("/v1.0/me/memberOf?$filter=displayName eq 'x'", 501, "NotImplemented", "The emulator does not support $filter on a directory relationship.");
  });

  it("$expand=manager and memberOf on a user and on the user list", async () => {
    const alex = await userId("Alex Wilber");
    const me = await entity("/v1.0/me?$select=displayName&$expand=manager($select=id,displayName),memberOf($select=displayName)");
    expect(me).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#users(displayName)/$entity`,
      displayName: "Megan Bowen",
      manager: { "@odata.type": "#microsoft.graph.user", id: alex, displayName: "Alex Wilber" },
      memberOf: [
        { "@odata.type": "#microsoft.graph.group", displayName: "Mark 8 Project Team" },
        { "@odata.type": "#microsoft.graph.group", displayName: "All Company" },
      ],
    });
    const full = await entity("/v1.0/me?$expand=manager");
    expect(full.manager).toEqual(await asDirectoryObject("user", alex));

    const { body } = await json<Page>("/v1.0/users?$select=displayName&$top=3&$expand=manager($select=displayName)");
    expect(body.value).toEqual([
      { displayName: "Megan Bowen", manager: { "@odata.type": "#microsoft.graph.user", displayName: "Alex Wilber" } },
      // The head of the chart: no manager, so no manager property.
      { displayName: "Alex Wilber" },
      { displayName: "Allan Deyoung", manager: { "@odata.type": "#microsoft.graph.user", displayName: "Alex Wilber" } },
    ]);
    expect(body["@odata.nextLink"]).toContain("&$expand=manager($select=displayName)&$skiptoken=");
  });

  it("refuses what it does not expand: structural and unknown names (400), relationships it lacks (501)", async () => {
    await expectError(
      "/v1.0/me?$expand=displayName",
      400,
      "BadRequest",
      "Property 'displayName' on type 'microsoft.graph.user' is not a navigation property or complex property. Only navigation properties can be expanded.",
    );
    await expectError("/v1.0/users?$expand=bossman", 400, "BadRequest", "Could not find a property named 'bossman' on type 'microsoft.graph.user'.");
    await expectError("/v1.0/me?$expand=transitiveMemberOf", 501, "NotImplemented", "The emulator does not expand 'transitiveMemberOf' on user; it expands directReports, manager, memberOf.");
    await expectError("/v1.0/groups?$expand=owners", 501, "NotImplemented", "The emulator does not expand 'owners' on group; it expands members.");
    await expectError("/v1.0/me?$expand=manager($levels=max)", 501, "NotImplemented", "The emulator nests only $select in $expand, not '$levels=max'.");
    await expectError(
      "/v1.0/me?$expand=manager($select=shoeSize)",
      400,
      "Request_BadRequest",
      "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.",
    );
    await expectError("/v1.0/teams?$expand=channels", 501, "NotImplemented", "The emulator does not support $expand on teams.");
    // Users and groups delta do not support $expand (DC concepts/delta-query-overview.md), in both forms.
    await expectError("/v1.0/users/delta()?$expand=manager", 400, "Request_UnsupportedQuery", "Unsupported Query.");
  });
});

describe("members, and Graph's 20-object cap on $expand", () => {
  let big: GraphEmulator;
  let small: GraphEmulator;
  beforeAll(async () => {
    big = await startEmulator({ users: 45 });
  });
  afterAll(() => big.close());
  beforeEach(() => {
    small = em;
    em = big;
  });
  afterEach(() => {
    em = small;
  });

  it("$expand=members on All Company stops at 20 objects with no nextLink; /members pages through all 45", async () => {
    const id = await groupId("All Company");
    const group = await entity(`/v1.0/groups/${id}?$select=displayName&$expand=members($select=displayName)`);
    const members = group.members as Record<string, unknown>[];
    expect(members).toHaveLength(20);
    expect(members[0]).toEqual({ "@odata.type": "#microsoft.graph.user", displayName: "Megan Bowen" });
    expect(members[19]).toEqual({ "@odata.type": "#microsoft.graph.user", displayName: "Lidia Holloway" });
    expect(Object.keys(group)).toEqual(["@odata.context", "displayName", "members"]);

    const names: string[] = [];
    let link: string | undefined = `/v1.0/groups/${id}/members?$select=displayName&$top=20`;
    let pages = 0;
    while (link) {
      const { body }: { body: Page } = await json<Page>(link);
      expect(body["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#directoryObjects`);
      names.push(...body.value.map((u) => String(u.displayName)));
      link = body["@odata.nextLink"];
      pages++;
    }
    expect(pages).toBe(3);
    expect(names).toHaveLength(45);
    expect(names.slice(0, 20)).toEqual(members.map((m) => m.displayName));
  });

  it("a smaller group expands all its members, typed users", async () => {
    const id = await groupId("Mark 8 Project Team");
    const group = await entity(`/v1.0/groups/${id}?$expand=members($select=id,displayName)`);
    expect(group.members).toEqual([
      { "@odata.type": "#microsoft.graph.user", id: MEGAN, displayName: "Megan Bowen" },
      { "@odata.type": "#microsoft.graph.user", id: await userId("Lynne Robbins"), displayName: "Lynne Robbins" },
      { "@odata.type": "#microsoft.graph.user", id: await userId("Adele Wilber"), displayName: "Adele Wilber" },
    ]);
    const { body } = await json<Page>("/v1.0/groups?$select=displayName&$top=1&$expand=members($select=displayName)");
    expect(body.value[0].displayName).toBe("Mark 8 Project Team");
    expect(body.value[0].members).toHaveLength(3);
  });
});

describe("routes a builder tries first", () => {
  it("/me/photo/$value is a small JPEG whose ETag the /me/photo metadata names", async () => {
    const res = await call("/v1.0/me/photo/$value");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    expect(bytes.subarray(0, 2).toString("hex")).toBe("ffd8");
    expect(bytes.subarray(-2).toString("hex")).toBe("ffd9");
    // SOF0: precision 8, 48 × 48, one component.
    const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
    expect([...bytes.subarray(sof + 4, sof + 10)]).toEqual([8, 0, 48, 0, 48, 1]);

    const meta = await entity("/v1.0/me/photo");
    expect(meta).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#users('${MEGAN}')/photo/$entity`,
      "@odata.mediaContentType": "image/jpeg",
      "@odata.mediaEtag": res.headers.get("etag"),
      id: "48X48",
      width: 48,
      height: 48,
    });
  });

  it("a user without a photo gets Graph's 404 ImageNotFound", async () => {
    const brian = await userId("Brian Johnson");
    const message = "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.";
    await expectError(`/v1.0/users/${brian}/photo/$value`, 404, "ImageNotFound", message);
    await expectError(`/v1.0/users/${brian}/photo`, 404, "ImageNotFound", message);
    expect((await call(`/v1.0/users/${await userId("Alex Wilber")}/photo/$value`)).status).toBe(200);
  });

  it("/me/events lists the signed-in user's events", async () => {
    // Served by the mailbox (mailbox.ts) since the upload work; kept here so the route cannot regress.
    const body = await entity("/v1.0/me/events?$select=subject");
    expect(body["@odata.context"]).toBe(`${em.origin}/v1.0/$metadata#users('${MEGAN}')/events`);
    expect((body.value as Record<string, unknown>[]).map((e) => e.subject)).toContain("Team offsite");
  });

  it("/sites/root is the tenant's root site", async () => {
    expect(await entity("/v1.0/sites/root")).toEqual({
      "@odata.context": `${em.origin}/v1.0/$metadata#sites/$entity`,
      createdDateTime: "2017-09-25T03:38:41Z",
      description: "",
      id: "contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fda80a,2d2244c3-251a-49ea-93a8-39e1c3a060fe",
      lastModifiedDateTime: "2023-03-14T09:28:41Z",
      name: "",
      webUrl: "https://contoso.sharepoint.com",
      displayName: "Communication site",
      root: {},
      siteCollection: { hostname: "contoso.sharepoint.com" },
    });
    await expectError("/v1.0/sites/contoso.sharepoint.com", 404, "itemNotFound", "The emulator serves /sites/root only.");
  });
});
