import { DEMO_TOKEN, startEmulator } from "./index";

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
  const emulator = await startEmulator({ port, downloadPort, users, deltaPageSize });

  console.log(`Graph emulator     ${emulator.origin}  (versions /v1.0 and /beta)`);
  console.log(`Download host      ${emulator.downloadOrigin}`);
  console.log(`Bearer token       ${DEMO_TOKEN}`);
  console.log("");
  console.log(`Try: curl -H "Authorization: Bearer ${DEMO_TOKEN}" ${emulator.origin}/v1.0/me`);
  console.log(`     curl -H "Authorization: Bearer ${DEMO_TOKEN}" '${emulator.origin}/v1.0/users/delta?$select=displayName'`);
  console.log(
    `     curl -H "Authorization: Bearer ${DEMO_TOKEN}" -H "Content-Type: application/json" -d '{"requests":[{"id":"1","method":"GET","url":"/me"},{"id":"2","method":"GET","url":"/teams"}]}' '${emulator.origin}/v1.0/$batch'`,
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
