/**
 * Delta polling trigger: on each scheduled run, reads what changed in a Graph collection since the last
 * run through a delta query (learn.microsoft.com/graph/delta-query-overview). A round is the chain of
 * `@odata.nextLink` pages that ends in an `@odata.deltaLink`; the deltaLink is where the next round starts.
 */
import { input, pollingTrigger, type ActionLogger, type TriggerPayload } from "@prismatic-io/spectral";
import { graphClientFor } from "../actions/clientOptions";
import type { GraphClient } from "../client";
import { GraphRequestError, InputError } from "../client/errors";
import { iteratePages, type PageQuery } from "../client/paging";
import {
  apiVersionInput,
  cleanWholeNumber,
  connectionInput,
  pagedHeadersInput,
  queryParamsInput,
  retryInputs,
} from "../inputs";

const FULL_SYNC = "Full initial sync";
const FROM_NOW = "Changes from now on";
type FirstRun = "full" | "fromNow";

// Directory collections whose delta accepts `$deltatoken=latest` ("sync from now": a deltaLink and no data;
// DC concepts/delta-query-overview.md). Outlook, calendar and other deltas document no such token.
const DIRECTORY_DELTA = /^\/(users|groups|servicePrincipals|applications|administrativeUnits|directoryRoles|oauth2PermissionGrants|contacts|devices)\/(microsoft\.graph\.)?delta$/i;
// OneDrive and SharePoint use `token=latest` on driveItem delta (DC driveitem-delta.md).
const DRIVE_DELTA = /\/(drive|drives\/[^/]+)\/(root|items\/[^/]+)\/(microsoft\.graph\.)?delta(\(\))?$/i;
const DELTA_PATH = /\/(microsoft\.graph\.)?delta(\(\))?$/i;

/** A delta path such as /users/delta, with its query (calendarView delta needs its window there). */
export function cleanDeltaResource(value: unknown): string {
  const raw = typeof value === "string" ? value.trim() : "";
  if (!raw) throw new InputError("Resource", "is required: enter a delta path such as /users/delta or /me/mailFolders('Inbox')/messages/delta");
  if (/^[a-z][a-z0-9+.-]*:/i.test(raw) || raw.startsWith("//")) {
    throw new InputError("Resource", `'${raw}' is a URL; enter the path only, such as /users/delta (the trigger keeps the delta links itself)`);
  }
  const resource = raw.startsWith("/") ? raw : `/${raw}`;
  const [path, query = ""] = resource.split("?", 2);
  if (!DELTA_PATH.test(path)) {
    throw new InputError(
      "Resource",
      `'${raw}' is not a delta query: the path must end in /delta, such as /users/delta, /groups/delta, /me/mailFolders('Inbox')/messages/delta or /me/drive/root/delta`,
    );
  }
  if (/\/calendarView\/(microsoft\.graph\.)?delta$/i.test(path) && !(/(^|&)startDateTime=/i.test(query) && /(^|&)endDateTime=/i.test(query))) {
    // calendarView delta needs its window in the first request (DC event-delta.md).
    throw new InputError("Resource", `'${raw}' needs startDateTime and endDateTime, such as /me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z`);
  }
  return resource;
}

/** The query that asks Graph for a deltaLink at the present moment, or undefined where Graph has none. */
export function latestTokenFor(resource: string): readonly [string, string] | undefined {
  const [path] = resource.split("?", 1);
  if (DIRECTORY_DELTA.test(path)) return ["$deltatoken", "latest"];
  if (DRIVE_DELTA.test(path)) return ["token", "latest"];
  return undefined;
}

export const deltaResourceInput = input({
  label: "Resource",
  placeholder: "/users/delta",
  type: "string",
  required: true,
  comments:
    "The delta query to poll, as a path (the base URL https://graph.microsoft.com/{version} is already included): /users/delta, /groups/delta, /me/mailFolders('Inbox')/messages/delta, /me/drive/root/delta, /me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z. The trigger stores the delta links between runs; changing Resource or Query Parameter starts over.",
  example: "/users/delta",
  clean: cleanDeltaResource,
});

export const firstRunInput = input({
  label: "First Run",
  type: "string",
  default: FULL_SYNC,
  required: false,
  model: [
    { label: FULL_SYNC, value: FULL_SYNC },
    { label: FROM_NOW, value: FROM_NOW },
  ],
  comments:
    "What the first run returns. Full initial sync: every item as it is now (in as many runs as it takes), then only changes. Changes from now on: nothing on the first run, then only changes; Graph offers this for directory objects (/users/delta, /groups/delta, ...) and OneDrive/SharePoint drive items only.",
  clean: (value: unknown): FirstRun => {
    const text = String(value ?? "").trim().toLowerCase();
    if (text === "" || text === FULL_SYNC.toLowerCase() || text === "full") return "full";
    if (text === FROM_NOW.toLowerCase() || text === "latest") return "fromNow";
    throw new InputError("First Run", `'${String(value)}' is not one of ${FULL_SYNC}, ${FROM_NOW}`);
  },
});

export const deltaQueryParamsInput = input({
  label: "Query Parameter",
  placeholder: "Query Parameter",
  type: "string",
  collection: "keyvaluelist",
  required: false,
  comments:
    "Query options for the first request of a sync, such as $select = id,displayName,mail. Graph keeps them inside its delta links, so later runs do not resend them. On users and groups only $select'ed properties are tracked for changes.",
  example: "$select: id,displayName,mail",
  clean: queryParamsInput.clean,
});

export const maxPagesPerExecutionInput = input({
  label: "Max Pages Per Execution",
  type: "string",
  default: "20",
  required: false,
  comments:
    "The most delta pages one execution reads and hands to the flow (memory stays bounded). When more remain, the next execution continues from the stored @odata.nextLink; the delta link is stored only once the last page of a round has been handed on.",
  clean: (value: unknown) => cleanWholeNumber("Max Pages Per Execution", value, 20, 1000, 1),
});

export const deltaChangesInputs = {
  connection: connectionInput,
  resource: deltaResourceInput,
  firstRun: firstRunInput,
  queryParams: deltaQueryParamsInput,
  headers: pagedHeadersInput,
  apiVersion: apiVersionInput,
  maxPagesPerExecution: maxPagesPerExecutionInput,
  ...retryInputs,
};

/** What the trigger keeps between runs (context.polling). */
export interface DeltaPollingState extends Record<string, unknown> {
  /** Which query the links belong to: a changed Resource or Query Parameter starts over. */
  query: string;
  /** Where the next round starts; stored only after the last page of a round was handed to the flow. */
  deltaLink?: string;
  /** While a round spans executions: the page to continue from. */
  nextLink?: string;
  /** The round in progress restarted after a 410 Gone. */
  resync?: boolean;
}

/** The cursor between executions of one run (Spectral's paginationState). */
export interface DeltaCursor extends Record<string, unknown> {
  nextLink: string;
  resync?: boolean;
}

export interface DeltaDeletion {
  id: string;
  /** `@removed.reason` ("changed": restorable for 30 days, "deleted": gone), or a driveItem's `deleted.state`. */
  reason: string;
  /** The item as Graph sent it. */
  item: Record<string, unknown>;
}

export interface DeltaChangesData {
  /** Created or updated items as Graph sent them (on a full sync: every item). */
  changes: unknown[];
  /** Items Graph reported as removed. */
  deletions: DeltaDeletion[];
  counts: { changes: number; deletions: number; pages: number };
  /** Graph answered 410 Gone: this round is a full sync from Graph's Location; reconcile rather than apply. */
  resync: boolean;
  /** True when this execution reached the round's deltaLink; false when the next execution continues it. */
  roundComplete: boolean;
  /** True on the first run in "Changes from now on" mode: a starting point was stored, nothing was read. */
  baseline: boolean;
}

/** One record per changed or removed item, for flows that batch executions. */
export interface DeltaChangeItem {
  change: "changed" | "deleted";
  id?: string;
  reason?: string;
  item: unknown;
  resync: boolean;
}

interface DeltaParams {
  resource: string;
  firstRun: FirstRun;
  queryParams: Array<[string, string]>;
  headers: Array<[string, string]>;
  apiVersion: string;
  maxPagesPerExecution: number;
}

const ROUND_INCOMPLETE =
  "Microsoft Graph ended the answer without an @odata.deltaLink, so this is not a delta query; check Resource";

/**
 * Reads at most Max Pages Per Execution pages of the current round. Returns the new polling state; the caller
 * stores it only after the pages were handed on, so a failed run leaves the old state and the next run repeats.
 */
export async function readDeltaRound(
  client: GraphClient,
  params: DeltaParams,
  saved: Partial<DeltaPollingState>,
  cursor: Partial<DeltaCursor> | undefined,
  logger: ActionLogger,
): Promise<{ data: DeltaChangesData; state: DeltaPollingState; next?: DeltaCursor }> {
  const query = JSON.stringify([params.apiVersion, params.resource, params.queryParams]);
  const headers = params.headers;
  const initial: PageQuery = { url: params.resource, urlLabel: "Resource", query: params.queryParams, headers };
  let start: PageQuery;
  let resync = false;
  let baseline = false;
  if (typeof cursor?.nextLink === "string") {
    start = { url: cursor.nextLink, urlLabel: "Resource", headers };
    resync = cursor.resync === true;
  } else if (saved.query === query && (saved.nextLink || saved.deltaLink)) {
    start = { url: (saved.nextLink ?? saved.deltaLink) as string, urlLabel: "Resource", headers };
    resync = Boolean(saved.nextLink && saved.resync);
  } else {
    if (saved.query !== undefined) logger.warn("Resource, Query Parameter or API Version changed since the last run: the delta sync starts over.");
    if (params.firstRun === "fromNow") {
      const latest = latestTokenFor(params.resource);
      if (!latest) {
        throw new InputError(
          "First Run",
          `Microsoft Graph offers "${FROM_NOW}" (a latest delta token) only for directory objects such as /users/delta or /groups/delta and for drive items (/me/drive/root/delta), not for '${params.resource}'; choose "${FULL_SYNC}"`,
        );
      }
      start = { ...initial, query: [...params.queryParams, latest] };
      baseline = true;
    } else {
      start = initial;
    }
  }

  const data: DeltaChangesData = { changes: [], deletions: [], counts: { changes: 0, deletions: 0, pages: 0 }, resync, roundComplete: false, baseline };
  for (;;) {
    try {
      for await (const page of iteratePages(client, start)) {
        data.counts.pages++;
        for (const item of page.value) addItem(data, item);
        if (page.deltaLink) {
          data.roundComplete = true;
          return { data, state: { query, deltaLink: page.deltaLink } };
        }
        if (page.nextLink && data.counts.pages >= params.maxPagesPerExecution) {
          const next: DeltaCursor = { nextLink: page.nextLink, ...(data.resync ? { resync: true } : {}) };
          logger.info(`Read ${data.counts.pages} delta pages; the next execution continues this round from its @odata.nextLink.`);
          return { data, state: { query, ...next }, next };
        }
      }
      throw new Error(`${ROUND_INCOMPLETE} ('${params.resource}').`);
    } catch (error) {
      // 410 Gone: the token expired or Graph needs a full resync; restart from Location (the initial query with
      // an empty token), which goes through the same Graph-origin check (DC concepts/delta-query-overview.md).
      if (!(error instanceof GraphRequestError) || error.status !== 410 || data.resync) throw error;
      data.resync = true;
      data.baseline = false;
      logger.warn(`Microsoft Graph answered 410 Gone (${error.code ?? "resync required"}): the delta sync starts over from ${error.location ?? params.resource}.`);
      start = error.location ? { url: error.location, urlLabel: "Resource", headers } : initial;
    }
  }
}

/** The deletion a delta item reports, or undefined for a created or updated item. */
export function deletionOf(item: unknown): DeltaDeletion | undefined {
  if (!item || typeof item !== "object") return undefined;
  const record = item as Record<string, unknown>;
  const removed = record["@removed"];
  // driveItem delta marks deletions with a `deleted` facet instead of @removed (DC driveitem-delta.md).
  const deleted = record.deleted;
  if (!(removed && typeof removed === "object") && !(deleted && typeof deleted === "object")) return undefined;
  const reason = removed && typeof removed === "object" ? (removed as { reason?: unknown }).reason : (deleted as { state?: unknown }).state;
  return { id: String(record.id ?? ""), reason: typeof reason === "string" && reason ? reason : "deleted", item: record };
}

function addItem(data: DeltaChangesData, item: unknown): void {
  const deletion = deletionOf(item);
  if (deletion) {
    data.deletions.push(deletion);
    data.counts.deletions++;
  } else {
    data.changes.push(item);
    data.counts.changes++;
  }
}

/** Each changed or removed item as its own record, for batched executions. */
export function changeItems(data: DeltaChangesData): DeltaChangeItem[] {
  return [
    ...data.changes.map((item) => ({
      change: "changed" as const,
      id: item && typeof item === "object" && typeof (item as { id?: unknown }).id === "string" ? (item as { id: string }).id : undefined,
      item,
      resync: data.resync,
    })),
    ...data.deletions.map(({ id, reason, item }) => ({ change: "deleted" as const, id, reason, item, resync: data.resync })),
  ];
}

function isDeltaData(value: unknown): value is DeltaChangesData {
  return Boolean(value && typeof value === "object" && Array.isArray((value as DeltaChangesData).changes));
}

export const deltaChangesExamplePayload = {
  payload: {
    body: {
      data: {
        changes: [{ id: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", displayName: "Adele Vance", mail: "AdeleV@contoso.com" }],
        deletions: [
          { id: "6e5c3f4c-4b1e-4f3a-9d4b-2f1a0c1b2d3e", reason: "changed", item: { id: "6e5c3f4c-4b1e-4f3a-9d4b-2f1a0c1b2d3e", "@removed": { reason: "changed" } } },
        ],
        counts: { changes: 1, deletions: 1, pages: 1 },
        resync: false,
        roundComplete: true,
        baseline: false,
      } as DeltaChangesData,
      contentType: "application/json",
    },
  } as unknown as TriggerPayload<DeltaCursor>,
  polledNoChanges: false,
};

export const deltaChanges = pollingTrigger({
  display: {
    label: "Delta Changes",
    description:
      "On a schedule, read what changed in a Microsoft Graph collection since the last run through a delta query: changed items, deletions, and a full resync when Graph asks for one",
  },
  inputs: deltaChangesInputs,
  allowsBranching: false,
  perform: async (context, payload: TriggerPayload<DeltaCursor>, params) => {
    const client = graphClientFor(context, params);
    const { paginationState: cursor, ...rest } = payload;
    const { data, state, next } = await readDeltaRound(
      client,
      {
        resource: params.resource,
        firstRun: params.firstRun,
        queryParams: params.queryParams,
        headers: params.headers,
        apiVersion: params.apiVersion,
        maxPagesPerExecution: params.maxPagesPerExecution,
      },
      context.polling.getState() as Partial<DeltaPollingState>,
      cursor ?? undefined,
      context.logger,
    );
    // Only now, with every page read and about to be handed to the flow: a run that failed above kept the old state.
    context.polling.setState(state);
    const noChanges = data.counts.changes + data.counts.deletions === 0 && data.roundComplete && !data.resync;
    return {
      payload: { ...rest, body: { data, contentType: "application/json" }, ...(next ? { paginationState: next } : {}) } as TriggerPayload<DeltaCursor>,
      polledNoChanges: noChanges,
    };
  },
  // Flows that batch get one record per item; a cursor runs the trigger again for the rest of the round.
  triggerResolverSupport: "valid",
  batchConfig: { batchSize: 100 },
  triggerResolver: {
    resolveItems: (_context, result) => (isDeltaData(result.payload.body.data) ? changeItems(result.payload.body.data) : []),
    getNextPaginationState: (_context, result) => {
      const cursor = result.payload.paginationState as Partial<DeltaCursor> | undefined;
      return typeof cursor?.nextLink === "string" ? cursor : null;
    },
  },
  examplePayload: deltaChangesExamplePayload,
});
