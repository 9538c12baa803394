/**
 * Picklists for the configuration wizard, read with the same paging iterator as Fetch All Pages.
 * Labels are what a person recognises (name and address); keys are Graph ids.
 */
import { dataSource, input } from "@prismatic-io/spectral";
import type { ActionLogger, Connection } from "@prismatic-io/spectral";
import { createGraphClient } from "./client";
import { InputError } from "./client/errors";
import { collectPages } from "./client/paging";
import { connectionInput } from "./inputs";

/** A picklist bigger than this is no use to a person choosing from it. */
const PICKLIST_LIMIT = 5_000;
/**
 * A person is waiting in the configuration wizard: each page gets 30 s, not the 5 minutes a download may need.
 * Mutable only as a test seam (like clock.ts), so a test proves the bound without waiting 30 s.
 */
export const picklistBounds = { timeoutMs: 30_000 };
/** A page of 999 users with a few fields is well under 1 MB; 20 MB leaves room for wide objects. */
const PICKLIST_MAX_RESPONSE_BYTES = 20 * 1024 * 1024;

interface Element {
  key: string;
  label: string;
}

async function listElements(
  connection: Connection,
  logger: ActionLogger,
  path: string,
  select: string[],
  toElement: (item: Record<string, unknown>) => Element | undefined,
): Promise<Element[]> {
  const client = createGraphClient(connection, {
    apiVersion: "v1.0",
    timeoutMs: picklistBounds.timeoutMs,
    maxResponseBytes: PICKLIST_MAX_RESPONSE_BYTES,
    debug: false,
    logger,
    retry: { maxThrottleRetries: 5, maxRetryAfterMs: 60_000, maxErrorRetries: 2, retryAllErrors: false, retryDelayMs: 500, useExponentialBackoff: true },
  });
  const query: Array<[string, string]> = select.length ? [["$select", select.join(",")]] : [];
  const { value } = await collectPages(client, { url: path, urlLabel: "Collection Path", query }, { maxItems: PICKLIST_LIMIT, logger });
  return value
    .map((item) => (item && typeof item === "object" ? toElement(item as Record<string, unknown>) : undefined))
    .filter((e): e is Element => !!e)
    .sort((a, b) => a.label.localeCompare(b.label));
}

const text = (v: unknown) => (typeof v === "string" && v ? v : undefined);

export const selectUser = dataSource({
  display: { label: "Select User", description: "Pick a user of the tenant" },
  dataSourceType: "picklist",
  inputs: { connection: connectionInput },
  perform: async (context, params) => ({
    result: await listElements(params.connection, context.logger, "/users", ["id", "displayName", "userPrincipalName"], (u) =>
      text(u.id) ? { key: u.id as string, label: `${text(u.displayName) ?? u.id} (${text(u.userPrincipalName) ?? "no sign-in name"})` } : undefined,
    ),
  }),
  examplePayload: { result: [{ key: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", label: "Adele Vance (AdeleV@contoso.com)" }] },
});

export const selectGroup = dataSource({
  display: { label: "Select Group", description: "Pick a group of the tenant" },
  dataSourceType: "picklist",
  inputs: { connection: connectionInput },
  perform: async (context, params) => ({
    result: await listElements(params.connection, context.logger, "/groups", ["id", "displayName", "mail"], (g) =>
      text(g.id) ? { key: g.id as string, label: text(g.mail) ? `${text(g.displayName) ?? g.id} (${g.mail})` : (text(g.displayName) ?? (g.id as string)) } : undefined,
    ),
  }),
  examplePayload: { result: [{ key: "02bd9fd6-8f93-4758-87c3-1fb73740a315", label: "HR Taskforce (HRTaskforce@contoso.com)" }] },
});

export const selectTeam = dataSource({
  display: { label: "Select Team", description: "Pick a Microsoft Teams team" },
  dataSourceType: "picklist",
  inputs: { connection: connectionInput },
  perform: async (context, params) => ({
    result: await listElements(params.connection, context.logger, "/teams", ["id", "displayName"], (t) =>
      text(t.id) ? { key: t.id as string, label: text(t.displayName) ?? (t.id as string) } : undefined,
    ),
  }),
  examplePayload: { result: [{ key: "172b0cce-e65d-44ce-9a49-91d9f2e8493a", label: "Contoso Team" }] },
});

const teamInput = input({
  label: "Team",
  type: "string",
  required: true,
  dataSource: "selectTeam",
  comments: "The id of the team whose channels to list.",
  clean: (value: unknown): string => {
    const id = typeof value === "string" ? value.trim() : "";
    if (!id) throw new InputError("Team", "is required: choose a team");
    if (!/^[A-Za-z0-9-]+$/.test(id)) throw new InputError("Team", `'${String(value)}' is not a team id`);
    return id;
  },
});

export const selectChannel = dataSource({
  display: { label: "Select Channel", description: "Pick a channel of a Microsoft Teams team" },
  dataSourceType: "picklist",
  inputs: { connection: connectionInput, team: teamInput },
  perform: async (context, params) => ({
    result: await listElements(params.connection, context.logger, `/teams/${params.team}/channels`, ["id", "displayName", "membershipType"], (c) =>
      text(c.id) ? { key: c.id as string, label: `${text(c.displayName) ?? c.id}${c.membershipType && c.membershipType !== "standard" ? ` (${String(c.membershipType)})` : ""}` } : undefined,
    ),
  }),
  examplePayload: { result: [{ key: "19:09fc54a3141a45d0bc769cf506d2e079@thread.skype", label: "General" }] },
});

const fieldInput = (label: string, fallback: string, comments: string) =>
  input({
    label,
    type: "string",
    default: fallback,
    required: false,
    comments,
    clean: (value: unknown): string => {
      const field = typeof value === "string" && value.trim() ? value.trim() : fallback;
      if (!/^[A-Za-z0-9_@.]+$/.test(field)) throw new InputError(label, `'${field}' is not a property name`);
      return field;
    },
  });

export const selectFromCollection = dataSource({
  display: {
    label: "Select From Any Collection",
    description: "Pick an item of any Graph collection, with the label and key fields you choose",
  },
  dataSourceType: "picklist",
  inputs: {
    connection: connectionInput,
    path: input({
      label: "Collection Path",
      type: "string",
      required: true,
      comments: "A Graph collection path, such as /me/mailFolders, /sites/{site-id}/lists or /groups/{id}/members.",
      example: "/me/mailFolders",
      clean: (value: unknown) => (typeof value === "string" ? value.trim() : ""),
    }),
    labelField: fieldInput("Label Field", "displayName", "The property shown to the person choosing."),
    keyField: fieldInput("Key Field", "id", "The property passed on as the chosen value."),
  },
  perform: async (context, params) => ({
    result: await listElements(params.connection, context.logger, params.path, [params.keyField, params.labelField], (item) => {
      const key = item[params.keyField];
      if (key === undefined || key === null || key === "") return undefined;
      const label = item[params.labelField];
      return { key: String(key), label: label === undefined || label === null || label === "" ? String(key) : String(label) };
    }),
  }),
  examplePayload: { result: [{ key: "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAA=", label: "Inbox" }] },
});

/** Resources people subscribe to most; the Resource input still takes any other path. */
const COMMON_SUBSCRIPTION_RESOURCES: Element[] = [
  { key: "me/mailFolders('Inbox')/messages", label: "My Inbox: messages" },
  { key: "me/messages", label: "All my messages" },
  { key: "me/events", label: "My calendar events" },
  { key: "me/contacts", label: "My contacts" },
  { key: "me/drive/root", label: "My OneDrive (any file)" },
  { key: "users", label: "Users of the tenant" },
  { key: "groups", label: "Groups of the tenant" },
  { key: "chats/getAllMessages", label: "Messages of all chats (app-only)" },
  { key: "teams/getAllMessages", label: "Messages of all channels (app-only)" },
];

export const selectSubscriptionResource = dataSource({
  display: {
    label: "Select Subscription Resource",
    description: "Pick a resource for Change Notifications: common ones, and each of the signed-in user's mail folders",
  },
  dataSourceType: "picklist",
  inputs: { connection: connectionInput },
  perform: async (context, params) => {
    let folders: Element[] = [];
    try {
      folders = await listElements(params.connection, context.logger, "/me/mailFolders", ["id", "displayName"], (f) =>
        text(f.id) ? { key: `me/mailFolders('${f.id as string}')/messages`, label: `Mail folder: ${text(f.displayName) ?? f.id}` } : undefined,
      );
    } catch (error) {
      // App-only connections have no /me, and a connection without mail permissions cannot list folders.
      context.logger.info(`Select Subscription Resource: no mail folders listed (${(error as Error).message.split("\n")[0]})`);
    }
    return { result: [...COMMON_SUBSCRIPTION_RESOURCES, ...folders] };
  },
  examplePayload: { result: [{ key: "me/mailFolders('Inbox')/messages", label: "My Inbox: messages" }] },
});

export const dataSources = { selectUser, selectGroup, selectTeam, selectChannel, selectFromCollection, selectSubscriptionResource };
