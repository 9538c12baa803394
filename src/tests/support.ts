/**
 * Shared set-up for the harness tests: the component runs through Spectral's createHarness (defaults,
 * clean functions and the error hook apply, as on the platform) against the loopback Graph emulator.
 * Time is injected: the client's clock records the waits it asks for and returns at once.
 */
import { createConnection, createHarness } from "@prismatic-io/spectral/dist/testing";
import type { ActionLogger } from "@prismatic-io/spectral";
import component from "../index";
import { oauth } from "../connections";
import { clock } from "../client/clock";
import { BASE_URL_ENV } from "../client/hosts";
import { GraphEmulator, startEmulator, EmulatorOptions, RequestLogEntry } from "../emulator";

export const harness = createHarness(component);

export interface TestEnv {
  emulator: GraphEmulator;
  /** Every wait the client asked for, in ms, in order. */
  sleeps: number[];
  /** Every line the action logged, at any level. */
  logLines: string[];
  logger: ActionLogger;
  /** Requests that reached the Graph origin (not the download host). */
  graphRequests(): RequestLogEntry[];
  /** Moves the emulator's clock forward (token expiry, throttle windows) without waiting. */
  advanceTime(ms: number): void;
}

export function useEmulator(options: EmulatorOptions = {}): TestEnv {
  const real = { ...clock };
  const env = { sleeps: [] as number[], logLines: [] as string[] } as TestEnv;
  const record =
    (level: string) =>
    (...args: unknown[]) =>
      env.logLines.push(`${level}: ${args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")}`);
  env.logger = {
    metric: record("metric"),
    trace: record("trace"),
    debug: record("debug"),
    info: record("info"),
    log: record("log"),
    warn: record("warn"),
    error: record("error"),
  };
  env.graphRequests = () => env.emulator.log.filter((e) => e.server === "graph");

  // Virtual time: the client's injected sleep moves this clock, and the emulator's throttle window reads it.
  let virtualMs = 0;
  env.advanceTime = (ms: number) => {
    virtualMs += ms;
  };
  beforeAll(async () => {
    env.emulator = await startEmulator({ now: () => Date.now() + virtualMs, ...options });
    process.env[BASE_URL_ENV] = env.emulator.origin;
  });
  afterAll(async () => {
    delete process.env[BASE_URL_ENV];
    Object.assign(clock, real);
    await env.emulator?.close();
  });
  beforeEach(() => {
    virtualMs = 0;
    env.emulator.reset();
    env.sleeps.length = 0;
    env.logLines.length = 0;
    clock.sleep = async (ms: number) => {
      env.sleeps.push(ms);
      virtualMs += ms;
    };
    clock.random = () => 0.5;
  });
  return env;
}

export function connectionFor(token: string) {
  return createConnection(
    oauth,
    {
      authorizeUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
      tokenUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
      scopes: "https://graph.microsoft.com/User.Read.All offline_access",
      clientId: "00000000-0000-0000-0000-000000000001",
      clientSecret: "test-client-secret",
    },
    { access_token: token, token_type: "Bearer", expires_in: 3599 },
  );
}

/** Runs Raw Request through the harness, as a flow step would, with the test's connection and logger. */
export async function rawRequest(
  env: TestEnv,
  params: Record<string, unknown>,
  context: Record<string, unknown> = {},
): Promise<{ data: unknown; contentType?: string }> {
  const result = await harness.action(
    "rawRequest",
    { connection: connectionFor(env.emulator.token), method: "GET", ...params },
    { logger: env.logger, ...context },
  );
  if (!result) throw new Error("Raw Request returned nothing");
  return result as { data: unknown; contentType?: string };
}

/** The error a step fails with, after the component's error hook. */
export async function failureOf(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error("expected the step to fail, but it succeeded");
}

export function header(entry: RequestLogEntry, name: string): string | undefined {
  return entry.headers[name.toLowerCase()];
}

/** Runs any action through the harness with the test's connection and logger. */
export async function runAction(
  env: TestEnv,
  key: string,
  params: Record<string, unknown>,
  context: Record<string, unknown> = {},
): Promise<{ data: unknown }> {
  const result = await harness.action(key, { connection: connectionFor(env.emulator.token), ...params }, { logger: env.logger, ...context });
  if (!result) throw new Error(`${key} returned nothing`);
  return result as { data: unknown };
}
