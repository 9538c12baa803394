/**
 * Change Notifications: a webhook trigger that owns one Graph subscription for its flow's URL and turns what
 * Graph POSTs there into flow runs (DC change-notifications-delivery-webhooks.md, change-notifications-lifecycle-events.md).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { trigger, util } from "@prismatic-io/spectral";
import type { ActionContext, ActionLogger, TriggerPayload } from "@prismatic-io/spectral";
import type { GraphClient } from "../client";
import { normalizeBatchRequests, runBatch } from "../client/batch";
import { readGraphErrorBody } from "../client/errors";
import { readConnection } from "../client/credentials";
import { OpenedNotification, openRichNotifications, RichNotificationError } from "./richNotifications";
import { ClientParams, graphClientFor } from "../actions/clientOptions";
import { changeNotificationsInputs } from "./changeNotificationsInputs";
import {
  planSubscription,
  readState,
  stateWith,
  SubscriptionManager,
  SubscriptionState,
  TriggerSettings,
} from "./subscriptions";

export const BRANCHES = {
  notification: "Notification",
  lifecycle: "Lifecycle",
  resync: "Resync Required",
  validation: "URL Validation",
  renewal: "Renewal",
  ignored: "Ignored",
} as const;

/** One item of Graph's changeNotificationCollection (DC resources/changenotification.md). */
export interface ChangeNotification {
  id?: string;
  subscriptionId?: string;
  subscriptionExpirationDateTime?: string;
  clientState?: string;
  changeType?: string;
  resource?: string;
  tenantId?: string;
  resourceData?: Record<string, unknown>;
  encryptedContent?: Record<string, unknown>;
  lifecycleEvent?: "reauthorizationRequired" | "subscriptionRemoved" | "missed";
}

interface NotificationCollection {
  value: ChangeNotification[];
  validationTokens?: string[];
}

/** A notification as the flow receives it: no clientState, and the changed resource when it was fetched or decrypted. */
export type DeliveredNotification = Omit<ChangeNotification, "clientState" | "encryptedContent"> & {
  content?: unknown;
  contentSource?: "fetched" | "decrypted";
  fetchError?: { status: number; code?: string; message?: string };
};

export interface LifecycleOutcome {
  subscriptionId?: string;
  lifecycleEvent: string;
  action: "renewed" | "recreated" | "resync needed";
}

type Params = TriggerSettings & ClientParams & { fetchChangedResources: boolean };

const ACCEPTED = { statusCode: 202, contentType: "text/plain", body: "" };
const SCHEDULED_INVOKE = "scheduled";

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Equal-length digests, so neither the length nor a common prefix of the secret shows in the timing. */
function sameSecret(given: unknown, expectedDigest: Buffer): boolean {
  if (typeof given !== "string") return false;
  return timingSafeEqual(digest(given), expectedDigest);
}

function readCollection(payload: TriggerPayload): NotificationCollection | undefined {
  const candidates = [payload.body?.data, payload.rawBody?.data];
  for (const candidate of candidates) {
    let data = candidate;
    if (Buffer.isBuffer(data)) data = data.toString("utf8");
    if (typeof data === "string") {
      try {
        data = JSON.parse(data);
      } catch {
        continue;
      }
    }
    if (data && typeof data === "object" && Array.isArray((data as NotificationCollection).value)) return data as NotificationCollection;
  }
  return undefined;
}

/** The payload handed to the flow: the raw body carries the client state secret, so it is replaced. */
function flowPayload(payload: TriggerPayload, data: unknown): TriggerPayload {
  return { ...payload, rawBody: { data: null, contentType: payload.rawBody?.contentType }, body: { data, contentType: "application/json" } };
}

function settingsOf(params: Params): TriggerSettings {
  return {
    resource: params.resource,
    changeTypes: params.changeTypes,
    expirationMinutes: params.expirationMinutes,
    selectProperties: params.selectProperties,
    includeResourceData: params.includeResourceData,
    encryptionCertificate: params.encryptionCertificate,
    encryptionCertificateId: params.encryptionCertificateId,
  };
}

function publicView(state: SubscriptionState) {
  return { id: state.subscriptionId, resource: state.resource, changeType: state.changeType, expirationDateTime: state.expirationDateTime };
}

/** Splits Graph's items into ours and the rest; forged or foreign items are counted and logged, never passed on. */
export function acceptOwnNotifications(items: ChangeNotification[], state: SubscriptionState | undefined, logger: ActionLogger) {
  const accepted: ChangeNotification[] = [];
  let forged = 0;
  let unknownSubscription = 0;
  const expected = state ? digest(state.clientState) : undefined;
  for (const item of items) {
    if (!item || typeof item !== "object" || !state || item.subscriptionId !== state.subscriptionId) unknownSubscription++;
    else if (!sameSecret(item.clientState, expected!)) forged++;
    else accepted.push(item);
  }
  if (forged + unknownSubscription > 0) {
    // Counts and ids only: the expected secret, and whatever a forger sent, stay out of the log.
    logger.warn(
      `Change Notifications: dropped ${forged + unknownSubscription} of ${items.length} notifications: ${forged} with a client state that does not match this flow's subscription, ${unknownSubscription} for a subscription this flow does not own (current: ${state?.subscriptionId ?? "none"}).`,
    );
  }
  return { accepted, dropped: { forged, unknownSubscription } };
}

function withoutSecrets(item: ChangeNotification): DeliveredNotification {
  const { clientState: _secret, encryptedContent: _encrypted, ...rest } = item;
  return rest;
}

/** Reads the changed resources through JSON batching, 20 per $batch call, and attaches each to its notification. */
async function fetchChangedResources(client: GraphClient, items: DeliveredNotification[], params: Params, logger: ActionLogger): Promise<void> {
  const wanted = items
    .map((item, index) => ({ item, index, path: (item.resourceData?.["@odata.id"] as string | undefined) ?? item.resource }))
    .filter((w) => w.item.changeType !== "deleted" && w.item.content === undefined && typeof w.path === "string" && w.path);
  if (wanted.length === 0) return;
  const withSelect = (path: string) => (params.selectProperties ? `${path}${path.includes("?") ? "&" : "?"}$select=${params.selectProperties}` : path);
  const requests = wanted.map((w) => ({ id: String(w.index), method: "GET", url: withSelect(`/${w.path!.replace(/^\/+/, "")}`) }));
  const results = await runBatch(client, normalizeBatchRequests(requests, client, params.apiVersion), {
    chunkSize: 20,
    concurrency: 4,
    maxThrottleRetries: params.maxThrottleRetries,
    maxRetryAfterMs: params.maxRetryAfterSeconds * 1000,
    logger,
  });
  for (const result of results) {
    const item = items[Number(result.id)];
    if (result.status < 300) {
      item.content = result.body;
      item.contentSource = "fetched";
    } else {
      const { code, message } = readGraphErrorBody(result.body);
      item.fetchError = { status: result.status, code, message };
    }
  }
}

/**
 * Rich notifications (DC change-notifications-with-resource-data.md): the POST's validation tokens must all verify
 * before any item is trusted; then each item's data signature is checked and its resource decrypted. Items that fail
 * are dropped and counted; when the signing keys cannot be had, Graph is asked to deliver again later (5xx).
 */
async function readRichNotifications(
  items: ChangeNotification[],
  collection: NotificationCollection,
  params: Params,
  state: SubscriptionState,
  logger: ActionLogger,
): Promise<{ opened: DeliveredNotification[]; rejected: number; retryLater: boolean }> {
  const key = params.encryptionCertificate;
  if (!key) {
    logger.warn(`Change Notifications: dropped ${items.length} notifications with encrypted resource data: Encryption Certificate and Private Key (PEM) is empty`);
    return { opened: [], rejected: items.length, retryLater: false };
  }
  const clientId = (params.connection.fields as Record<string, unknown> | undefined)?.clientId;
  let opened: OpenedNotification[];
  try {
    opened = await openRichNotifications(
      { value: items, validationTokens: collection.validationTokens },
      {
        // The app Graph says made the subscription; the connection's client id when Graph did not say.
        audience: state.applicationId ?? String(clientId ?? "").trim(),
        cloud: readConnection(params.connection).cloud,
        privateKeyPem: key.privateKeyPem,
        encryptionCertificateId: params.encryptionCertificateId,
      },
    );
  } catch (error) {
    if (!(error instanceof RichNotificationError)) throw error;
    if (error.problem === "signingKeysUnavailable") {
      logger.warn(`Change Notifications: ${error.message}; asking Graph to deliver ${items.length} notifications again later`);
      return { opened: [], rejected: 0, retryLater: true };
    }
    logger.warn(`Change Notifications: dropped ${items.length} notifications with resource data: ${error.message}`);
    return { opened: [], rejected: items.length, retryLater: false };
  }
  const delivered: DeliveredNotification[] = [];
  let rejected = 0;
  for (const { notification, resource, error } of opened) {
    if (error || !resource) {
      rejected++;
      logger.warn(`Change Notifications: dropped notification ${String(notification.id ?? "(no id)")}: ${error?.message ?? "no resource data"}`);
    } else {
      delivered.push({ ...withoutSecrets(notification as ChangeNotification), content: resource, contentSource: "decrypted" });
    }
  }
  return { opened: delivered, rejected, retryLater: false };
}

async function renewOrRecreate(manager: SubscriptionManager, context: ActionContext, params: Params, state: SubscriptionState | undefined) {
  const plan = planSubscription(context, settingsOf(params));
  if (state) {
    const renewed = await manager.renew(state.subscriptionId, plan);
    if (renewed) {
      return { state: { ...state, expirationDateTime: renewed.expirationDateTime ?? state.expirationDateTime }, action: "renewed" as const };
    }
    context.logger.warn(`Change Notifications: Graph no longer has subscription ${state.subscriptionId}; creating a new one`);
  }
  return { state: await manager.ensure(plan, undefined), action: "recreated" as const };
}

async function handleLifecycleEvents(
  manager: SubscriptionManager,
  context: ActionContext,
  params: Params,
  events: ChangeNotification[],
  state: SubscriptionState,
): Promise<{ state: SubscriptionState; outcomes: LifecycleOutcome[] }> {
  let current = state;
  const outcomes: LifecycleOutcome[] = [];
  for (const event of events) {
    const name = String(event.lifecycleEvent);
    if (name === "reauthorizationRequired") {
      // A PATCH of the expiry both reauthorizes and extends (DC change-notifications-lifecycle-events.md).
      const result = await renewOrRecreate(manager, context, params, current);
      current = result.state;
      outcomes.push({ subscriptionId: event.subscriptionId, lifecycleEvent: name, action: result.action });
    } else if (name === "subscriptionRemoved") {
      // Graph removed it; notifications between removal and the new subscription are lost, so the flow must resync.
      const result = await renewOrRecreate(manager, context, params, undefined);
      current = result.state;
      outcomes.push({ subscriptionId: event.subscriptionId, lifecycleEvent: name, action: "recreated" });
    } else {
      // "missed": Graph could not deliver some notifications; only a resync (delta query) recovers them.
      outcomes.push({ subscriptionId: event.subscriptionId, lifecycleEvent: name, action: "resync needed" });
    }
  }
  return { state: current, outcomes };
}

export const changeNotifications = trigger({
  display: {
    label: "Change Notifications",
    description:
      "Run the flow when Microsoft Graph reports a change (mail, events, users, groups, files, Teams messages): manages its own Graph subscription, checks every notification's client state, and renews on a schedule",
  },
  inputs: changeNotificationsInputs,
  allowsBranching: true,
  staticBranchNames: Object.values(BRANCHES),
  scheduleSupport: "valid",
  synchronousResponseSupport: "invalid",
  webhookLifecycleHandlers: {
    create: async (context, params) => {
      const client = graphClientFor(context, params);
      const manager = new SubscriptionManager(client, context.logger);
      const plan = planSubscription(context, settingsOf(params as Params));
      const state = await manager.ensure(plan, readState(context));
      return { crossFlowState: stateWith(context, state) };
    },
    delete: async (context, params) => {
      const client = graphClientFor(context, params);
      const manager = new SubscriptionManager(client, context.logger);
      const removed = await manager.removeAll(readState(context), context.webhookUrls?.[context.flow.name]);
      context.logger.info(`Change Notifications: deleted ${removed.length} subscription(s) of this flow`);
      return { crossFlowState: stateWith(context, null) };
    },
  },
  perform: async (context, payload, rawParams) => {
    const params = rawParams as unknown as Params;
    // Graph's handshake (DC change-notifications-delivery-notificationurl-validation.md): echo the token
    // within 10 s, as text/plain, URL-decoded. The platform decodes query parameters; nothing else is done.
    const token = payload.queryParameters?.validationToken;
    if (typeof token === "string") {
      return {
        branch: BRANCHES.validation,
        payload: flowPayload(payload, { validationToken: true }),
        response: { statusCode: 200, contentType: "text/plain", body: token },
      };
    }

    const client = graphClientFor(context, params);
    const manager = new SubscriptionManager(client, context.logger);
    const state = readState(context);
    const headers = util.types.lowerCaseHeaders(payload.headers ?? {});
    if ((headers["prismatic-invoke-type"] ?? "").toLowerCase() === SCHEDULED_INVOKE) {
      const result = await renewOrRecreate(manager, context, params, state);
      context.logger.info(`Change Notifications: subscription ${result.state.subscriptionId} ${result.action} until ${result.state.expirationDateTime}`);
      return {
        branch: BRANCHES.renewal,
        payload: flowPayload(payload, { action: result.action, subscription: publicView(result.state) }),
        crossFlowState: stateWith(context, result.state),
      };
    }

    const collection = readCollection(payload);
    if (!collection) {
      context.logger.warn("Change Notifications: ignored a request that is not a Graph notification collection ({\"value\": [...]})");
      return {
        branch: BRANCHES.ignored,
        payload: flowPayload(payload, { notifications: [], reason: "not a change notification" }),
        response: { statusCode: 400, contentType: "text/plain", body: "Expected a Microsoft Graph change notification collection." },
      };
    }

    const { accepted, dropped: droppedItems } = acceptOwnNotifications(collection.value, state, context.logger);
    const dropped = { ...droppedItems, unverified: 0 };
    const lifecycle = accepted.filter((n) => n.lifecycleEvent);
    const changes = accepted.filter((n) => !n.lifecycleEvent);
    const encrypted = changes.filter((n) => n.encryptedContent !== undefined);
    const notifications = changes.filter((n) => n.encryptedContent === undefined).map(withoutSecrets);
    if (encrypted.length > 0 && state) {
      const rich = await readRichNotifications(encrypted, collection, params, state, context.logger);
      if (rich.retryLater) {
        return {
          branch: BRANCHES.ignored,
          payload: flowPayload(payload, { notifications: [], reason: "signing keys unavailable; Graph will deliver again" }),
          response: { statusCode: 503, contentType: "text/plain", body: "Signing keys unavailable; deliver again later." },
        };
      }
      notifications.push(...rich.opened);
      dropped.unverified = rich.rejected;
    }

    let current = state;
    let outcomes: LifecycleOutcome[] = [];
    if (lifecycle.length > 0 && state) {
      ({ state: current, outcomes } = await handleLifecycleEvents(manager, context, params, lifecycle, state));
    }
    if (notifications.length > 0 && params.fetchChangedResources) {
      await fetchChangedResources(client, notifications, params, context.logger);
    }

    const resync = outcomes.some((o) => o.lifecycleEvent === "missed" || o.lifecycleEvent === "subscriptionRemoved");
    const branch = resync
      ? BRANCHES.resync
      : notifications.length > 0
        ? BRANCHES.notification
        : outcomes.length > 0
          ? BRANCHES.lifecycle
          : BRANCHES.ignored;
    const data = {
      notifications,
      lifecycleEvents: outcomes,
      dropped,
      subscription: current ? publicView(current) : undefined,
    };
    return {
      branch,
      payload: flowPayload(payload, data),
      // 202: accepted for processing (DC change-notifications-delivery-webhooks.md); also for dropped items, so a
      // forger learns nothing and Graph does not redeliver what was never ours.
      response: ACCEPTED,
      ...(current !== state && current ? { crossFlowState: stateWith(context, current) } : {}),
    };
  },
  examplePayload: {
    branch: BRANCHES.notification,
    payload: {
      headers: { "content-type": "application/json; charset=utf-8" },
      queryParameters: {},
      rawBody: { data: null },
      body: {
        data: {
          notifications: [
            {
              id: "lsgTZMr9KwAAA",
              subscriptionId: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
              subscriptionExpirationDateTime: "2026-12-08T18:23:45.935Z",
              changeType: "created",
              resource: "Users/1e4a32ab-8b33-4b1f-a5f5-40e0f0f8c4a3/Messages/AAMkAGUAAA=",
              tenantId: "84bd8158-6d4d-4958-8b9f-9d6445542f95",
              resourceData: {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": "Users/1e4a32ab-8b33-4b1f-a5f5-40e0f0f8c4a3/Messages/AAMkAGUAAA=",
                "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
                id: "AAMkAGUAAA=",
              },
              content: { id: "AAMkAGUAAA=", subject: "Quarterly report", from: { emailAddress: { address: "adele@contoso.com" } } },
              contentSource: "fetched",
            },
          ],
          lifecycleEvents: [],
          dropped: { forged: 0, unknownSubscription: 0, unverified: 0 },
          subscription: {
            id: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            resource: "me/mailFolders('Inbox')/messages",
            changeType: "created,updated,deleted",
            expirationDateTime: "2026-12-08T18:23:45.935Z",
          },
        },
        contentType: "application/json",
      },
      pathFragment: "",
      webhookUrls: {},
      webhookApiKeys: {},
      invokeUrl: "https://hooks.prismatic.io/trigger/SW5zdGFuY2VGbG93Q29uZmlnOjE=",
      executionId: "SW5zdGFuY2VFeGVjdXRpb25SZXN1bHQ6MQ==",
      customer: { id: "customerId", name: "Customer 1", externalId: "1234" },
      instance: { id: "instanceId", name: "Instance 1" },
      user: { id: "userId", email: "user@example.com", name: "User 1", externalId: "1234" },
      integration: { id: "integrationId", name: "Integration 1", versionSequenceId: "1234", externalVersion: "1.0.0" },
      flow: { id: "flowId", name: "Flow 1", stableId: "flowStableId" },
      startedAt: "2026-12-01T12:00:00.000Z",
      globalDebug: false,
    },
    response: ACCEPTED,
  },
});
