export interface EmulatorOptions {
  /** Graph port; default 0 (ephemeral). */
  port?: number;
  /** Pre-authenticated download host port; default 0 (ephemeral). */
  downloadPort?: number;
  /** Size of the tenant; default 300. Users are computed from their index on demand. */
  users?: number;
  /** Accepted bearer tokens; default [DEMO_TOKEN]. */
  tokens?: string[];
  /** Accepted tokens that may only read: directory writes answer 403; default [READ_ONLY_TOKEN]. */
  readOnlyTokens?: string[];
  /** Artificial delay before every response; default 0. */
  latencyMs?: number;
}

export interface RequestLogEntry {
  server: "graph" | "download";
  method: string;
  /** Path and query exactly as received, e.g. "/v1.0/users?$top=5". */
  url: string;
  /** Lower-cased names; an Authorization value is stored as "Bearer [REDACTED]". */
  headers: Record<string, string>;
  auth: "none" | "valid" | "invalid";
  /** Raw request body decoded as utf8. */
  body: string;
  /** Raw request body bytes (binary uploads, multipart). */
  bodyBytes: Buffer;
  /** Status the emulator answered; 0 if the socket was reset. */
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
}

export type Fault =
  | { kind: "status"; status: 429 | 500 | 502 | 503 | 504; retryAfter?: string }
  | { kind: "reset" }
  | { kind: "slow"; delayMs: number }
  | { kind: "truncate" };

export interface FaultRule {
  method?: string;
  /** Matched against the request path without query string and without the /v1.0 or /beta prefix. */
  path: string | RegExp;
  /** Default 1. */
  times?: number;
  fault: Fault;
}

export interface GraphEmulator {
  /** "http://127.0.0.1:PORT": the Graph root, versions under /v1.0 and /beta. */
  origin: string;
  /** "http://127.0.0.1:PORT2": the pre-authenticated download host. */
  downloadOrigin: string;
  /** First accepted token. */
  token: string;
  /** Every request to either server, in arrival order. */
  log: RequestLogEntry[];
  addFault(rule: FaultRule): void;
  /** Clears the log and faults and restores the seeded data. */
  reset(): void;
  close(): Promise<void>;
}
