/** A loopback Microsoft Graph emulator for tests and local runs; never imported by the component. */
export { DEMO_TOKEN, READ_ONLY_TOKEN, startEmulator } from "./server";
export type { EmulatorOptions, Fault, FaultRule, GraphEmulator, RequestLogEntry } from "./types";
