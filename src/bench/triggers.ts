/**
 * Bench rows for the Change Notifications trigger, for `npm run bench` (the coordinator wires it into main.ts) or on
 * its own: `node -r ts-node/register/transpile-only src/bench/triggers.ts`.
 *  - A POST of 1,000 notifications handled by the trigger through Spectral's harness (parse, constant-time client state
 *    check of every item, secrets stripped, the flow's payload built) vs `JSON.parse` of the same body: the least any
 *    receiver does. Samples are interleaved so both see the same machine state; median and spread (min–max) are shown.
 *  - 100 rich notifications through the trigger (validation token verified, each item checked and decrypted), per
 *    item, vs the bare node:crypto minimum per item (RSA-OAEP key, AES-CBC, JSON.parse) measured in the same run.
 */
import { constants, createDecipheriv, createPrivateKey, privateDecrypt } from "node:crypto";
import type { ActionLogger } from "@prismatic-io/spectral";
import { createConnection, createHarness } from "@prismatic-io/spectral/dist/testing";
import component from "../index";
import { oauth } from "../connections";
import { LOGIN_URL_ENV } from "../client/hosts";
import { startEmulator } from "../emulator";
import { buildRichNotifications } from "../emulator/richNotifications";
import { TENANT_ID } from "../emulator/tenant";
import type { EncryptedContent } from "../triggers/richNotifications";
import { STATE_KEY_PREFIX, SubscriptionState } from "../triggers/subscriptions";

type Row = [string, string, string, string];

const APP_ID = "9a7c3e51-2f4b-4d86-b0e3-5c1d7f2a8e64";
const SUBSCRIPTION_ID = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07";
const CLIENT_STATE = "bench-client-state-0123456789abcdefghijklmnopq";
const FLOW = { id: "bench-flow", name: "Flow 1", stableId: "bench-flow-stable" };
const now = () => Number(process.hrtime.bigint()) / 1e6;
const quiet: ActionLogger = { metric: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined, warn: () => undefined, error: () => undefined };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function spread(xs: number[], digits = 2): string {
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}

const state = (extra: Partial<SubscriptionState> = {}): SubscriptionState => ({
  subscriptionId: SUBSCRIPTION_ID,
  clientState: CLIENT_STATE,
  expirationDateTime: new Date(Date.now() + 86_400_000).toISOString(),
  resource: "me/mailFolders('Inbox')/messages",
  changeType: "created,updated,deleted",
  notificationUrl: "https://hooks.example/trigger/bench",
  includeResourceData: false,
  applicationId: APP_ID,
  ...extra,
});

function basicBody(count: number): string {
  const value = Array.from({ length: count }, (_, i) => ({
    id: `lsgTZMr9KwAAA${i}`,
    subscriptionId: SUBSCRIPTION_ID,
    subscriptionExpirationDateTime: "2026-12-08T18:23:45.935Z",
    clientState: CLIENT_STATE,
    changeType: "created",
    resource: `Users/1e4a32ab-8b33-4b1f-a5f5-40e0f0f8c4a3/Messages/AAMkAGUAAA${i}=`,
    tenantId: TENANT_ID,
    resourceData: {
      "@odata.type": "#Microsoft.Graph.Message",
      "@odata.id": `Users/1e4a32ab-8b33-4b1f-a5f5-40e0f0f8c4a3/Messages/AAMkAGUAAA${i}=`,
      "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
      id: `AAMkAGUAAA${i}=`,
    },
  }));
  return JSON.stringify({ value });
}

export async function benchChangeNotificationTrigger(options: { notifications?: number; richNotifications?: number; samples?: number } = {}): Promise<Row[]> {
  const count = options.notifications ?? 1000;
  const richCount = options.richNotifications ?? 100;
  const samples = options.samples ?? 31;
  const harness = createHarness(component);
  const connection = createConnection(
    oauth,
    {
      authorizeUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
      tokenUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
      scopes: "https://graph.microsoft.com/User.Read.All offline_access",
      clientId: APP_ID,
      clientSecret: "bench",
    },
    { access_token: "bench-token-never-sent" },
  );
  const rows: Row[] = [];

  // 1. A POST of 1,000 basic notifications: the trigger's whole perform vs JSON.parse of the same bytes.
  const body = basicBody(count);
  const raw = Buffer.from(body);
  const basicContext = { logger: quiet, crossFlowState: { [`${STATE_KEY_PREFIX}${FLOW.stableId}`]: state() }, flow: FLOW };
  const handle = async () => {
    const result = (await harness.trigger(
      "changeNotifications",
      { headers: { "content-type": "application/json; charset=utf-8" }, rawBody: { data: raw }, body: { data: body }, queryParameters: {} },
      { connection, resource: "me/mailFolders('Inbox')/messages" },
      basicContext,
    )) as { branch: string; payload: { body: { data: { notifications: unknown[] } } } };
    if (result.payload.body.data.notifications.length !== count) throw new Error("the trigger dropped notifications in the bench");
  };
  for (let i = 0; i < 3; i++) {
    await handle();
    JSON.parse(body);
  }
  const triggerMs: number[] = [];
  const parseMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    let started = now();
    JSON.parse(raw.toString("utf8"));
    parseMs.push(now() - started);
    started = now();
    await handle();
    triggerMs.push(now() - started);
  }
  rows.push([
    `Change Notifications: a POST of ${count} notifications handled by the trigger vs JSON.parse of the same ${Math.round(raw.length / 1024)} KiB (median of ${samples} interleaved; spread min–max: ${spread(triggerMs)} vs ${spread(parseMs)} ms)`,
    `${median(triggerMs).toFixed(2)} ms`,
    `${median(parseMs).toFixed(2)} ms`,
    (median(triggerMs) / median(parseMs)).toFixed(2),
  ]);

  // 2. 100 rich notifications through the trigger (keys from the emulated sign-in host, cached after the first POST).
  const emulator = await startEmulator({ identity: true });
  const previousLogin = process.env[LOGIN_URL_ENV];
  process.env[LOGIN_URL_ENV] = emulator.loginOrigin;
  try {
    const batch = await buildRichNotifications({ count: richCount, audience: APP_ID, tenantId: TENANT_ID, clientState: CLIENT_STATE });
    for (const item of batch.body.value as Array<Record<string, unknown>>) item.subscriptionId = SUBSCRIPTION_ID;
    const richBody = JSON.stringify(batch.body);
    const richContext = { logger: quiet, crossFlowState: { [`${STATE_KEY_PREFIX}${FLOW.stableId}`]: state({ includeResourceData: true }) }, flow: FLOW };
    const richParams = {
      connection,
      resource: "me/mailFolders('Inbox')/messages",
      includeResourceData: "true",
      encryptionCertificate: `${batch.certificate.certificatePem}\n${batch.certificate.privateKeyPem}`,
      encryptionCertificateId: batch.encryptionCertificateId,
    };
    const handleRich = async () => {
      const result = (await harness.trigger(
        "changeNotifications",
        { headers: { "content-type": "application/json" }, rawBody: { data: Buffer.from(richBody) }, body: { data: richBody }, queryParameters: {} },
        richParams,
        richContext,
      )) as { payload: { body: { data: { notifications: Array<{ contentSource?: string }> } } } };
      const opened = result.payload.body.data.notifications.filter((n) => n.contentSource === "decrypted").length;
      if (opened !== richCount) throw new Error(`the trigger decrypted ${opened} of ${richCount} rich notifications in the bench`);
    };
    const contents = (batch.body.value as Array<{ encryptedContent: EncryptedContent }>).map((i) => i.encryptedContent);
    const bare = () => {
      const key = createPrivateKey(batch.certificate.privateKeyPem);
      for (const content of contents) {
        const symmetricKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, Buffer.from(content.dataKey, "base64"));
        const decipher = createDecipheriv("aes-256-cbc", symmetricKey, symmetricKey.subarray(0, 16));
        JSON.parse(Buffer.concat([decipher.update(Buffer.from(content.data, "base64")), decipher.final()]).toString("utf8"));
      }
    };
    await handleRich();
    bare();
    const richMs: number[] = [];
    const bareMs: number[] = [];
    const richSamples = Math.max(3, Math.round(samples / 3));
    for (let i = 0; i < richSamples; i++) {
      let started = now();
      bare();
      bareMs.push((now() - started) / richCount);
      started = now();
      await handleRich();
      richMs.push((now() - started) / richCount);
    }
    rows.push([
      `Change Notifications: ${richCount} rich notifications through the trigger (token verified, HMAC checked, decrypted), per item, vs bare RSA-OAEP + AES-CBC + JSON.parse (median of ${richSamples} interleaved; spread ${spread(richMs, 3)} vs ${spread(bareMs, 3)} ms)`,
      `${median(richMs).toFixed(3)} ms`,
      `${median(bareMs).toFixed(3)} ms`,
      (median(richMs) / median(bareMs)).toFixed(2),
    ]);
  } finally {
    if (previousLogin === undefined) delete process.env[LOGIN_URL_ENV];
    else process.env[LOGIN_URL_ENV] = previousLogin;
    await emulator.close();
  }
  return rows;
}

if (require.main === module) {
  benchChangeNotificationTrigger()
    .then((rows) => {
      console.log("| Measure | Ours | Baseline | Ratio |\n| --- | --- | --- | --- |");
      for (const row of rows) console.log(`| ${row.join(" | ")} |`);
    })
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
}
