/**
 * Graph collections page by `@odata.nextLink`: an absolute URL that already carries the query and an
 * opaque `$skiptoken`, so it is sent back verbatim, never rebuilt and never paged with `$skip`
 * (learn.microsoft.com/graph/paging). Request headers are not carried by the link: they are resent.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import type { GraphClient } from "./index";
import { GraphPagingError, GraphRequestError, InputError } from "./errors";

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

/**
 * Graph sends empty pages that still carry a nextLink, for example from directory delta queries and advanced
 * (ConsistencyLevel: eventual) filters, so a few in a row are normal. This many in a row is a chain that will not end:
 * it stops in seconds instead of running until the platform kills the step.
 */
export const MAX_EMPTY_PAGES_IN_A_ROW = 100;

/** The chain of links cannot go on: a link that repeats, or empty pages without end. */
export class PagingLoopError extends Error {
  constructor(
    message: string,
    /** True when a link repeated (as opposed to empty pages without end). */
    readonly repeated: boolean,
  ) {
    super(message);
    this.name = "PagingLoopError";
  }
}

/**
 * Yields each page as it arrives; each page request has its own retries, so a throttle on page 57 repeats page 57 only.
 * A chain that repeats a link, or keeps answering empty pages, stops with an error naming the link.
 */
export async function* iteratePages(client: GraphClient, first: PageQuery): AsyncGenerator<GraphPage> {
  let request: PageQuery = first;
  const followed = new Set<string>();
  let pagesRead = 0;
  let emptyInARow = 0;
  for (;;) {
    const response = await client.request({
      method: "GET",
      url: request.url,
      urlLabel: first.urlLabel,
      query: request.query,
      headers: request.headers,
    });
    const page = readPage(response.data, request.url, first.urlLabel ?? "URL");
    if (pagesRead === 0) followed.add(response.url);
    pagesRead++;
    emptyInARow = page.value.length === 0 && page.nextLink ? emptyInARow + 1 : 0;
    yield page;
    if (!page.nextLink) return;
    if (followed.has(page.nextLink)) {
      throw new PagingLoopError(
        `Graph answered page ${pagesRead} with an @odata.nextLink that was already read in this chain (${page.nextLink}); following it would loop without end`,
        true,
      );
    }
    if (emptyInARow >= MAX_EMPTY_PAGES_IN_A_ROW) {
      throw new PagingLoopError(
        `Graph answered ${emptyInARow} empty pages in a row (${pagesRead} pages read), each with another @odata.nextLink; stopping at ${page.nextLink} rather than following the chain without end`,
        false,
      );
    }
    followed.add(page.nextLink);
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
      const cause = error instanceof GraphPagingError ? error.cause : error;
      const location = cause instanceof GraphRequestError && cause.status === 410 ? cause.location : undefined;
      if (!location || !options.restartOnResync || resyncs >= MAX_RESYNCS) throw error;
      options.logger.warn(client.redact(`Microsoft Graph answered 410 Gone: the delta token expired; restarting the full sync from ${location}`));
      start = { url: location, urlLabel: first.urlLabel, headers: first.headers };
    }
  }
}

async function collectOnce(client: GraphClient, first: PageQuery, options: CollectOptions): Promise<CollectedPages> {
  const result: CollectedPages = { value: [], pageCount: 0 };
  let removed = 0;
  // The nextLink that reads the page being fetched now (none for the first page: the step's own URL).
  let reading: string | undefined;
  try {
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
      reading = page.nextLink;
    }
  } catch (error) {
    // A first page that fails is the step's own request failing: its error says all.
    if (result.pageCount === 0 || !(error instanceof Error)) throw error;
    // A link that repeats, or one refused before sending, is no place to go on from; after empty pages without end,
    // or a page that Graph failed to answer, the link of that page is.
    const resumeFrom = (error instanceof PagingLoopError && error.repeated) || error instanceof InputError ? undefined : reading;
    if (removed > 0 || result["@odata.deltaLink"]) result.removedCount = removed;
    const partial: CollectedPages = { ...result, ...(resumeFrom ? { "@odata.nextLink": resumeFrom } : {}) };
    throw new GraphPagingError(result.pageCount + 1, result.value.length, resumeFrom, partial, error);
  }
  if (removed > 0 || result["@odata.deltaLink"]) result.removedCount = removed;
  return result;
}
