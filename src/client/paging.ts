/**
 * Graph collections page by `@odata.nextLink`: an absolute URL that already carries the query and an
 * opaque `$skiptoken`, so it is sent back verbatim, never rebuilt and never paged with `$skip`
 * (learn.microsoft.com/graph/paging). Request headers are not carried by the link: they are resent.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import type { GraphClient } from "./index";
import { GraphRequestError, InputError } from "./errors";

export interface PageQuery {
  url: string;
  /** The input that gave the URL, named in errors (default "URL"). */
  urlLabel?: string;
  query?: ReadonlyArray<readonly [string, string]>;
  headers?: ReadonlyArray<readonly [string, string]>;
}

export interface GraphPage {
  value: unknown[];
  nextLink?: string;
  deltaLink?: string;
  count?: number;
  context?: string;
}

/** Yields each page as it arrives; each page request has its own retries, so a throttle on page 57 repeats page 57 only. */
export async function* iteratePages(client: GraphClient, first: PageQuery): AsyncGenerator<GraphPage> {
  let request: PageQuery = first;
  for (;;) {
    const response = await client.request({
      method: "GET",
      url: request.url,
      urlLabel: first.urlLabel,
      query: request.query,
      headers: request.headers,
    });
    const page = readPage(response.data, request.url, first.urlLabel ?? "URL");
    yield page;
    if (!page.nextLink) return;
    // ConsistencyLevel, Prefer and the like are not in the nextLink: send the same headers again.
    request = { url: page.nextLink, headers: first.headers };
  }
}

function readPage(body: unknown, url: string, label: string): GraphPage {
  if (!body || typeof body !== "object" || !Array.isArray((body as { value?: unknown }).value)) {
    throw new InputError(
      label,
      `'${url}' did not answer with a Graph collection (an object with a "value" list); use Raw Request for single resources`,
    );
  }
  const b = body as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  return {
    value: b.value as unknown[],
    nextLink: str(b["@odata.nextLink"]),
    deltaLink: str(b["@odata.deltaLink"]),
    count: typeof b["@odata.count"] === "number" ? (b["@odata.count"] as number) : undefined,
    context: str(b["@odata.context"]),
  };
}

export interface CollectOptions {
  maxPages?: number;
  maxItems?: number;
  /** On 410 Gone (delta token expired), start the full sync again from Graph's Location. */
  restartOnResync?: boolean;
  logger: ActionLogger;
}

export interface CollectedPages {
  value: unknown[];
  pageCount: number;
  "@odata.count"?: number;
  "@odata.deltaLink"?: string;
  "@odata.nextLink"?: string;
  /** Items of a delta answer marked `@removed`. */
  removedCount?: number;
  /** Present only when a cap stopped the read early. */
  stoppedBy?: "Max Pages" | "Max Items";
  /** True when a 410 made the read start over from Graph's Location. */
  resynced?: boolean;
}

const MAX_RESYNCS = 2;

/** Reads pages until the last (or a cap), appending items as they arrive. */
export async function collectPages(client: GraphClient, first: PageQuery, options: CollectOptions): Promise<CollectedPages> {
  let start = first;
  for (let resyncs = 0; ; resyncs++) {
    try {
      const result = await collectOnce(client, start, options);
      if (resyncs > 0) result.resynced = true;
      return result;
    } catch (error) {
      const location = error instanceof GraphRequestError && error.status === 410 ? error.location : undefined;
      if (!location || !options.restartOnResync || resyncs >= MAX_RESYNCS) throw error;
      options.logger.warn(`Microsoft Graph answered 410 Gone: the delta token expired; restarting the full sync from ${location}`);
      start = { url: location, urlLabel: first.urlLabel, headers: first.headers };
    }
  }
}

async function collectOnce(client: GraphClient, first: PageQuery, options: CollectOptions): Promise<CollectedPages> {
  const result: CollectedPages = { value: [], pageCount: 0 };
  let removed = 0;
  for await (const page of iteratePages(client, first)) {
    result.pageCount++;
    for (const item of page.value) {
      result.value.push(item);
      if (item && typeof item === "object" && "@removed" in item) removed++;
    }
    // Graph sends @odata.count on the first page only.
    if (result.pageCount === 1 && page.count !== undefined) result["@odata.count"] = page.count;
    if (page.deltaLink) result["@odata.deltaLink"] = page.deltaLink;
    if (!page.nextLink) break;
    const cap =
      options.maxPages && result.pageCount >= options.maxPages
        ? "Max Pages"
        : options.maxItems && result.value.length >= options.maxItems
          ? "Max Items"
          : undefined;
    if (cap) {
      result["@odata.nextLink"] = page.nextLink;
      result.stoppedBy = cap;
      options.logger.warn(
        `Fetch All Pages stopped at ${cap} after ${result.pageCount} pages and ${result.value.length} items; more remain. ` +
          "The output's @odata.nextLink continues from here.",
      );
      break;
    }
  }
  if (removed > 0 || result["@odata.deltaLink"]) result.removedCount = removed;
  return result;
}
