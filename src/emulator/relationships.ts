/**
 * Directory relationships of the generated tenant (tenant.ts: managerPositionOf, reportPositionsOf,
 * groupIndexesOf, memberPositionsOf): `/users/{id}/manager`, `/users/{id}/directReports`, `/users/{id}/memberOf`,
 * `/groups/{id}/members`, and the same relationships under `$expand`.
 */
import { GraphError, jsonReply, type Reply } from "./http";
import { nextLink, parseExpand, parseQuery, parseSelect, parseTop, project, readPage, type EntitySchema, type ExpandItem, type PageSource, type SkipTokens } from "./odata";
import { GROUPS, groupIndexesOf, managerPositionOf, memberPositionsOf, reportPositionsOf, type Entity, type UserDirectory } from "./tenant";

/**
 * Graph returns at most 20 objects for an expanded directory relationship, with no @odata.nextLink
 * (DC concepts/known-issues.md, "$expand": "For directory objects, returns a maximum of 20 objects").
 */
export const EXPAND_LIMIT = 20;

/** Navigation properties of user and group (v1.0 resource docs) that the emulator does not expand. */
const USER_NAVIGATION = [
  "appRoleAssignments", "calendar", "calendarGroups", "calendars", "calendarView", "contactFolders", "contacts",
  "createdObjects", "drive", "drives", "events", "extensions", "inferenceClassification",
  "insights", "joinedTeams", "licenseDetails", "mailFolders", "messages", "oauth2PermissionGrants", "onenote",
  "outlook", "ownedDevices", "ownedObjects", "people", "photo", "photos", "planner", "registeredDevices",
  "settings", "teamwork", "todo", "transitiveMemberOf",
];
const GROUP_NAVIGATION = [
  "acceptedSenders", "appRoleAssignments", "calendar", "calendarView", "conversations", "createdOnBehalfOf",
  "drive", "drives", "events", "extensions", "memberOf", "membersWithLicenseErrors", "onenote", "owners",
  "photo", "photos", "planner", "rejectedSenders", "settings", "sites", "team", "threads", "transitiveMemberOf",
  "transitiveMembers",
];

export interface DirectoryView {
  origin: string;
  version: string;
  users: UserDirectory;
  userSchema: EntitySchema;
  groupSchema: EntitySchema;
  userDefaults: string[];
  groupDefaults: string[];
  skipTokens: SkipTokens;
}

/** Directory objects in a directoryObject-typed answer carry their type (DC user-list-manager.md sample). */
function typed(kind: "user" | "group", entity: Entity, properties: string[]): Entity {
  return { "@odata.type": `#microsoft.graph.${kind}`, ...project(entity, properties) };
}

function managerEntity(users: UserDirectory, position: number): Entity | undefined {
  const manager = managerPositionOf(position, users.generated);
  return manager === undefined ? undefined : users.at(manager);
}

/** The users whose manager is the user at `position`, deleted ones left out. */
function reportsOf(users: UserDirectory, position: number, limit = Infinity): Entity[] {
  const reports: Entity[] = [];
  for (const report of reportPositionsOf(position, users.generated)) {
    if (reports.length >= limit) break;
    const user = users.at(report);
    if (user) reports.push(user);
  }
  return reports;
}

function groupsOf(users: UserDirectory, position: number): Entity[] {
  return groupIndexesOf(position, users.generated).map((i) => GROUPS[i]);
}

function firstMembers(users: UserDirectory, group: number, limit: number): Entity[] {
  const members: Entity[] = [];
  for (const position of memberPositionsOf(group, users.generated, users.length)) {
    if (members.length >= limit) break;
    const user = users.at(position);
    if (user) members.push(user);
  }
  return members;
}

function nestedSelect(item: ExpandItem, schema: EntitySchema): string[] | undefined {
  return item.select === undefined ? undefined : parseSelect(new Map([["$select", item.select]]), schema);
}

export function userExpansions(options: Map<string, string>, view: DirectoryView): ExpandItem[] {
  return parseExpand(options, view.userSchema, { supported: ["directReports", "manager", "memberOf"], navigation: USER_NAVIGATION });
}

export function groupExpansions(options: Map<string, string>, view: DirectoryView): ExpandItem[] {
  return parseExpand(options, view.groupSchema, { supported: ["members"], navigation: GROUP_NAVIGATION });
}

/**
 * The expanded relationships of one user, to spread after its properties. A user without a manager has no
 * `manager` property (Graph leaves out an empty single-valued expansion; the docs show no sample of it).
 */
export function expandUser(user: Entity, items: ExpandItem[], view: DirectoryView): Entity {
  const out: Entity = {};
  if (items.length === 0) return out;
  const found = view.users.find(String(user.id));
  if (!found) return out;
  for (const item of items) {
    if (item.property === "manager") {
      const manager = managerEntity(view.users, found.position);
      if (manager) out.manager = typed("user", manager, nestedSelect(item, view.userSchema) ?? view.userDefaults);
    } else if (item.property === "directReports") {
      const select = nestedSelect(item, view.userSchema) ?? view.userDefaults;
      out.directReports = reportsOf(view.users, found.position, EXPAND_LIMIT).map((u) => typed("user", u, select));
    } else {
      const select = nestedSelect(item, view.groupSchema) ?? view.groupDefaults;
      out.memberOf = groupsOf(view.users, found.position).slice(0, EXPAND_LIMIT).map((g) => typed("group", g, select));
    }
  }
  return out;
}

export function expandGroup(group: Entity, items: ExpandItem[], view: DirectoryView): Entity {
  const out: Entity = {};
  for (const item of items) {
    const select = nestedSelect(item, view.userSchema) ?? view.userDefaults;
    out.members = firstMembers(view.users, GROUPS.indexOf(group), EXPAND_LIMIT).map((u) => typed("user", u, select));
  }
  return out;
}

/** Relationship lists take $select, $top and $skiptoken here; other options are the emulator's 501, not silence. */
function relationshipOptions(rawQuery: string, version: string): Map<string, string> {
  const options = parseQuery(rawQuery, version);
  for (const name of options.keys()) {
    if (name.startsWith("$") && !["$select", "$top", "$skiptoken"].includes(name)) {
      throw new GraphError(501, "NotImplemented", `The emulator does not support ${name} on a directory relationship.`);
    }
  }
  return options;
}

/**
 * GET /users/{id}/manager: the manager as a directoryObject entity (DC user-list-manager.md), or 404 when
 * there is none (the Request_ResourceNotFound text Graph answers for a missing reference property).
 */
export function getManager(view: DirectoryView, position: number, rawQuery: string): Reply {
  const options = relationshipOptions(rawQuery, view.version);
  const select = parseSelect(options, view.userSchema);
  const manager = managerEntity(view.users, position);
  if (!manager) {
    throw new GraphError(404, "Request_ResourceNotFound", "Resource 'manager' does not exist or one of its queried reference-property objects are not present.");
  }
  const payload = { "@odata.context": `${view.origin}/${view.version}/$metadata#directoryObjects/$entity`, ...typed("user", manager, select ?? view.userDefaults) };
  return jsonReply(200, payload, "directory", { resourceUnits: 1 });
}

/**
 * GET /users/{id}/directReports: `#directoryObjects` with typed users (DC user-list-directreports.md), paged
 * like memberOf. Graph also lists org contacts here; the emulated tenant has none.
 */
export function listDirectReports(view: DirectoryView, position: number, rawQuery: string): Reply {
  const options = relationshipOptions(rawQuery, view.version);
  const select = parseSelect(options, view.userSchema);
  const positions = reportPositionsOf(position, view.users.generated);
  const source: PageSource = { length: positions.length, at: (i, fields) => view.users.at(positions[i], fields) };
  return pagedDirectoryObjects(view, options, rawQuery, `/users/${String(view.users.at(position)?.id)}/directReports`, "user", source, select ?? view.userDefaults);
}

/** GET /users/{id}/memberOf: `#directoryObjects` with typed groups (DC user-list-memberof.md). */
export function listMemberOf(view: DirectoryView, position: number, rawQuery: string): Reply {
  const options = relationshipOptions(rawQuery, view.version);
  const select = parseSelect(options, view.groupSchema);
  const groups = groupsOf(view.users, position);
  return pagedDirectoryObjects(view, options, rawQuery, `/users/${String(view.users.at(position)?.id)}/memberOf`, "group", { length: groups.length, at: (i) => groups[i] }, select ?? view.groupDefaults);
}

/** GET /groups/{id}/members: `#directoryObjects` with typed users, paged like /users (DC group-list-members.md). */
export function listMembers(view: DirectoryView, group: Entity, rawQuery: string): Reply {
  const options = relationshipOptions(rawQuery, view.version);
  const select = parseSelect(options, view.userSchema);
  const index = GROUPS.indexOf(group);
  const positions = [...memberPositionsOf(index, view.users.generated, view.users.length)];
  const source: PageSource = { length: positions.length, at: (i, fields) => view.users.at(positions[i], fields) };
  return pagedDirectoryObjects(view, options, rawQuery, `/groups/${String(group.id)}/members`, "user", source, select ?? view.userDefaults);
}

function pagedDirectoryObjects(
  view: DirectoryView,
  options: Map<string, string>,
  rawQuery: string,
  path: string,
  kind: "user" | "group",
  source: PageSource,
  properties: string[],
): Reply {
  const top = parseTop(options, 100);
  const token = options.get("$skiptoken");
  const page = readPage(source, token === undefined ? 0 : view.skipTokens.decode(token), top, undefined, properties);
  const payload: Entity = { "@odata.context": `${view.origin}/${view.version}/$metadata#directoryObjects` };
  if (page.next !== undefined) payload["@odata.nextLink"] = nextLink(view.origin, `/${view.version}${path}`, rawQuery, view.skipTokens.encode(page.next));
  payload.value = page.items.map((e) => typed(kind, e, properties));
  return jsonReply(200, payload, "directory", { resourceUnits: 1 });
}
