import { createHmac, timingSafeEqual } from "node:crypto";

import { GraphError } from "./http";
import type { Entity } from "./tenant";

const SYSTEM_OPTIONS = ["$select", "$filter", "$top", "$skip", "$skiptoken", "$count", "$search", "$orderby", "$expand", "$format"];

/** Decoded query options. On beta the `$` prefix is optional (DC concepts/query-parameters.md). */
export function parseQuery(rawQuery: string, version: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const part of rawQuery.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    let name = decodeComponent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? "" : decodeComponent(part.slice(eq + 1));
    if (version === "beta" && !name.startsWith("$") && SYSTEM_OPTIONS.includes(`$${name.toLowerCase()}`)) {
      name = `$${name.toLowerCase()}`;
    }
    if (name.startsWith("$")) {
      name = name.toLowerCase();
      if (options.has(name)) {
        throw new GraphError(400, "BadRequest", `Query option '${name}' was specified more than once, but it must be specified at most once.`);
      }
    }
    options.set(name, value);
  }
  return options;
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    throw new GraphError(400, "BadRequest", "The request URI is not valid. Since the segment contains an invalid escape sequence.");
  }
}

/** $top for directory collections: 1..999 (DC concepts/paging.md; the 400 text is what /users answers). */
export function parseTop(options: Map<string, string>, fallback: number): number {
  const raw = options.get("$top");
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new GraphError(400, "BadRequest", `Invalid value '${raw}' for $top query option found. The $top query option requires a non-negative integer value.`);
  }
  const top = Number(raw.trim());
  if (top < 1 || top > 999) {
    throw new GraphError(400, "Request_UnsupportedQuery", `Invalid page size specified: '${raw.trim()}'. Must be between 1 and 999 inclusive.`);
  }
  return top;
}

/** "true" | "false" | undefined for $count. */
export function parseCount(options: Map<string, string>): boolean {
  const raw = options.get("$count");
  if (raw === undefined) return false;
  const lower = raw.trim().toLowerCase();
  if (lower !== "true" && lower !== "false") throw new GraphError(400, "BadRequest", `'${raw}' is not a valid count option.`);
  return lower === "true";
}

export interface EntitySchema {
  /** "user" → "microsoft.graph.user" and "resource 'User'" in messages. */
  name: "user" | "group" | "team" | "channel";
  properties: string[];
  /** Properties supporting eq in a basic (non-advanced) query. */
  eq: Set<string>;
  startsWith: Set<string>;
  /** String-collection properties usable with any(x:x eq '…'). */
  collections: Set<string>;
  booleans: Set<string>;
  search: Set<string>;
}

function resourceName(schema: EntitySchema): string {
  return schema.name[0].toUpperCase() + schema.name.slice(1);
}

function canonical(schema: EntitySchema, name: string): string | undefined {
  const lower = name.toLowerCase();
  return schema.properties.find((p) => p.toLowerCase() === lower);
}

/** $select names, validated against the type; undefined means "the default property set". */
export function parseSelect(options: Map<string, string>, schema: EntitySchema): string[] | undefined {
  const raw = options.get("$select");
  if (raw === undefined || raw.trim() === "") return undefined;
  const selected: string[] = [];
  for (const item of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (item === "*") return [...schema.properties];
    const name = canonical(schema, item);
    if (!name) {
      throw new GraphError(400, "Request_BadRequest", `Could not find a property named '${item}' on type 'microsoft.graph.${schema.name}'.`);
    }
    if (!selected.includes(name)) selected.push(name);
  }
  return selected;
}

export function project(entity: Entity, properties: string[]): Entity {
  const out: Entity = {};
  for (const p of properties) out[p] = entity[p] === undefined ? null : entity[p];
  return out;
}

export function contextUrl(origin: string, version: string, entitySet: string, select: string[] | undefined, single: boolean): string {
  const selection = select ? `(${select.join(",")})` : "";
  return `${origin}/${version}/$metadata#${entitySet}${selection}${single ? "/$entity" : ""}`;
}

type Literal = string | boolean | null;
type FilterNode =
  | { kind: "and" | "or"; left: FilterNode; right: FilterNode }
  | { kind: "not"; operand: FilterNode }
  | { kind: "compare"; op: "eq" | "ne"; property: string; value: Literal }
  | { kind: "call"; fn: "startswith" | "endswith"; property: string; value: string }
  | { kind: "any"; property: string; value: string };

type Token = { type: "ident" | "string" | "punct"; text: string; at: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if ("(),:".includes(c)) {
      tokens.push({ type: "punct", text: c, at: i });
      i++;
    } else if (c === "'") {
      let value = "";
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw syntaxError(text, i);
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += text[j++];
      }
      tokens.push({ type: "string", text: value, at: i });
      i = j + 1;
    } else if (/[A-Za-z0-9_$/.@-]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_$/.@-]/.test(text[j])) j++;
      tokens.push({ type: "ident", text: text.slice(i, j), at: i });
      i = j;
    } else {
      throw syntaxError(text, i);
    }
  }
  return tokens;
}

function syntaxError(text: string, at: number): GraphError {
  return new GraphError(400, "BadRequest", `Invalid filter clause: Syntax error at position ${at} in '${text}'.`);
}

class FilterParser {
  private i = 0;
  private readonly tokens: Token[];

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): FilterNode {
    const node = this.or();
    if (this.i < this.tokens.length) throw syntaxError(this.text, this.tokens[this.i].at);
    return node;
  }

  private peekWord(word: string): boolean {
    const t = this.tokens[this.i];
    return t !== undefined && t.type === "ident" && t.text.toLowerCase() === word;
  }

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw syntaxError(this.text, this.text.length);
    return t;
  }

  private expect(type: Token["type"], text?: string): Token {
    const t = this.next();
    if (t.type !== type || (text !== undefined && t.text !== text)) throw syntaxError(this.text, t.at);
    return t;
  }

  private or(): FilterNode {
    let left = this.and();
    while (this.peekWord("or")) {
      this.i++;
      left = { kind: "or", left, right: this.and() };
    }
    return left;
  }

  private and(): FilterNode {
    let left = this.unary();
    while (this.peekWord("and")) {
      this.i++;
      left = { kind: "and", left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterNode {
    if (this.peekWord("not")) {
      this.i++;
      return { kind: "not", operand: this.unary() };
    }
    const t = this.next();
    if (t.type === "punct" && t.text === "(") {
      const inner = this.or();
      this.expect("punct", ")");
      return inner;
    }
    if (t.type !== "ident") throw syntaxError(this.text, t.at);
    const word = t.text.toLowerCase();
    if (word === "startswith" || word === "endswith") {
      this.expect("punct", "(");
      const property = this.expect("ident").text;
      this.expect("punct", ",");
      const value = this.expect("string").text;
      this.expect("punct", ")");
      return { kind: "call", fn: word, property, value };
    }
    if (word.endsWith("/any")) {
      this.expect("punct", "(");
      const variable = this.expect("ident").text;
      this.expect("punct", ":");
      const ref = this.expect("ident");
      if (ref.text !== variable) throw syntaxError(this.text, ref.at);
      const op = this.expect("ident");
      if (op.text.toLowerCase() !== "eq") throw syntaxError(this.text, op.at);
      const value = this.expect("string").text;
      this.expect("punct", ")");
      return { kind: "any", property: t.text.slice(0, -4), value };
    }
    const op = this.expect("ident");
    const opWord = op.text.toLowerCase();
    if (opWord !== "eq" && opWord !== "ne") {
      if (["gt", "ge", "lt", "le", "in", "has"].includes(opWord)) {
        throw new GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.");
      }
      throw syntaxError(this.text, op.at);
    }
    const literal = this.next();
    let value: Literal;
    if (literal.type === "string") value = literal.text;
    else if (literal.type === "ident" && ["true", "false"].includes(literal.text.toLowerCase())) value = literal.text.toLowerCase() === "true";
    else if (literal.type === "ident" && literal.text.toLowerCase() === "null") value = null;
    else throw syntaxError(this.text, literal.at);
    return { kind: "compare", op: opWord, property: t.text, value };
  }
}

export type Predicate = (entity: Entity) => boolean;

/**
 * $filter for directory objects. ne, not, endswith and null comparisons are "advanced queries": without
 * `ConsistencyLevel: eventual` and `$count=true` Graph answers 400 "Unsupported Query." (DC concepts/aad-advanced-queries.md).
 */
export function parseFilter(options: Map<string, string>, schema: EntitySchema, advanced: boolean): Predicate | undefined {
  const raw = options.get("$filter");
  if (raw === undefined || raw.trim() === "") return undefined;
  const node = new FilterParser(raw).parse();
  return compile(node, schema, advanced);
}

function unsupportedFor(schema: EntitySchema, property: string): GraphError {
  return new GraphError(
    400,
    "Request_UnsupportedQuery",
    `Unsupported or invalid query filter clause specified for property '${property}' of resource '${resourceName(schema)}'.`,
  );
}

function requireProperty(schema: EntitySchema, name: string): string {
  const property = canonical(schema, name);
  if (!property) throw new GraphError(400, "Request_BadRequest", `Property '${name}' does not exist as a declared property or extension property.`);
  return property;
}

function advancedOnly(): GraphError {
  return new GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.");
}

function fold(value: unknown): string {
  return typeof value === "string" ? value.toLowerCase() : "";
}

function compile(node: FilterNode, schema: EntitySchema, advanced: boolean): Predicate {
  switch (node.kind) {
    case "and": {
      const l = compile(node.left, schema, advanced);
      const r = compile(node.right, schema, advanced);
      return (e) => l(e) && r(e);
    }
    case "or": {
      const l = compile(node.left, schema, advanced);
      const r = compile(node.right, schema, advanced);
      return (e) => l(e) || r(e);
    }
    case "not": {
      if (!advanced) throw advancedOnly();
      const inner = compile(node.operand, schema, advanced);
      return (e) => !inner(e);
    }
    case "call": {
      const property = requireProperty(schema, node.property);
      if (node.fn === "endswith" && !advanced) throw advancedOnly();
      if (!schema.startsWith.has(property)) throw unsupportedFor(schema, property);
      const value = node.value.toLowerCase();
      return node.fn === "startswith" ? (e) => fold(e[property]).startsWith(value) : (e) => fold(e[property]).endsWith(value);
    }
    case "any": {
      const property = requireProperty(schema, node.property);
      if (!schema.collections.has(property)) throw unsupportedFor(schema, property);
      const value = node.value.toLowerCase();
      return (e) => Array.isArray(e[property]) && (e[property] as unknown[]).some((v) => fold(v) === value);
    }
    case "compare": {
      const property = requireProperty(schema, node.property);
      if ((node.op === "ne" || node.value === null) && !advanced) throw advancedOnly();
      if (!schema.eq.has(property)) throw unsupportedFor(schema, property);
      const isBoolean = schema.booleans.has(property);
      if (node.value !== null && isBoolean !== (typeof node.value === "boolean")) {
        const [left, right] = isBoolean ? ["Edm.Boolean", "Edm.String"] : ["Edm.String", "Edm.Boolean"];
        throw new GraphError(
          400,
          "BadRequest",
          `A binary operator with incompatible types was detected. Found operand types '${left}' and '${right}' for operator kind '${node.op === "eq" ? "Equal" : "NotEqual"}'.`,
        );
      }
      const wanted = node.value;
      const equal: Predicate =
        wanted === null
          ? (e) => e[property] === null || e[property] === undefined
          : typeof wanted === "boolean"
            ? (e) => e[property] === wanted
            : (e) => fold(e[property]) === wanted.toLowerCase();
      return node.op === "eq" ? equal : (e) => !equal(e);
    }
  }
}

/**
 * $search="property:term" clauses joined by AND/OR; needs `ConsistencyLevel: eventual` (DC concepts/aad-advanced-queries.md).
 * Directory search is tokenized: each word of the term must prefix a word of the property value.
 */
export function parseSearch(options: Map<string, string>, schema: EntitySchema, eventual: boolean): Predicate | undefined {
  const raw = options.get("$search");
  if (raw === undefined) return undefined;
  if (!eventual) {
    throw new GraphError(
      400,
      "Request_UnsupportedQuery",
      "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
    );
  }
  const clause = /^\s*"([^":]+):([^"]*)"\s*/;
  let rest = raw;
  let predicate: Predicate | undefined;
  let joiner: "and" | "or" | undefined;
  for (;;) {
    const m = clause.exec(rest);
    if (!m) throw new GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.");
    const property = canonical(schema, m[1].trim());
    if (!property || !schema.search.has(property)) throw unsupportedFor(schema, m[1].trim());
    const terms = m[2].toLowerCase().split(/\s+/).filter(Boolean);
    const one: Predicate = (e) => {
      const words = fold(e[property]).split(/[\s._@-]+/);
      return terms.every((t) => words.some((w) => w.startsWith(t)));
    };
    const previous = predicate;
    predicate = !previous ? one : joiner === "or" ? (e) => previous(e) || one(e) : (e) => previous(e) && one(e);
    rest = rest.slice(m[0].length);
    if (rest.trim() === "") return predicate;
    const op = /^(AND|OR)\s+/.exec(rest);
    if (!op) throw new GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.");
    joiner = op[1] === "OR" ? "or" : "and";
    rest = rest.slice(op[0].length);
  }
}

export function both(a: Predicate | undefined, b: Predicate | undefined): Predicate | undefined {
  if (a && b) return (e) => a(e) && b(e);
  return a ?? b;
}

/** A positionally addressable collection; undefined marks a deleted slot. */
export interface PageSource {
  readonly length: number;
  /** `fields` is a hint: the entity must carry at least those properties. */
  at(position: number, fields?: readonly string[]): Entity | undefined;
}

/**
 * One page from `start`; `next` is set only when another match exists after this page. Without a predicate
 * only `fields` are needed, which keeps paging a large generated tenant cheap.
 */
export function readPage(
  source: PageSource,
  start: number,
  top: number,
  predicate: Predicate | undefined,
  fields: readonly string[],
): { items: Entity[]; next?: number } {
  const needed = predicate ? undefined : fields;
  const items: Entity[] = [];
  let position = start;
  while (position < source.length && items.length < top) {
    const entity = source.at(position++, needed);
    if (entity && (!predicate || predicate(entity))) items.push(entity);
  }
  for (let ahead = position; ahead < source.length; ahead++) {
    const entity = source.at(ahead, predicate ? undefined : []);
    if (entity && (!predicate || predicate(entity))) return { items, next: position };
  }
  return { items };
}

export function countMatching(source: PageSource, predicate: Predicate): number {
  let count = 0;
  for (let position = 0; position < source.length; position++) {
    const entity = source.at(position);
    if (entity && predicate(entity)) count++;
  }
  return count;
}

/**
 * Opaque $skiptoken: Graph's directory tokens are base64 blobs starting "RFNwdA" ("DSpt"); clients must not
 * parse them (DC concepts/paging.md). Ours carries the next position, bound to this emulator by an HMAC.
 */
export class SkipTokens {
  constructor(private readonly secret: Buffer) {}

  encode(position: number): string {
    const body = Buffer.alloc(14);
    body.write("DSpt", 0, "latin1");
    body.writeUInt16LE(2, 4);
    body.writeUInt32BE(1, 6);
    body.writeUInt32BE(position, 10);
    return Buffer.concat([body, this.mac(body)]).toString("base64");
  }

  decode(token: string): number {
    const raw = Buffer.from(token, "base64");
    const body = raw.subarray(0, 14);
    const mac = raw.subarray(14);
    if (raw.length !== 26 || body.toString("latin1", 0, 4) !== "DSpt" || !timingSafeEqual(mac, this.mac(body))) {
      throw new GraphError(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.");
    }
    return body.readUInt32BE(10);
  }

  private mac(body: Buffer): Buffer {
    return createHmac("sha256", this.secret).update(body).digest().subarray(0, 12);
  }
}

/** The request URL on our own origin with any previous $skiptoken replaced (nextLink = original query + token). */
export function nextLink(origin: string, path: string, rawQuery: string, token: string): string {
  const kept = rawQuery.split("&").filter((part) => {
    if (!part) return false;
    const name = part.slice(0, part.includes("=") ? part.indexOf("=") : part.length);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // keep the raw name
    }
    return !["$skiptoken", "skiptoken"].includes(decoded.toLowerCase());
  });
  kept.push(`$skiptoken=${encodeURIComponent(token)}`);
  return `${origin}${path}?${kept.join("&")}`;
}

export interface SortKey {
  property: string;
  descending: boolean;
}

/** Graph's one message for a sort the directory cannot do (devblogs "Build advanced queries…", 2020-05-19). */
export function sortingNotSupported(): GraphError {
  return new GraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.");
}

/**
 * $orderby for directory collections. `basic` are the properties Graph sorts without an advanced query
 * (users: displayName, userPrincipalName; groups: displayName), `advanced` those it sorts only with
 * `ConsistencyLevel: eventual` + `$count=true`, which is also needed when $filter or $search comes along
 * (DC concepts/aad-advanced-queries.md). The docs are silent on several sort keys: the emulator takes one.
 */
export function parseOrderBy(
  options: Map<string, string>,
  schema: EntitySchema,
  sortable: { basic: ReadonlySet<string>; advanced: ReadonlySet<string> },
  query: { advanced: boolean; filtered: boolean },
): SortKey | undefined {
  const raw = options.get("$orderby");
  if (raw === undefined || raw.trim() === "") return undefined;
  const items = raw.split(",").map((s) => s.trim());
  if (items.length !== 1) throw sortingNotSupported();
  const m = /^([A-Za-z0-9_]+)(?:\s+(asc|desc))?$/i.exec(items[0]);
  if (!m) throw new GraphError(400, "BadRequest", `Invalid OrderBy clause: Syntax error in '${raw}'.`);
  const property = canonical(schema, m[1]);
  if (!property) {
    throw new GraphError(400, "Request_BadRequest", `Could not find a property named '${m[1]}' on type 'microsoft.graph.${schema.name}'.`);
  }
  const allowed = query.advanced ? sortable.advanced : query.filtered ? new Set<string>() : sortable.basic;
  if (!allowed.has(property)) throw sortingNotSupported();
  return { property, descending: (m[2] ?? "asc").toLowerCase() === "desc" };
}

const COLLATOR = new Intl.Collator("en", { sensitivity: "base" });

/** The last order computed per source, so that paging a large tenant in order sorts it once, not per page. */
const lastOrder = new WeakMap<PageSource, { cacheKey: string; positions: number[] }>();

/**
 * The matching entities' positions in sort order, as a PageSource so that paging (and $skiptoken positions)
 * work unchanged. Graph does not document where nulls go or how ties break: nulls sort last, ties by position.
 * `cacheKey` must change whenever the source or the query does (the caller puts its change sequence in it).
 */
export function sortedSource(source: PageSource, key: SortKey, predicate: Predicate | undefined, cacheKey: string): PageSource {
  const cached = lastOrder.get(source);
  const positions = cached?.cacheKey === cacheKey ? cached.positions : sortPositions(source, key, predicate);
  lastOrder.set(source, { cacheKey, positions });
  return { length: positions.length, at: (i, fields) => source.at(positions[i], fields) };
}

function sortPositions(source: PageSource, key: SortKey, predicate: Predicate | undefined): number[] {
  const rows: { position: number; value: unknown }[] = [];
  for (let position = 0; position < source.length; position++) {
    const entity = source.at(position, predicate ? undefined : [key.property]);
    if (entity && (!predicate || predicate(entity))) rows.push({ position, value: entity[key.property] });
  }
  const direction = key.descending ? -1 : 1;
  rows.sort((a, b) => {
    const aNull = a.value === null || a.value === undefined;
    const bNull = b.value === null || b.value === undefined;
    if (aNull || bNull) return aNull === bNull ? a.position - b.position : aNull ? 1 : -1;
    const order = COLLATOR.compare(String(a.value), String(b.value));
    return order === 0 ? a.position - b.position : order * direction;
  });
  return rows.map((r) => r.position);
}

export interface ExpandItem {
  /** Canonical navigation property name, e.g. "memberOf". */
  property: string;
  /** A nested `$select` (`manager($select=id,displayName)`), still to validate against the target type. */
  select?: string;
}

/** Splits at commas outside parentheses: `members($select=id,displayName),manager`. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")") depth--;
    else if (text[i] === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

/**
 * $expand on a directory type. `supported` are the relationships the emulator expands; `navigation` the
 * others Graph has, which answer 501 (the emulator's limit, not Graph's). A structural property or an
 * unknown name gets the OData 400 Graph answers. Nested options other than `$select` answer 501 too: Graph
 * documents "no support for nesting other query parameters such as $filter and $select in $expand" for
 * directory objects (DC concepts/known-issues.md), yet its own samples nest $select, so that one is served.
 */
export function parseExpand(
  options: Map<string, string>,
  schema: EntitySchema,
  relationships: { supported: readonly string[]; navigation: readonly string[] },
): ExpandItem[] {
  const raw = options.get("$expand");
  if (raw === undefined || raw.trim() === "") return [];
  const items: ExpandItem[] = [];
  for (const part of splitTopLevel(raw)) {
    const m = /^([A-Za-z0-9_.]+)\s*(?:\((.*)\))?$/s.exec(part);
    if (!m) throw new GraphError(400, "BadRequest", `Invalid $expand clause: Syntax error in '${raw}'.`);
    const lower = m[1].toLowerCase();
    const property = [...relationships.supported, ...relationships.navigation].find((n) => n.toLowerCase() === lower);
    if (!property) {
      const structural = canonical(schema, m[1]);
      if (structural) {
        throw new GraphError(
          400,
          "BadRequest",
          `Property '${structural}' on type 'microsoft.graph.${schema.name}' is not a navigation property or complex property. Only navigation properties can be expanded.`,
        );
      }
      throw new GraphError(400, "BadRequest", `Could not find a property named '${m[1]}' on type 'microsoft.graph.${schema.name}'.`);
    }
    if (!relationships.supported.includes(property)) {
      throw new GraphError(501, "NotImplemented", `The emulator does not expand '${property}' on ${schema.name}; it expands ${relationships.supported.join(", ")}.`);
    }
    const item: ExpandItem = { property };
    if (m[2] !== undefined && m[2].trim() !== "") {
      const nested = /^\$select=([^;]*)$/i.exec(m[2].trim());
      if (!nested) throw new GraphError(501, "NotImplemented", `The emulator nests only $select in $expand, not '${m[2].trim()}'.`);
      item.select = nested[1];
    }
    if (items.some((i) => i.property === property)) {
      throw new GraphError(400, "BadRequest", `The navigation property '${property}' was expanded more than once.`);
    }
    items.push(item);
  }
  return items;
}
