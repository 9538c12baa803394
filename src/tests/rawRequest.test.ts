/**
 * Raw Request, run the way the platform runs it (createHarness: defaults, clean functions, error hook)
 * against the loopback Graph emulator. Every assertion is about what crossed the wire, what the step
 * returned, or what it logged; waits are recorded by the injected clock, never slept.
 */
import { READ_ONLY_TOKEN } from "../emulator";
import { connectionFor, failureOf, header, rawRequest, useEmulator } from "./support";

const env = useEmulator();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("requests", () => {
  it("GETs /me with the token, Accept and a client-request-id, and returns Graph's body", async () => {
    const result = await rawRequest(env, { url: "/me" });
    const data = result.data as Record<string, unknown>;
    expect(data.userPrincipalName).toEqual(expect.stringContaining("@"));
    expect(data["@odata.context"]).toBe(`${env.emulator.origin}/v1.0/$metadata#users/$entity`);
    const [sent] = env.graphRequests();
    expect(env.graphRequests()).toHaveLength(1);
    expect(sent).toMatchObject({ method: "GET", url: "/v1.0/me", auth: "valid" });
    expect(header(sent, "accept")).toBe("application/json");
    expect(header(sent, "client-request-id")).toMatch(UUID);
    expect(header(sent, "retry-attempt")).toBeUndefined();
    expect(header(sent, "content-type")).toBeUndefined();
  });

  it("joins a path without a leading slash, merges Query Parameter with the URL's own query, and keeps $ readable", async () => {
    await rawRequest(env, {
      url: "users?$select=id,displayName",
      queryParams: [
        { key: "$top", value: "5" },
        { key: "$filter", value: "startswith(displayName,'A')" },
      ],
    });
    expect(env.graphRequests()[0].url).toBe("/v1.0/users?$select=id,displayName&$top=5&$filter=startswith(displayName,%27A%27)");
  });

  it("uses the beta root when API Version is beta", async () => {
    await rawRequest(env, { url: "/me", apiVersion: "beta" });
    expect(env.graphRequests()[0].url).toBe("/beta/me");
  });

  it("accepts a pasted @odata.nextLink on the Graph origin and sends it back verbatim", async () => {
    const first = (await rawRequest(env, { url: "/users", queryParams: [{ key: "$top", value: "3" }] })).data as Record<string, string>;
    const nextLink = first["@odata.nextLink"];
    expect(nextLink.startsWith(`${env.emulator.origin}/v1.0/users?`)).toBe(true);
    const second = (await rawRequest(env, { url: nextLink })).data as { value: unknown[] };
    expect(second.value).toHaveLength(3);
    expect(`${env.emulator.origin}${env.graphRequests()[1].url}`).toBe(nextLink);
  });

  it("sends the user's headers after the defaults, so they override Accept and Content-Type", async () => {
    await rawRequest(env, {
      url: "/users",
      method: "POST",
      data: '{"displayName":"Adele Vance","mailNickname":"AdeleV","userPrincipalName":"AdeleV@contoso.onmicrosoft.com","accountEnabled":true,"passwordProfile":{"password":"x!Y2-long-enough"}}',
      headers: [
        { key: "accept", value: "application/json;odata.metadata=none" },
        { key: "Content-Type", value: "application/json; charset=utf-8" },
        { key: "ConsistencyLevel", value: "eventual" },
      ],
    });
    const [sent] = env.graphRequests();
    expect(header(sent, "accept")).toBe("application/json;odata.metadata=none");
    expect(header(sent, "content-type")).toBe("application/json; charset=utf-8");
    expect(header(sent, "consistencylevel")).toBe("eventual");
  });
});

describe("bodies", () => {
  const user = {
    displayName: "Adele Vance",
    mailNickname: "AdeleV",
    userPrincipalName: "AdeleV@contoso.onmicrosoft.com",
    accountEnabled: true,
    passwordProfile: { password: "x!Y2-long-enough" },
  };

  it("sends an object as JSON and returns the 201 body", async () => {
    const result = await rawRequest(env, { url: "/users", method: "POST", data: user });
    expect((result.data as Record<string, unknown>).id).toEqual(expect.any(String));
    const [sent] = env.graphRequests();
    expect(header(sent, "content-type")).toBe("application/json");
    expect(JSON.parse(sent.body)).toEqual(user);
  });

  it("sends a JSON string as is", async () => {
    const text = JSON.stringify(user, null, 2);
    await rawRequest(env, { url: "/users", method: "POST", data: text });
    expect(env.graphRequests()[0].body).toBe(text);
    expect(header(env.graphRequests()[0], "content-type")).toBe("application/json");
  });

  it("sends plain text as text/plain", async () => {
    await rawRequest(env, { url: "/me/drive/root:/notes.txt:/content", method: "PUT", data: "hello, Graph" });
    const [sent] = env.graphRequests();
    expect(sent.body).toBe("hello, Graph");
    expect(header(sent, "content-type")).toBe("text/plain; charset=utf-8");
  });

  it("sends a Buffer and a Prismatic file payload byte for byte", async () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x80]);
    const asBuffer = await rawRequest(env, { url: "/me/drive/root:/a.bin:/content", method: "PUT", data: bytes });
    await rawRequest(env, { url: "/me/drive/root:/b.png:/content", method: "PUT", data: { data: bytes, contentType: "image/png" } });
    const [first, second] = env.graphRequests();
    expect(first.bodyBytes.equals(bytes)).toBe(true);
    expect(header(first, "content-type")).toBe("application/octet-stream");
    expect(second.bodyBytes.equals(bytes)).toBe(true);
    expect(header(second, "content-type")).toBe("image/png");
    expect((asBuffer.data as { size: number }).size).toBe(bytes.length);
  });

  it("builds one multipart body with its own boundary from Form Data and File Data", async () => {
    await rawRequest(env, {
      url: "/me/drive/root:/upload.bin:/content",
      method: "PUT",
      formData: [{ key: "description", value: "quarterly report" }],
      fileData: [{ key: "file", value: { data: Buffer.from("a,b\n1,2\n"), contentType: "text/csv" } }],
      fileDataFileNames: [{ key: "file", value: "report.csv" }],
      headers: [{ key: "Content-Type", value: "application/json" }],
    });
    const [sent] = env.graphRequests();
    const contentType = header(sent, "content-type")!;
    const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(contentType)?.[1];
    expect(boundary).toBeTruthy();
    expect(sent.body).toContain(`--${boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\nquarterly report\r\n`);
    expect(sent.body).toContain('Content-Disposition: form-data; name="file"; filename="report.csv"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n');
    expect(sent.body.trimEnd().endsWith(`--${boundary}--`)).toBe(true);
  });
});

describe("responses", () => {
  it("returns null for an empty 204", async () => {
    const created = (await rawRequest(env, {
      url: "/users",
      method: "POST",
      data: { displayName: "Temp", mailNickname: "temp", userPrincipalName: "temp@contoso.onmicrosoft.com", accountEnabled: false, passwordProfile: { password: "x!Y2-long-enough" } },
    })).data as { id: string };
    const result = await rawRequest(env, { url: `/users/${created.id}`, method: "PATCH", data: { jobTitle: "Tester" } });
    expect(result.data).toBeNull();
    const deleted = await rawRequest(env, { url: `/users/${created.id}`, method: "DELETE" });
    expect(deleted.data).toBeNull();
  });

  it("returns the text of a non-JSON answer when JSON was asked for", async () => {
    const result = await rawRequest(env, { url: "/users/$count", headers: [{ key: "ConsistencyLevel", value: "eventual" }] });
    expect(result.data).toBe("300");
  });

  it("returns a string when Response Type is text", async () => {
    const result = await rawRequest(env, { url: "/me", responseType: "text" });
    expect(typeof result.data).toBe("string");
    expect(JSON.parse(result.data as string).id).toEqual(expect.any(String));
    expect(header(env.graphRequests()[0], "accept")).toContain("text/plain");
  });

  it("downloads /content as a file, following the 302 without sending the token to the download host", async () => {
    const result = await rawRequest(env, { url: "/me/drive/root:/hello.txt:/content", responseType: "arraybuffer" });
    expect(Buffer.isBuffer(result.data)).toBe(true);
    expect((result.data as Buffer).toString("utf8")).toBe("Hello, world!\nGrüße aus Contoso.\n");
    expect((result as { contentType?: string }).contentType).toMatch(/^text\/plain/);
    const [toGraph, toDownload] = env.emulator.log;
    expect(toGraph).toMatchObject({ server: "graph", auth: "valid", status: 302 });
    expect(toDownload).toMatchObject({ server: "download", auth: "none", status: 200 });
    expect(header(toDownload, "authorization")).toBeUndefined();
  });

  it("returns binary bytes intact", async () => {
    const listing = await rawRequest(env, { url: "/me/drive/root/children" });
    const png = (listing.data as { value: Array<{ id: string; name: string }> }).value.find((f) => f.name.endsWith(".png"));
    expect(png).toBeDefined();
    const result = await rawRequest(env, { url: `/me/drive/items/${png!.id}/content`, responseType: "arraybuffer" });
    const bytes = result.data as Buffer;
    expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(result.contentType).toBe("image/png");
  });
});

describe("throttling", () => {
  it("retries a POST throttled twice, waiting exactly what Retry-After said, with Retry-Attempt and one client-request-id", async () => {
    env.emulator.addFault({ method: "POST", path: "/users", times: 2, fault: { kind: "status", status: 429, retryAfter: "3" } });
    const result = await rawRequest(env, {
      url: "/users",
      method: "POST",
      data: { displayName: "Retry", mailNickname: "retry", userPrincipalName: "retry@contoso.onmicrosoft.com", accountEnabled: true, passwordProfile: { password: "x!Y2-long-enough" } },
    });
    expect((result.data as { displayName: string }).displayName).toBe("Retry");
    const sent = env.graphRequests();
    expect(sent.map((e) => e.status)).toEqual([429, 429, 201]);
    expect(sent.map((e) => header(e, "retry-attempt"))).toEqual([undefined, "1", "2"]);
    expect(new Set(sent.map((e) => header(e, "client-request-id"))).size).toBe(1);
    expect(sent.every((e) => e.body === sent[0].body)).toBe(true);
    expect(env.sleeps).toEqual([3000, 3000]);
    const waits = env.logLines.filter((l) => l.includes("Retry-After"));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toMatch(/^warn: Microsoft Graph POST \/v1\.0\/users: Graph throttled it \(429\); waiting 3 s as Retry-After asked \(throttle retry 1 of 5\)/);
  });

  it("honours an HTTP-date Retry-After, never waiting less than it says", async () => {
    const at = new Date(Date.now() + 5_000).toUTCString();
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter: at } });
    await rawRequest(env, { url: "/me" });
    expect(env.sleeps).toHaveLength(1);
    expect(env.sleeps[0]).toBeGreaterThanOrEqual(3_000);
    expect(env.sleeps[0]).toBeLessThanOrEqual(5_000);
  });

  it("retries 503 and 504 that carry Retry-After, even for PATCH", async () => {
    env.emulator.addFault({ path: "/me", method: "GET", fault: { kind: "status", status: 503, retryAfter: "1" } });
    env.emulator.addFault({ path: "/me", method: "GET", fault: { kind: "status", status: 504, retryAfter: "2" } });
    await rawRequest(env, { url: "/me" });
    expect(env.graphRequests().map((e) => e.status)).toEqual([503, 504, 200]);
    expect(env.sleeps).toEqual([1000, 2000]);
  });

  it("backs off exponentially with jitter from 1 s when a 429 has no Retry-After", async () => {
    env.emulator.addFault({ path: "/me", times: 3, fault: { kind: "status", status: 429 } });
    await rawRequest(env, { url: "/me" });
    // The test clock's random() is 0.5: each step gets +10 % jitter.
    expect(env.sleeps).toEqual([1100, 2200, 4400]);
  });

  it("fails at once when Graph asks for a wait longer than Longest Throttle Wait", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter: "300" } });
    const error = await failureOf(rawRequest(env, { url: "/me" }));
    expect(env.graphRequests()).toHaveLength(1);
    expect(env.sleeps).toEqual([]);
    expect(error.message).toContain("Graph asked to wait 300 s (Retry-After), longer than Longest Throttle Wait (120 s)");
    expect(error.retryAfterSeconds).toBe(300);
  });

  it("accepts a longer wait when Longest Throttle Wait allows it", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter: "300" } });
    await rawRequest(env, { url: "/me", maxRetryAfterSeconds: "600" });
    expect(env.sleeps).toEqual([300_000]);
  });

  it("gives up when the throttle budget is spent, saying so and how long it waited", async () => {
    env.emulator.addFault({ path: "/me", times: 4, fault: { kind: "status", status: 429, retryAfter: "2" } });
    const error = await failureOf(rawRequest(env, { url: "/me", maxThrottleRetries: "3" }));
    expect(env.graphRequests()).toHaveLength(4);
    expect(env.sleeps).toEqual([2000, 2000, 2000]);
    expect(error.message).toMatch(/^Microsoft Graph 429 TooManyRequests: Please retry again later\. \(request-id [0-9a-f-]{36}, client-request-id [0-9a-f-]{36}, date \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)/);
    expect(error.message).toContain("Still throttled after 3 throttle retries (6 s waited in all)");
    expect(error.status).toBe(429);
  });

  it("does not retry a throttle when Max Throttle Retries is 0 and the spec's retries are off", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter: "1" } });
    await failureOf(rawRequest(env, { url: "/me", maxThrottleRetries: "0" }));
    expect(env.graphRequests()).toHaveLength(1);
  });
});

describe("error retries (the spec's inputs)", () => {
  it("does not retry a 5xx with the spec's defaults", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 500 } });
    const error = await failureOf(rawRequest(env, { url: "/me" }));
    expect(env.graphRequests()).toHaveLength(1);
    expect(error.message).toMatch(/^Microsoft Graph 500 generalException/);
  });

  it("retries a 5xx on GET Max Retry Count times, waiting Retry Delay", async () => {
    env.emulator.addFault({ path: "/me", times: 2, fault: { kind: "status", status: 502 } });
    await rawRequest(env, { url: "/me", maxRetries: "2", retryDelayMS: "250" });
    expect(env.graphRequests().map((e) => e.status)).toEqual([502, 502, 200]);
    expect(env.sleeps).toEqual([250, 250]);
  });

  it("backs off exponentially from 1 s when Retry Delay is 0 (never a 0 ms retry storm)", async () => {
    env.emulator.addFault({ path: "/me", times: 3, fault: { kind: "status", status: 500 } });
    await rawRequest(env, { url: "/me", maxRetries: "3", useExponentialBackoff: "true" });
    expect(env.sleeps).toEqual([1100, 2200, 4400]);
  });

  it("doubles from Retry Delay with exponential backoff", async () => {
    env.emulator.addFault({ path: "/me", times: 2, fault: { kind: "status", status: 500 } });
    await rawRequest(env, { url: "/me", maxRetries: "3", retryDelayMS: "200", useExponentialBackoff: "true" });
    expect(env.sleeps).toEqual([220, 440]);
  });

  it("never retries a POST that failed with 5xx unless Retry On All Errors is set", async () => {
    const body = { displayName: "P", mailNickname: "p", userPrincipalName: "p@contoso.onmicrosoft.com", accountEnabled: true, passwordProfile: { password: "x!Y2-long-enough" } };
    env.emulator.addFault({ path: "/users", method: "POST", fault: { kind: "status", status: 500 } });
    await failureOf(rawRequest(env, { url: "/users", method: "POST", data: body, maxRetries: "3" }));
    expect(env.graphRequests()).toHaveLength(1);

    env.emulator.reset();
    env.emulator.addFault({ path: "/users", method: "POST", fault: { kind: "status", status: 500 } });
    await rawRequest(env, { url: "/users", method: "POST", data: body, maxRetries: "3", retryAllErrors: "true" });
    expect(env.graphRequests().map((e) => e.status)).toEqual([500, 201]);
  });

  it("retries a 404 only with Retry On All Errors, and reports it after the last attempt", async () => {
    const error = await failureOf(rawRequest(env, { url: "/users/nobody@contoso.onmicrosoft.com", maxRetries: "2", retryAllErrors: "true" }));
    expect(env.graphRequests()).toHaveLength(3);
    expect(error.message).toContain("Gave up after 3 attempts.");
    expect(error.status).toBe(404);
  });

  it("retries a reset connection on GET, and not on POST", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "reset" } });
    await rawRequest(env, { url: "/me", maxRetries: "1" });
    expect(env.graphRequests()).toHaveLength(2);

    env.emulator.reset();
    env.emulator.addFault({ path: "/users", method: "POST", fault: { kind: "reset" } });
    const error = await failureOf(rawRequest(env, { url: "/users", method: "POST", data: { displayName: "x" }, maxRetries: "1" }));
    expect(env.graphRequests()).toHaveLength(1);
    expect(error.message).toMatch(/^Microsoft Graph request failed: POST http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users: /);
  });

  it("treats a truncated body as a failed attempt and retries it", async () => {
    env.emulator.addFault({ path: "/users", fault: { kind: "truncate" } });
    const result = await rawRequest(env, { url: "/users", maxRetries: "1" });
    expect((result.data as { value: unknown[] }).value).toHaveLength(100);
    expect(env.graphRequests()).toHaveLength(2);
  });

  it("applies Timeout to each attempt", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "slow", delayMs: 1_000 } });
    const error = await failureOf(rawRequest(env, { url: "/me", timeout: "100" }));
    expect(error.message).toContain("no complete answer within 100 ms (Timeout)");

    env.emulator.reset();
    env.emulator.addFault({ path: "/me", fault: { kind: "slow", delayMs: 1_000 } });
    await rawRequest(env, { url: "/me", timeout: "200", maxRetries: "1" });
    expect(env.graphRequests()).toHaveLength(2);
  });
});

describe("Graph errors", () => {
  it("reads a 400 in plain words, with Graph's ids", async () => {
    const error = await failureOf(rawRequest(env, { url: "/users", queryParams: [{ key: "$top", value: "1000" }] }));
    expect(error.message).toMatch(
      /^Microsoft Graph 400 Request_UnsupportedQuery: Invalid page size specified: '1000'\. Must be between 1 and 999 inclusive\. \(request-id [0-9a-f-]{36}, client-request-id [0-9a-f-]{36}, date [\dT:-]+\) \[GET http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\?\$top=1000\]$/,
    );
    expect(error).toMatchObject({ status: 400, code: "Request_UnsupportedQuery" });
    expect(error.requestId).toMatch(UUID);
    expect(error.message).toContain(`request-id ${error.requestId}`);
    expect(error.message).toContain(`client-request-id ${header(env.graphRequests()[0], "client-request-id")}`);
  });

  it("explains a 401 and how to fix it", async () => {
    const error = await failureOf(
      rawRequest(env, { url: "/me", connection: connectionFor("expired-or-foreign-token") }),
    );
    expect(error.message).toMatch(/^Microsoft Graph 401 InvalidAuthenticationToken: /);
    expect(error.message).toContain("Hint: the access token was missing, expired or issued for another audience.");
    expect(env.graphRequests()[0].auth).toBe("invalid");
  });

  it("explains a 403: the permission, admin consent, reconnect", async () => {
    const error = await failureOf(
      rawRequest(env, { url: "/users", method: "POST", data: { displayName: "x" }, connection: connectionFor(READ_ONLY_TOKEN) }),
    );
    expect(error.message.split("\n")).toEqual([
      expect.stringMatching(
        /^Microsoft Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation\. \(request-id [0-9a-f-]{36}, client-request-id [0-9a-f-]{36}, date [\dT:-]+\) \[POST http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\]$/,
      ),
      expect.stringMatching(/^Hint: the token is valid but lacks permission for this call\. .*admin consent/),
    ]);
    expect(env.graphRequests()).toHaveLength(1);
  });

  it("reads a 404 and keeps status, code, request-id and Graph's body for the flow, but no request header", async () => {
    const error = await failureOf(rawRequest(env, { url: "/users/00000000-0000-0000-0000-000000000000" }));
    expect(error.message).toMatch(/^Microsoft Graph 404 Request_ResourceNotFound: Resource '00000000-0000-0000-0000-000000000000' does not exist/);
    expect(error).toMatchObject({ status: 404, code: "Request_ResourceNotFound", requestId: expect.stringMatching(UUID) });
    expect((error.data as { error: { code: string } }).error.code).toBe("Request_ResourceNotFound");
    const everything = JSON.stringify(error) + error.message + String(error.stack);
    expect(everything).not.toContain(env.emulator.token);
    expect(everything.toLowerCase()).not.toContain("authorization");
  });
});

describe("the token stays on the Graph origin", () => {
  it.each([
    ["an absolute URL on another host", "https://evil.example.com/v1.0/me"],
    ["Microsoft Graph itself when the emulator is the origin in use", "https://graph.microsoft.com/v1.0/me"],
    ["a protocol-relative URL", "//evil.example.com/v1.0/me"],
    ["a malformed URL", "https://"],
    ["a path that climbs out of the version root", "/../../evil"],
  ])("refuses %s before sending anything", async (_what, url) => {
    const error = await failureOf(rawRequest(env, { url }));
    expect(error.message).toMatch(/^URL: /);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("refuses an Authorization or Host header from the user", async () => {
    const auth = await failureOf(rawRequest(env, { url: "/me", headers: [{ key: "authorization", value: "Bearer stolen" }] }));
    expect(auth.message).toBe("Header: Authorization is set from the connection and cannot be overridden; remove it from Header");
    const host = await failureOf(rawRequest(env, { url: "/me", headers: [{ key: "Host", value: "evil.example.com" }] }));
    expect(host.message).toMatch(/^Header: Host is set from the URL/);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("never writes the token in a log line, with Debug Request on", async () => {
    env.emulator.addFault({ path: "/me", fault: { kind: "status", status: 429, retryAfter: "1" } });
    await rawRequest(env, { url: "/me", debugRequest: "true" });
    const debug = env.logLines.filter((l) => l.startsWith("info: "));
    expect(debug).toEqual([
      expect.stringMatching(/^info: → GET http:\/\/127\.0\.0\.1:\d+\/v1\.0\/me \(attempt 1\) headers /),
      expect.stringMatching(/^info: ← 429 Too Many Requests in \d+ ms \(request-id [0-9a-f-]{36}\)$/),
      expect.stringMatching(/^info: → GET .*\/v1\.0\/me \(attempt 2\) headers .*"Retry-Attempt":"1"/),
      expect.stringMatching(/^info: ← 200 OK in \d+ ms/),
    ]);
    for (const line of env.logLines) expect(line).not.toContain(env.emulator.token);
  });

  it("logs the same way in the flow's debug mode, and logs nothing but throttle waits without it", async () => {
    await rawRequest(env, { url: "/me" }, { globalDebug: true });
    expect(env.logLines.filter((l) => l.startsWith("info: "))).toHaveLength(2);
    env.logLines.length = 0;
    await rawRequest(env, { url: "/me" });
    expect(env.logLines).toEqual([]);
  });
});

describe("bad input fails before any request, naming the input", () => {
  it.each([
    [{ url: "" }, /^URL: is required/],
    [{ method: "FETCH" }, /^Method: 'FETCH' is not supported by Microsoft Graph/],
    [{ maxRetries: "three" }, /^Max Retry Count: 'three' is not a whole number/],
    [{ maxRetries: "-1" }, /^Max Retry Count: '-1' is not a whole number/],
    [{ retryDelayMS: "1.5" }, /^Retry Delay \(ms\): '1\.5' is not a whole number/],
    [{ timeout: "soon" }, /^Timeout: 'soon' is not a whole number/],
    [{ useExponentialBackoff: "maybe" }, /^Use Exponential Backoff: 'maybe' is not true or false/],
    [{ responseType: "xml" }, /^Response Type: 'xml' is not one of json, text or arraybuffer/],
    [{ apiVersion: "v2.0" }, /^API Version: 'v2\.0' is not one of v1\.0, beta/],
    [{ maxThrottleRetries: "100" }, /^Max Throttle Retries: 100 is more than the allowed 50/],
    [{ maxRetryAfterSeconds: "x" }, /^Longest Throttle Wait \(s\): 'x' is not a whole number/],
    [{ headers: [{ key: "X-Note", value: "a\r\nInjected: 1" }] }, /^Header: the value of 'X-Note' contains a line break/],
    [{ headers: [{ key: "Bad Header", value: "1" }] }, /^Header: 'Bad Header' is not a valid header name/],
    [{ queryParams: [{ key: "", value: "1" }] }, /^Query Parameter: every entry needs a key/],
    [{ url: "/v1.0/me" }, /^URL: '\/v1\.0\/me' starts with an API version/],
    [{ method: "GET", data: { a: 1 } }, /^Data: a GET request cannot carry a body/],
    [{ method: "POST", data: "{not json" }, /^Data: looks like JSON but does not parse/],
    [{ method: "POST", data: { a: 1 }, formData: [{ key: "a", value: "b" }] }, /^Data: cannot be combined with Form Data or File Data/],
    [{ connection: { key: "oauth", configVarKey: "", fields: {}, token: {} } }, /^Connection: has no access token/],
  ])("%j", async (params, message) => {
    const error = await failureOf(rawRequest(env, { url: "/me", ...params }));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("refuses an MS_GRAPH_BASE_URL that is not loopback, naming the variable", async () => {
    const saved = process.env.MS_GRAPH_BASE_URL;
    process.env.MS_GRAPH_BASE_URL = "https://graph.example.com";
    try {
      const error = await failureOf(rawRequest(env, { url: "/me" }));
      expect(error.message).toMatch(/^MS_GRAPH_BASE_URL: 'https:\/\/graph\.example\.com' is not allowed: it may only name a loopback origin/);
    } finally {
      process.env.MS_GRAPH_BASE_URL = saved;
    }
    expect(env.emulator.log).toHaveLength(0);
  });
});
