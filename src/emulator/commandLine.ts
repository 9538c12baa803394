import { parseArgs } from "node:util";

import type { GraphCloud, ThrottleOptions } from "./types";

/** Each cloud `--cloud` accepts (CLOUD_RESOURCES in server.ts has the same keys). */
const CLOUDS: readonly GraphCloud[] = ["global", "usgov-l4", "usgov-l5-dod", "china"];

/** What `npm run emulator -- …` asked for, before anything starts. */
export interface EmulatorCommand {
  port: number;
  downloadPort: number;
  uploadPort: number;
  loginPort: number;
  latencyMs: number;
  /** Undefined: the emulator's default tenant size. */
  users?: number;
  deltaPageSize?: number;
  cloud: GraphCloud;
  /** The per-token throttling profile, as setThrottle takes it; undefined: no throttling. */
  throttle?: ThrottleOptions;
  /** Print one JSON line with the origins and credentials once listening, instead of the human banner. */
  printConfig: boolean;
  /** Serve every host over TLS with a certificate made at start; its CA is written to a file. */
  https: boolean;
  /** The origin Graph's links name (EmulatorOptions.publicOrigin), e.g. behind a proxy. */
  publicOrigin?: string;
  /** The device code flow's polling interval (IdentityOptions.deviceCodeIntervalSeconds); undefined: Entra's 5. */
  deviceCodeIntervalSeconds?: number;
  /** Seeds the emulator's random choices (EmulatorOptions.seed); undefined: they stay unseeded. */
  seed?: number;
}

export type ParsedCommandLine = { kind: "help" } | { kind: "run"; command: EmulatorCommand };

/** A command line the emulator refuses; the CLI prints the message and exits 2. */
export class CommandLineError extends Error {
  override name = "CommandLineError";
}

export const DEFAULT_PORT = 7357;

export const USAGE = `Usage: npm run emulator -- [options]

Serves a Microsoft Graph emulator on loopback: Graph (/v1.0, /beta), the download host, the upload host and a
Microsoft Entra ID v2.0 sign-in host.

Options:
  --port <n>               Graph port (default ${DEFAULT_PORT}, or EMULATOR_PORT; 0 picks a free port)
  --download-port <n>      download host port (default port + 1, or EMULATOR_DOWNLOAD_PORT)
  --login-port <n>         sign-in host port (default port + 2, or EMULATOR_LOGIN_PORT)
  --upload-port <n>        upload host port (default port + 3, or EMULATOR_UPLOAD_PORT)
                           (with --port 0 every port defaults to 0)
  --latency <ms>           delay before every response (default 0)
  --users <n>              tenant size: number of users (default 300, or EMULATOR_USERS)
  --delta-page-size <n>    items per /users/delta and /groups/delta page (default 200)
  --cloud <name>           ${CLOUDS.join(", ")} (default global, or EMULATOR_CLOUD)
  --throttle <n>/<s>       per-token throttling: at most n requests in any window of s seconds, then 429
                           with Retry-After (e.g. --throttle 100/10)
  --https                  serve every host over TLS with a certificate made at start; the CA is written to
                           a file (printed; use it as NODE_EXTRA_CA_CERTS or curl --cacert)
  --public-origin <url>    the origin Graph's links use (@odata.nextLink, @odata.context, Location), e.g.
                           https://graph.example.test behind a proxy (default the origin it listens on)
  --device-code-interval <s>
                           the device code flow's polling interval in seconds (default 5, what Entra sends;
                           0 lets a test's client poll without sleeping)
  --seed <n>               seed what the emulator chooses at random: the order of $batch answers and which
                           requests a fault rule with a rate (and no seed of its own) hits; the same seed and
                           the same requests give the same answers, also after POST /_emulator/reset
                           (default unseeded: batch orders differ between batches)
  --print-config           once listening, print one JSON line: graph, login, download, upload, tenant,
                           clientId, clientSecret, token, controlToken, caFile
  -h, --help               this text
`;

function integer(flag: string, raw: string, min: number, max: number): number {
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new CommandLineError(`${flag} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

function port(flag: string, raw: string): number {
  return integer(flag, raw, 0, 65535);
}

/** `<requests>/<window seconds>`, e.g. "100/10"; the window may be fractional ("5/0.5"). */
export function parseThrottle(raw: string): ThrottleOptions {
  const m = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(raw);
  const requestsPerWindow = m ? Number(m[1]) : NaN;
  const windowMs = m ? Math.round(Number(m[2]) * 1000) : NaN;
  if (!m || !(requestsPerWindow >= 1) || !Number.isSafeInteger(requestsPerWindow) || !(windowMs >= 1)) {
    throw new CommandLineError(`--throttle must be <requests>/<window seconds> with both above zero, e.g. 100/10; got '${raw}'`);
  }
  return { requestsPerWindow, windowMs };
}

/** An http(s) origin: scheme, host and optional port, nothing after (a trailing slash is dropped). */
export function parseOrigin(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw.trim());
  } catch {
    url = undefined;
  }
  if (!url || !["http:", "https:"].includes(url.protocol) || url.username !== "" || url.password !== "" || url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    throw new CommandLineError(`--public-origin must be an http(s) origin such as https://graph.example.test, without path or query; got '${raw}'`);
  }
  return url.origin;
}

/**
 * The emulator's command line, without side effects: `argv` as after `npm run emulator --`, `env` for the
 * EMULATOR_* fallbacks. Unknown flags, missing values and stray arguments throw CommandLineError.
 */
export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedCommandLine {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        port: { type: "string" },
        "download-port": { type: "string" },
        "upload-port": { type: "string" },
        "login-port": { type: "string" },
        latency: { type: "string" },
        users: { type: "string" },
        "delta-page-size": { type: "string" },
        cloud: { type: "string" },
        throttle: { type: "string" },
        "print-config": { type: "boolean" },
        https: { type: "boolean" },
        "public-origin": { type: "string" },
        "device-code-interval": { type: "string" },
        seed: { type: "string" },
      },
    }));
  } catch (error) {
    // node's messages name the flag ("Unknown option '--prot'. To specify…"); the code tells them apart from our bugs.
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_") && typeof message === "string") {
      throw new CommandLineError(`${message.split("\n")[0].split(". ")[0].replace(/\.$/, "")}. See --help.`);
    }
    throw error;
  }
  if (values.help) return { kind: "help" };

  const fromEnv = (name: string): string | undefined => {
    const raw = env[name];
    return raw === undefined || raw.trim() === "" ? undefined : raw;
  };
  const pick = (flag: string, value: string | undefined, envName: string): { flag: string; raw: string } | undefined => {
    if (value !== undefined) return { flag, raw: value };
    const raw = fromEnv(envName);
    return raw === undefined ? undefined : { flag: envName, raw };
  };
  const portOf = (flag: string, value: string | undefined, envName: string, fallback: number): number => {
    const given = pick(flag, value, envName);
    return given ? port(given.flag, given.raw) : fallback;
  };

  const graphPort = portOf("--port", values.port, "EMULATOR_PORT", DEFAULT_PORT);
  const next = (offset: number): number => (graphPort === 0 ? 0 : graphPort + offset);
  const users = pick("--users", values.users, "EMULATOR_USERS");
  const deltaPageSize = pick("--delta-page-size", values["delta-page-size"], "EMULATOR_DELTA_PAGE_SIZE");
  const cloud = pick("--cloud", values.cloud, "EMULATOR_CLOUD");
  if (cloud && !CLOUDS.includes(cloud.raw.trim() as GraphCloud)) {
    throw new CommandLineError(`${cloud.flag} must be one of ${CLOUDS.join(", ")}, got '${cloud.raw}'`);
  }
  const command: EmulatorCommand = {
    port: graphPort,
    downloadPort: portOf("--download-port", values["download-port"], "EMULATOR_DOWNLOAD_PORT", next(1)),
    loginPort: portOf("--login-port", values["login-port"], "EMULATOR_LOGIN_PORT", next(2)),
    uploadPort: portOf("--upload-port", values["upload-port"], "EMULATOR_UPLOAD_PORT", next(3)),
    latencyMs: values.latency === undefined ? 0 : integer("--latency", values.latency, 0, 600_000),
    cloud: (cloud?.raw.trim() as GraphCloud | undefined) ?? "global",
    printConfig: values["print-config"] === true,
    https: values.https === true,
  };
  if (values["public-origin"] !== undefined) command.publicOrigin = parseOrigin(values["public-origin"]);
  if (users) command.users = integer(users.flag, users.raw, 0, 0xffffffff);
  if (deltaPageSize) command.deltaPageSize = integer(deltaPageSize.flag, deltaPageSize.raw, 1, 1_000_000);
  if (values.throttle !== undefined) command.throttle = parseThrottle(values.throttle);
  // Device codes live 15 minutes (DEVICE_CODE_LIFETIME_SECONDS): a longer interval could never poll in time.
  if (values["device-code-interval"] !== undefined) command.deviceCodeIntervalSeconds = integer("--device-code-interval", values["device-code-interval"], 0, 900);
  // mulberry32 (random.ts) takes a 32-bit seed.
  if (values.seed !== undefined) command.seed = integer("--seed", values.seed, 0, 0xffffffff);
  return { kind: "run", command };
}
