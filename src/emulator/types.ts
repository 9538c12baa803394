import type { IdentityEmulator, IdentityOptions } from "./identity";
import type { DeliveryLogEntry, LifecycleEvent, NotificationOptions } from "./notifications";
import type { EmulatedSubscription } from "./subscriptions";
import type { EmulatedMailbox, StoredAttachment } from "./mailbox";
import type { DriveFile } from "./tenant";
import type { UploadSessionInfo } from "./uploadSessions";

/** The Microsoft cloud a Graph emulator pretends to be (reference §7, DC concepts/deployments.md). */
export type GraphCloud = "global" | "usgov-l4" | "usgov-l5-dod" | "china";

export interface EmulatorOptions {
  /** Graph port; default 0 (ephemeral). */
  port?: number;
  /** Pre-authenticated download host port; default 0 (ephemeral). */
  downloadPort?: number;
  /** Upload host port (upload sessions' URLs); default 0 (ephemeral). */
  uploadPort?: number;
  /**
   * How long an upload session lives after its creation or its last accepted fragment, on the `now` clock;
   * default 15 minutes (Graph documents no figure, only that each fragment extends it).
   */
  uploadSessionLifetimeMs?: number;
  /** Size of the tenant; default 300. Users are computed from their index on demand. */
  users?: number;
  /** Accepted bearer tokens; default [DEMO_TOKEN]. */
  tokens?: string[];
  /** The clock of the throttle budget (setThrottle); default Date.now. Tests that inject the client's sleep advance it too. */
  now?: () => number;
  /** Accepted tokens that may only read: directory writes answer 403; default [READ_ONLY_TOKEN]. */
  readOnlyTokens?: string[];
  /** Artificial delay before every response; default 0. A $batch adds its items' service time (batchServiceTimeMs in batch.ts). */
  latencyMs?: number;
  /**
   * Items per page of /users/delta and /groups/delta (initial sync and change rounds); default 200.
   * Graph documents no figure ("the number of objects in each page can vary", DC concepts/delta-query-overview.md).
   */
  deltaPageSize?: number;
  /**
   * Also start the Entra ID v2.0 login emulator (identity/) and accept the access tokens it issues; default
   * false (no login host, only the static `tokens`/`readOnlyTokens`). `true` uses the identity defaults; its
   * `graphResource` follows `cloud` and its clock follows `now` unless set here.
   */
  identity?: boolean | IdentityOptions;
  /**
   * The cloud this Graph pretends to be; default "global". Access tokens from the identity emulator must have
   * this cloud's Graph resource (CLOUD_RESOURCES) as audience, else 401 "Invalid audience".
   */
  cloud?: GraphCloud;
  /** Change notifications: auto delivery (default off: tests call flushNotifications()) and the POST budgets. */
  notifications?: NotificationOptions;
  /**
   * Serve Graph, the download and upload hosts (and the login host, unless `identity` sets its own) over TLS
   * with this PEM certificate and key (tls.ts makes one); the origins become https://. Default plain HTTP.
   */
  tls?: TlsCredentials;
  /**
   * The origin Graph's own links use (`@odata.context`, `@odata.nextLink`, `@odata.deltaLink`, a created user's
   * `Location`), e.g. "https://graph.example.test" behind a proxy; default `origin`.
   */
  publicOrigin?: string;
  /**
   * The per-token throttling profile the emulator starts with (the CLI's `--throttle`); default none. reset()
   * returns to it; a profile set later with setThrottle (or POST /_emulator/throttle) lasts until reset().
   */
  throttle?: ThrottleOptions;
  /**
   * Seeds what the emulator chooses at random in its answers (the CLI's `--seed`): the order of `$batch` answers
   * and the draws of a fault rule with a `rate` but no `seed` of its own. The same seed and the same requests give
   * the same answers, also after reset(), which starts the choices over. Default unseeded: each batch's order
   * follows its request-id, and such rate rules draw from seed 1.
   */
  seed?: number;
}

/** A server certificate and its private key, PEM. */
export interface TlsCredentials {
  cert: string;
  key: string;
}

/** One sub-request of a JSON batch, as the emulator executed (or refused) it. */
export interface BatchItemLogEntry {
  /** The item's id, as sent. */
  id: string;
  /** Upper-cased. */
  method: string;
  /** The item's url exactly as sent (relative to the version root). */
  url: string;
  /** What the item answered: 429 for a throttled or faulted item, 424 for a failed dependency (not run). */
  status: number;
  /** The item's response headers, as placed in the batch response. */
  headers: Record<string, string>;
}

export interface RequestLogEntry {
  /** "upload": the upload host of upload sessions (drive items and Outlook attachments). */
  server: "graph" | "download" | "upload";
  method: string;
  /** Path and query exactly as received, e.g. "/v1.0/users?$top=5". */
  url: string;
  /** Lower-cased names; an Authorization value is stored as "Bearer [REDACTED]". */
  headers: Record<string, string>;
  auth: "none" | "valid" | "invalid";
  /**
   * What the bearer token is, when the emulator recognised it (also when it was refused as expired or for
   * another audience): "static" for `tokens`/`readOnlyTokens`, else the identity emulator's kind ("app" for
   * client credentials, "user" for delegated tokens). Absent with no token or an unknown one.
   */
  tokenKind?: "app" | "user" | "static";
  /** Raw request body decoded as utf8. */
  body: string;
  /** Raw request body bytes (binary uploads, multipart). */
  bodyBytes: Buffer;
  /** Status the emulator answered; 0 if the socket was reset. */
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
  /** For a POST /$batch that was parsed: every item in execution order, including 424s (answered without running). */
  batchItems?: BatchItemLogEntry[];
}

export type Fault =
  | { kind: "status"; status: 429 | 500 | 502 | 503 | 504; retryAfter?: string }
  /**
   * The connection is destroyed without an answer: before the request is routed (nothing happened), or with
   * `afterProcessing` after it took effect (a chunk was stored but its 202 never arrived).
   */
  | { kind: "reset"; afterProcessing?: boolean }
  /**
   * Damage in transit: the server routes the request body with one byte flipped (the log keeps what the client
   * sent). On an upload fragment the stored file then differs, and so does the finished item's quickXorHash.
   */
  | { kind: "corrupt" }
  | { kind: "slow"; delayMs: number }
  | { kind: "truncate" }
  /** Headers and half the body (Content-Length promises all of it), then nothing more until the client gives up. */
  | { kind: "stall" }
  /**
   * A hostile or broken server: answer exactly this (status, headers, body), bypassing routing. For tests of what
   * the client does with answers Graph would never send (invalid JSON, a nextLink that loops, a malformed $batch).
   */
  | { kind: "reply"; status: number; headers?: Record<string, string>; body: string | Buffer };

/**
 * A scripted fault. Rules also fire for JSON batch items (matched on the item's method and path), except
 * `reset`, `truncate`, `stall` and `corrupt`, which only real HTTP requests can suffer; a `slow` item delays the whole batch answer.
 */
export interface FaultRule {
  method?: string;
  /**
   * Matched against the request path without query string and without the /v1.0 or /beta prefix; on the
   * download and upload hosts, the path as received (`/up/{session}`, `/api/v2.0/Users('…')/…`).
   */
  path: string | RegExp;
  /** Matching requests to let through before the rule starts firing; default 0. */
  skip?: number;
  /** Default 1: how many times the rule fires (with `rate`, hits, not matches). */
  times?: number;
  /** Fire on this fraction (0 < rate ≤ 1) of the matching requests after `skip`, drawn from `seed`; default every one. */
  rate?: number;
  /** Seed of the `rate` draws (an integer; default 1): the same seed hits the same requests. */
  seed?: number;
  fault: Fault;
}

/**
 * Graph-style throttling per bearer token (DC concepts/throttling.md): over budget → 429 with the official
 * body and `Retry-After` in whole seconds. Requests answered 429 still count against the budget.
 */
export interface ThrottleOptions {
  /** Requests (and batch items) each token may make in any sliding window of `windowMs`. */
  requestsPerWindow: number;
  windowMs: number;
  /** Requests of one token in flight at once; one more answers 429 with `Retry-After: 1`. */
  maxConcurrent?: number;
}

export interface GraphEmulator {
  /** "http://127.0.0.1:PORT" (https with `tls`): the Graph root, versions under /v1.0 and /beta; links name `publicOrigin` if set. */
  origin: string;
  /** "http://127.0.0.1:PORT2": the pre-authenticated download host. */
  downloadOrigin: string;
  /** "http://127.0.0.1:PORT4": the upload host; upload sessions' URLs point here (drive `/up/…`, Outlook `/api/v2.0/…`). */
  uploadOrigin: string;
  /** First accepted token. */
  token: string;
  /**
   * Bearer token of the HTTP control surface under `{origin}/_emulator/` (control.ts), random per start; the
   * Graph tokens are refused there.
   */
  controlToken: string;
  /** The cloud this Graph pretends to be (EmulatorOptions.cloud). */
  cloud: GraphCloud;
  /** This cloud's Graph resource (CLOUD_RESOURCES[cloud]), e.g. "https://graph.microsoft.com": identity tokens need it as audience. */
  graphResource: string;
  /** The login (Entra ID v2.0) emulator, when started with `identity`. */
  identity?: IdentityEmulator;
  /** "http://127.0.0.1:PORT3": the login host's origin (identity.origin), when started with `identity`. */
  loginOrigin?: string;
  /** Every request to either server, in arrival order. */
  log: RequestLogEntry[];
  addFault(rule: FaultRule): void;
  /**
   * Turns per-token throttling on (or off with null) until reset(). Each batch item counts individually; the
   * $batch envelope itself does not. Off by default; reset() returns to EmulatorOptions.throttle.
   */
  setThrottle(options: ThrottleOptions | null): void;
  /**
   * Every delta token and delta skiptoken issued so far now answers 410 Gone with a `Location` to restart
   * the full sync (DC concepts/delta-query-overview.md, "Synchronization reset"). reset() does the same.
   */
  expireDeltaTokens(): void;
  /** Outlook mail: `receive(message, { folder?, user? })` delivers mail from outside (a `created` change). */
  mailbox: Pick<EmulatedMailbox, "receive">;
  /** A copy of the stored drive file at a path ("/Reports/q3.xlsx") or with an item id; undefined if none. */
  driveFile(pathOrId: string): DriveFile | undefined;
  /** The attachments of a message or event in a user's mailbox (default the signed-in demo user). */
  attachments(messageOrEventId: string, user?: string): StoredAttachment[];
  /** Open upload sessions (not yet finished, cancelled or found expired). */
  uploadSessions(): UploadSessionInfo[];
  /** Every open upload session expires now: its next fragment or status request answers 404. */
  expireUploadSessions(): void;
  /** Live subscriptions (expired ones are gone, as from GET /subscriptions). */
  subscriptions(): ReadonlyArray<EmulatedSubscription>;
  /** Every outgoing notification and lifecycle POST, in order; cleared by reset(). */
  deliveries: DeliveryLogEntry[];
  /**
   * Delivers every queued notification now, one POST per notificationUrl (`{"value":[…]}`, several
   * subscriptions' items in one POST); resolves once each POST was answered or failed. Failed POSTs (non-2xx,
   * reset, slower than 3 s) stay queued for the next flush or auto delivery.
   */
  flushNotifications(): Promise<DeliveryLogEntry[]>;
  /** POSTs a lifecycle notification to the subscription's lifecycleNotificationUrl; subscriptionRemoved also removes it. */
  sendLifecycleEvent(subscriptionId: string, event: LifecycleEvent): Promise<DeliveryLogEntry>;
  /**
   * Clears the log and faults, returns to the throttling profile of the start options (none by default) with an
   * empty window, restores the seeded data, starts the seeded random choices (`seed`) over and expires delta tokens. The identity
   * emulator, if any, is reset too (its log, codes and refresh tokens; apps and access tokens stay).
   */
  reset(): void;
  /** Stops the Graph and download servers and, if started, the login host. */
  close(): Promise<void>;
}
