/** The token's gate at its edges (found by mutation testing): the loopback seam's every refusal, absolute URLs, query joining. */
import { appendQuery, encodeQueryComponent, isLoopbackHost, readLoopbackOverride, resolveGraphEndpoint, resolveGraphUrl } from "./hosts";

const graph = resolveGraphEndpoint("v1.0", {});

describe("readLoopbackOverride", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    ["   ", undefined],
    [" http://127.0.0.1:7357 ", "http://127.0.0.1:7357"],
    ["https://localhost:8443", "https://localhost:8443"],
    ["http://LOCALHOST:1", "http://localhost:1"],
    ["http://127.255.0.9:1", "http://127.255.0.9:1"],
  ])("reads %p as %p", (value, expected) => {
    expect(readLoopbackOverride("MS_GRAPH_LOGIN_URL", { MS_GRAPH_LOGIN_URL: value })).toBe(expected);
  });

  it.each(["http://user:pw@127.0.0.1:1", "http://:pw@127.0.0.1:1", "http://user@127.0.0.1:1", "http://127.0.0.1:1/?x=1", "http://127.0.0.1:1/#x", "ws://127.0.0.1:1", "http://128.0.0.1:1"])(
    "refuses %p, naming the variable and why",
    (value) => {
      expect(() => readLoopbackOverride("MS_GRAPH_LOGIN_URL", { MS_GRAPH_LOGIN_URL: value })).toThrow(
        `MS_GRAPH_LOGIN_URL: '${value}' is not allowed: it may only name a loopback origin (http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT) with no path, because credentials are sent there`,
      );
    },
  );

  it("says when the value is not a URL at all", () => {
    expect(() => readLoopbackOverride("MS_GRAPH_BASE_URL", { MS_GRAPH_BASE_URL: "127.0.0.1:x" })).toThrow(
      "MS_GRAPH_BASE_URL: '127.0.0.1:x' is not a URL; use a loopback origin such as http://127.0.0.1:7357",
    );
  });
});

describe("isLoopbackHost", () => {
  it.each([
    ["localhost", true],
    ["127.0.0.1", true],
    ["[::1]", true],
    ["localhost.evil.com", false],
    ["evil-localhost", false],
    ["127.0.0.1.nip.io", false],
    ["127.0.0", false],
    ["::1", false],
  ])("%p → %p", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe("resolveGraphUrl edges", () => {
  it.each([
    ["https://graph.microsoft.com/v1.0/me#fragment", "https://graph.microsoft.com/v1.0/me"],
    ["HTTPS://GRAPH.MICROSOFT.COM/v1.0/me", "https://graph.microsoft.com/v1.0/me"],
    ["/users?$filter=startswith(displayName,'a')", "https://graph.microsoft.com/v1.0/users?$filter=startswith(displayName,%27a%27)"],
    ["/me/drive/root:/a.b/c..d.txt:/content", "https://graph.microsoft.com/v1.0/me/drive/root:/a.b/c..d.txt:/content"],
    ["/users?$search=\"x/../y\"", "https://graph.microsoft.com/v1.0/users?$search=%22x/../y%22"],
    ["/betamax/items", "https://graph.microsoft.com/v1.0/betamax/items"],
  ])("%p resolves to %p", (input, expected) => {
    expect(resolveGraphUrl(input, graph).href).toBe(expected);
  });

  it.each([
    ["/me#x", "URL: '/me#x' contains a backslash, a control character or a '#'; these are not allowed in a Graph path"],
    ["/me\u007f", 'URL: "/me\\u007f" contains a control character (U+007F) at position 4; remove it (a pasted line break or tab?)'],
    ["/users/./me", "URL: '/users/./me' contains '.' or '..' segments; enter the resource path directly"],
    ["..", "URL: '..' contains '.' or '..' segments; enter the resource path directly"],
    ["/users/%2E", "URL: '/users/%2E' contains '.' or '..' segments; enter the resource path directly"],
    ["V1.0/me", "URL: 'V1.0/me' starts with an API version; enter the path without it (for example /me) and choose the version in API Version"],
    ["/beta?x=1", "URL: '/beta?x=1' starts with an API version; enter the path without it (for example /me) and choose the version in API Version"],
    ["/v1.0", "URL: '/v1.0' starts with an API version; enter the path without it (for example /me) and choose the version in API Version"],
    ["//evil.example.com", "URL: '//evil.example.com' names another host; enter a path such as /me/joinedTeams"],
    ["   ", "URL: is required: enter a path such as /me or /users"],
    ["https://graph.microsoft.com/v1.0/users/%5Cevil", "URL: 'https://graph.microsoft.com/v1.0/users/%5Cevil' contains characters or '..' segments that are not allowed in a Graph path"],
    ["https://graph.microsoft.com/v1.0/users/%0d%0aHost:x", "URL: 'https://graph.microsoft.com/v1.0/users/%0d%0aHost:x' contains characters or '..' segments that are not allowed in a Graph path"],
    ["https://graph.microsoft.com/v1.0/users/%2e%2e/me", "URL: 'https://graph.microsoft.com/v1.0/users/%2e%2e/me' contains characters or '..' segments that are not allowed in a Graph path"],
    ["https://graph.microsoft.com:443@evil.com/", "URL: must not contain a user name or password"],
    ["https://someone@graph.microsoft.com/v1.0/me", "URL: must not contain a user name or password"],
    ["https://:secret@graph.microsoft.com/v1.0/me", "URL: must not contain a user name or password"],
  ])("refuses %p with the input's label and the reason", (input, message) => {
    expect(() => resolveGraphUrl(input, graph)).toThrow(message);
  });

  it("names the input it was given", () => {
    expect(() => resolveGraphUrl("", graph, "Collection Path")).toThrow("Collection Path: is required: enter a path such as /me or /users");
  });

  it("keeps a malformed percent-escape that a decode would choke on as it is", () => {
    expect(resolveGraphUrl("https://graph.microsoft.com/v1.0/users/%E0%A4%A", graph).href).toBe("https://graph.microsoft.com/v1.0/users/%E0%A4%A");
  });
});

describe("query joining", () => {
  it.each([
    ["a:b,c$d", "a:b,c$d"],
    ["a%2Cb", "a%252Cb"],
    ["x y&z", "x%20y%26z"],
  ])("encodes %p as %p", (value, expected) => {
    expect(encodeQueryComponent(value)).toBe(expected);
  });

  it.each([
    ["https://graph.microsoft.com/v1.0/users", [["$top", "5"]], "https://graph.microsoft.com/v1.0/users?$top=5"],
    ["https://graph.microsoft.com/v1.0/users?", [["$top", "5"]], "https://graph.microsoft.com/v1.0/users?$top=5"],
    ["https://graph.microsoft.com/v1.0/users?a=1", [["b", "2"], ["c", "3"]], "https://graph.microsoft.com/v1.0/users?a=1&b=2&c=3"],
  ] as const)("appends to %p", (url, params, expected) => {
    expect(appendQuery(new URL(url), params).href).toBe(expected);
  });

  it("returns the very same URL when there is nothing to add", () => {
    const url = new URL("https://graph.microsoft.com/v1.0/users?$skiptoken=X%27a%27");
    expect(appendQuery(url, [])).toBe(url);
  });
});
