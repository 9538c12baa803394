import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";

import { GraphError, jsonReply, type Reply } from "./http";
import { contextUrl, parseQuery, parseSelect, readPage, type EntitySchema, type PageSource } from "./odata";
import type { Entity, UserDirectory } from "./tenant";

export type DeltaCollection = "users" | "groups";

/** What a delta state token carries; clients never see inside it (DC concepts/delta-query-overview.md, "State tokens"). */
interface DeltaState {
  c: DeltaCollection;
  /** Epoch at issue: expireDeltaTokens() moves the live epoch on, and older tokens answer 410. */
  e: number;
  /** "n": next page of the initial sync; "c": next page of a change round; "d": a deltaLink. */
  t: "n" | "c" | "d";
  /** Change sequence: the snapshot an initial sync started from, or the point a round reports changes after. */
  s: number;
  /** Last change of the round being paged (t = "c"). */
  u?: number;
  /** Position in the collection (t = "n") or index into the round's changes (t = "c"). */
  p?: number;
  /** $select of the initial request; absent for the default property set. */
  sel?: string[];
}

const MAGIC = Buffer.from("DLt1", "latin1");
const IV_BYTES = 16;

/**
 * Delta and delta-skip tokens, base64url like Graph's (DC concepts/delta-query-users.md samples) and opaque:
 * the state is encrypted with AES-256-CTR under a synthetic IV that is its HMAC (SIV), so a token can be
 * neither read nor forged, and one minted before expire() is still recognised as ours (→ 410, not 400).
 */
export class DeltaTokens {
  private epoch = 0;
  private readonly macKey: Buffer;
  private readonly encKey: Buffer;

  constructor(secret: Buffer) {
    this.macKey = createHmac("sha256", secret).update("delta-token-mac").digest();
    this.encKey = createHmac("sha256", secret).update("delta-token-enc").digest();
  }

  /** Every token issued so far stops working (410 Gone). */
  expire(): void {
    this.epoch++;
  }

  encode(state: Omit<DeltaState, "e">): string {
    const plain = Buffer.concat([MAGIC, Buffer.from(JSON.stringify({ ...state, e: this.epoch }), "utf8")]);
    const iv = this.mac(plain);
    const cipher = createCipheriv("aes-256-ctr", this.encKey, iv);
    return Buffer.concat([iv, cipher.update(plain), cipher.final()]).toString("base64url");
  }

  /** The state, with `expired` set when it predates the live epoch; throws 400 for anything we did not issue. */
  decode(token: string): DeltaState & { expired: boolean } {
    const raw = Buffer.from(token, "base64url");
    const iv = raw.subarray(0, IV_BYTES);
    let plain = Buffer.alloc(0);
    if (raw.length > IV_BYTES + MAGIC.length) {
      const decipher = createDecipheriv("aes-256-ctr", this.encKey, iv);
      plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES)), decipher.final()]);
    }
    if (plain.length === 0 || !plain.subarray(0, MAGIC.length).equals(MAGIC) || !timingSafeEqual(iv, this.mac(plain))) {
      // The directory's answer to a token it cannot read (the same text as a bad $skiptoken on /users).
      throw new GraphError(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.");
    }
    const state = JSON.parse(plain.subarray(MAGIC.length).toString("utf8")) as DeltaState;
    return { ...state, expired: state.e !== this.epoch };
  }

  private mac(plain: Buffer): Buffer {
    return createHmac("sha256", this.macKey).update(plain).digest().subarray(0, IV_BYTES);
  }
}

export interface DeltaRequest {
  version: "v1.0" | "beta";
  rawQuery: string;
  /** `Prefer: return=minimal` (DC user-delta.md, "Request headers"). */
  minimal: boolean;
}

export interface DeltaContext {
  origin: string;
  tokens: DeltaTokens;
  pageSize: number;
  schema: EntitySchema;
  source: PageSource;
  /** Properties returned without $select. */
  defaults: string[];
  /** The user directory for change rounds; groups are read-only, so their rounds are always empty. */
  users?: UserDirectory;
}

/**
 * GET /users/delta and /groups/delta (DC user-delta.md, group-delta.md, concepts/delta-query-users.md): an
 * initial sync paged by `@odata.nextLink` (`…/delta?$skiptoken=`) ending in an `@odata.deltaLink`
 * (`…/delta?$deltatoken=`); the deltaLink later returns what changed since, then a fresh deltaLink.
 */
export function deltaQuery(kind: DeltaCollection, req: DeltaRequest, ctx: DeltaContext): Reply {
  const options = parseQuery(req.rawQuery, req.version);
  for (const option of ["$top", "$orderby", "$expand"]) {
    // "$expand / $top / $orderby is not supported" for users and groups (DC concepts/delta-query-overview.md).
    if (options.has(option)) throw new GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.");
  }
  // Graph supports only `$filter=id eq '…'` here; the emulator does not model scoping filters.
  if (options.has("$filter")) throw new GraphError(501, "NotImplemented", "This operation target is not yet supported.");

  const base = `${ctx.origin}/${req.version}/${kind}/delta`;
  const skip = options.get("$skiptoken");
  const delta = options.get("$deltatoken");
  const sequence = ctx.users?.sequence ?? 0;

  if (delta !== undefined && delta.toLowerCase() === "latest") {
    // "Sync from now": a deltaLink and no resource data (DC concepts/delta-query-overview.md, note).
    const sel = parseSelect(options, ctx.schema);
    return answer(ctx, req, kind, { "@odata.deltaLink": link(base, "$deltatoken", ctx.tokens.encode({ c: kind, t: "d", s: sequence, sel })) }, sel, []);
  }

  const token = skip ?? (delta === "" ? undefined : delta);
  if (token === undefined) {
    // Initial sync: the collection as it is now; later writes come in the next round (possibly twice: replays are allowed).
    const sel = parseSelect(options, ctx.schema);
    return initialPage(kind, req, ctx, { c: kind, t: "n", s: sequence, p: 0, sel }, true);
  }

  // Query options live in the token; a $select sent alongside it is not applied (the token's wins).
  const state = ctx.tokens.decode(token);
  if (state.expired) {
    // 410 Gone + Location: the initial query with an empty $deltatoken (DC concepts/delta-query-overview.md,
    // "Synchronization reset"); code per DC concepts/errors.md: "resyncRequired: The delta token is no longer valid".
    const initial = state.sel ? `${base}?$select=${state.sel.join(",")}&$deltatoken=` : `${base}?$deltatoken=`;
    throw new GraphError(410, "resyncRequired", "The delta token is no longer valid, and the app must reset the sync state.", { Location: initial });
  }
  // A skiptoken must come from a nextLink and a deltatoken from a deltaLink, of this collection.
  if (state.c !== kind || (skip !== undefined) === (state.t === "d")) {
    throw new GraphError(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.");
  }
  if (state.t === "n") return initialPage(kind, req, ctx, state, false);
  const round = state.t === "d" ? { ...state, t: "c" as const, u: sequence, p: 0 } : state;
  return changePage(kind, req, ctx, round);
}

function link(base: string, name: "$skiptoken" | "$deltatoken", token: string): string {
  return `${base}?${name}=${token}`;
}

/** The first page keeps the `$select` in its context URL; later pages show the bare set (DC concepts/delta-query-users.md). */
function answer(ctx: DeltaContext, req: DeltaRequest, kind: DeltaCollection, links: Entity, sel: string[] | undefined, value: Entity[], first = true): Reply {
  const payload: Entity = { "@odata.context": contextUrl(ctx.origin, req.version, kind, first ? sel : undefined, false), ...links, value };
  return jsonReply(200, payload, "directory");
}

function initialPage(kind: DeltaCollection, req: DeltaRequest, ctx: DeltaContext, state: Omit<DeltaState, "e">, first: boolean): Reply {
  const properties = state.sel ?? ctx.defaults;
  const page = readPage(ctx.source, state.p ?? 0, ctx.pageSize, undefined, withId(properties));
  const value = page.items.map((entity) => representation(entity, properties));
  const links =
    page.next !== undefined
      ? { "@odata.nextLink": link(`${ctx.origin}/${req.version}/${kind}/delta`, "$skiptoken", ctx.tokens.encode({ ...state, p: page.next })) }
      : { "@odata.deltaLink": link(`${ctx.origin}/${req.version}/${kind}/delta`, "$deltatoken", ctx.tokens.encode({ c: kind, t: "d", s: state.s, sel: state.sel })) };
  return answer(ctx, req, kind, links, state.sel, value, first);
}

interface NetChange {
  position: number;
  id: string;
  created: boolean;
  props: Set<string>;
}

/** Writes between two sequence numbers, one entry per object in order of its first write. */
function netChanges(users: UserDirectory | undefined, from: number, to: number): NetChange[] {
  if (!users) return [];
  const byPosition = new Map<number, NetChange>();
  for (const change of users.changes(from, to)) {
    let net = byPosition.get(change.position);
    if (!net) {
      net = { position: change.position, id: change.id, created: false, props: new Set() };
      byPosition.set(change.position, net);
    }
    if (change.kind === "created") net.created = true;
    for (const p of change.props) net.props.add(p);
  }
  return [...byPosition.values()];
}

function changePage(kind: DeltaCollection, req: DeltaRequest, ctx: DeltaContext, state: Omit<DeltaState, "e">): Reply {
  const properties = state.sel ?? ctx.defaults;
  const changes = netChanges(ctx.users, state.s, state.u ?? state.s);
  const offset = state.p ?? 0;
  const value: Entity[] = [];
  for (const change of changes.slice(offset, offset + ctx.pageSize)) {
    const entity = ctx.source.at(change.position);
    if (!entity) {
      // Deleted users sit in deletedItems for 30 days: reason "changed" (DC concepts/delta-query-users.md).
      value.push({ id: change.id, "@removed": { reason: "changed" } });
      continue;
    }
    if (change.created) {
      value.push(representation(entity, properties));
      continue;
    }
    // "Only properties included in $select are tracked for changes" (DC concepts/delta-query-users.md).
    const tracked = state.sel ? [...change.props].filter((p) => state.sel?.includes(p)) : [...change.props];
    if (tracked.length === 0) continue;
    // Default: the selected set with old values for what did not change; Prefer: return=minimal: only what
    // changed, nulls included (DC user-delta.md, "Default" and "Alternative" response behaviour).
    const minimal = state.sel ? state.sel.filter((p) => tracked.includes(p)) : tracked;
    value.push(representation(entity, req.minimal ? minimal : properties, tracked));
  }
  const base = `${ctx.origin}/${req.version}/${kind}/delta`;
  const links =
    offset + ctx.pageSize < changes.length
      ? { "@odata.nextLink": link(base, "$skiptoken", ctx.tokens.encode({ ...state, p: offset + ctx.pageSize })) }
      : { "@odata.deltaLink": link(base, "$deltatoken", ctx.tokens.encode({ c: kind, t: "d", s: state.u ?? state.s, sel: state.sel })) };
  return answer(ctx, req, kind, links, state.sel, value, false);
}

function withId(properties: string[]): string[] {
  return properties.includes("id") ? properties : [...properties, "id"];
}

/**
 * An object as delta returns it: the requested properties, except those never set ("If the property has never
 * been set before it will not be included", DC user-delta.md) unless they changed to null in this round; and
 * always the id ("The id property is always returned"), last unless selected (DC concepts/delta-query-users.md).
 */
function representation(entity: Entity, properties: string[], changed: string[] = []): Entity {
  const out: Entity = {};
  for (const p of withId(properties)) {
    const value = entity[p];
    if (value === null || value === undefined) {
      if (changed.includes(p)) out[p] = null;
      continue;
    }
    out[p] = value;
  }
  return out;
}
