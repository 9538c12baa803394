/** Table tests of Graph error reading and secret redaction. */
import { formatGraphErrorMessage, readGraphErrorBody, redactSecrets } from "./errors";

describe("readGraphErrorBody", () => {
  it.each([
    [
      "innerError (what live Graph sends)",
      { error: { code: "Request_ResourceNotFound", message: "gone", innerError: { date: "2021-04-20T17:22:30", "request-id": "r1", "client-request-id": "c1" } } },
      { code: "Request_ResourceNotFound", message: "gone", requestId: "r1", clientRequestId: "c1", date: "2021-04-20T17:22:30" },
    ],
    [
      "innererror (the resource definition's spelling)",
      { error: { code: "accessDenied", message: "no", innererror: { "request-id": "r2", date: "2021-05-18T19:03:10" } } },
      { code: "accessDenied", message: "no", requestId: "r2", date: "2021-05-18T19:03:10" },
    ],
    [
      "the old requestId key",
      { error: { code: "invalidRange", message: "Uploaded fragment overlaps with existing data.", innerError: { requestId: "r3", date: "d" } } },
      { code: "invalidRange", message: "Uploaded fragment overlaps with existing data.", requestId: "r3", date: "d" },
    ],
    ["no envelope", "<html>Bad Gateway</html>", {}],
    ["null", null, {}],
    ["an envelope without innerError", { error: { code: "UnknownError", message: "" } }, { code: "UnknownError", message: undefined }],
  ])("reads %s", (_name, body, expected) => {
    // toEqual, not toMatchObject: an expected {} must mean nothing was read.
    expect(readGraphErrorBody(body)).toEqual(expected);
  });
});

describe("formatGraphErrorMessage", () => {
  it("falls back to the status text when Graph sent no envelope", () => {
    expect(formatGraphErrorMessage({ status: 502, method: "GET", url: "https://graph.microsoft.com/v1.0/me" })).toBe(
      "Microsoft Graph 502: Bad Gateway [GET https://graph.microsoft.com/v1.0/me]",
    );
  });
});

describe("redactSecrets", () => {
  it.each([
    ["Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.abc-def_ghi", "Authorization: Bearer [REDACTED]"],
    ["bearer abc.def.ghi== and more", "bearer [REDACTED] and more"],
    ["no secret here", "no secret here"],
  ])("%p", (text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
  });

  it("removes a known secret wherever it stands", () => {
    expect(redactSecrets("token=super-secret-value;", ["super-secret-value"])).toBe("token=[REDACTED];");
  });
});
