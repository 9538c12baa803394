/** Graph error messages as a flow builder reads them, whole: every part of the format and every redaction rule. */
import { formatGraphErrorMessage, GraphBatchError, GraphNetworkError, GraphRequestError, InputError, readGraphErrorBody, redactSecrets } from "./errors";

const URL = "https://graph.microsoft.com/v1.0/me";

describe("formatGraphErrorMessage", () => {
  it.each<[string, Parameters<typeof formatGraphErrorMessage>[0], string]>([
    [
      "code, message and all three ids",
      { status: 404, method: "GET", url: URL, code: "Request_ResourceNotFound", graphMessage: "gone", requestId: "r1", clientRequestId: "c1", date: "2026-11-28T12:00:00" },
      `Microsoft Graph 404 Request_ResourceNotFound: gone (request-id r1, client-request-id c1, date 2026-11-28T12:00:00) [GET ${URL}]`,
    ],
    ["only a request-id", { status: 409, method: "PATCH", url: URL, graphMessage: "conflict", requestId: "r2" }, `Microsoft Graph 409: conflict (request-id r2) [PATCH ${URL}]`],
    ["no message: the status text", { status: 429, method: "POST", url: URL, code: "TooManyRequests" }, `Microsoft Graph 429 TooManyRequests: Too Many Requests [POST ${URL}]`],
    ["an unknown status", { status: 418, method: "GET", url: URL }, `Microsoft Graph 418: Unexpected response [GET ${URL}]`],
    ["a note on its own line", { status: 500, method: "GET", url: URL, note: "Retried 3 times." }, `Microsoft Graph 500: Internal Server Error [GET ${URL}]\nRetried 3 times.`],
    [
      "401 with its hint after the note",
      { status: 401, method: "GET", url: URL, code: "InvalidAuthenticationToken", graphMessage: "expired", note: "Not retried." },
      `Microsoft Graph 401 InvalidAuthenticationToken: expired [GET ${URL}]\nNot retried.\nHint: the access token was missing, expired or issued for another audience. Reconnect the connection; if it keeps happening, make sure the Scopes include offline_access so the token can be refreshed.`,
    ],
    [
      "403 with its hint",
      { status: 403, method: "GET", url: URL, code: "Authorization_RequestDenied", graphMessage: "Insufficient privileges to complete the operation." },
      `Microsoft Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. [GET ${URL}]\nHint: the token is valid but lacks permission for this call. Add the Graph permission the endpoint needs to the connection's Scopes (and the app registration), have an administrator grant admin consent where the permission requires it, then reconnect.`,
    ],
  ])("%s", (_name, details, expected) => {
    expect(formatGraphErrorMessage(details)).toBe(expected);
  });
});

describe("GraphRequestError", () => {
  it("keeps what a flow branches on, and Graph's body as data", () => {
    const body = { error: { code: "x" } };
    const error = new GraphRequestError({ status: 410, method: "GET", url: URL, code: "resyncRequired", requestId: "r", clientRequestId: "c", date: "d", retryAfterSeconds: 3, location: "L", body });
    expect({ ...error, name: error.name, message: error.message }).toEqual({
      name: "GraphRequestError",
      message: `Microsoft Graph 410 resyncRequired: Gone (request-id r, client-request-id c, date d) [GET ${URL}]`,
      status: 410,
      code: "resyncRequired",
      graphMessage: undefined,
      requestId: "r",
      clientRequestId: "c",
      date: "d",
      retryAfterSeconds: 3,
      location: "L",
      method: "GET",
      url: URL,
      data: body,
    });
  });
});

describe("GraphNetworkError, GraphBatchError and InputError", () => {
  it("counts attempts only when there was more than one", () => {
    expect(new GraphNetworkError("GET", URL, "socket hang up", 1).message).toBe(`Microsoft Graph request failed: GET ${URL}: socket hang up`);
    expect(new GraphNetworkError("GET", URL, "socket hang up", 2).message).toBe(`Microsoft Graph request failed: GET ${URL}: socket hang up (after 2 attempts)`);
    expect(new GraphNetworkError("GET", URL, "x", 1).name).toBe("GraphNetworkError");
  });

  it("names a batch failure and keeps every item's answer", () => {
    const error = new GraphBatchError("2 of 3 requests failed", [{ id: "1", status: 404 }]);
    expect([error.name, error.message, error.data]).toEqual(["GraphBatchError", "2 of 3 requests failed", [{ id: "1", status: 404 }]]);
  });

  it("starts an input error with the input's label", () => {
    const error = new InputError("Max Pages", "must be a whole number");
    expect([error.name, error.message, error.input, error.problem]).toEqual(["InputError", "Max Pages: must be a whole number", "Max Pages", "must be a whole number"]);
  });
});

describe("readGraphErrorBody edges", () => {
  it.each<[string, unknown, ReturnType<typeof readGraphErrorBody>]>([
    ["an error that is not an object", { error: "boom" }, {}],
    ["a body that is a number", 42, {}],
    ["innerError preferred over innererror", { error: { code: "a", innerError: { "request-id": "one" }, innererror: { "request-id": "two" } } }, { code: "a", requestId: "one" }],
    ["request-id preferred over requestId", { error: { innerError: { "request-id": "new", requestId: "old" } } }, { requestId: "new" }],
    ["non-string fields ignored", { error: { code: 5, message: { text: "x" }, innerError: { date: 1 } } }, {}],
  ])("%s", (_name, body, expected) => {
    const read = readGraphErrorBody(body);
    expect(Object.fromEntries(Object.entries(read).filter(([, v]) => v !== undefined))).toStrictEqual(expected);
  });
});

describe("redactSecrets edges", () => {
  it.each<[string, string[], string]>([
    ["Bearer a Bearer b", [], "Bearer [REDACTED] Bearer [REDACTED]"],
    ["BEARER\tabc", [], "BEARER\t[REDACTED]"],
    ["key=short12 and short12", ["short12"], "key=short12 and short12"],
    ["key=longer123 and longer123", ["longer123"], "key=[REDACTED] and [REDACTED]"],
    ["nothing to hide", ["", "12345678"], "nothing to hide"],
    ["key=exactly8!", ["exactly8"], "key=[REDACTED]!"],
  ])("%p with %p", (text, secrets, expected) => {
    expect(redactSecrets(text, secrets)).toBe(expected);
  });
});
