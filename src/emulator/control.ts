/**
 * The emulator's control surface: faults, throttling, state and the request log driven over HTTP, so a
 * client in any language (or another process) can script what the in-process API (GraphEmulator) offers.
 *
 * It lives on the Graph origin under `/_emulator/`, a segment real Graph never serves, and answers only a
 * bearer token of its own (`controlToken`, random per start). The Graph tokens are refused there: a flow under
 * test must not be able to change the emulator's behaviour. Control requests bypass faults, throttling and the
 * request log, so scripting a fault never consumes one nor shows up among the requests a test counts.
 *
 * Routes: POST/DELETE /faults, POST /throttle, POST /reset, POST /delta/expire, POST /uploads/expire,
 * POST /notifications/flush, POST /subscriptions/{id}/lifecycle, POST /apps, GET /log.
 * - GET /log[?since=n] is the Graph, download and upload hosts' request log (Authorization redacted);
 *   GET /log?host=login[&since=n] the sign-in host's, entries `{server: "login", method, url, form, status, at}`
 *   with `form` the token request's form (or the authorize query) as IdentityLogEntry stores it: client_secret,
 *   client_assertion, code, refresh_token, code_verifier and device_code read "[REDACTED]", in the url too.
 * - POST /apps registers an app on the sign-in host, as IdentityEmulator.registerApp: `{clientId (a GUID),
 *   displayName?, clientSecret?, certificatePem? (the public certificate a client assertion is verified with),
 *   redirectUris?}`; without a secret or certificate it is a public client (device code, auth code with PKCE).
 *   The same clientId again replaces the registration; reset() keeps apps. 201 answers what was registered,
 *   never the secret.
 */
import { randomBytes, X509Certificate } from "node:crypto";

import { safeEqual } from "./constantTime";
import type { IncomingMessage, ServerResponse } from "node:http";

import type { AppRegistration } from "./identity";
import type { LifecycleEvent } from "./notifications";
import type { Fault, FaultRule, GraphEmulator, RequestLogEntry, ThrottleOptions } from "./types";

export const CONTROL_PREFIX = "/_emulator";

const LIFECYCLE_EVENTS: readonly LifecycleEvent[] = ["reauthorizationRequired", "subscriptionRemoved", "missed"];

/** What the surface drives: the emulator's own API plus clearing the scripted faults. */
export type ControlTarget = Pick<
  GraphEmulator,
  "addFault" | "setThrottle" | "reset" | "expireDeltaTokens" | "expireUploadSessions" | "log" | "flushNotifications" | "sendLifecycleEvent" | "subscriptions" | "identity"
> & { clearFaults(): void };

interface ControlAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A refused control request: the status and the message naming the field at fault. */
class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** For a 405: the methods the endpoint takes. */
  allow?: string;
}

const badField = (field: string, message: string): ControlError => new ControlError(400, `${field} ${message}`, field);

export function isControlPath(url: string): boolean {
  const pathname = url.split("?")[0];
  return pathname === CONTROL_PREFIX || pathname.startsWith(`${CONTROL_PREFIX}/`);
}

export function newControlToken(): string {
  return `emulator-control-${randomBytes(24).toString("base64url")}`;
}

export class ControlSurface {
  readonly token = newControlToken();
  private target?: ControlTarget;

  /** Connects the surface to the emulator once it is built; until then control requests answer 503. */
  attach(target: ControlTarget): void {
    this.target = target;
  }

  /** Answers one request under CONTROL_PREFIX completely (body read, reply written). */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let answer: ControlAnswer;
    try {
      answer = await this.answer((req.method ?? "GET").toUpperCase(), req.url ?? "/", req.headers.authorization, Buffer.concat(chunks));
    } catch (thrown) {
      // FaultQueue.add and Throttle.configure refuse out-of-range values with a RangeError that names the field.
      const error = thrown instanceof RangeError ? new ControlError(400, thrown.message) : thrown;
      if (!(error instanceof ControlError)) throw error;
      answer = { status: error.status, body: { error: { message: error.message, ...(error.field ? { field: error.field } : {}) } } };
      if (error.status === 401) answer.headers = { "WWW-Authenticate": 'Bearer realm="emulator-control"' };
      if (error.allow !== undefined) answer.headers = { Allow: error.allow };
    }
    const body = answer.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(answer.body), "utf8");
    res.writeHead(answer.status, {
      ...(answer.body === undefined ? {} : { "Content-Type": "application/json; charset=utf-8" }),
      "Content-Length": String(body.length),
      "Cache-Control": "no-store",
      ...answer.headers,
    });
    res.end(body);
  }

  private async answer(method: string, url: string, authorization: string | undefined, body: Buffer): Promise<ControlAnswer> {
    if (!this.authorized(authorization)) throw new ControlError(401, "control requests need Authorization: Bearer <controlToken> (the Graph token is not accepted here)");
    const target = this.target;
    if (!target) throw new ControlError(503, "the emulator is still starting");
    const parsed = new URL(url, "http://control.invalid");
    const route = parsed.pathname.slice(CONTROL_PREFIX.length).replace(/\/+$/, "");
    const allow = (methods: string): void => {
      if (!methods.split(", ").includes(method)) {
        const refused = new ControlError(405, `${method} is not allowed on ${CONTROL_PREFIX}${route}; use ${methods}`);
        refused.allow = methods;
        throw refused;
      }
    };
    const lifecycle = /^\/subscriptions\/([^/]+)\/lifecycle$/.exec(route);
    switch (true) {
      case route === "/faults":
        allow("POST, DELETE");
        if (method === "DELETE") {
          target.clearFaults();
          return { status: 200, body: { cleared: true } };
        }
        target.addFault(faultRuleFrom(jsonBody(body)));
        return { status: 201, body: { added: true } };
      case route === "/log":
        allow("GET");
        return { status: 200, body: this.logSince(parsed.searchParams.get("host"), parsed.searchParams.get("since")) };
      case route === "/throttle": {
        allow("POST");
        const profile = throttleFrom(jsonBody(body));
        target.setThrottle(profile);
        return { status: 200, body: { throttling: profile !== null } };
      }
      case route === "/apps": {
        allow("POST");
        const identity = target.identity;
        if (!identity) throw new ControlError(409, "this emulator runs without the sign-in host (EmulatorOptions.identity), so there is nowhere to register an app");
        const app = appRegistrationFrom(jsonBody(body));
        identity.registerApp(app);
        return {
          status: 201,
          body: {
            clientId: app.clientId.toLowerCase(),
            displayName: app.displayName ?? "Graph Emulator App",
            publicClient: app.clientSecret === undefined && app.certificatePem === undefined,
            redirectUris: app.redirectUris ?? [],
          },
        };
      }
      case route === "/reset":
        allow("POST");
        target.reset();
        return { status: 200, body: { reset: true } };
      case route === "/delta/expire":
        allow("POST");
        target.expireDeltaTokens();
        return { status: 200, body: { expired: true } };
      case route === "/uploads/expire":
        allow("POST");
        target.expireUploadSessions();
        return { status: 200, body: { expired: true } };
      case route === "/notifications/flush":
        allow("POST");
        return { status: 200, body: { deliveries: await target.flushNotifications() } };
      case lifecycle !== null: {
        allow("POST");
        const id = decodeSegment(lifecycle[1]);
        const event = lifecycleEventFrom(jsonBody(body));
        if (!target.subscriptions().some((sub) => sub.id === id)) throw new ControlError(404, `no live subscription ${id}`, "id");
        try {
          return { status: 200, body: { delivery: await target.sendLifecycleEvent(id, event) } };
        } catch (error) {
          // A subscription created without lifecycleNotificationUrl has nowhere to send the event.
          throw new ControlError(409, (error as Error).message, "id");
        }
      }
      default:
        throw new ControlError(404, `no control endpoint ${CONTROL_PREFIX}${route}`);
    }
  }

  /** Constant-time comparison: the token is the only thing between a caller and the emulator's state. */
  private authorized(authorization: string | undefined): boolean {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization?.trim() ?? "")?.[1];
    if (presented === undefined) return false;
    return safeEqual(presented, this.token);
  }

  /**
   * Entries from index `since` on; `next` is the index to ask for next time (reset() starts the log at 0 again).
   * `host`: absent for the Graph, download and upload hosts' log, "login" for the sign-in host's (its own indexes).
   */
  private logSince(host: string | null, since: string | null): { entries: unknown[]; next: number } {
    if (host !== null && host !== "login") throw badField("host", `must be login (the sign-in host), or left out for the Graph, download and upload hosts; got '${host}'`);
    let from = 0;
    if (since !== null) {
      if (!/^\d+$/.test(since)) throw badField("since", `must be a non-negative integer, got '${since}'`);
      from = Number(since);
    }
    if (host === "login") {
      const identity = this.target?.identity;
      if (!identity) throw new ControlError(409, "this emulator runs without the sign-in host (EmulatorOptions.identity), so it has no login log", "host");
      // Stored already redacted (identity/http.ts): no secret, assertion, code, verifier or refresh token is in it.
      return { entries: identity.log.slice(from).map((entry) => ({ server: "login", ...entry })), next: identity.log.length };
    }
    const log = this.target?.log ?? [];
    return { entries: log.slice(from).map(logEntryJson), next: log.length };
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badField("id", `is not a valid URL segment: '${segment}'`);
  }
}

/** A log entry as JSON: the body as text (bodyBytes would serialize byte by byte); headers are already redacted. */
function logEntryJson(entry: RequestLogEntry): Record<string, unknown> {
  const { bodyBytes, ...rest } = entry;
  return { ...rest, bodyLength: bodyBytes.length };
}

function jsonBody(body: Buffer): unknown {
  const text = body.toString("utf8").trim();
  if (text === "") throw new ControlError(400, "the body must be JSON, got nothing", "body");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ControlError(400, `the body is not JSON: ${(error as Error).message}`, "body");
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalInteger(source: Record<string, unknown>, name: string, field: string, min: number): number | undefined {
  const value = source[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) throw badField(field, `must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return value;
}

function optionalString(source: Record<string, unknown>, name: string, field: string): string | undefined {
  const value = source[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw badField(field, `must be a string, got ${JSON.stringify(value)}`);
  return value;
}

const STATUS_FAULTS = [429, 500, 502, 503, 504] as const;
const FAULT_KINDS: readonly Fault["kind"][] = ["status", "reset", "corrupt", "slow", "truncate", "stall", "reply"];

function faultFrom(value: unknown): Fault {
  if (!isRecord(value)) throw badField("fault", "must be an object such as {\"kind\":\"status\",\"status\":429,\"retryAfter\":\"2\"}");
  const kind = value.kind;
  switch (kind) {
    case "status": {
      const status = optionalInteger(value, "status", "fault.status", 0);
      if (status === undefined || !(STATUS_FAULTS as readonly number[]).includes(status)) {
        throw badField("fault.status", `must be one of ${STATUS_FAULTS.join(", ")} for kind status (use kind reply for any other answer), got ${JSON.stringify(value.status)}`);
      }
      const retryAfter = value.retryAfter;
      if (retryAfter !== undefined && typeof retryAfter !== "string" && typeof retryAfter !== "number") {
        throw badField("fault.retryAfter", `must be a string or number (the Retry-After header as sent), got ${JSON.stringify(retryAfter)}`);
      }
      return { kind, status: status as (typeof STATUS_FAULTS)[number], ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }) };
    }
    case "reset": {
      const afterProcessing = value.afterProcessing;
      if (afterProcessing !== undefined && typeof afterProcessing !== "boolean") throw badField("fault.afterProcessing", "must be true or false");
      return { kind, ...(afterProcessing === undefined ? {} : { afterProcessing }) };
    }
    case "slow": {
      const delayMs = optionalInteger(value, "delayMs", "fault.delayMs", 0);
      if (delayMs === undefined) throw badField("fault.delayMs", "is required for kind slow");
      return { kind, delayMs };
    }
    case "corrupt":
    case "truncate":
    case "stall":
      return { kind };
    case "reply": {
      const status = optionalInteger(value, "status", "fault.status", 0);
      if (status === undefined) throw badField("fault.status", "is required for kind reply");
      const headers = value.headers;
      if (headers !== undefined && !(isRecord(headers) && Object.values(headers).every((v) => typeof v === "string"))) {
        throw badField("fault.headers", "must be an object of header names to string values");
      }
      const body = optionalString(value, "body", "fault.body") ?? "";
      return { kind, status, body, ...(headers === undefined ? {} : { headers: headers as Record<string, string> }) };
    }
    default:
      throw badField("fault.kind", `must be one of ${FAULT_KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
  }
}

function pathFrom(value: unknown): string | RegExp {
  if (typeof value === "string") {
    // FaultQueue matches the path without the version segment; a versioned path would silently never fire.
    if (/^\/(v1\.0|beta)(\/|$)/i.test(value)) throw badField("path", `is matched without the /v1.0 or /beta segment: use '${value.replace(/^\/(v1\.0|beta)/i, "") || "/"}'`);
    if (!value.startsWith("/")) throw badField("path", `must start with '/', got ${JSON.stringify(value)}`);
    return value;
  }
  if (isRecord(value) && typeof value.regex === "string") {
    const flags = value.flags === undefined ? "" : value.flags;
    if (typeof flags !== "string") throw badField("path.flags", "must be a string of RegExp flags");
    try {
      return new RegExp(value.regex, flags);
    } catch (error) {
      throw badField("path.regex", `is not a valid regular expression: ${(error as Error).message}`);
    }
  }
  throw badField("path", `must be a path string or {"regex": "..."}, got ${JSON.stringify(value)}`);
}

/** A FaultRule from JSON; FaultQueue.add then checks the values (status list, positive times) and names the field. */
function faultRuleFrom(value: unknown): FaultRule {
  if (!isRecord(value)) throw badField("body", "must be a FaultRule object: {\"path\": \"/me\", \"fault\": {...}, \"times\"?, \"skip\"?, \"method\"?, \"rate\"?, \"seed\"?}");
  const method = optionalString(value, "method", "method");
  const times = optionalInteger(value, "times", "times", 1);
  const skip = optionalInteger(value, "skip", "skip", 0);
  const rate = value.rate;
  if (rate !== undefined && !(typeof rate === "number" && rate > 0 && rate <= 1)) throw badField("rate", `must be a number in (0, 1], got ${JSON.stringify(rate)}`);
  const seed = value.seed;
  if (seed !== undefined && !(typeof seed === "number" && Number.isInteger(seed))) throw badField("seed", `must be an integer, got ${JSON.stringify(seed)}`);
  return {
    ...(rate === undefined ? {} : { rate }),
    ...(seed === undefined ? {} : { seed }),
    path: pathFrom(value.path),
    fault: faultFrom(value.fault),
    ...(method === undefined ? {} : { method }),
    ...(times === undefined ? {} : { times }),
    ...(skip === undefined ? {} : { skip }),
  };
}

function throttleFrom(value: unknown): ThrottleOptions | null {
  if (value === null) return null;
  if (!isRecord(value)) throw badField("body", "must be a throttling profile {\"requestsPerWindow\", \"windowMs\", \"maxConcurrent\"?} or null");
  const requestsPerWindow = optionalInteger(value, "requestsPerWindow", "requestsPerWindow", 1);
  const windowMs = value.windowMs;
  if (requestsPerWindow === undefined) throw badField("requestsPerWindow", "is required");
  if (typeof windowMs !== "number" || !(windowMs > 0)) throw badField("windowMs", `must be a number > 0, got ${JSON.stringify(windowMs)}`);
  const maxConcurrent = optionalInteger(value, "maxConcurrent", "maxConcurrent", 1);
  return { requestsPerWindow, windowMs, ...(maxConcurrent === undefined ? {} : { maxConcurrent }) };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const APP_FIELDS = ["clientId", "displayName", "clientSecret", "certificatePem", "redirectUris"] as const;

/**
 * An app registration from JSON, as IdentityEmulator.registerApp takes it. An unknown field is refused rather
 * than ignored: a misspelt `clientSecret` would otherwise register a public client.
 */
function appRegistrationFrom(value: unknown): AppRegistration {
  if (!isRecord(value)) throw badField("body", `must be an app registration object: {${APP_FIELDS.map((f) => `"${f}"`).join(", ")}}, only clientId required`);
  const unknown = Object.keys(value).find((key) => !(APP_FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) throw badField(unknown, `is not a field of an app registration; the fields are ${APP_FIELDS.join(", ")}`);
  const clientId = value.clientId;
  // Entra's application (client) ids are GUIDs; the token endpoint looks the app up by it.
  if (typeof clientId !== "string" || !GUID.test(clientId)) throw badField("clientId", `must be a GUID (the application (client) id), got ${JSON.stringify(clientId)}`);
  const nonEmpty = (name: "displayName" | "clientSecret"): string | undefined => {
    const text = optionalString(value, name, name);
    if (text !== undefined && text.trim() === "") throw badField(name, "must not be empty (leave it out instead)");
    return text;
  };
  const displayName = nonEmpty("displayName");
  const clientSecret = nonEmpty("clientSecret");
  const certificatePem = optionalString(value, "certificatePem", "certificatePem");
  if (certificatePem !== undefined) {
    // The emulator verifies assertions with the public certificate only; a private key has no business leaving the client.
    if (/PRIVATE KEY-----/.test(certificatePem)) throw badField("certificatePem", "must hold only the public certificate, without its private key");
    try {
      new X509Certificate(certificatePem);
    } catch (error) {
      throw badField("certificatePem", `is not a PEM X.509 certificate: ${(error as Error).message}`);
    }
  }
  const redirectUris = value.redirectUris;
  if (redirectUris !== undefined) {
    if (!Array.isArray(redirectUris)) throw badField("redirectUris", `must be an array of absolute URIs, got ${JSON.stringify(redirectUris)}`);
    redirectUris.forEach((uri: unknown, index) => {
      if (typeof uri !== "string" || !URL.canParse(uri)) throw badField(`redirectUris[${index}]`, `must be an absolute URI such as http://localhost/callback, got ${JSON.stringify(uri)}`);
    });
  }
  return {
    clientId,
    ...(displayName === undefined ? {} : { displayName }),
    ...(clientSecret === undefined ? {} : { clientSecret }),
    ...(certificatePem === undefined ? {} : { certificatePem }),
    ...(redirectUris === undefined ? {} : { redirectUris: redirectUris as string[] }),
  };
}

function lifecycleEventFrom(value: unknown): LifecycleEvent {
  const event = isRecord(value) ? value.event : undefined;
  if (typeof event !== "string" || !(LIFECYCLE_EVENTS as readonly string[]).includes(event)) {
    throw badField("event", `must be one of ${LIFECYCLE_EVENTS.join(", ")}, got ${JSON.stringify(event)}`);
  }
  return event as LifecycleEvent;
}
