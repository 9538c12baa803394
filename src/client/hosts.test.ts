/** Table tests of URL resolution and the origin allow-list: the token's only gate, tested without a network. */
import { InputError } from "./errors";
import { CLOUDS } from "./clouds";
import { appendQuery, resolveGraphEndpoint, resolveGraphUrl } from "./hosts";

const graph = resolveGraphEndpoint("v1.0", {});
const beta = resolveGraphEndpoint("beta", {});

describe("resolveGraphUrl", () => {
  it.each([
    ["/me/joinedTeams", graph, "https://graph.microsoft.com/v1.0/me/joinedTeams"],
    ["me/joinedTeams", graph, "https://graph.microsoft.com/v1.0/me/joinedTeams"],
    ["/users?$top=5&$select=id,displayName", graph, "https://graph.microsoft.com/v1.0/users?$top=5&$select=id,displayName"],
    ["  /me  ", beta, "https://graph.microsoft.com/beta/me"],
    ["https://graph.microsoft.com/v1.0/users?$top=5&$skiptoken=X%274453707%27", graph, "https://graph.microsoft.com/v1.0/users?$top=5&$skiptoken=X%274453707%27"],
    ["https://graph.microsoft.com/beta/users/delta?$deltatoken=abc", graph, "https://graph.microsoft.com/beta/users/delta?$deltatoken=abc"],
    ["/users/John Doe@contoso.com", graph, "https://graph.microsoft.com/v1.0/users/John%20Doe@contoso.com"],
    ["/users/Zoë😀", graph, "https://graph.microsoft.com/v1.0/users/Zo%C3%AB%F0%9F%98%80"],
  ])("%p resolves to %p", (input, endpoint, expected) => {
    expect(resolveGraphUrl(input, endpoint).href).toBe(expected);
  });

  it.each([
    ["", /URL: is required/],
    ["https://evil.example.com/v1.0/me", /not the Microsoft Graph origin in use/],
    ["http://graph.microsoft.com/v1.0/me", /not the Microsoft Graph origin in use/],
    ["https://graph.microsoft.com.evil.com/v1.0/me", /not the Microsoft Graph origin in use/],
    ["https://user:pw@graph.microsoft.com/v1.0/me", /user name or password/],
    ["//evil.example.com/me", /names another host/],
    ["ftp://graph.microsoft.com/v1.0/me", /not the Microsoft Graph origin/],
    ["https://", /not a valid URL/],
    ["/users/../../evil", /'\.\.' segments/],
    ["/users/%2e%2e/%2e%2e/x", /'\.\.' segments/],
    ["/users\\evil", /backslash/],
    ["/me\r\nHost: evil", /control character/],
    ["/v1.0/me", /starts with an API version/],
    ["beta/me", /starts with an API version/],
    // The URL parser would turn these '\' into '/' and resolve the '..' away, or drop the tab, without a word.
    ["https://graph.microsoft.com/v1.0\\me", /contains a backslash/],
    ["https://graph.microsoft.com/v1.0/users\\..\\..\\beta\\me", /contains a backslash/],
    ["https://graph.micro\tsoft.com/v1.0/me", /control character \(U\+0009\)/],
    ["https://graph.microsoft.com/v1.0/me\u0085", /control character \(U\+0085\)/],
    ["/users/\uD83D", /lone surrogate \(U\+D83D\)/],
    ["/users/\uDE00x", /lone surrogate \(U\+DE00\)/],
  ])("refuses %p", (input, message) => {
    expect(() => resolveGraphUrl(input, graph)).toThrow(InputError);
    expect(() => resolveGraphUrl(input, graph)).toThrow(message);
  });
});

describe("resolveGraphEndpoint", () => {
  it.each([
    ["http://127.0.0.1:7357", "http://127.0.0.1:7357"],
    ["http://localhost:8080/", "http://localhost:8080"],
    ["http://[::1]:9000", "http://[::1]:9000"],
  ])("accepts the loopback override %p", (value, origin) => {
    expect(resolveGraphEndpoint("beta", { MS_GRAPH_BASE_URL: value })).toEqual({
      origin,
      versionRoot: `${origin}/beta`,
      loopback: true,
    });
  });

  it.each(["https://graph.microsoft.us", "http://10.0.0.5:7357", "http://127.0.0.1.evil.com", "http://127.0.0.1:7357/v1.0", "not a url", "file:///etc/passwd"])(
    "refuses the override %p",
    (value) => {
      expect(() => resolveGraphEndpoint("v1.0", { MS_GRAPH_BASE_URL: value })).toThrow(/MS_GRAPH_BASE_URL/);
    },
  );
});

describe("appendQuery", () => {
  it("adds parameters after the URL's own, keeping OData's $ readable and encoding the rest (quotes become %27, as in Graph's own nextLinks)", () => {
    const url = new URL("https://graph.microsoft.com/v1.0/users?$top=5");
    expect(appendQuery(url, [["$filter", "startswith(displayName,'A b')"], ["q", "a&b=c"]]).href).toBe(
      "https://graph.microsoft.com/v1.0/users?$top=5&$filter=startswith(displayName,%27A%20b%27)&q=a%26b%3Dc",
    );
  });
});

describe("each Microsoft cloud's Graph host is the only origin its token may reach", () => {
  it.each(CLOUDS.map((c) => [c.label, c.graph]))("%s → %s", (_label, graphOrigin) => {
    const endpoint = resolveGraphEndpoint("v1.0", {}, graphOrigin);
    expect(endpoint).toEqual({ origin: graphOrigin, versionRoot: `${graphOrigin}/v1.0`, loopback: false });
    expect(resolveGraphUrl("/users", endpoint).href).toBe(`${graphOrigin}/v1.0/users`);
    expect(resolveGraphUrl(`${graphOrigin}/v1.0/users?$skiptoken=x`, endpoint).origin).toBe(graphOrigin);
    for (const other of CLOUDS.filter((c) => c.graph !== graphOrigin)) {
      expect(() => resolveGraphUrl(`${other.graph}/v1.0/users`, endpoint)).toThrow(/is not the Microsoft Graph origin in use/);
    }
  });

  it("lets the loopback test seam replace any cloud's Graph host", () => {
    expect(resolveGraphEndpoint("beta", { MS_GRAPH_BASE_URL: "http://127.0.0.1:7357" }, "https://graph.microsoft.us").origin).toBe("http://127.0.0.1:7357");
  });
});
