import { failureReason, notificationId, SubscriptionStore, type ChangeType, type EmulatedSubscription } from "./subscriptions";
import { encryptResourceData, signValidationToken, type EncryptedContent } from "./richNotifications";
import { TENANT_ID, type Entity } from "./tenant";

/**
 * Delivery of change notifications (reference §5.3, DC concepts/change-notifications-delivery-webhooks.md):
 * changes made through the emulator are matched against live subscriptions, queued, and POSTed batched per
 * notificationUrl as `{"value":[…]}`; a POST that fails (non-2xx, error, slower than 3 s) stays queued and goes
 * again with the next flush, as Graph retries.
 */

/** A change in the emulated tenant that subscriptions may be told about. */
export type ResourceChange =
  | { kind: "user"; changeType: ChangeType; userId: string }
  | {
      kind: "message";
      changeType: ChangeType;
      /** The mailbox owner. */
      userId: string;
      messageId: string;
      /** The folder the message is (or was) in, and that folder's well-known name if it has one. */
      folderId: string;
      folderWellKnownName?: string;
      changeKey?: string;
      /** The message itself, for rich notifications; absent for a deletion. */
      resource?: Entity;
    }
  | { kind: "driveItem"; changeType: ChangeType; userId: string; itemId: string };

/** One outgoing POST, notification or lifecycle. */
export interface DeliveryLogEntry {
  kind: "notification" | "lifecycle";
  url: string;
  /** What was sent: `{"value":[…]}` (plus `validationTokens` for rich notifications). */
  body: { value: Entity[]; validationTokens?: string[] };
  /** Number of items in `body.value`. */
  notifications: number;
  /** The receiver's status; absent when the POST failed without an answer. */
  status?: number;
  /** Why the POST did not count as delivered ("timed out", "answered 500", a socket error). */
  error?: string;
  /** True when the receiver acknowledged with a 2xx within the budget. */
  delivered: boolean;
  /** How long the POST took. */
  ms: number;
}

export type LifecycleEvent = "reauthorizationRequired" | "subscriptionRemoved" | "missed";

/** What an item of a subscription with includeResourceData carries, and the POST's validation tokens. */
export interface RichNotifications {
  encryptedContent(sub: EmulatedSubscription, resource: Entity): EncryptedContent;
  validationToken(sub: EmulatedSubscription): Promise<string>;
}

/**
 * Graph's rich notifications (DC concepts/change-notifications-with-resource-data.md): the resource encrypted for
 * the subscription's certificate, and a validation token per app and tenant signed with the sign-in host's keys.
 */
export function graphRichNotifications(now: () => number): RichNotifications {
  return {
    encryptedContent: (sub, resource) => encryptResourceData(resource, String(sub.encryptionCertificate), String(sub.encryptionCertificateId)),
    validationToken: (sub) => signValidationToken({ audience: sub.applicationId, tenantId: TENANT_ID, now: now() }),
  };
}

interface Pending {
  subscriptionId: string;
  url: string;
  item: Entity;
  /** Emulator clock when the change happened. */
  queuedAt: number;
}

/** "Graph retries … for up to 4 hours; after that, the notification is dropped" (reference §5.3). */
const REDELIVERY_WINDOW_MS = 4 * 3600_000;

export interface DeliveryOptions {
  /** Budget for a delivery POST; Graph's client timeout is 3 s (reference §5.3). */
  deliveryTimeoutMs: number;
  now: () => number;
  resolve: TenantResolver;
  rich?: RichNotifications;
}

/** Lookups into the tenant that matching needs: resources may name a user by userPrincipalName and a folder by name. */
export interface TenantResolver {
  /** A user's object id from an id or userPrincipalName. */
  userId(reference: string): string | undefined;
  /** A mailbox folder's id from its id or well-known name ("inbox"). */
  folderId(userId: string, reference: string): string | undefined;
}

function sameUser(reference: string | undefined, id: string, resolve: TenantResolver): boolean {
  return reference !== undefined && (resolve.userId(reference) ?? reference).toLowerCase() === id.toLowerCase();
}

function matches(sub: EmulatedSubscription, change: ResourceChange, resolve: TenantResolver): boolean {
  const target = sub.target;
  switch (change.kind) {
    case "user":
      return target.kind === "users" && (target.userId === undefined || sameUser(target.userId, change.userId, resolve));
    case "message":
      if (target.kind !== "messages" || !sameUser(target.userId, change.userId, resolve)) return false;
      return target.folder === undefined || resolve.folderId(target.userId, target.folder) === change.folderId;
    case "driveItem":
      return target.kind === "driveRoot" && sameUser(target.userId, change.userId, resolve);
  }
}

/**
 * The `changeType` a subscriber hears. A new user is announced as `updated`: users subscriptions accept only
 * updated and deleted (reference §5.1), and Graph reports creations to them as updates ([3p]; the docs are silent).
 * A new or changed drive item is `updated` on the root, the only type drive subscriptions take.
 */
function heardAs(change: ResourceChange): ChangeType {
  if (change.kind === "message") return change.changeType;
  return change.changeType === "created" ? "updated" : change.changeType;
}

/** One notification item, shaped as the docs sample (reference §5.3). */
function notificationItem(sub: EmulatedSubscription, change: ResourceChange, changeType: ChangeType, rich?: RichNotifications): Entity {
  const head: Entity = {
    id: notificationId(),
    subscriptionId: sub.id,
    subscriptionExpirationDateTime: sub.expirationDateTime,
    clientState: sub.clientState,
    changeType,
  };
  switch (change.kind) {
    case "user": {
      const path = `Users/${change.userId}`;
      return { ...head, resource: path, tenantId: TENANT_ID, resourceData: { "@odata.type": "#Microsoft.Graph.User", "@odata.id": path, id: change.userId } };
    }
    case "message": {
      // "users/{user_guid}@{tenant_guid}/messages/{long_id_string}" and "Users/…/Messages/…" in @odata.id (reference §5.3 sample).
      const resource = `Users/${change.userId}/Messages/${change.messageId}`;
      const resourceData: Entity = { "@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource };
      if (change.changeKey !== undefined) resourceData["@odata.etag"] = `W/"${change.changeKey}"`;
      resourceData.id = change.messageId;
      const item: Entity = { ...head, resource, tenantId: TENANT_ID, resourceData };
      if (sub.includeResourceData && rich && change.resource) item.encryptedContent = rich.encryptedContent(sub, change.resource);
      return item;
    }
    case "driveItem":
      // OneDrive notifications say only that something under the subscribed root changed ("For OneDrive, this will
      // always be updated"; no resource data: OneDrive docs, resources/webhooknotification.md); the receiver asks
      // delta what changed.
      return { ...head, resource: sub.resource, tenantId: TENANT_ID };
  }
}

export class NotificationHub {
  private pending: Pending[] = [];
  private flushing: Promise<DeliveryLogEntry[]> = Promise.resolve([]);
  /** Auto delivery's wait per failing URL (real time: the timer runs in real time). */
  private backoff = new Map<string, { failures: number; until: number }>();
  readonly deliveries: DeliveryLogEntry[] = [];

  constructor(
    private readonly store: SubscriptionStore,
    private readonly options: DeliveryOptions,
  ) {}

  /** Queues a notification for every live subscription the change matches. */
  publish(change: ResourceChange): void {
    const changeType = heardAs(change);
    for (const sub of this.store.list()) {
      if (!sub.changeType.split(",").includes(changeType)) continue;
      if (!matches(sub, change, this.options.resolve)) continue;
      this.pending.push({
        subscriptionId: sub.id,
        url: sub.notificationUrl,
        item: notificationItem(sub, change, changeType, this.options.rich),
        queuedAt: this.options.now(),
      });
    }
  }

  /** Items waiting for delivery (including ones whose POST failed). */
  get queued(): number {
    return this.pending.length;
  }

  /** Drops a removed subscription's queued items. */
  forget(subscriptionId: string): void {
    this.pending = this.pending.filter((p) => p.subscriptionId !== subscriptionId);
  }

  clear(): void {
    this.pending = [];
    this.backoff.clear();
    this.deliveries.length = 0;
  }

  /**
   * Delivers everything queued now; flushes run one after another, never two at once. `dueOnly` (auto delivery)
   * leaves alone a URL that failed recently: it waits 1 s after the first failure, doubling up to 60 s, so a
   * receiver that is down is not hammered every tick (Graph's own redelivery schedule is not documented).
   */
  flush(options: { dueOnly?: boolean } = {}): Promise<DeliveryLogEntry[]> {
    const next = this.flushing.then(() => this.deliverPending(options.dueOnly === true));
    this.flushing = next.catch(() => []);
    return next;
  }

  private async deliverPending(dueOnly: boolean): Promise<DeliveryLogEntry[]> {
    // Expired or deleted subscriptions deliver nothing, even what was queued before they ended.
    const live = new Map(this.store.list().map((s) => [s.id, s]));
    const now = this.options.now();
    const batch = this.pending.filter((p) => live.has(p.subscriptionId) && now - p.queuedAt <= REDELIVERY_WINDOW_MS);
    this.pending = [];
    const byUrl = new Map<string, Pending[]>();
    for (const p of batch) byUrl.set(p.url, [...(byUrl.get(p.url) ?? []), p]);
    const waiting = (url: string): boolean => dueOnly && (this.backoff.get(url)?.until ?? 0) > Date.now();
    for (const [url, items] of byUrl) if (waiting(url)) this.pending.push(...items);
    const entries = await Promise.all(
      [...byUrl.entries()].filter(([url]) => !waiting(url)).map(async ([url, items]) => {
        const body: DeliveryLogEntry["body"] = { value: items.map((p) => p.item) };
        const rich = this.options.rich;
        const richSubs = [...new Set(items.map((p) => p.subscriptionId))].map((id) => live.get(id)).filter((s) => s?.includeResourceData);
        // One validation token per app and tenant in the POST (DC change-notifications-with-resource-data.md).
        if (rich && richSubs.length > 0) {
          const oneSubPerApp = [...new Map(richSubs.map((s) => [s?.applicationId, s])).values()];
          body.validationTokens = await Promise.all(oneSubPerApp.map((s) => rich.validationToken(s as EmulatedSubscription)));
        }
        const entry = await this.post("notification", url, body);
        if (entry.delivered) {
          this.backoff.delete(url);
        } else {
          // Back in front of anything queued meanwhile, so redelivery keeps the order of the changes.
          this.pending = [...items, ...this.pending];
          const failures = (this.backoff.get(url)?.failures ?? 0) + 1;
          this.backoff.set(url, { failures, until: Date.now() + Math.min(1000 * 2 ** (failures - 1), 60_000) });
        }
        return entry;
      }),
    );
    return entries;
  }

  /** A lifecycle notification to the subscription's lifecycleNotificationUrl (reference §5.4). */
  async lifecycle(sub: EmulatedSubscription, event: LifecycleEvent): Promise<DeliveryLogEntry> {
    if (sub.lifecycleNotificationUrl === null) {
      throw new Error(`subscription ${sub.id} has no lifecycleNotificationUrl: Graph sends it no lifecycle events`);
    }
    const item: Entity = {
      subscriptionId: sub.id,
      subscriptionExpirationDateTime: sub.expirationDateTime,
      tenantId: TENANT_ID,
      clientState: sub.clientState,
      lifecycleEvent: event,
    };
    return this.post("lifecycle", sub.lifecycleNotificationUrl, { value: [item] });
  }

  private async post(kind: DeliveryLogEntry["kind"], url: string, body: DeliveryLogEntry["body"]): Promise<DeliveryLogEntry> {
    const started = performance.now();
    const entry: DeliveryLogEntry = { kind, url, body, notifications: body.value.length, delivered: false, ms: 0 };
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json; charset=utf-8" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.deliveryTimeoutMs),
        redirect: "manual",
      });
      await res.arrayBuffer();
      entry.status = res.status;
      // "2xx within 3 seconds" counts (reference §0 and §5.3); 5xx asks for redelivery.
      entry.delivered = res.status >= 200 && res.status <= 299;
      if (!entry.delivered) entry.error = `answered ${res.status}`;
    } catch (error) {
      entry.error = failureReason(error);
    }
    entry.ms = Math.round(performance.now() - started);
    this.deliveries.push(entry);
    return entry;
  }
}

export interface NotificationOptions {
  /**
   * Deliver queued notifications by themselves every this many ms; default false (tests call
   * flushNotifications()). The CLI and the runner pass about 100 ms.
   */
  autoDeliverMs?: number | false;
  /** Budget of each validation POST; default 10,000 ms, Graph's (DC …notificationurl-validation.md). */
  validationTimeoutMs?: number;
  /** Budget of each delivery POST; default 3,000 ms, Graph's (reference §5.3). */
  deliveryTimeoutMs?: number;
}

/** The subscriptions, their delivery queue and the optional auto-delivery timer, as one unit for the server. */
export class ChangeNotifications {
  readonly store: SubscriptionStore;
  readonly hub: NotificationHub;
  private timer?: NodeJS.Timeout;

  constructor(
    now: () => number,
    options: NotificationOptions,
    resolve: TenantResolver,
    rich?: RichNotifications,
  ) {
    this.store = new SubscriptionStore({
      now,
      validationTimeoutMs: options.validationTimeoutMs ?? 10_000,
      onRemoved: (id) => this.hub.forget(id),
    });
    this.hub = new NotificationHub(this.store, { deliveryTimeoutMs: options.deliveryTimeoutMs ?? 3_000, now, resolve, rich: rich ?? graphRichNotifications(now) });
    const every = options.autoDeliverMs ?? false;
    if (every !== false) {
      this.timer = setInterval(() => {
        if (this.hub.queued > 0) void this.hub.flush({ dueOnly: true });
      }, every);
      this.timer.unref();
    }
  }

  /** A lifecycle event for a live subscription; `subscriptionRemoved` also ends it, as Graph does (reference §5.4). */
  async sendLifecycleEvent(subscriptionId: string, event: LifecycleEvent): Promise<DeliveryLogEntry> {
    const sub = this.store.get(subscriptionId);
    if (!sub) throw new Error(`no live subscription ${subscriptionId}`);
    if (event === "subscriptionRemoved") this.store.remove(sub.id);
    return this.hub.lifecycle(sub, event);
  }

  reset(): void {
    this.store.clear();
    this.hub.clear();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
