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
