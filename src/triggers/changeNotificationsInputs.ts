/** Inputs of the Change Notifications trigger: what to subscribe to, and how the notifications reach the flow. */
import { X509Certificate } from "node:crypto";
import { input } from "@prismatic-io/spectral";
import { InputError } from "../client/errors";
import { parseCertificatePem } from "../client/certificate";
import { apiVersionInput, cleanBoolean, cleanWholeNumber, connectionInput, retryInputs } from "../inputs";

export const CHANGE_TYPES = ["created", "updated", "deleted"] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

export const subscriptionResourceInput = input({
  label: "Resource",
  type: "string",
  required: true,
  placeholder: "me/mailFolders('Inbox')/messages",
  example: "me/mailFolders('Inbox')/messages",
  dataSource: "selectSubscriptionResource",
  comments:
    "The Graph resource to watch, relative to the version root: me/mailFolders('Inbox')/messages, me/messages, users/{id}/events, users, groups, me/drive/root, sites/{site-id}/lists/{list-id}, teams/{team-id}/channels/{channel-id}/messages, chats/{chat-id}/messages, communications/presences?$filter=id in ('{user-id}').",
  clean: (value: unknown): string => {
    const text = String(value ?? "").trim();
    if (!text) throw new InputError("Resource", "is required: the Graph resource to watch, such as users or me/mailFolders('Inbox')/messages");
    if (/^[a-z][a-z0-9+.-]*:/i.test(text) || text.startsWith("//")) {
      throw new InputError("Resource", `'${text}' is a URL; Graph wants the resource path only, such as users or me/messages`);
    }
    if (/(^|\/)\.\.(\/|$)|[\\\r\n\0]/.test(text)) throw new InputError("Resource", `'${text}' is not a Graph resource path`);
    // Graph matches the resource as given, without a leading slash or version (DC subscription-post-subscriptions.md).
    return text.replace(/^\/+/, "").replace(/^(v1\.0|beta)\//i, "");
  },
});

export const changeTypesInput = input({
  label: "Change Types",
  type: "string",
  collection: "valuelist",
  required: true,
  default: ["created", "updated", "deleted"],
  model: CHANGE_TYPES.map((t) => ({ label: t, value: t })),
  comments:
    "The changes to be told about: created, updated, deleted (one or more). Some resources support fewer: users and groups only updated and deleted; drive root and lists only updated.",
  clean: (value: unknown): ChangeType[] => {
    const list = Array.isArray(value) ? value : String(value ?? "").split(",");
    const types = [...new Set(list.map((v) => String(v).trim().toLowerCase()).filter(Boolean))];
    if (types.length === 0) throw new InputError("Change Types", "choose at least one of created, updated, deleted");
    for (const t of types) {
      if (!(CHANGE_TYPES as readonly string[]).includes(t)) {
        throw new InputError("Change Types", `'${t}' is not one of ${CHANGE_TYPES.join(", ")}`);
      }
    }
    return CHANGE_TYPES.filter((t) => types.includes(t));
  },
});

export const expirationMinutesInput = input({
  label: "Expiration (minutes)",
  type: "string",
  required: false,
  example: "4320",
  comments:
    "How long each subscription (and each renewal) lasts. Empty means the longest Microsoft Graph allows for the resource: 10080 for mail, events and contacts (1440 with resource data), 41760 for users and groups, 42300 for drive items and lists, 4320 for Teams messages and chats, 60 for presence. A longer value is refused, naming the maximum.",
  clean: (value: unknown): number | undefined => {
    const n = cleanWholeNumber("Expiration (minutes)", value, 0);
    return n > 0 ? n : undefined;
  },
});

export const selectPropertiesInput = input({
  label: "Select Properties",
  type: "string",
  required: false,
  example: "id,subject,from,receivedDateTime",
  comments:
    "Comma-separated properties ($select) of the changed resource that the flow receives, for Fetch Changed Resources and for rich notifications of Outlook and Teams resources (Graph applies it to the subscription's resource). Empty means Graph's default properties.",
  clean: (value: unknown): string | undefined => {
    const text = String(value ?? "").trim();
    if (!text) return undefined;
    const names = text.split(",").map((s) => s.trim());
    const bad = names.find((n) => !/^[A-Za-z@][A-Za-z0-9_.@/]*$/.test(n));
    if (bad !== undefined) throw new InputError("Select Properties", `'${bad}' is not a property name; use names such as id,subject`);
    return names.join(",");
  },
});

export const includeResourceDataInput = input({
  label: "Include Resource Data",
  type: "boolean",
  default: "false",
  required: false,
  comments:
    "Rich notifications: Graph sends the changed resource itself, encrypted with the certificate below, so the flow needs no extra call. The component verifies Graph's validation tokens and the data's signature, then decrypts. Supported for Outlook messages, events and contacts, Teams messages, chats and channels, and a few others; Outlook subscriptions then last at most 1440 minutes.",
  clean: (value: unknown) => cleanBoolean("Include Resource Data", value),
});

const ENCRYPTION_LABEL = "Encryption Certificate and Private Key (PEM)";

export interface EncryptionKeyPair {
  /** Base64 DER, as Graph's encryptionCertificate wants it. */
  certificateBase64: string;
  privateKeyPem: string;
}

export const encryptionCertificateInput = input({
  label: ENCRYPTION_LABEL,
  type: "password",
  required: false,
  placeholder: "-----BEGIN CERTIFICATE-----",
  comments:
    "Needed with Include Resource Data: a PEM certificate followed by its unencrypted private key (-----BEGIN PRIVATE KEY-----). Graph encrypts each notification's data with the certificate; the component decrypts with the key. The key never leaves the component and is never logged. Make one with: openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 365 -subj \"/CN=graph-notifications\".",
  clean: (value: unknown): EncryptionKeyPair | undefined => {
    const text = String(value ?? "").trim();
    if (!text) return undefined;
    try {
      const parsed = parseCertificatePem(text);
      return { certificateBase64: new X509Certificate(parsed.certificatePem).raw.toString("base64"), privateKeyPem: parsed.privateKeyPem };
    } catch (error) {
      if (error instanceof InputError) throw new InputError(ENCRYPTION_LABEL, error.problem);
      throw error;
    }
  },
});

export const encryptionCertificateIdInput = input({
  label: "Encryption Certificate ID",
  type: "string",
  required: false,
  default: "graph-notifications",
  comments:
    "Your name for the certificate, sent to Graph with it and echoed in each notification, so a rotated certificate can be told apart. At most 128 characters.",
  clean: (value: unknown): string => {
    const text = String(value ?? "").trim() || "graph-notifications";
    if (text.length > 128) throw new InputError("Encryption Certificate ID", "is longer than 128 characters");
    return text;
  },
});

export const fetchChangedResourcesInput = input({
  label: "Fetch Changed Resources",
  type: "boolean",
  default: "false",
  required: false,
  comments:
    "For notifications without resource data: read each changed resource (Select Properties applies) and hand it to the flow with the notification, through JSON batching (one $batch call per 20 resources) instead of one GET each. Deleted resources are not read.",
  clean: (value: unknown) => cleanBoolean("Fetch Changed Resources", value),
});

export const changeNotificationsInputs = {
  connection: connectionInput,
  resource: subscriptionResourceInput,
  changeTypes: changeTypesInput,
  expirationMinutes: expirationMinutesInput,
  selectProperties: selectPropertiesInput,
  includeResourceData: includeResourceDataInput,
  encryptionCertificate: encryptionCertificateInput,
  encryptionCertificateId: encryptionCertificateIdInput,
  fetchChangedResources: fetchChangedResourcesInput,
  apiVersion: apiVersionInput,
  ...retryInputs,
};
