/**
 * Smoke test of the shipped bundle (`npm run smoke:dist`, run by CI after `npm run build`): loads dist/index.js,
 * the file a flow step loads, and runs every action, trigger, data source and connection kind once through
 * Spectral's harness against the Graph emulator (with its Microsoft Entra). The build replaces parts of Spectral
 * with a stub that throws; this is what proves, through Spectral upgrades, that nothing the component runs needs them.
 * Keys are read from the bundled component, so a new action or data source fails here until it is given a case.
 * Exits non-zero on any failure.
 */
import path from "node:path";
import fs from "node:fs";
import { createHarness } from "@prismatic-io/spectral/dist/testing";
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, startEmulator, type GraphEmulator } from "../emulator";
import { makeTestCertificate } from "../emulator/x509";
import { startFlowHost } from "../runner/webhookReceiver";

const STUB_MARKER = "is not bundled with this component";
const TENANT = "contoso.onmicrosoft.com";
const GLOBAL = { cloud: "https://graph.microsoft.com" };

type Harness = ReturnType<typeof createHarness>;
interface Connection {
  key: string;
  configVarKey: string;
  fields: Record<string, unknown>;
  token?: Record<string, unknown>;
}
interface Case {
  run(): Promise<unknown>;
  /** Throws when the answer is not the expected one. */
  check(result: unknown): void;
}

const SMOKE_FILE = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31) % 251));

const silentLogger = { metric() {}, trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };

function expectThat(condition: boolean, what: string, result: unknown): void {
  if (!condition) throw new Error(`expected ${what}, got ${JSON.stringify(result)?.slice(0, 300)}`);
}
const dataOf = (result: unknown) => (result as { data?: unknown } | undefined)?.data as Record<string, unknown> | undefined;
const picklist = (result: unknown) => (result as { result?: { key: string; label: string }[] } | undefined)?.result ?? [];

async function appToken(emulator: GraphEmulator): Promise<string> {
  // What the platform does for a client-credentials connection: exchange the secret for an app token.
  const response = await fetch(emulator.identity!.tokenEndpoint(TENANT), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, scope: `${emulator.graphResource}/.default` }),
  });
  if (!response.ok) throw new Error(`the emulator's Entra refused the client-credentials exchange: ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function connectionsFor(emulator: GraphEmulator): Promise<Record<string, Connection>> {
  const certificate = await makeTestCertificate();
  const certificateClientId = "3f9b1c7e-5a2d-4e8f-9b06-7d1c2e4a8f53";
  emulator.identity!.registerApp({ clientId: certificateClientId, certificatePem: certificate.certificatePem });
  const value = (key: string, fields: Record<string, unknown>, token?: Record<string, unknown>): Connection => ({ key, configVarKey: "", fields, token });
  return {
    oauth: value("oauth", { clientId: "smoke", clientSecret: "smoke", ...GLOBAL }, { access_token: emulator.token, token_type: "Bearer" }),
    oauthClientCredentials: value(
      "oauthClientCredentials",
      {
        tenant: TENANT,
        clientId: DEMO_CLIENT_ID,
        clientSecret: DEMO_CLIENT_SECRET,
        loginHost: "https://login.microsoftonline.com",
        tokenUrl: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`,
        scopes: "https://graph.microsoft.com/.default",
        ...GLOBAL,
      },
      { access_token: await appToken(emulator), token_type: "Bearer" },
    ),
    certificateCredentials: value("certificateCredentials", {
      tenant: TENANT,
      clientId: certificateClientId,
      certificate: `${certificate.certificatePem}\n${certificate.privateKeyPem}`,
      ...GLOBAL,
    }),
  };
}

function cases(harness: Harness, connections: Record<string, Connection>, component: Parameters<typeof createHarness>[0], emulator: GraphEmulator) {
  const user = connections.oauth;
  const context = { logger: silentLogger };
  const action = (key: string, params: Record<string, unknown>) => harness.action(key, { connection: user, ...params }, context);
  const dataSource = (key: string, params: Record<string, unknown>) => harness.dataSource(key, { connection: user, ...params }, context);
  let teamId = "";

  const actions: Record<string, Case> = {
    rawRequest: {
      run: () => action("rawRequest", { method: "GET", url: "/me" }),
      check: (r) => expectThat(typeof dataOf(r)?.userPrincipalName === "string", "/me with a userPrincipalName", r),
    },
    fetchAllPages: {
      run: () => action("fetchAllPages", { url: "/users", queryParams: [{ key: "$top", value: "100" }] }),
      check: (r) => expectThat((dataOf(r)?.value as unknown[])?.length === 300 && dataOf(r)?.pageCount === 3, "300 users in 3 pages", r),
    },
    batchRequests: {
      run: () => action("batchRequests", { requests: JSON.stringify([{ method: "GET", url: "/me" }, { method: "GET", url: "/users?$top=1" }]) }),
      check: (r) => {
        const responses = (dataOf(r)?.responses ?? dataOf(r)) as { status?: number }[];
        expectThat(Array.isArray(responses) && responses.length === 2 && responses.every((x) => x.status === 200), "two 200 answers", r);
      },
    },
    // 1 MiB in 320 KiB chunks: an upload session whose chunks go to the upload host without the token.
    uploadFile: {
      run: () => action("uploadFile", { destination: "/me/drive/root:/smoke/one-mib.bin:", file: SMOKE_FILE, chunkSize: String(320 * 1024) }),
      check: (r) => expectThat(dataOf(r)?.size === SMOKE_FILE.length && dataOf(r)?.name === "one-mib.bin", "a 1 MiB driveItem named one-mib.bin", r),
    },
    downloadFile: {
      run: () => action("downloadFile", { item: "/me/drive/root:/smoke/one-mib.bin:" }),
      check: (r) => expectThat(Buffer.isBuffer(dataOf(r)) && (dataOf(r) as unknown as Buffer).equals(SMOKE_FILE), "the uploaded bytes back", r),
    },
  };
  const triggers: Record<string, Case> = {
    // The whole webhook loop on the bundle: deploy (subscription + handshake), a mail arriving, the notification
    // delivered to the flow's URL and checked, undeploy (subscription deleted).
    changeNotifications: {
      run: async () => {
        const host = await startFlowHost({
          triggerKey: "changeNotifications",
          params: { connection: user, resource: "me/mailFolders('Inbox')/messages", changeTypes: ["created"] },
          logger: silentLogger,
          component: component as never,
        });
        try {
          await host.deploy();
          emulator.mailbox.receive({ subject: "smoke" });
          await emulator.flushNotifications();
          const execution = await host.waitFor((e) => (e.result as { branch?: string } | undefined)?.branch === "Notification", 5_000);
          await host.undeploy();
          return { execution, subscriptionsLeft: emulator.subscriptions().length };
        } finally {
          await host.close();
        }
      },
      check: (r) => {
        const { execution, subscriptionsLeft } = r as { execution: { status: number; result: { payload: { body: { data: { notifications: unknown[] } } } } }; subscriptionsLeft: number };
        expectThat(execution.status === 202 && execution.result.payload.body.data.notifications.length === 1 && subscriptionsLeft === 0, "one notification answered 202, and no subscription left", r);
      },
    },
    deltaChanges: {
      run: () => harness.trigger("deltaChanges", {}, { connection: user, resource: "/users/delta" }, { ...context, instanceState: {} } as never),
      check: (r) => {
        const data = (r as { payload?: { body?: { data?: { changes?: unknown[]; roundComplete?: boolean } } } }).payload?.body?.data;
        expectThat(data?.changes?.length === 300 && data.roundComplete === true, "300 users in one complete round", r);
      },
    },
  };
  const dataSources: Record<string, Case> = {
    selectUser: { run: () => dataSource("selectUser", {}), check: (r) => expectThat(picklist(r).length === 300, "300 users", r) },
    selectGroup: { run: () => dataSource("selectGroup", {}), check: (r) => expectThat(picklist(r).length > 0, "some groups", r) },
    selectTeam: {
      run: () => dataSource("selectTeam", {}),
      check: (r) => {
        teamId = picklist(r)[0]?.key ?? "";
        expectThat(teamId !== "", "some teams", r);
      },
    },
    selectChannel: { run: () => dataSource("selectChannel", { team: teamId }), check: (r) => expectThat(picklist(r).length > 0, "the team's channels", r) },
    selectSubscriptionResource: {
      run: () => dataSource("selectSubscriptionResource", {}),
      check: (r) => expectThat(picklist(r).some((o) => o.key === "users") && picklist(r).some((o) => /mailFolders/.test(o.key)), "common resources and the user's mail folders", r),
    },
    selectFromCollection: {
      run: () => dataSource("selectFromCollection", { path: "/groups", labelField: "displayName", keyField: "id" }),
      check: (r) => expectThat(picklist(r).length > 0 && picklist(r).every((o) => o.key && o.label), "groups as key and label", r),
    },
  };
  const connectionCases: Record<string, Case> = Object.fromEntries(
    Object.entries(connections).map(([key, connection]) => [
      key,
      {
        // App-only connections have no /me: they read a user instead.
        run: () => harness.action("rawRequest", { connection, method: "GET", url: "/users", queryParams: [{ key: "$top", value: "1" }] }, context),
        check: (r) => expectThat((dataOf(r)?.value as unknown[])?.length === 1, "one user", r),
      },
    ]),
  );
  return { actions, triggers, dataSources, connections: connectionCases };
}

async function main(): Promise<void> {
  const bundle = path.resolve(process.argv[2] ?? path.join(__dirname, "../../dist/index.js"));
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build first`);
  let component;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    component = require(bundle).default;
  } catch (error) {
    if (error instanceof Error && error.message.includes(STUB_MARKER)) error.message += " (loading the bundle hit a stubbed part of Spectral: see UNUSED_AT_RUNTIME in src/tools/build.js)";
    throw error;
  }
  const harness = createHarness(component);

  const emulator = await startEmulator({ identity: true });
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  process.env.MS_GRAPH_LOGIN_URL = emulator.loginOrigin;
  const failures: string[] = [];
  let ran = 0;
  try {
    const table = cases(harness, await connectionsFor(emulator), component, emulator);
    const groups: [string, string[], Record<string, Case>][] = [
      ["action", Object.keys(component.actions ?? {}), table.actions],
      ["trigger", Object.keys(component.triggers ?? {}), table.triggers],
      ["data source", Object.keys(component.dataSources ?? {}), table.dataSources],
      ["connection", (component.connections ?? []).map((c: { key: string }) => c.key), table.connections],
    ];
    for (const [kind, keys, known] of groups) {
      for (const key of keys) {
        const smoke = known[key];
        if (!smoke) {
          failures.push(`${kind} ${key}: no smoke case; add one to src/tools/smokeDist.ts`);
          continue;
        }
        ran++;
        try {
          smoke.check(await smoke.run());
          console.log(`ok   ${kind} ${key}`);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          const why = message.includes(STUB_MARKER) ? ` (the bundle hit a stubbed part of Spectral: see UNUSED_AT_RUNTIME in src/tools/build.js)` : "";
          failures.push(`${kind} ${key}: ${message}${why}`);
          console.log(`FAIL ${kind} ${key}`);
        }
      }
    }
  } finally {
    await emulator.close();
  }
  if (failures.length > 0) {
    console.error(`\nsmoke:dist failed, ${failures.length} problem(s):\n${failures.map((f) => `- ${f}`).join("\n")}`);
    process.exit(1);
  }
  console.log(`smoke:dist passed: ${ran} cases against ${path.relative(process.cwd(), bundle)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
