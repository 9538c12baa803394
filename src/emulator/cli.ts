import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { CommandLineError, parseCommandLine, USAGE, type EmulatorCommand } from "./commandLine";
import { generateLoopbackCertificate } from "./tls";

/**
 * The one JSON line of `--print-config`, for scripts in any language that start the emulator and drive it.
 * `token` is the demo bearer token: full access, and /me is the demo user (Megan Bowen), as for a delegated
 * token. `controlToken` guards the control surface under /_emulator/ (faults, throttling, log, apps, reset);
 * `caFile` is null without --https (the file lives until the emulator stops).
 */
function printedConfig(emulator: GraphEmulator, caFile: string | undefined): Record<string, unknown> {
  return {
    graph: emulator.origin,
    login: emulator.loginOrigin ?? null,
    download: emulator.downloadOrigin,
    upload: emulator.uploadOrigin,
    tenant: emulator.identity?.tenantId ?? null,
    tokenEndpoint: emulator.identity?.tokenEndpoint() ?? null,
    clientId: DEMO_CLIENT_ID,
    clientSecret: DEMO_CLIENT_SECRET,
    token: DEMO_TOKEN,
    graphResource: emulator.graphResource,
    controlToken: emulator.controlToken,
    caFile: caFile ?? null,
  };
}

function printBanner(emulator: GraphEmulator, command: EmulatorCommand, caFile: string | undefined): void {
  const identity = emulator.identity;
  if (!identity) throw new Error("the login emulator did not start");
  const tokenEndpoint = identity.tokenEndpoint();
  const cloud = command.cloud;
  console.log(`Graph emulator     ${emulator.origin}  (versions /v1.0 and /beta)`);
  if (command.publicOrigin) console.log(`Links name         ${command.publicOrigin}`);
  if (caFile) console.log(`CA certificate     ${caFile}  (NODE_EXTRA_CA_CERTS=${caFile}, curl --cacert ${caFile})`);
  console.log(`Download host      ${emulator.downloadOrigin}`);
  console.log(`Upload host        ${emulator.uploadOrigin}  (upload sessions: POST …/createUploadSession on Graph)`);
  console.log(`Bearer token       ${DEMO_TOKEN}`);
  console.log(`Control token      ${emulator.controlToken}  (Authorization for ${emulator.origin}/_emulator/…: faults, throttle, log, apps, reset)`);
  console.log(`Login host         ${emulator.loginOrigin}  (Entra ID v2.0, tenant ${identity.tenantId}, cloud ${cloud}: ${emulator.graphResource})`);
  console.log(`Token endpoint     ${tokenEndpoint}`);
  console.log(`Authorize endpoint ${identity.authorizeEndpoint()}`);
  console.log(`Demo client id     ${DEMO_CLIENT_ID}`);
  console.log(`Demo client secret ${DEMO_CLIENT_SECRET}`);
  console.log("");
  console.log(`Try: curl -H "Authorization: Bearer ${DEMO_TOKEN}" ${emulator.origin}/v1.0/me`);
  console.log(`     curl -H "Authorization: Bearer ${DEMO_TOKEN}" '${emulator.origin}/v1.0/users/delta?$select=displayName'`);
  console.log(
    `     curl -H "Authorization: Bearer ${DEMO_TOKEN}" -H "Content-Type: application/json" -d '{"requests":[{"id":"1","method":"GET","url":"/me"},{"id":"2","method":"GET","url":"/teams"}]}' '${emulator.origin}/v1.0/$batch'`,
  );
  console.log("");
  console.log("App-only token (client credentials), then use it as the bearer token (not on /me: that needs a signed-in user):");
  console.log(
    `     curl -s ${tokenEndpoint} -d grant_type=client_credentials -d client_id=${DEMO_CLIENT_ID} -d client_secret=${DEMO_CLIENT_SECRET} --data-urlencode scope=${emulator.graphResource}/.default`,
  );
  console.log(`     curl -H "Authorization: Bearer ACCESS_TOKEN" '${emulator.origin}/v1.0/users?$top=5'`);
  console.log("Change notifications (delivered every 100 ms to http(s) webhooks that pass the validation handshake):");
  console.log(
    `     curl -H "Authorization: Bearer ${DEMO_TOKEN}" -H "Content-Type: application/json" -d '{"changeType":"updated","resource":"users","notificationUrl":"http://127.0.0.1:8080/hook","expirationDateTime":"${new Date(Date.now() + 3_600_000).toISOString()}","clientState":"secret"}' ${emulator.origin}/v1.0/subscriptions`,
  );
  console.log(`Use: MS_GRAPH_BASE_URL=${emulator.origin}`);
  console.log("Ctrl-C to stop.");
  if (command.throttle) console.log(`Throttling ${command.throttle.requestsPerWindow} requests per ${command.throttle.windowMs / 1000} s per token, then 429`);
}

async function main(): Promise<void> {
  let command: EmulatorCommand;
  try {
    const parsed = parseCommandLine(process.argv.slice(2), process.env);
    if (parsed.kind === "help") {
      process.stdout.write(USAGE);
      return;
    }
    command = parsed.command;
  } catch (error) {
    if (!(error instanceof CommandLineError)) throw error;
    console.error(`emulator: ${error.message}`);
    process.exit(2);
  }
  let tls: { cert: string; key: string } | undefined;
  let caFile: string | undefined;
  if (command.https) {
    const certificate = await generateLoopbackCertificate();
    tls = { cert: certificate.cert, key: certificate.key };
    caFile = join(mkdtempSync(join(tmpdir(), "graph-emulator-")), "ca.pem");
    writeFileSync(caFile, certificate.caPem);
  }
  const emulator = await startEmulator({
    ...(tls ? { tls } : {}),
    ...(command.publicOrigin ? { publicOrigin: command.publicOrigin } : {}),
    port: command.port,
    downloadPort: command.downloadPort,
    uploadPort: command.uploadPort,
    latencyMs: command.latencyMs,
    users: command.users,
    deltaPageSize: command.deltaPageSize,
    cloud: command.cloud,
    identity: { port: command.loginPort, ...(command.deviceCodeIntervalSeconds === undefined ? {} : { deviceCodeIntervalSeconds: command.deviceCodeIntervalSeconds }) },
    ...(command.seed === undefined ? {} : { seed: command.seed }),
    // A start option, not setThrottle: POST /_emulator/reset returns to it rather than to no throttling.
    ...(command.throttle ? { throttle: command.throttle } : {}),
    // Change notifications reach subscribed webhooks by themselves, a tenth of a second after the change.
    notifications: { autoDeliverMs: 100 },
  });
  if (command.printConfig) console.log(JSON.stringify(printedConfig(emulator, caFile)));
  else printBanner(emulator, command, caFile);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // The CA of this run trusts nothing once it stops: leave no temp directory behind per start.
    if (caFile) rmSync(dirname(caFile), { recursive: true, force: true });
    emulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
