import { CLOUD_RESOURCES, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TOKEN, startEmulator, type GraphCloud } from "./index";

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name} must be a port number (0-65535), got '${raw}'`);
    process.exit(2);
  }
  return port;
}

async function main(): Promise<void> {
  const port = portFromEnv("EMULATOR_PORT", 7357);
  const downloadPort = portFromEnv("EMULATOR_DOWNLOAD_PORT", port === 0 ? 0 : port + 1);
  const users = process.env.EMULATOR_USERS ? Number(process.env.EMULATOR_USERS) : undefined;
  const deltaPageSize = process.env.EMULATOR_DELTA_PAGE_SIZE ? Number(process.env.EMULATOR_DELTA_PAGE_SIZE) : undefined;
  const loginPort = portFromEnv("EMULATOR_LOGIN_PORT", port === 0 ? 0 : port + 2);
  const uploadPort = portFromEnv("EMULATOR_UPLOAD_PORT", port === 0 ? 0 : port + 3);
  const cloud = (process.env.EMULATOR_CLOUD?.trim() || "global") as GraphCloud;
  if (!Object.hasOwn(CLOUD_RESOURCES, cloud)) {
    console.error(`EMULATOR_CLOUD must be one of ${Object.keys(CLOUD_RESOURCES).join(", ")}, got '${cloud}'`);
    process.exit(2);
  }
  const emulator = await startEmulator({ port, downloadPort, uploadPort, users, deltaPageSize, cloud, identity: { port: loginPort },
    // Change notifications reach subscribed webhooks by themselves, a tenth of a second after the change.
    notifications: { autoDeliverMs: 100 },
  });
  const identity = emulator.identity;
  if (!identity) throw new Error("the login emulator did not start");
  const tokenEndpoint = identity.tokenEndpoint();

  console.log(`Graph emulator     ${emulator.origin}  (versions /v1.0 and /beta)`);
  console.log(`Download host      ${emulator.downloadOrigin}`);
  console.log(`Upload host        ${emulator.uploadOrigin}  (upload sessions: POST …/createUploadSession on Graph)`);
  console.log(`Bearer token       ${DEMO_TOKEN}`);
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

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
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
