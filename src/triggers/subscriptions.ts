/**
 * The one Graph subscription a Change Notifications flow owns: created, found again, renewed and removed
 * through the connector's Graph client (DC subscription-post-subscriptions.md, change-notifications-lifecycle-events.md).
 * Its state (id, client state secret, expiry) lives in crossFlowState under the flow's stable id, because
 * webhook lifecycle handlers do not see flow-scoped state (Prismatic lifecycle docs).
 */
import { randomBytes } from "node:crypto";
import type { ActionLogger } from "@prismatic-io/spectral";
import type { GraphClient } from "../client";
import { clock } from "../client/clock";
import { prepareDataBody } from "../client/body";
import { GraphRequestError, InputError } from "../client/errors";
import { iteratePages } from "../client/paging";
import type { ChangeType, EncryptionKeyPair } from "./changeNotificationsInputs";
import { chooseLifetimeMinutes, supportedChangeTypes } from "./subscriptionLifetimes";

export interface SubscriptionState {
  subscriptionId: string;
  /** The secret Graph echoes in every notification; never logged, never handed to the flow. */
  clientState: string;
  expirationDateTime: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  includeResourceData: boolean;
  /** The app Graph says made the subscription: the audience of rich notifications' validation tokens. */
  applicationId?: string;
}

/** What the subscription should be, from the trigger's inputs and the flow's webhook URL. */
export interface SubscriptionPlan {
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifetimeMinutes: number;
  includeResourceData: boolean;
  encryption?: EncryptionKeyPair;
  encryptionCertificateId: string;
}

export interface TriggerSettings {
  resource: string;
  changeTypes: ChangeType[];
  expirationMinutes?: number;
  selectProperties?: string;
  includeResourceData: boolean;
  encryptionCertificate?: EncryptionKeyPair;
  encryptionCertificateId: string;
}

interface FlowContext {
  flow: { name: string; stableId: string };
  webhookUrls: Record<string, string>;
  crossFlowState: Record<string, unknown>;
}

interface GraphSubscription {
  id: string;
  resource?: string;
  changeType?: string;
  notificationUrl?: string;
  clientState?: string | null;
  expirationDateTime?: string;
  includeResourceData?: boolean | null;
  applicationId?: string;
}

export const STATE_KEY_PREFIX = "msGraphSubscription:";

/** Graph documents clientState as at most 128 characters; 32 random bytes are 43 in base64url. */
const CLIENT_STATE_BYTES = 32;
/** Graph refuses an expiry past its maximum by its own clock; a minute's margin absorbs clock skew. */
const SKEW_MARGIN_MS = 60_000;

export function stateKey(context: Pick<FlowContext, "flow">): string {
  return `${STATE_KEY_PREFIX}${context.flow.stableId}`;
}

export function readState(context: FlowContext): SubscriptionState | undefined {
  const state = context.crossFlowState?.[stateKey(context)] as SubscriptionState | null | undefined;
  return state && typeof state.subscriptionId === "string" && typeof state.clientState === "string" ? state : undefined;
}

/** The crossFlowState to return: every other flow's entries kept, ours set (or cleared with null). */
export function stateWith(context: FlowContext, state: SubscriptionState | null): Record<string, unknown> {
  return { ...context.crossFlowState, [stateKey(context)]: state };
}

export function flowWebhookUrl(context: FlowContext): string {
  const url = context.webhookUrls?.[context.flow.name];
  if (!url) {
    throw new Error(
      `Change Notifications: the flow '${context.flow.name}' has no webhook URL in this instance, so Graph has nowhere to send notifications. Deploy the instance (or enter listening mode) so the platform assigns one.`,
    );
  }
  return url;
}

export function planSubscription(context: FlowContext & { logger?: ActionLogger }, settings: TriggerSettings): SubscriptionPlan {
  const resource =
    settings.includeResourceData && settings.selectProperties && !/[?&]\$select=/i.test(settings.resource)
      ? `${settings.resource}${settings.resource.includes("?") ? "&" : "?"}$select=${settings.selectProperties}`
      : settings.resource;
  const lifetime = chooseLifetimeMinutes(settings.resource, settings.expirationMinutes, settings.includeResourceData);
  if (typeof lifetime === "string") throw new InputError("Expiration (minutes)", lifetime);
  if (settings.includeResourceData && !settings.encryptionCertificate) {
    throw new InputError(
      "Encryption Certificate and Private Key (PEM)",
      "is required with Include Resource Data: Graph encrypts each notification's data with this certificate",
    );
  }
  const supported = supportedChangeTypes(settings.resource);
  const changeTypes = settings.changeTypes.filter((t) => supported.includes(t));
  if (changeTypes.length === 0) {
    throw new InputError("Change Types", `'${settings.resource}' supports only ${supported.join(", ")}; choose one of them`);
  }
  const unsupported = settings.changeTypes.filter((t) => !supported.includes(t));
  if (unsupported.length > 0) {
    context.logger?.info(`Change Notifications: '${settings.resource}' supports only ${supported.join(", ")}; not asking Graph for ${unsupported.join(", ")}`);
  }
  return {
    resource,
    changeType: changeTypes.join(","),
    notificationUrl: flowWebhookUrl(context),
    lifetimeMinutes: lifetime,
    includeResourceData: settings.includeResourceData,
    encryption: settings.encryptionCertificate,
    encryptionCertificateId: settings.encryptionCertificateId,
  };
}

function expiryFor(plan: SubscriptionPlan): string {
  return new Date(clock.now() + plan.lifetimeMinutes * 60_000 - SKEW_MARGIN_MS).toISOString();
}

function newClientState(): string {
  return randomBytes(CLIENT_STATE_BYTES).toString("base64url");
}

function isNotFound(error: unknown): boolean {
  return error instanceof GraphRequestError && error.status === 404;
}

const sameResource = (a: string | undefined, b: string) => (a ?? "").replace(/^\/+/, "").toLowerCase() === b.toLowerCase();
const sameChangeTypes = (a: string | undefined, b: string) =>
  (a ?? "").split(",").map((s) => s.trim()).sort().join(",") === b.split(",").sort().join(",");

function fitsPlan(s: GraphSubscription, plan: SubscriptionPlan): boolean {
  return (
    sameResource(s.resource, plan.resource) &&
    sameChangeTypes(s.changeType, plan.changeType) &&
    Boolean(s.includeResourceData) === plan.includeResourceData
  );
}

function toState(s: GraphSubscription, clientState: string, plan: SubscriptionPlan): SubscriptionState {
  return {
    subscriptionId: s.id,
    clientState,
    expirationDateTime: s.expirationDateTime ?? expiryFor(plan),
    resource: plan.resource,
    changeType: plan.changeType,
    notificationUrl: plan.notificationUrl,
    includeResourceData: plan.includeResourceData,
    applicationId: s.applicationId,
  };
}

export class SubscriptionManager {
  constructor(
    private readonly client: GraphClient,
    private readonly logger: ActionLogger,
  ) {}

  async get(id: string): Promise<GraphSubscription | undefined> {
    try {
      return (await this.client.request({ method: "GET", url: `/subscriptions/${encodeURIComponent(id)}` })).data as GraphSubscription;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Every subscription this app (and user) has, all pages: Graph pages GET /subscriptions like any collection. */
  async list(): Promise<GraphSubscription[]> {
    const all: GraphSubscription[] = [];
    for await (const page of iteratePages(this.client, { url: "/subscriptions" })) all.push(...(page.value as GraphSubscription[]));
    return all;
  }

  /** Extends the subscription to the plan's lifetime; undefined when Graph no longer has it. */
  async renew(id: string, plan: SubscriptionPlan): Promise<GraphSubscription | undefined> {
    try {
      const response = await this.client.request({
        method: "PATCH",
        url: `/subscriptions/${encodeURIComponent(id)}`,
        body: prepareDataBody({ expirationDateTime: expiryFor(plan) }),
      });
      return response.data as GraphSubscription;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Removes a subscription; one Graph no longer has counts as removed. */
  async remove(id: string): Promise<void> {
    try {
      await this.client.request({ method: "DELETE", url: `/subscriptions/${encodeURIComponent(id)}` });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** POST /subscriptions: Graph validates both URLs against the flow before it answers 201. */
  async create(plan: SubscriptionPlan): Promise<SubscriptionState> {
    const clientState = newClientState();
    const body: Record<string, unknown> = {
      changeType: plan.changeType,
      notificationUrl: plan.notificationUrl,
      // The same URL: lifecycle events then reach this trigger too, and Graph can only set it at creation.
      lifecycleNotificationUrl: plan.notificationUrl,
      resource: plan.resource,
      expirationDateTime: expiryFor(plan),
      clientState,
    };
    if (plan.includeResourceData && plan.encryption) {
      body.includeResourceData = true;
      body.encryptionCertificate = plan.encryption.certificateBase64;
      body.encryptionCertificateId = plan.encryptionCertificateId;
    }
    const response = await this.client.request({ method: "POST", url: "/subscriptions", body: prepareDataBody(body) });
    const created = response.data as GraphSubscription;
    this.logger.info(`Change Notifications: created subscription ${created.id} on '${plan.resource}' until ${created.expirationDateTime}`);
    return toState(created, clientState, plan);
  }

  /**
   * Idempotent: renews the subscription the state names if Graph still has it as planned; else adopts one of
   * ours found by notificationUrl (when Graph returns its clientState); else creates one. Every other
   * subscription pointing at this flow's URL is deleted, so a flow never has two.
   */
  async ensure(plan: SubscriptionPlan, known: SubscriptionState | undefined): Promise<SubscriptionState> {
    let kept: SubscriptionState | undefined;
    if (known) {
      const current = await this.get(known.subscriptionId);
      if (current && current.notificationUrl === plan.notificationUrl && fitsPlan(current, plan)) {
        const renewed = await this.renew(known.subscriptionId, plan);
        if (renewed) kept = toState({ ...current, ...renewed }, known.clientState, plan);
      } else if (current) {
        // Still ours but no longer what the inputs ask for (another resource, change types or URL).
        await this.remove(known.subscriptionId);
      }
    }
    const ours = (await this.list()).filter((s) => s.notificationUrl === plan.notificationUrl && s.id !== kept?.subscriptionId);
    for (const candidate of ours) {
      if (!kept && fitsPlan(candidate, plan) && candidate.clientState) {
        const renewed = await this.renew(candidate.id, plan);
        if (renewed) {
          kept = toState({ ...candidate, ...renewed }, candidate.clientState, plan);
          this.logger.info(`Change Notifications: adopted subscription ${candidate.id} already pointing at this flow`);
          continue;
        }
      }
      // Ours (it points at this flow) but not reusable: a stale resource, other change types, or a secret we lost.
      await this.remove(candidate.id);
      this.logger.info(`Change Notifications: deleted subscription ${candidate.id} that pointed at this flow but could not be reused`);
    }
    return kept ?? (await this.create(plan));
  }

  /** Deletes the state's subscription and any other pointing at the flow's URL. */
  async removeAll(state: SubscriptionState | undefined, notificationUrl: string | undefined): Promise<string[]> {
    const removed: string[] = [];
    if (state) {
      await this.remove(state.subscriptionId);
      removed.push(state.subscriptionId);
    }
    if (notificationUrl) {
      for (const s of await this.list()) {
        if (s.notificationUrl === notificationUrl && !removed.includes(s.id)) {
          await this.remove(s.id);
          removed.push(s.id);
        }
      }
    }
    return removed;
  }
}
