/**
 * Issue 10 §4, the proof: Microsoft's own clients, unmodified, against `npm run emulator -- --https`, driven from
 * outside as a user's own test in any language would drive it. `@microsoft/microsoft-graph-client` 3.0.7
 * (PageIterator, BatchRequestContent/BatchResponseContent, delta links, GraphError, its default RetryHandler) and
 * `@azure/identity` (ClientSecretCredential, ClientCertificateCredential, DeviceCodeCredential).
 *
 * The emulator is the real command line in a child process (as src/emulator/cli.test.ts starts it), with
 * `--https --print-config --port 0`: everything this suite knows comes from the one JSON line it prints (origins,
 * tenant, demo app, token, control token, CA file), and everything it does afterwards is HTTP. What crossed the
 * wire is read from GET /_emulator/log (and ?host=login for the sign-in host), apps are registered with
 * POST /_emulator/apps, and POST /_emulator/reset starts each test afresh. `--device-code-interval 0`: Entra asks
 * device-code clients to poll every 5 s, which MSAL would sleep here. The child is stopped in afterAll, also when
 * a test or the start failed.
 *
 * Trust: the CA the CLI made for this run is read from the printed `caFile` and given to each client through its
 * own options, as a user would without NODE_EXTRA_CA_CERTS (which Node reads only at start, so a jest worker
 * cannot take it): the Graph client's `fetchOptions.dispatcher`, an undici Agent whose TLS trusts the CA (Node's
 * fetch, which the SDK calls, takes it), and Azure Identity's `tlsOptions.ca` (its HTTP pipeline, which also
 * carries MSAL's requests). Nothing else is trusted: a request without the CA fails.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { ClientCertificateCredential, ClientSecretCredential, DeviceCodeCredential, type TokenCredential } from "@azure/identity";
import {
  BatchRequestContent,
  BatchResponseContent,
  Client,
  GraphError,
  PageIterator,
  type PageCollection,
} from "@microsoft/microsoft-graph-client";
import { Agent } from "undici";
// Only to make a self-signed certificate and key locally, as a user would with openssl; it talks to nothing.
import { makeTestCertificate } from "../emulator/x509";

const USERS = 300;
const ROOT = join(__dirname, "..", "..");
const CLI = join(ROOT, "src", "emulator", "cli.ts");

/** The --print-config line (cli.ts printedConfig). */
interface PrintedConfig {
  graph: string;
  login: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  token: string;
  controlToken: string;
  caFile: string;
}

/** A request log entry as GET /_emulator/log answers it. */
interface LogEntry {
  server: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  auth: string;
  tokenKind?: string;
  body: string;
  status: number;
  batchItems?: { id: string; status: number }[];
}

let child: ChildProcess | undefined;
let config: PrintedConfig;
let caPem: string;
let dispatcher: Agent | undefined;
/** Fetch options whose TLS trusts the emulator's CA (Node's RequestInit types do not name `dispatcher`). */
let trustingCa: RequestInit;

/** The first stdout line of the child; rejects with its stderr if it exits first. */
function printedLine(cli: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    cli.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    cli.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      const end = stdout.indexOf("\n");
      if (end >= 0) resolve(stdout.slice(0, end));
    });
    cli.on("exit", (code, signal) => reject(new Error(`the emulator exited (${code ?? signal}) before printing its config: ${stderr.trim()}`)));
  });
}

/** SIGTERM (the CLI closes its servers and exits 0), SIGKILL if it has not exited within 5 s. */
async function stop(cli: ChildProcess | undefined): Promise<void> {
  if (!cli || cli.exitCode !== null || cli.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => cli.once("exit", () => resolve()));
  cli.kill("SIGTERM");
  const timer = setTimeout(() => cli.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

beforeAll(async () => {
  child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", CLI, "--https", "--print-config", "--port", "0", "--users", String(USERS), "--device-code-interval", "0"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  config = JSON.parse(await printedLine(child)) as PrintedConfig;
  caPem = readFileSync(config.caFile, "utf8");
  dispatcher = new Agent({ connect: { ca: caPem } });
  trustingCa = { dispatcher } as unknown as RequestInit;
}, 30_000);

afterAll(async () => {
  await dispatcher?.close();
  await stop(child);
});

/** The control surface, with the printed control token, over the trusted TLS. */
async function control(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${config.graph}/_emulator/${path}`, {
    method,
    headers: { Authorization: `Bearer ${config.controlToken}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...trustingCa,
  });
}

async function controlJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await control(method, path, body);
  if (!res.ok) throw new Error(`${method} /_emulator/${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

beforeEach(async () => {
  await controlJson("POST", "reset");
});

/**
 * The SDK as a user would set it up. `customHosts`: its AuthenticationHandler attaches the token only to Graph's
 * own hosts (graph.microsoft.com, …) and these; it takes the host name without the port. The emulator is https,
 * so the SDK's rule that only `https://` URLs are absolute lets nextLinks and deltaLinks through unchanged.
 */
function graphClient(token: () => Promise<string> | string = () => config.token): Client {
  return Client.init({
    baseUrl: config.graph,
    customHosts: new Set([new URL(config.graph).hostname]),
    fetchOptions: trustingCa,
    authProvider: (done) => {
      Promise.resolve(token()).then(
        (value) => done(null, value),
        (error: Error) => done(error, null),
      );
    },
  });
}

/** What reached the Graph host since the last reset, as the control surface reports it. */
async function graphLog(): Promise<LogEntry[]> {
  const { entries } = await controlJson<{ entries: LogEntry[] }>("GET", "log");
  return entries.filter((entry) => entry.server === "graph");
}

it("trusts nothing by accident: without the CA the TLS handshake is refused", async () => {
  await expect(fetch(`${config.graph}/v1.0/me`)).rejects.toThrow();
  // …and with it, the same request reaches Graph.
  expect((await fetch(`${config.graph}/v1.0/me`, { headers: { Authorization: `Bearer ${config.token}` }, ...trustingCa })).status).toBe(200);
});

it("PageIterator walks every user across nextLinks, with the token on each page", async () => {
  const client = graphClient();
  const first = (await client.api("/users").top(100).select("id,displayName").get()) as PageCollection;
  const ids: string[] = [];
  const iterator = new PageIterator(client, first, (user: { id: string }) => {
    ids.push(user.id);
    return true;
  });
  await iterator.iterate();
  expect(ids).toHaveLength(USERS);
  expect(new Set(ids).size).toBe(USERS);
  const pages = await graphLog();
  expect(pages).toHaveLength(3);
  expect(pages.every((entry) => entry.auth === "valid" && entry.status === 200)).toBe(true);
  expect(pages[1].url).toMatch(/^\/v1\.0\/users\?.*\$skiptoken=/i);
});

it("BatchRequestContent with dependsOn: the chain runs in order, a failed dependency gives its dependants 424", async () => {
  const client = graphClient();
  // BatchRequestContent keeps everything after the host of a Request's URL, so the Requests name the origin without
  // the version: a versioned one would send item URLs like "/v1.0/me", which the emulator's $batch refuses with
  // 400 "Resource not found for the segment 'v1.0'" (item URLs are relative to the batch's version).
  const url = (path: string) => `${config.graph}${path}`;
  const batch = new BatchRequestContent([
    { id: "1", request: new Request(url("/me")) },
    { id: "2", request: new Request(url("/users?$top=1")), dependsOn: ["1"] },
    { id: "3", request: new Request(url(`/users/${randomUUID()}`)), dependsOn: ["2"] },
    { id: "4", request: new Request(url("/me/messages?$top=1")), dependsOn: ["3"] },
  ]);
  const content = await batch.getContent();
  const answer = new BatchResponseContent(await client.api("/$batch").post(content));

  expect(answer.getResponseById("1").status).toBe(200);
  expect(((await answer.getResponseById("1").json()) as { displayName: string }).displayName).toBe("Megan Bowen");
  expect(answer.getResponseById("2").status).toBe(200);
  expect(answer.getResponseById("3").status).toBe(404);
  expect(answer.getResponseById("4").status).toBe(424);

  const [envelope] = await graphLog();
  expect(envelope.url).toBe("/v1.0/$batch");
  // What crossed the wire: the SDK's relative URLs and dependsOn, and the emulator's execution order.
  const sent = JSON.parse(envelope.body) as { requests: { id: string; url: string; dependsOn?: string[] }[] };
  expect(sent.requests.map((r) => [r.id, r.url, r.dependsOn])).toEqual([
    ["1", "/me", undefined],
    ["2", "/users?$top=1", ["1"]],
    ["3", expect.stringMatching(/^\/users\//), ["2"]],
    ["4", "/me/messages?$top=1", ["3"]],
  ]);
  expect(envelope.batchItems?.map((item) => [item.id, item.status])).toEqual([
    ["1", 200],
    ["2", 200],
    ["3", 404],
    ["4", 424],
  ]);
});

it("delta: PageIterator reaches the deltaLink; after a change, the deltaLink returns just that change", async () => {
  const client = graphClient();
  const first = (await client.api("/users/delta").select("displayName").get()) as PageCollection;
  let seen = 0;
  const iterator = new PageIterator(client, first, () => {
    seen++;
    return true;
  });
  await iterator.iterate();
  expect(seen).toBe(USERS);
  const deltaLink = iterator.getDeltaLink();
  expect(deltaLink).toMatch(new RegExp(`^${config.graph}/v1\\.0/users/delta\\?\\$deltatoken=`));

  const me = (await client.api("/me").get()) as { id: string };
  await client.api(`/users/${me.id}`).patch({ displayName: "Megan Bowen (proof)" });

  const changes = (await client.api(deltaLink as string).get()) as PageCollection;
  expect(changes.value).toEqual([expect.objectContaining({ id: me.id, displayName: "Megan Bowen (proof)" })]);
  expect(changes["@odata.deltaLink"]).toEqual(expect.any(String));
});

it("GraphError from a 404 carries Graph's statusCode, code, requestId and date", async () => {
  const client = graphClient();
  const missing = randomUUID();
  const error = (await client
    .api(`/users/${missing}`)
    .get()
    .then(
      () => undefined,
      (e: unknown) => e,
    )) as GraphError;
  expect(error).toBeInstanceOf(GraphError);
  expect(error.statusCode).toBe(404);
  expect(error.code).toBe("Request_ResourceNotFound");
  expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(error.date).toBeInstanceOf(Date);
  expect(Number.isNaN(error.date.getTime())).toBe(false);
  expect(error.message).toContain(missing);
});

it("the SDK's default RetryHandler honours a 429 with Retry-After injected through the control surface", async () => {
  const added = await control("POST", "faults", { path: "/me", times: 1, fault: { kind: "status", status: 429, retryAfter: "1" } });
  expect(added.status).toBeLessThan(300);

  const me = (await graphClient().api("/me").get()) as { displayName: string };
  expect(me.displayName).toBe("Megan Bowen");

  const log = await controlJson<{ entries: LogEntry[] }>("GET", "log");
  const attempts = log.entries.filter((entry) => entry.url === "/v1.0/me");
  expect(attempts.map((entry) => entry.status)).toEqual([429, 200]);
  expect(attempts[0].headers["retry-attempt"]).toBeUndefined();
  expect(attempts[1].headers["retry-attempt"]).toBe("1");
});

describe("@azure/identity against the emulator's sign-in host", () => {
  // authorityHost: the emulator's login origin. disableInstanceDiscovery: MSAL would otherwise ask
  // login.microsoftonline.com whether that host is a known authority; the tenant's OpenID discovery document is
  // still read from the emulator.
  const options = () => ({ authorityHost: config.login, disableInstanceDiscovery: true, tlsOptions: { ca: caPem } });
  const scope = "https://graph.microsoft.com/.default";

  async function provesWithGraph(credential: TokenCredential): Promise<void> {
    const token = async () => {
      const granted = await credential.getToken(scope);
      if (!granted) throw new Error("the credential returned no token");
      return granted.token;
    };
    const users = (await graphClient(token)
      .api("/users")
      .top(2)
      .get()) as { value: unknown[] };
    expect(users.value).toHaveLength(2);
    expect((await graphLog()).map((entry) => [entry.url, entry.tokenKind, entry.status])).toEqual([["/v1.0/users?$top=2", "app", 200]]);
  }

  it("ClientSecretCredential gets an app token whose Graph call succeeds", async () => {
    const credential = new ClientSecretCredential(config.tenant, config.clientId, config.clientSecret, options());
    await provesWithGraph(credential);
  });

  it("ClientCertificateCredential signs an assertion the emulator verifies against the registered certificate", async () => {
    const certificate = await makeTestCertificate();
    const clientId = randomUUID();
    await controlJson("POST", "apps", { clientId, certificatePem: certificate.certificatePem });
    const credential = new ClientCertificateCredential(config.tenant, clientId, { certificate: `${certificate.certificatePem}${certificate.privateKeyPem}` }, options());
    await provesWithGraph(credential);
  });

  it("DeviceCodeCredential: the user enters the prompted code on the verification page, and the token is the user's", async () => {
    const clientId = randomUUID();
    // A public client ("Allow public client flows"): the device polls without a secret.
    await controlJson("POST", "apps", { clientId, displayName: "Device Code Proof" });
    let approval: Promise<Response> | undefined;
    const prompts: string[] = [];
    const credential = new DeviceCodeCredential({
      ...options(),
      tenantId: config.tenant,
      clientId,
      // What a person does with the prompt: open the page and type the code.
      userPromptCallback: ({ verificationUri, userCode, message }) => {
        prompts.push(message);
        approval = fetch(verificationUri, { ...trustingCa, method: "POST", body: new URLSearchParams({ otc: userCode }) });
      },
    });
    const granted = await credential.getToken("https://graph.microsoft.com/User.Read");
    expect((await approval)?.status).toBe(200);
    expect(prompts).toEqual([expect.stringMatching(new RegExp(`^To sign in, use a web browser to open the page ${config.login}/devicelogin and enter the code [A-Z0-9]{9} to authenticate\\.$`))]);

    const me = (await graphClient(() => granted.token)
      .api("/me")
      .select("id")
      .get()) as { id: string };
    expect((await graphLog()).map((entry) => [entry.url, entry.tokenKind, entry.status])).toEqual([["/v1.0/me?$select=id", "user", 200]]);
    // The user who approved is the emulator's signed-in user: the demo user, whose /me the printed token reads.
    const demoUser = (await graphClient().api("/me").select("id").get()) as { id: string };
    expect(me.id).toBe(demoUser.id);
    // MSAL polls with the short grant_type "device_code".
    const { entries: loginLog } = await controlJson<{ entries: { form: Record<string, string>; status: number }[] }>("GET", "log?host=login");
    const polls = loginLog.filter((entry) => entry.form.grant_type === "device_code");
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.at(-1)?.status).toBe(200);
    expect(polls.slice(0, -1).every((entry) => entry.status === 400)).toBe(true);
  });

  it("a wrong secret surfaces Entra's AADSTS error through the credential", async () => {
    const credential = new ClientSecretCredential(config.tenant, config.clientId, "not-the-secret", options());
    await expect(credential.getToken(scope)).rejects.toThrow(/AADSTS7000215/);
  });
});
