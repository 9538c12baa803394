/**
 * `npm start`: runs the connector's actions through Spectral's harness, exactly as a flow step runs,
 * against the embedded Graph emulator, and prints what each step sent and got.
 *
 *   npm start                                   the demo tour on the emulator
 *   npm start -- GET /users --query '$top=5'    one Raw Request (see --help)
 *   MS_GRAPH_TOKEN=eyJ... npm start -- GET /me  the same against real Microsoft Graph
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import { createConnection, createHarness } from "@prismatic-io/spectral/dist/testing";
import component from "../index";
import { oauth, oauthClientCredentials } from "../connections";
import { CLOUDS, findCloud, GLOBAL_CLOUD, MicrosoftCloud } from "../client/clouds";
import { BASE_URL_ENV } from "../client/hosts";
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, GraphEmulator, startEmulator } from "../emulator";
import { currentToken, DEFAULT_LOGIN_FILE, refreshLogin, saveLogin, signIn } from "./login";
import { watch, watchCommand } from "./watch";

const harness = createHarness(component);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const logger: ActionLogger = {
  metric: () => undefined,
  trace: () => undefined,
  debug: (...a) => console.log(dim(`    log  ${a.join(" ")}`)),
  info: (...a) => console.log(dim(`    log  ${a.join(" ")}`)),
  log: (...a) => console.log(dim(`    log  ${a.join(" ")}`)),
  warn: (...a) => console.log(`    warn ${a.join(" ")}`),
  error: (...a) => console.log(`    err  ${a.join(" ")}`),
};

interface Step {
  title: string;
  /** The action to run; Raw Request when absent. */
  action?: string;
  params: Record<string, unknown>;
}

/** The runner's connection: the spec's auth-code connection on the chosen cloud, with a ready token. */
function connectionFor(token: string, cloud: MicrosoftCloud) {
  return createConnection(
    oauth,
    {
      authorizeUrl: `${cloud.login}/common/oauth2/v2.0/authorize`,
      tokenUrl: `${cloud.login}/common/oauth2/v2.0/token`,
      scopes: `${cloud.graph}/User.Read.All offline_access`,
      clientId: "runner",
      clientSecret: "runner",
      cloud: cloud.graph,
    },
    { access_token: token },
  );
}

let runnerCloud: MicrosoftCloud = GLOBAL_CLOUD;

async function runStep(step: Step, token: string, emulator?: GraphEmulator): Promise<unknown> {
  console.log(`\n${bold(step.title)}`);
  const connection = connectionFor(token, runnerCloud);
  const before = emulator?.log.length ?? 0;
  const started = Date.now();
  let outcome: { data?: unknown; contentType?: string } | undefined;
  let failure: Error | undefined;
  try {
    const action = step.action ?? "rawRequest";
    const defaults = action === "rawRequest" ? { method: "GET" } : {};
    outcome = (await harness.action(action, { connection, ...defaults, ...step.params }, { logger })) as typeof outcome;
  } catch (error) {
    failure = error as Error;
  }
  const entries = emulator?.log.slice(before) ?? [];
  for (const entry of entries.length > 8 ? [...entries.slice(0, 3), undefined, ...entries.slice(-2)] : entries) {
    if (!entry) {
      console.log(dim(`  … ${entries.length - 5} more requests`));
      continue;
    }
    const extra = ["retry-attempt", "consistencylevel", "content-type"]
      .filter((h) => entry.headers[h])
      .map((h) => `${h}: ${entry.headers[h]}`)
      .join(", ");
    console.log(`  sent ${entry.method} ${entry.url} ${dim(`[${entry.server}, auth ${entry.auth}${extra ? `, ${extra}` : ""}]`)} → ${entry.status}`);
  }
  const ms = Date.now() - started;
  if (failure) {
    console.log(`  step failed after ${ms} ms:\n    ${failure.message.split("\n").join("\n    ")}`);
    return undefined;
  }
  console.log(`  got  ${summarize(outcome?.data, outcome?.contentType)} ${dim(`(${ms} ms)`)}`);
  return outcome?.data;
}

function summarize(data: unknown, contentType?: string): string {
  if (Buffer.isBuffer(data)) return `a file: ${data.length} bytes of ${contentType}`;
  if (data === null) return "no body";
  if (Array.isArray(data)) {
    return `${data.length} answers: ${data.map((r: { id: string; status: number }) => `${r.id} → ${r.status}`).join(", ")}`;
  }
  if (typeof data === "object" && typeof (data as { pageCount?: unknown }).pageCount === "number") {
    const d = data as { value: unknown[]; pageCount: number; "@odata.deltaLink"?: string; "@odata.nextLink"?: string; stoppedBy?: string };
    return `${d.value.length} items from ${d.pageCount} pages${d["@odata.deltaLink"] ? " + @odata.deltaLink" : ""}${d.stoppedBy ? `, stopped by ${d.stoppedBy} (+ @odata.nextLink)` : ""}`;
  }
  if (typeof data === "string") return JSON.stringify(data.length > 120 ? `${data.slice(0, 120)}…` : data);
  const o = data as Record<string, unknown>;
  const hashes = (o.file as { hashes?: { quickXorHash?: string } } | undefined)?.hashes;
  if (typeof o.name === "string" && typeof o.size === "number" && hashes) return `the driveItem '${o.name}', ${o.size} bytes, quickXorHash ${hashes.quickXorHash}`;
  if (Array.isArray(o.value)) {
    const names = o.value.slice(0, 3).map((v: Record<string, unknown>) => v.displayName ?? v.id);
    return `${o.value.length} items (${names.join(", ")}${o.value.length > 3 ? ", …" : ""})${o["@odata.nextLink"] ? " + @odata.nextLink" : ""}${o["@odata.count"] !== undefined ? `, @odata.count ${o["@odata.count"]}` : ""}`;
  }
  const text = JSON.stringify(data);
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

async function tour(token: string, emulator?: GraphEmulator): Promise<void> {
  await runStep({ title: "1. Raw Request GET /me", params: { url: "/me" } }, token, emulator);
  const page1 = (await runStep(
    {
      title: "2. Raw Request GET /users ($top=50, $count with ConsistencyLevel: eventual)",
      params: {
        url: "/users",
        queryParams: [
          { key: "$top", value: "50" },
          { key: "$select", value: "id,displayName,mail" },
          { key: "$count", value: "true" },
        ],
        headers: [{ key: "ConsistencyLevel", value: "eventual" }],
      },
    },
    token,
    emulator,
  )) as Record<string, string> | undefined;
  const nextLink = page1?.["@odata.nextLink"];
  if (nextLink) {
    await runStep({ title: "3. Raw Request with the pasted @odata.nextLink (page 2)", params: { url: nextLink } }, token, emulator);
  }
  if (emulator) {
    emulator.addFault({ method: "POST", path: "/users", times: 2, fault: { kind: "status", status: 429, retryAfter: "1" } });
    await runStep(
      {
        title: "4. Raw Request POST /users, throttled twice by Graph (429, Retry-After: 1): it waits and succeeds",
        params: {
          url: "/users",
          method: "POST",
          data: {
            displayName: "Adele Vance",
            mailNickname: "AdeleV",
            userPrincipalName: `AdeleV${Date.now()}@contoso.onmicrosoft.com`,
            accountEnabled: true,
            passwordProfile: { forceChangePasswordNextSignIn: true, password: "xWwvJ]6NMw+bWH-d" },
          },
        },
      },
      token,
      emulator,
    );
    await runStep(
      { title: "5. Raw Request GET a file's /content as binary: a 302 to the download host, which gets no token", params: { url: "/me/drive/root:/hello.txt:/content", responseType: "arraybuffer" } },
      token,
      emulator,
    );
  }
  await runStep(
    {
      title: "6. Fetch All Pages /users ($top=999): every page, following @odata.nextLink",
      action: "fetchAllPages",
      params: { url: "/users", queryParams: [{ key: "$top", value: "999" }, { key: "$select", value: "id,displayName" }] },
    },
    token,
    emulator,
  );
  await runStep(
    {
      title: "7. Batch Requests: three requests in one $batch call, the third depending on the first",
      action: "batchRequests",
      params: {
        failOnItemError: "false",
        requests: JSON.stringify([
          { id: "me", method: "GET", url: "/me?$select=displayName" },
          { id: "teams", method: "GET", url: "/me/joinedTeams" },
          { id: "count", method: "GET", url: "/users/$count", headers: { ConsistencyLevel: "eventual" }, dependsOn: ["me"] },
        ]),
      },
    },
    token,
    emulator,
  );
  await runStep({ title: "8. A Graph error, in plain words: GET /users/{unknown id}", params: { url: "/users/00000000-0000-0000-0000-000000000000" } }, token, emulator);
  await runStep({ title: "9. Bad input, refused before anything is sent: an absolute URL on another host", params: { url: "https://example.com/v1.0/me" } }, token, emulator);
  if (!emulator) return;
  const file = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7) % 256));
  await runStep(
    {
      title: "10. Upload File: 3 MiB in 960 KiB chunks (3 × 320 KiB, as Graph requires) through an upload session (the upload host gets no token); the quickXorHash is checked",
      action: "uploadFile",
      params: { destination: "/me/drive/root:/Reports/tour.bin:", file, chunkSize: String(3 * 320 * 1024) },
    },
    token,
    emulator,
  );
  const downloaded = await runStep(
    { title: "11. Download File: the same file back, through Graph's 302 to the download host (no token there)", action: "downloadFile", params: { item: "/me/drive/root:/Reports/tour.bin:" } },
    token,
    emulator,
  );
  console.log(`  the bytes are ${Buffer.isBuffer(downloaded) && downloaded.equals(file) ? "the same as uploaded" : "NOT the same as uploaded"}`);
  if (emulator.identity) await appOnlyTour(emulator);
  console.log(`\n${bold("14. Change Notifications trigger: subscribe, a mail arrives, the flow is notified, unsubscribe (npm start -- watch)")}`);
  const previous = process.env[BASE_URL_ENV];
  try {
    await watch("me/mailFolders('Inbox')/messages", { print: (line) => console.log(`  ${line.split("\n").slice(0, 12).join("\n  ")}`) });
  } finally {
    process.env[BASE_URL_ENV] = previous;
  }
}

/** Client credentials: the platform exchanges the app's secret for a token; the connector uses it. */
async function appOnlyTour(emulator: GraphEmulator): Promise<void> {
  const answer = await fetch(emulator.identity!.tokenEndpoint("contoso.onmicrosoft.com"), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, scope: `${emulator.graphResource}/.default` }),
  });
  const appToken = ((await answer.json()) as { access_token: string }).access_token;
  const connection = createConnection(
    oauthClientCredentials,
    { tenant: "contoso.onmicrosoft.com", clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, cloud: GLOBAL_CLOUD.graph, loginHost: GLOBAL_CLOUD.login },
    { access_token: appToken },
  );
  for (const [title, url] of [
    ["12. Client Credentials (app-only): GET /users/{userPrincipalName}", "/users/MeganB@contoso.onmicrosoft.com?$select=displayName,jobTitle"],
    ["13. Client Credentials (app-only): /me is refused before sending, with what to use instead", "/me/messages"],
  ]) {
    console.log(`\n${bold(title)}`);
    const before = emulator.log.length;
    try {
      const result = (await harness.action("rawRequest", { connection, method: "GET", url }, { logger })) as { data: unknown };
      for (const entry of emulator.log.slice(before)) console.log(`  sent ${entry.method} ${entry.url} ${dim(`[graph, ${entry.tokenKind} token]`)} → ${entry.status}`);
      console.log(`  got  ${summarize(result.data)}`);
    } catch (error) {
      console.log(`  step failed, nothing sent:\n    ${(error as Error).message}`);
    }
  }
}

const HELP = `Usage:
  npm start                                   demo tour against the embedded Graph emulator
  npm start -- <METHOD> <path or Graph URL> [options]
  npm start -- login                          authorization-code sign-in with PKCE against the emulator's Entra
  npm start -- login --tenant <id|domain> --client-id <app id> [--cloud global|usgov-l4|usgov-l5-dod|china]
                     [--scopes "User.Read offline_access"]
                                              the same against real Microsoft Entra; stores the sign-in in
                                              ~/.ms-graph-connector/login.json for later calls, which refresh it
  npm start -- logout                         forget the stored sign-in
  npm start -- watch [resource] [--rich]      the change-notification loop on the emulator: subscribe through the
                                              Change Notifications trigger, make a change, print what the flow
                                              receives, unsubscribe on exit (resource: users,
                                              "me/mailFolders('Inbox')/messages" (default), me/drive/root);
                                              --rich: resource data, verified and decrypted by the trigger
Options:
  --query k=v      a query parameter (repeatable)        --header k:v   a header (repeatable)
  --data <body>    the request body (JSON or text)       --version beta the API version (default v1.0)
  --type text|arraybuffer   the Response Type            --debug        log each attempt
Environment:
  MS_GRAPH_TOKEN          a real access token: calls real Microsoft Graph instead of the emulator
  MS_GRAPH_CLIENT_SECRET  the app's client secret, for a login with a Web (confidential) app registration`;

function parseOne(args: string[]): Step {
  const [method, url, ...rest] = args;
  const params: Record<string, unknown> = { method: method.toUpperCase(), url };
  const queryParams: Array<{ key: string; value: string }> = [];
  const headers: Array<{ key: string; value: string }> = [];
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    const split = (s: string, sep: string) => [s.slice(0, s.indexOf(sep)), s.slice(s.indexOf(sep) + 1)];
    if (flag === "--debug") {
      params.debugRequest = "true";
      continue;
    }
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === "--query") queryParams.push(Object.fromEntries([["key", split(value, "=")[0]], ["value", split(value, "=")[1]]]) as { key: string; value: string });
    else if (flag === "--header") headers.push({ key: split(value, ":")[0].trim(), value: split(value, ":")[1].trim() });
    else if (flag === "--data") params.data = value;
    else if (flag === "--version") params.apiVersion = value;
    else if (flag === "--type") params.responseType = value;
    else throw new Error(`unknown option ${flag}\n\n${HELP}`);
  }
  return { title: `Raw Request ${params.method} ${url}`, params: { ...params, queryParams, headers } };
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The emulator's login: the runner is a public desktop client signing in Megan Bowen with PKCE. */
async function emulatorLogin(): Promise<void> {
  const emulator = await startEmulator({ users: 2500, identity: true });
  process.env[BASE_URL_ENV] = emulator.origin;
  const clientId = "3f8a2d1c-6b4e-4c7a-9e5f-1d2c3b4a5e6f";
  emulator.identity!.registerApp({ clientId, displayName: "Graph connector runner", redirectUris: ["http://localhost/callback"] });
  try {
    console.log(`Signing in at the emulator's Microsoft Entra (${emulator.loginOrigin}) with PKCE and a loopback redirect...`);
    const login = await signIn({
      loginOrigin: emulator.loginOrigin!,
      tenant: "contoso.onmicrosoft.com",
      clientId,
      scope: "openid profile offline_access User.Read User.ReadWrite.All",
      // The emulator consents at once; a browser would follow its 302 to the loopback redirect the same way.
      open: async (url) => {
        const answer = await fetch(url, { redirect: "manual" });
        const location = answer.headers.get("location");
        if (!location) throw new Error(`the authorize endpoint answered ${answer.status} without a redirect`);
        await fetch(location.replace("://localhost:", "://127.0.0.1:"));
      },
    });
    for (const entry of emulator.identity!.log) console.log(`  sent ${entry.method} ${entry.url.split("?")[0]} → ${entry.status}`);
    console.log(`  got  an access token (expires ${new Date(login.expiresAt).toISOString()}) and a refresh token (offline_access)`);
    await runStep({ title: "Raw Request GET /me with the signed-in user's token", params: { url: "/me?$select=displayName,userPrincipalName" } }, login.accessToken, emulator);
    const refreshed = await refreshLogin(login);
    console.log(`\n${bold("Refreshed the token")}: a new access token${refreshed.refreshToken !== login.refreshToken ? " and a rotated refresh token" : ""}`);
    await runStep({ title: "Raw Request GET /me with the refreshed token", params: { url: "/me?$select=displayName" } }, refreshed.accessToken, emulator);
    console.log(`\nWith --tenant and --client-id the same sign-in runs against real Microsoft Entra and is stored in ${DEFAULT_LOGIN_FILE}.`);
  } finally {
    await emulator.close();
  }
}

async function realLogin(args: string[]): Promise<void> {
  const tenant = flag(args, "--tenant");
  const clientId = flag(args, "--client-id");
  if (!tenant || !clientId) throw new Error(`login against real Entra needs --tenant and --client-id\n\n${HELP}`);
  const cloud = findCloud(CLOUDS.find((c) => c.key === flag(args, "--cloud"))?.graph ?? "");
  if (!cloud) throw new Error(`--cloud must be one of ${CLOUDS.map((c) => c.key).join(", ")}`);
  const scope = flag(args, "--scopes") ?? `openid profile offline_access ${cloud.graph}/User.Read`;
  const login = await signIn({
    loginOrigin: cloud.login,
    tenant,
    clientId,
    clientSecret: process.env.MS_GRAPH_CLIENT_SECRET?.trim() || undefined,
    scope,
    open: async (url) => console.log(`Open this URL in a browser and sign in:\n\n  ${url}\n\nWaiting for the redirect to this machine...`),
  });
  saveLogin({ ...login, cloud: cloud.graph });
  console.log(`Signed in. Stored in ${DEFAULT_LOGIN_FILE} (readable by you only); later runner calls use and refresh it.`);
  delete process.env[BASE_URL_ENV];
  runnerCloud = cloud;
  await runStep({ title: "Raw Request GET /me", params: { url: "/me?$select=displayName,userPrincipalName" } }, login.accessToken);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === "watch") return watchCommand(args.slice(1));
  if (args[0] === "--help" || args[0] === "-h" || args.length === 1 && args[0] !== "login" && args[0] !== "logout") {
    console.log(HELP);
    return;
  }
  if (args[0] === "login") return args.length > 1 ? realLogin(args.slice(1)) : emulatorLogin();
  if (args[0] === "logout") {
    (await import("node:fs")).rmSync(DEFAULT_LOGIN_FILE, { force: true });
    console.log(`Removed ${DEFAULT_LOGIN_FILE}.`);
    return;
  }
  const realToken = process.env.MS_GRAPH_TOKEN?.trim();
  const stored = !realToken && args.length >= 2 ? await currentToken(DEFAULT_LOGIN_FILE, process.env.MS_GRAPH_CLIENT_SECRET?.trim()) : undefined;
  let emulator: GraphEmulator | undefined;
  let token: string;
  if (realToken) {
    delete process.env[BASE_URL_ENV];
    token = realToken;
    console.log("Calling real Microsoft Graph with the token in MS_GRAPH_TOKEN (it is never printed).");
  } else if (stored) {
    delete process.env[BASE_URL_ENV];
    token = stored.token;
    runnerCloud = stored.cloud;
    console.log(`Calling real Microsoft Graph (${stored.cloud.graph}) as the user stored by npm start -- login.`);
  } else {
    emulator = await startEmulator({ users: 2500, identity: true });
    process.env[BASE_URL_ENV] = emulator.origin;
    token = emulator.token;
    console.log(`Graph emulator on ${emulator.origin} (download host ${emulator.downloadOrigin}); ${BASE_URL_ENV}=${emulator.origin}`);
  }
  try {
    if (args.length >= 2) await runStep(parseOne(args), token, emulator);
    else await tour(token, emulator);
  } finally {
    await emulator?.close();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
