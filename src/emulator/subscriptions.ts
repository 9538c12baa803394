import { randomBytes, randomUUID } from "node:crypto";

import { emptyReply, GraphError, jsonReply, type Reply } from "./http";
import { parseEncryptionCertificate } from "./richNotifications";
import type { Entity } from "./tenant";

/**
 * Change-notification subscriptions as Graph has them (reference §5; DC api-reference/v1.0/resources/subscription.md,
 * subscription-post-subscriptions.md, concepts/change-notifications-delivery-webhooks.md): CRUD, reauthorize, the
 * validation handshake against both URLs, per-resource maximum lifetimes and expiry on the emulator's clock.
 */

export type ChangeType = "created" | "updated" | "deleted";

/** A subscription as the emulator holds it; `subscriptionJson` is what Graph answers for it. */
export interface EmulatedSubscription {
  id: string;
  /** As the caller sent it, e.g. "me/mailFolders('Inbox')/messages". */
  resource: string;
  /** Comma-separated, as sent ("created,updated"). */
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  clientState: string | null;
  /** ISO 8601 UTC with 7 fraction digits, as Graph writes it. */
  expirationDateTime: string;
  /** The calling app's client id. */
  applicationId: string;
  /** The signed-in user of a delegated token, else the app. */
  creatorId: string;
  includeResourceData: boolean;
  encryptionCertificate: string | null;
  encryptionCertificateId: string | null;
  latestSupportedTlsVersion: string;
  notificationQueryOptions: string | null;
  /** What the resource is about, resolved at creation (`me` → the caller's user). */
  target: ResourceTarget;
  /** The longest lifetime Graph allows for this resource (and resource data choice), in minutes (reference §5.5). */
  maxLifetimeMinutes: number;
}

/** What a subscription's resource watches. */
export type ResourceTarget =
  | { kind: "users"; userId?: string }
  | { kind: "groups" }
  | { kind: "messages"; userId: string; folder?: string }
  | { kind: "driveRoot"; userId: string }
  | { kind: "other" };

/** The maximum lifetime family of a resource (reference §5.5). */
type LifetimeFamily = "outlook" | "drive" | "directory" | "teams" | "presence" | "security" | "other";

/**
 * Maximum minutes per resource (DC concepts/includes/change-notifications-subscription-lifetime.md, ms.date
 * 11/07/2024; reference §5.5). Outlook with resource data: 1,440.
 */
const MAX_MINUTES: Record<LifetimeFamily, number> = {
  outlook: 10_080,
  drive: 42_300,
  directory: 41_760,
  teams: 4_320,
  presence: 60,
  security: 43_200,
  other: 4_230,
};
const OUTLOOK_RICH_MAX_MINUTES = 1_440;
const MIN_LIFETIME_MS = 45 * 60_000;

/** "At most 128 characters" (DC api-reference/v1.0/resources/subscription.md, clientState). */
const MAX_CLIENT_STATE = 128;

const TLS_VERSIONS = ["v1_0", "v1_1", "v1_2", "v1_3"];

/**
 * Real validation tokens are readable text with spaces and colons, so a receiver that echoes them URL-encoded
 * fails (observed [3p]: "Validation: Testing client application reachability for subscription Request-Id: …";
 * the doc only calls the token opaque, DC concepts/includes/change-notifications-delivery-notificationurl-validation.md).
 */
function validationToken(): string {
  return `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
}

/** The caller a subscription request comes from. */
export interface SubscriptionCaller {
  applicationId: string;
  /** Object id of a delegated token's user; undefined for app-only tokens. */
  userId?: string;
  /** Static demo tokens and delegated tokens have a /me; app-only tokens do not. */
  me?: string;
}

export interface SubscriptionOptions {
  now: () => number;
  /** Budget for each validation POST; Graph's is 10 s (DC …notificationurl-validation.md). */
  validationTimeoutMs: number;
  /** Called when a subscription is removed (DELETE, expiry, subscriptionRemoved) so its queued items go too. */
  onRemoved?: (subscriptionId: string) => void;
}

/** Graph's subscription timestamps carry seven fraction digits (subscription-post-subscriptions.md sample). */
export function graphDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/(\.\d{3})Z$/, "$10000Z");
}

function invalidRequest(message: string): GraphError {
  // Subscription errors come back with code "InvalidRequest" in captured answers [3p]; the docs only give statuses.
  return new GraphError(400, "InvalidRequest", message);
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== "string") return false;
  try {
    const url = new URL(value);
    // Graph requires https; the emulator also takes http so loopback receivers work (documented deviation).
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** `Inbox`, `'Inbox'`, `('Inbox')` → Inbox. */
function unquote(segment: string): string {
  return segment.replace(/^\(?'?/, "").replace(/'?\)?$/, "");
}

/**
 * Parses a subscription resource (reference §5.1: relative, no base URL; `me/…` ≡ `users/{id}/…`). Unknown
 * resources answer 400, as Graph does for a resource it cannot subscribe to (the message is the emulator's own).
 */
export function parseResource(resource: string, caller: SubscriptionCaller): { target: ResourceTarget; family: LifetimeFamily } {
  const path = resource.trim().replace(/^\/+/, "").split("?")[0].replace(/\/+$/, "");
  // mailFolders('Inbox') → mailFolders/Inbox, so both spellings parse alike.
  const segments = path.replace(/\(('?[^)]*'?)\)/g, "/$1").split("/").filter(Boolean);
  const lower = segments.map((s) => s.toLowerCase());
  let userId: string | undefined;
  let rest: string[];
  let restLower: string[];
  if (lower[0] === "me") {
    if (caller.me === undefined) throw invalidRequest("/me request is only valid with delegated authentication flow.");
    userId = caller.me;
    rest = segments.slice(1);
    restLower = lower.slice(1);
  } else if (lower[0] === "users" && segments.length >= 2) {
    userId = segments[1];
    rest = segments.slice(2);
    restLower = lower.slice(2);
  } else {
    rest = segments;
    restLower = lower;
  }
  if (userId !== undefined) {
    if (rest.length === 0) return { target: { kind: "users", userId }, family: "directory" };
    if (restLower.join("/") === "messages") return { target: { kind: "messages", userId }, family: "outlook" };
    if (restLower[0] === "mailfolders" && rest.length === 3 && restLower[2] === "messages") {
      return { target: { kind: "messages", userId, folder: unquote(rest[1]) }, family: "outlook" };
    }
    if (restLower.join("/") === "drive/root") return { target: { kind: "driveRoot", userId }, family: "drive" };
    if (["events", "contacts"].includes(restLower[0]) || restLower[0] === "mailfolders") return { target: { kind: "other" }, family: "outlook" };
    if (restLower[0] === "chats") return { target: { kind: "other" }, family: "teams" };
    if (restLower[0] === "todo") return { target: { kind: "other" }, family: "other" };
  } else {
    const first = restLower[0];
    if (first === "users" && rest.length === 1) return { target: { kind: "users" }, family: "directory" };
    if (first === "groups" && rest.length <= 2) return { target: { kind: "groups" }, family: "directory" };
    if (first === "drives" && restLower[2] === "root") return { target: { kind: "other" }, family: "drive" };
    if (first === "sites" && restLower.includes("lists")) return { target: { kind: "other" }, family: "drive" };
    if (first === "teams" || first === "chats" || first === "appcatalogs") return { target: { kind: "other" }, family: "teams" };
    if (first === "communications" && restLower[1] === "presences") return { target: { kind: "other" }, family: "presence" };
    if (first === "communications" || first === "print" || first === "groups") return { target: { kind: "other" }, family: "other" };
    if (first === "security") return { target: { kind: "other" }, family: "security" };
  }
  throw invalidRequest(`The resource '${resource}' is not supported for subscriptions by the emulator.`);
}

/** Change types each resource accepts (reference §5.1: drive root and lists `updated` only; users and groups `updated`, `deleted`). */
function allowedChangeTypes(target: ResourceTarget, family: LifetimeFamily): ChangeType[] {
  if (target.kind === "users" || target.kind === "groups") return ["updated", "deleted"];
  if (family === "drive") return ["updated"];
  return ["created", "updated", "deleted"];
}

function parseChangeTypes(value: unknown, allowed: ChangeType[], resource: string): string {
  if (typeof value !== "string" || value.trim() === "") throw invalidRequest("changeType is a required property.");
  const types = value.split(",").map((t) => t.trim());
  for (const type of types) {
    if (!allowed.includes(type as ChangeType)) {
      // The docs list which change types each resource supports, not the error text: this message is the emulator's own.
      throw invalidRequest(`The changeType '${type}' is not supported for the resource '${resource}'. Supported: ${allowed.join(", ")}.`);
    }
  }
  return types.join(",");
}

/** Outcome of one validation POST. */
export interface ValidationResult {
  url: string;
  ok: boolean;
  status?: number;
  error?: string;
}

/**
 * The handshake (DC …notificationurl-validation.md): POST `{url}?validationToken={token}`, `Content-Type:
 * text/plain; charset=utf-8`; the endpoint must answer within 10 s with 200, `text/plain` and the decoded token.
 */
async function validateEndpoint(url: string, timeoutMs: number): Promise<ValidationResult> {
  const token = validationToken();
  const target = new URL(url);
  target.searchParams.append("validationToken", token);
  try {
    const res = await fetch(target, {
      method: "POST",
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      body: "",
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    const text = await res.text();
    const type = res.headers.get("content-type") ?? "";
    const ok = res.status === 200 && /^text\/plain\b/i.test(type) && text === token;
    return { url, ok, status: res.status, ...(ok ? {} : { error: res.status !== 200 ? `answered ${res.status}` : text !== token ? "the body is not the token" : "not text/plain" }) };
  } catch (error) {
    return { url, ok: false, error: failureReason(error) };
  }
}

/** "timed out" for an aborted fetch, else the socket error (fetch wraps it in `cause`). */
export function failureReason(error: unknown): string {
  // DOMException from AbortSignal.timeout is not always `instanceof Error` (other realms, jest): read the name.
  const name = (error as { name?: unknown } | null)?.name;
  if (name === "TimeoutError" || name === "AbortError") return "timed out";
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

export class SubscriptionStore {
  private readonly byId = new Map<string, EmulatedSubscription>();
  /** Every validation POST, for tests. */
  readonly validations: ValidationResult[] = [];

  constructor(private readonly options: SubscriptionOptions) {}

  /** Live subscriptions; expired ones are dropped here, so nothing is delivered for them. */
  list(): EmulatedSubscription[] {
    this.sweep();
    return [...this.byId.values()];
  }

  get(id: string): EmulatedSubscription | undefined {
    this.sweep();
    return this.byId.get(id.toLowerCase());
  }

  remove(id: string): boolean {
    const removed = this.byId.delete(id.toLowerCase());
    if (removed) this.options.onRemoved?.(id.toLowerCase());
    return removed;
  }

  clear(): void {
    for (const id of [...this.byId.keys()]) this.remove(id);
    this.validations.length = 0;
  }

  /** Subscriptions whose expirationDateTime has passed on the emulator's clock end here. */
  private sweep(): void {
    const now = this.options.now();
    for (const sub of this.byId.values()) {
      if (Date.parse(sub.expirationDateTime) <= now) this.remove(sub.id);
    }
  }

  private maxMinutes(family: LifetimeFamily, includeResourceData: boolean): number {
    return family === "outlook" && includeResourceData ? OUTLOOK_RICH_MAX_MINUTES : MAX_MINUTES[family];
  }

  /**
   * expirationDateTime: required, in the future, no later than now + the resource's maximum. Graph documents
   * the 400 but not its text (reference §5.5); the message here names the maximum so callers can act on it.
   */
  private checkExpiration(value: unknown, maxMinutes: number): number {
    if (typeof value !== "string" || Number.isNaN(Date.parse(value))) throw invalidRequest("expirationDateTime is a required property and must be a date-time.");
    const at = Date.parse(value);
    const now = this.options.now();
    // A past expiry is refused by the emulator; the docs only describe values in the future.
    if (at <= now) throw invalidRequest("Subscription expiration must be in the future.");
    if (at > now + maxMinutes * 60_000) {
      throw invalidRequest(`Subscription expiration can only be ${maxMinutes} minutes in the future.`);
    }
    // "Any value under 45 minutes after the time of the request is automatically set to 45 minutes after the
    // request time" (DC api-reference/v1.0/resources/subscription.md, expirationDateTime).
    return Math.max(at, now + MIN_LIFETIME_MS);
  }

  /** POST /subscriptions → 201 after both URLs passed the handshake, else 400. */
  async create(body: Entity, caller: SubscriptionCaller): Promise<EmulatedSubscription> {
    if (typeof body.resource !== "string" || body.resource.trim() === "") throw invalidRequest("resource is a required property.");
    const resource = body.resource;
    const { target, family } = parseResource(resource, caller);
    const changeType = parseChangeTypes(body.changeType, allowedChangeTypes(target, family), resource);
    if (!isHttpUrl(body.notificationUrl)) throw invalidRequest("notificationUrl must be an absolute https URL.");
    const lifecycle = body.lifecycleNotificationUrl;
    if (lifecycle !== undefined && lifecycle !== null && !isHttpUrl(lifecycle)) throw invalidRequest("lifecycleNotificationUrl must be an absolute https URL.");
    const clientState = body.clientState;
    if (clientState !== undefined && clientState !== null && (typeof clientState !== "string" || clientState.length > MAX_CLIENT_STATE)) {
      throw invalidRequest(`clientState must be a string of at most ${MAX_CLIENT_STATE} characters.`);
    }
    const tls = body.latestSupportedTlsVersion ?? "v1_2";
    if (typeof tls !== "string" || !TLS_VERSIONS.includes(tls)) throw invalidRequest(`latestSupportedTlsVersion must be one of ${TLS_VERSIONS.join(", ")}.`);
    const includeResourceData = body.includeResourceData === true;
    if (includeResourceData) {
      // "encryptionCertificate … Required when includeResourceData is true"; "encryptionCertificateId … Required
      // when includeResourceData is true" (DC api-reference/v1.0/resources/subscription.md).
      if (typeof body.encryptionCertificate !== "string" || body.encryptionCertificate.trim() === "") {
        throw invalidRequest("encryptionCertificate is required when includeResourceData is true.");
      }
      if (typeof body.encryptionCertificateId !== "string" || body.encryptionCertificateId.trim() === "") {
        throw invalidRequest("encryptionCertificateId is required when includeResourceData is true.");
      }
      try {
        parseEncryptionCertificate(body.encryptionCertificate);
      } catch (error) {
        throw invalidRequest(error instanceof Error ? error.message : String(error));
      }
    }
    const maxLifetimeMinutes = this.maxMinutes(family, includeResourceData);
    const expiresAt = this.checkExpiration(body.expirationDateTime, maxLifetimeMinutes);

    // Both URLs are validated, the notification URL first (reference §5.2); either failing fails the create.
    const urls = [body.notificationUrl, ...(typeof lifecycle === "string" ? [lifecycle] : [])];
    for (const url of urls) {
      const result = await validateEndpoint(url, this.options.validationTimeoutMs);
      this.validations.push(result);
      if (!result.ok) {
        // Graph's text for a failed handshake as users quote it [3p] (learn.microsoft.com/answers/questions/416427);
        // the docs give only the 400. The timeout text and the detail in parentheses are the emulator's own.
        throw new GraphError(
          400,
          "ValidationError",
          result.error === "timed out"
            ? "Subscription validation request timed out."
            : `Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. (${url}: ${result.error ?? "failed"})`,
        );
      }
    }

    const sub: EmulatedSubscription = {
      id: randomUUID(),
      resource,
      changeType,
      notificationUrl: body.notificationUrl,
      lifecycleNotificationUrl: typeof lifecycle === "string" ? lifecycle : null,
      clientState: typeof clientState === "string" ? clientState : null,
      expirationDateTime: graphDateTime(expiresAt),
      applicationId: caller.applicationId,
      creatorId: caller.userId ?? caller.applicationId,
      includeResourceData,
      encryptionCertificate: includeResourceData ? String(body.encryptionCertificate) : null,
      encryptionCertificateId: includeResourceData ? String(body.encryptionCertificateId) : null,
      latestSupportedTlsVersion: tls,
      notificationQueryOptions: typeof body.notificationQueryOptions === "string" ? body.notificationQueryOptions : null,
      target,
      maxLifetimeMinutes,
    };
    this.byId.set(sub.id, sub);
    return sub;
  }

  private owned(id: string, caller: SubscriptionCaller): EmulatedSubscription {
    const sub = this.get(id);
    // Another app's subscription is as invisible as a missing one (DC subscription-get.md lists the caller's own).
    if (!sub || sub.applicationId !== caller.applicationId) {
      throw new GraphError(404, "ResourceNotFound", `The object was not found.`);
    }
    return sub;
  }

  find(id: string, caller: SubscriptionCaller): EmulatedSubscription {
    return this.owned(id, caller);
  }

  /** PATCH: only expirationDateTime (and notificationUrl) may change (DC subscription-update.md). */
  renew(id: string, body: Entity, caller: SubscriptionCaller): EmulatedSubscription {
    const sub = this.owned(id, caller);
    for (const key of Object.keys(body)) {
      if (!["expirationDateTime", "notificationUrl"].includes(key)) {
        throw invalidRequest(`Property '${key}' cannot be updated; only expirationDateTime and notificationUrl can.`);
      }
    }
    if (body.notificationUrl !== undefined) {
      if (!isHttpUrl(body.notificationUrl)) throw invalidRequest("notificationUrl must be an absolute https URL.");
      sub.notificationUrl = body.notificationUrl;
    }
    if (body.expirationDateTime !== undefined) {
      sub.expirationDateTime = graphDateTime(this.checkExpiration(body.expirationDateTime, sub.maxLifetimeMinutes));
    }
    return sub;
  }
}

/** The JSON Graph answers for a subscription (DC subscription-post-subscriptions.md, subscription-get.md samples). */
export function subscriptionJson(sub: EmulatedSubscription): Entity {
  return {
    id: sub.id,
    resource: sub.resource,
    applicationId: sub.applicationId,
    changeType: sub.changeType,
    clientState: sub.clientState,
    notificationUrl: sub.notificationUrl,
    notificationQueryOptions: sub.notificationQueryOptions,
    lifecycleNotificationUrl: sub.lifecycleNotificationUrl,
    expirationDateTime: sub.expirationDateTime,
    creatorId: sub.creatorId,
    includeResourceData: sub.includeResourceData,
    latestSupportedTlsVersion: sub.latestSupportedTlsVersion,
    encryptionCertificate: sub.encryptionCertificate,
    encryptionCertificateId: sub.encryptionCertificateId,
    notificationUrlAppId: null,
    // Read-only, "application/json" by default (reference §5.1).
    notificationContentType: "application/json",
  };
}

export interface SubscriptionRouteContext {
  origin: string;
  version: string;
  store: SubscriptionStore;
  caller: SubscriptionCaller;
}

function context(ctx: SubscriptionRouteContext, entity: boolean): string {
  return `${ctx.origin}/${ctx.version}/$metadata#subscriptions${entity ? "/$entity" : ""}`;
}

/** Alone or as a $batch item alike: the item answers once the handshake has (201, or 400 ValidationError). */
export function createSubscription(ctx: SubscriptionRouteContext, body: Entity): Promise<Reply> {
  return ctx.store.create(body, ctx.caller).then((sub) => jsonReply(201, { "@odata.context": context(ctx, true), ...subscriptionJson(sub) }, "gateway"));
}

/**
 * Delegated callers see the calling app's subscriptions for the signed-in user; app-only callers all of the
 * app's (DC api-reference/v1.0/api/subscription-list.md, the table of what each permission type returns).
 */
export function listSubscriptions(ctx: SubscriptionRouteContext): Reply {
  const { applicationId, userId } = ctx.caller;
  const mine = ctx.store.list().filter((s) => s.applicationId === applicationId && (userId === undefined || s.creatorId === userId));
  return jsonReply(200, { "@odata.context": context(ctx, false), value: mine.map(subscriptionJson) }, "gateway");
}

export function getSubscription(ctx: SubscriptionRouteContext, id: string): Reply {
  return jsonReply(200, { "@odata.context": context(ctx, true), ...subscriptionJson(ctx.store.find(id, ctx.caller)) }, "gateway");
}

export function patchSubscription(ctx: SubscriptionRouteContext, id: string, body: Entity): Reply {
  return jsonReply(200, { "@odata.context": context(ctx, true), ...subscriptionJson(ctx.store.renew(id, body, ctx.caller)) }, "gateway");
}

export function deleteSubscription(ctx: SubscriptionRouteContext, id: string): Reply {
  const sub = ctx.store.find(id, ctx.caller);
  ctx.store.remove(sub.id);
  return emptyReply(204, "gateway");
}

/** POST /subscriptions/{id}/reauthorize: 204, no content, the expiry unchanged (DC subscription-reauthorize.md). */
export function reauthorizeSubscription(ctx: SubscriptionRouteContext, id: string): Reply {
  ctx.store.find(id, ctx.caller);
  return emptyReply(204, "gateway");
}

/** An opaque notification id like the docs sample's "lsgTZMr9KwAAA" (reference §5.3). */
export function notificationId(): string {
  return randomBytes(10).toString("base64url");
}
