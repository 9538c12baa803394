/**
 * GraphClient.requestPreauthenticated against the emulator's pre-authenticated download host: the URL is the
 * credential, so no Authorization (or Cookie) ever crosses the wire, on any hop, while the sender's retries apply.
 */
import { createGraphClient, GraphClient, GraphNetworkError, GraphRequestError, InputError } from "../client";
import { BASE_URL_ENV } from "../client/hosts";
import { connectionFor, failureOf, header, useEmulator } from "./support";

const env = useEmulator();

function client(overrides: { maxErrorRetries?: number; debug?: boolean } = {}): GraphClient {
  return createGraphClient(connectionFor(env.emulator.token), {
    apiVersion: "v1.0",
    retry: {
      maxThrottleRetries: 5,
      maxRetryAfterMs: 60_000,
      maxErrorRetries: overrides.maxErrorRetries ?? 2,
      retryAllErrors: false,
      retryDelayMs: 250,
      useExponentialBackoff: false,
    },
    debug: overrides.debug ?? false,
    logger: env.logger,
  });
}

/** hello.txt's pre-authenticated download URL, as Graph hands it out; the log is cleared afterwards. */
async function downloadUrl(graph: GraphClient): Promise<URL> {
  const item = await graph.request({ method: "GET", url: "/me/drive/root:/hello.txt" });
  env.emulator.log.length = 0;
  return new URL((item.data as Record<string, string>)["@microsoft.graph.downloadUrl"]);
}

const DOWNLOAD_PATH = /^\/download\//;

describe("requestPreauthenticated", () => {
  it("reads a download URL with no Authorization or Cookie, whatever headers the caller would add", async () => {
    const graph = client();
    const url = await downloadUrl(graph);
    expect(url.origin).toBe(env.emulator.downloadOrigin);
    const result = await graph.requestPreauthenticated({ method: "GET", url: url.href, responseType: "arraybuffer" });
    expect((result.data as Buffer).length).toBeGreaterThan(0);
    expect(env.emulator.log).toHaveLength(1);
    expect(env.emulator.log[0]).toMatchObject({ server: "download", auth: "none", status: 200 });
    expect(header(env.emulator.log[0], "authorization")).toBeUndefined();
    expect(header(env.emulator.log[0], "cookie")).toBeUndefined();

    for (const name of ["Authorization", "cookie", "Proxy-Authorization"]) {
      const refused = await failureOf(graph.requestPreauthenticated({ method: "GET", url: url.href, headers: { [name]: "x" } }));
      expect(refused.message).toMatch(new RegExp(`^${name} is never sent to a pre-authenticated URL`));
    }
    expect(env.emulator.log).toHaveLength(1);
  });

  it("sends no token even when the download host redirects back to the Graph origin", async () => {
    const graph = client();
    const url = await downloadUrl(graph);
    env.emulator.addFault({
      method: "GET",
      path: DOWNLOAD_PATH,
      fault: { kind: "reply", status: 302, headers: { Location: `${env.emulator.origin}/v1.0/me/drive/root:/hello.txt:/content` }, body: "" },
    });
    const failure = await failureOf(graph.requestPreauthenticated({ method: "GET", url: url.href }));
    // Graph, reached without a token, refuses: the token was never attached, not even on the Graph origin.
    expect(failure).toBeInstanceOf(GraphRequestError);
    expect(failure.status).toBe(401);
    expect(env.emulator.log.map((e) => [e.server, e.status])).toEqual([
      ["download", 302],
      ["graph", 401],
    ]);
    for (const entry of env.emulator.log) expect(header(entry, "authorization")).toBeUndefined();
  });

  it("retries a 503 as Retry-After asks and a reset by Max Retry Count, the same way Graph requests are retried", async () => {
    const graph = client();
    const url = await downloadUrl(graph);
    env.emulator.addFault({ method: "GET", path: DOWNLOAD_PATH, fault: { kind: "status", status: 503, retryAfter: "4" } });
    env.emulator.addFault({ method: "GET", path: DOWNLOAD_PATH, fault: { kind: "reset" } });
    const result = await graph.requestPreauthenticated({ method: "GET", url: url.href, responseType: "arraybuffer" });
    expect(result.status).toBe(200);
    const attempts = env.emulator.log.filter((e) => e.server === "download");
    expect(attempts).toHaveLength(3);
    expect(attempts.map((e) => header(e, "retry-attempt"))).toEqual([undefined, "1", "2"]);
    expect(new Set(attempts.map((e) => header(e, "client-request-id"))).size).toBe(1);
    for (const entry of attempts) expect(header(entry, "authorization")).toBeUndefined();
    expect(env.sleeps).toEqual([4000, 250]);
    expect(env.logLines.find((l) => l.includes("throttled it"))).toMatch(new RegExp(`^warn: Microsoft Graph GET /download/\\w+: ${url.host} throttled it \\(503\\); waiting 4 s`));
  });

  it("resends a POST after a reset only when the caller declares it idempotent", async () => {
    const graph = client();
    const url = await downloadUrl(graph);
    env.emulator.addFault({ method: "POST", path: DOWNLOAD_PATH, fault: { kind: "reset" }, times: 2 });
    const once = await failureOf(graph.requestPreauthenticated({ method: "POST", url: url.href, body: Buffer.from("chunk") }));
    expect(once).toBeInstanceOf(GraphNetworkError);
    expect(env.emulator.log).toHaveLength(1);

    // The second reset, then the download host's own answer (405: it only serves GET and HEAD).
    const again = await failureOf(graph.requestPreauthenticated({ method: "POST", url: url.href, body: Buffer.from("chunk"), idempotent: true }));
    expect(again).toBeInstanceOf(GraphRequestError);
    expect(again.status).toBe(405);
    expect(env.emulator.log).toHaveLength(3);
    expect(env.emulator.log.slice(1).map((e) => e.bodyBytes?.toString("utf8"))).toEqual(["chunk", "chunk"]);
  });

  it("refuses plain http to any host but loopback, and to loopback outside the test seam, before sending", async () => {
    const graph = client();
    const url = await downloadUrl(graph);
    const remote = await failureOf(graph.requestPreauthenticated({ method: "GET", url: "http://upload.example.com/session/1" }));
    expect(remote).toBeInstanceOf(InputError);
    expect(remote.message).toBe("URL: refused to send to a pre-authenticated URL that is not HTTPS (http://upload.example.com)");

    const seam = process.env[BASE_URL_ENV];
    delete process.env[BASE_URL_ENV];
    try {
      const outsideSeam = await failureOf(client().requestPreauthenticated({ method: "GET", url: url.href }));
      expect(outsideSeam.message).toBe(`URL: refused to send to a pre-authenticated URL that is not HTTPS (${url.origin})`);
    } finally {
      process.env[BASE_URL_ENV] = seam;
    }
    expect(env.emulator.log).toHaveLength(0);
  });

  it("reads Graph's error envelope, names the host, and masks the URL's credential and the token in errors and logs", async () => {
    const graph = client({ maxErrorRetries: 0, debug: true });
    const url = await downloadUrl(graph);
    const tempauth = url.searchParams.get("tempauth")!;
    expect(tempauth.length).toBeGreaterThan(8);
    env.emulator.addFault({
      method: "GET",
      path: DOWNLOAD_PATH,
      fault: {
        kind: "reply",
        status: 400,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ error: { code: "invalidRequest", message: `bad fragment for ${tempauth} (Bearer ${env.emulator.token})` } }),
      },
    });
    const failure = await failureOf(graph.requestPreauthenticated({ method: "GET", url: url.href }));
    expect(failure).toBeInstanceOf(GraphRequestError);
    expect(failure.code).toBe("invalidRequest");
    expect(failure.message).toContain(`[GET ${url.origin}${url.pathname}?tempauth=[REDACTED]]`);
    const everything = [failure.message, JSON.stringify(failure.data), String(failure.url), ...env.logLines].join("\n");
    expect(everything).not.toContain(tempauth);
    expect(everything).not.toContain(env.emulator.token);
    expect(env.logLines.some((l) => l.includes(`→ GET ${url.origin}${url.pathname}?tempauth=[REDACTED]`))).toBe(true);
  });
});
