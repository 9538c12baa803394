/**
 * A loopback Microsoft Graph emulator for tests and local runs; never imported by the component.
 *
 * Serves /v1.0 and /beta: users (paged, $count/$filter/$search, writable), groups, teams and their channels,
 * /users/delta and /groups/delta (nextLink → deltaLink rounds, `$deltatoken=latest`, 410 after
 * `expireDeltaTokens()`), OneDrive files with a pre-authenticated download host, sendMail, and JSON batching
 * (`POST /$batch`: items routed like single requests, shuffled responses, dependsOn → 424). Tests script
 * failures with `addFault` (also hits batch items), turn on per-token throttling with `setThrottle`, and read
 * every request (and each batch item, `batchItems`) from `log`.
 */
export { DEMO_TOKEN, READ_ONLY_TOKEN, startEmulator } from "./server";
export type { BatchItemLogEntry, EmulatorOptions, Fault, FaultRule, GraphEmulator, RequestLogEntry, ThrottleOptions } from "./types";
