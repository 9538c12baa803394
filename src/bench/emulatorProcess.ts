/** The emulator in its own process, so the bench measures the client, not a shared event loop. */
import { startEmulator } from "../emulator";

void (async () => {
  const emulator = await startEmulator({
    users: Number(process.env.BENCH_USERS ?? 300),
    latencyMs: Number(process.env.BENCH_LATENCY_MS ?? 0),
  });
  process.send?.({ origin: emulator.origin, downloadOrigin: emulator.downloadOrigin, token: emulator.token });
  process.on("message", async (message: { type: string; rule?: never }) => {
    if (message.type === "fault" && message.rule) emulator.addFault(message.rule);
    if (message.type === "reset") emulator.reset();
    if (message.type === "close") {
      await emulator.close();
      process.exit(0);
    }
    // "count": how many HTTP requests reached the emulator since the last reset.
    process.send?.({ ack: message.type, requests: emulator.log.length });
  });
})();
