import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { join } from "node:path";

import type { Message } from "@microsoft/microsoft-graph-types";

import { deltaQuery, type DeltaContext, type DeltaTokens } from "./delta";
import { DEMO_CLIENT_ID } from "./identity";
import type { EmulatedMailbox } from "./mailbox";
import type { NotificationHub } from "./notifications";
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  patchSubscription,
  reauthorizeSubscription,
  type SubscriptionRouteContext,
  type SubscriptionStore,
} from "./subscriptions";
import type { ConflictBehavior, DriveTarget, UploadSessions } from "./uploadSessions";
import { expandGroup, expandUser, getManager, groupExpansions, listDirectReports, listMemberOf, listMembers, userExpansions, type DirectoryView } from "./relationships";
import { emptyReply, entityTags, errorReply, GraphError, innerErrorDate, jsonReply, textReply, type Reply, type RequestIds, type Workload } from "./http";
import {
  both,
  contextUrl,
  countMatching,
  nextLink,
  parseCount,
  parseFilter,
  parseOrderBy,
  parseQuery,
  parseSearch,
  parseSelect,
  parseTop,
  project,
  readPage,
  sortedSource,
  sortingNotSupported,
  type EntitySchema,
  type PageSource,
  type SkipTokens,
  type SortKey,
} from "./odata";
import {
  CHANNEL_PROPERTIES,
  CHANNELS,
  DRIVE_ID,
  driveItemJson,
  itemCTag,
  itemETag,
  GROUP_PROPERTIES,
  GROUPS,
  hasPhoto,
  JOINED_TEAMS,
  ME_ID,
  ROOT_ITEM_ID,
  ROOT_SITE,
  TEAM_PROPERTIES,
  TEAMS,
  TENANT_ID,
  USER_DEFAULT_BETA,
  USER_DEFAULT_V1,
  USER_PROPERTIES,
  USER_REQUIRED,
  USER_WRITABLE,
  VERIFIED_DOMAINS,
  type Drive,
  type DriveFile,
  type Entity,
  type UserDirectory,
} from "./tenant";

export interface GraphRequest {
  /** Upper-case; HEAD is routed as GET and answered without a body. */
  method: string;
  version: "v1.0" | "beta";
  /** Raw path after the version prefix, e.g. "/users/abc". */
  path: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ids: RequestIds;
  /** Object id of the signed-in user /me resolves to (a delegated token's user); default ME_ID (Megan Bowen). */
  me?: string;
  /** The calling app's client id (identity tokens carry it; static demo tokens stand for DEMO_CLIENT_ID). */
  appId?: string;
  /** An app-only (client credentials) token: there is no /me. */
  appOnly?: boolean;
}

export interface TenantState {
  origin: string;
  users: UserDirectory;
  drive: Drive;
  skipTokens: SkipTokens;
  deltaTokens: DeltaTokens;
  /** Items per delta page. */
  deltaPageSize: number;
  downloadUrl(file: DriveFile): string;
  subscriptions: SubscriptionStore;
  mailbox: EmulatedMailbox;
  /** Where changes to users, messages and drive items go to become change notifications. */
  notifications: NotificationHub;
  /** Upload sessions on the upload host (drive items and Outlook attachments). */
  uploads: UploadSessions;
}

/** Most handlers answer at once; creating a subscription waits for the validation handshake. */
type Answer = Reply | Promise<Reply>;

interface Match {
  workload: Workload;
  handle(): Answer;
}

type Handlers = Partial<Record<"GET" | "POST" | "PUT" | "PATCH" | "DELETE", () => Answer>>;

const USER_SCHEMA: EntitySchema = {
  name: "user",
  properties: USER_PROPERTIES,
  eq: new Set([
    "id", "accountEnabled", "city", "companyName", "country", "department", "displayName", "employeeId",
    "givenName", "jobTitle", "mail", "mailNickname", "mobilePhone", "officeLocation", "preferredLanguage",
    "state", "surname", "usageLocation", "userPrincipalName", "userType",
  ]),
  startsWith: new Set([
    "city", "companyName", "country", "department", "displayName", "employeeId", "givenName", "jobTitle",
    "mail", "mailNickname", "mobilePhone", "officeLocation", "preferredLanguage", "state", "surname",
    "usageLocation", "userPrincipalName",
  ]),
  collections: new Set(["businessPhones", "imAddresses", "otherMails", "proxyAddresses"]),
  booleans: new Set(["accountEnabled"]),
  search: new Set(["displayName", "givenName", "surname", "mail", "mailNickname", "userPrincipalName", "jobTitle"]),
};

const GROUP_DEFAULT = Object.keys(GROUPS[0]);

const GROUP_SCHEMA: EntitySchema = {
  name: "group",
  properties: GROUP_PROPERTIES,
  eq: new Set(["id", "classification", "description", "displayName", "mail", "mailEnabled", "mailNickname", "securityEnabled", "visibility"]),
  startsWith: new Set(["description", "displayName", "mail", "mailNickname"]),
  collections: new Set(["groupTypes", "proxyAddresses", "resourceProvisioningOptions"]),
  booleans: new Set(["mailEnabled", "securityEnabled"]),
  search: new Set(["description", "displayName", "mail", "mailNickname"]),
};

const GROUP_SOURCE: PageSource = { length: GROUPS.length, at: (i) => GROUPS[i] };

/** /teams supports $filter, $select, $top, $skiptoken and $count (DC teams-list.md); its examples filter on displayName. */
const TEAM_SCHEMA: EntitySchema = {
  name: "team",
  properties: TEAM_PROPERTIES,
  eq: new Set(["id", "displayName", "description", "visibility"]),
  startsWith: new Set(["displayName", "description"]),
  collections: new Set(),
  booleans: new Set(["isArchived"]),
  search: new Set(),
};

const TEAM_SOURCE: PageSource = { length: TEAMS.length, at: (i) => TEAMS[i] };

const CHANNEL_SCHEMA: EntitySchema = {
  name: "channel",
  properties: CHANNEL_PROPERTIES,
  eq: new Set(["id", "displayName", "membershipType"]),
  startsWith: new Set(["displayName"]),
  collections: new Set(),
  booleans: new Set(["isArchived"]),
  search: new Set(),
};

/** Routes one authenticated request under /v1.0 or /beta; Graph errors become the error envelope. */
export function routeGraph(req: GraphRequest, state: TenantState): Answer {
  let workload: Workload = "gateway";
  const fail = (error: unknown): Reply => {
    if (!(error instanceof GraphError)) throw error;
    const innerError = error.inner && {
      ...error.inner,
      date: innerErrorDate(),
      "request-id": req.ids.requestId,
      "client-request-id": req.ids.clientRequestId,
    };
    return errorReply(req.ids, error.status, error.code, error.message, workload, {
      headers: error.headers,
      innerError,
      resourceUnits: workload === "directory" ? 1 : undefined,
    });
  };
  try {
    const match = matchRoute(req, state);
    workload = match.workload;
    const answer = match.handle();
    return answer instanceof Promise ? answer.catch(fail) : answer;
  } catch (error) {
    return fail(error);
  }
}

function segmentNotFound(segment: string): GraphError {
  return new GraphError(400, "BadRequest", `Resource not found for the segment '${segment}'.`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new GraphError(400, "BadRequest", "The request URI is not valid. Since the segment contains an invalid escape sequence.");
  }
}

/**
 * `/drives/{drive-id}/…` is the same drive as `/me/drive/…` (the tenant has one drive); another id is the
 * emulator's own 404 (Graph documents none for an unknown drive id).
 */
function driveAlias(req: GraphRequest, state: TenantState): GraphRequest {
  // /users/{id or UPN}/drive/… is the signed-in user's drive when it names that user (the tenant has one drive).
  const user = /^\/users\/([^/]+)\/drive(?=\/|$)(.*)$/i.exec(req.path);
  if (user) {
    const found = state.users.find(decodeSegment(user[1]));
    if (!found) throw notFound(decodeSegment(user[1]));
    if (String(found.user.id) !== (req.me ?? ME_ID)) throw new GraphError(404, "itemNotFound", "The emulator has a drive for the signed-in user only.");
    return { ...req, path: `/me/drive${user[2]}` };
  }
  // /sites/root/drive is the root site's document library; the emulator serves it with the same single drive.
  const site = /^\/sites\/([^/]+)\/drive(?=\/|$)(.*)$/i.exec(req.path);
  if (site) {
    if (decodeSegment(site[1]).toLowerCase() !== "root") throw new GraphError(404, "itemNotFound", "The emulator serves the drive of /sites/root only.");
    return { ...req, path: `/me/drive${site[2]}` };
  }
  const m = /^\/drives\/([^/:]+)(?=\/|$)(.*)$/i.exec(req.path);
  if (!m) return req;
  if (decodeSegment(m[1]) !== DRIVE_ID) throw itemNotFound();
  return { ...req, path: `/me/drive${m[2]}` };
}

/**
 * createUploadSession on a drive item (DC driveitem-createuploadsession.md):
 * `/me/drive/root:/{path}:/createUploadSession`, `/me/drive/items/{parent-id}:/{name}:/createUploadSession`,
 * `/me/drive/items/{item-id}/createUploadSession` (replace an existing file); `/drives/{id}/…` the same.
 * Also the simple upload on `/me/drive/items/{parent-id}:/{name}:/content`.
 */
function driveItemAction(req: GraphRequest, state: TenantState): Match | undefined {
  const byPath = /^\/me\/drive\/root:(\/.+?):\/(createuploadsession|content)$/i.exec(req.path);
  const byParent = /^\/me\/drive\/items\/([^/:]+):(\/.+?):\/(createuploadsession|content)$/i.exec(req.path);
  const byItem = /^\/me\/drive\/items\/([^/:]+)\/createuploadsession$/i.exec(req.path);
  if (byPath && byPath[2].toLowerCase() === "createuploadsession") {
    return on(req, "drive", { POST: () => createDriveSession(req, state, { path: drivePathOf(byPath[1]) }) });
  }
  if (byParent) {
    const parent = decodeSegment(byParent[1]);
    const path = (): string => {
      if (parent.toUpperCase() !== ROOT_ITEM_ID && parent.toLowerCase() !== "root") {
        // Only the root is a folder in the emulator's drive; a file is no parent.
        if (state.drive.get(parent)) throw new GraphError(400, "invalidRequest", "The parent item is not a folder.");
        throw itemNotFound();
      }
      return drivePathOf(byParent[2]);
    };
    if (byParent[3].toLowerCase() === "content") {
      return on(req, "drive", { PUT: () => upload(req, state, path()), GET: () => contentRedirect(req, state, existingAt(state, path())) });
    }
    return on(req, "drive", { POST: () => createDriveSession(req, state, { path: path() }) });
  }
  if (byItem) {
    return on(req, "drive", {
      POST: () => {
        const id = decodeSegment(byItem[1]);
        if (id.toUpperCase() === ROOT_ITEM_ID || id.toLowerCase() === "root") {
          // A folder needs a file name: items/{parent-id}:/{name}:/createUploadSession (emulator's own wording).
          throw new GraphError(400, "invalidRequest", "An upload session on a folder needs a file name: items/{parent-id}:/{name}:/createUploadSession.");
        }
        const file = findItem(state, id);
        return createDriveSession(req, state, { path: file.path, itemId: file.id });
      },
    });
  }
  return undefined;
}

function drivePathOf(raw: string): string {
  return "/" + raw.split("/").filter(Boolean).map(decodeSegment).join("/");
}

function existingAt(state: TenantState, path: string): DriveFile {
  const file = state.drive.byPath(path);
  if (!file) throw itemNotFound();
  return file;
}

const CONFLICT_BEHAVIORS: readonly ConflictBehavior[] = ["fail", "replace", "rename"];

/**
 * POST …/createUploadSession. Body (optional): `{"item":{"@microsoft.graph.conflictBehavior","name","fileSize",
 * "description"},"deferCommit":true}`; the conflict behaviour may also come as a query parameter (driveItem
 * resource notes). `fail` is the documented default. Answer: 200 with the uploadSession.
 */
function createDriveSession(req: GraphRequest, state: TenantState, place: { path: string; itemId?: string }): Reply {
  const body = req.body.length === 0 ? {} : readJson(req);
  const item = typeof body.item === "object" && body.item !== null && !Array.isArray(body.item) ? (body.item as Entity) : {};
  const fromQuery = new URLSearchParams(req.rawQuery).get("@microsoft.graph.conflictBehavior");
  const given = item["@microsoft.graph.conflictBehavior"] ?? fromQuery ?? (place.itemId ? "replace" : "fail");
  const conflictBehavior = String(given).toLowerCase() as ConflictBehavior;
  if (!CONFLICT_BEHAVIORS.includes(conflictBehavior)) {
    // The values are documented (fail, replace, rename); the error for another is the emulator's own.
    throw new GraphError(400, "invalidRequest", `Invalid value '${String(given)}' for @microsoft.graph.conflictBehavior: use fail, replace or rename.`);
  }
  const fileSize = item.fileSize;
  if (fileSize !== undefined && (typeof fileSize !== "number" || !Number.isInteger(fileSize) || fileSize < 0)) {
    throw new GraphError(400, "invalidRequest", "item.fileSize must be a non-negative integer.");
  }
  if (typeof fileSize === "number" && fileSize > driveQuota(state).remaining) {
    // "If the fileSize exceeds the available quota, a 507 Insufficient Storage response is returned" (drive doc).
    throw new GraphError(507, "quotaLimitReached", "Insufficient Space Available");
  }
  if (!place.itemId && conflictBehavior === "fail" && state.drive.byPath(place.path)) {
    // What OneDrive answers a create with conflictBehavior fail on a taken name (driveItem errors, DC concepts/errors.md code list).
    throw new GraphError(409, "nameAlreadyExists", "The specified item name already exists.");
  }
  const target: DriveTarget = {
    kind: "drive",
    path: place.path,
    conflictBehavior,
    ...(place.itemId ? { itemId: place.itemId } : {}),
    ...(typeof fileSize === "number" ? { fileSize } : {}),
    deferCommit: body.deferCommit === true,
  };
  const session = state.uploads.create(target);
  return jsonReply(
    200,
    {
      "@odata.context": `${state.origin}/${req.version}/$metadata#microsoft.graph.uploadSession`,
      uploadUrl: session.uploadUrl,
      expirationDateTime: session.expirationDateTime,
      nextExpectedRanges: ["0-"],
    },
    "drive",
  );
}

export function driveQuota(state: TenantState): { total: number; used: number; remaining: number } {
  const used = state.drive.list().reduce((sum, f) => sum + f.bytes.length, 0);
  const total = 1_099_511_627_776;
  return { total, used, remaining: total - used };
}

/**
 * The final fragment of a drive session: the file lands at its path (201 new, 200 replaced, like PUT /content).
 * A name taken since the session began with `fail` answers the doc's 409 `upload_name_conflict`; `rename`
 * picks "name 1.ext", "name 2.ext", … as OneDrive does.
 */
export function completeDriveUpload(state: TenantState, target: DriveTarget, bytes: Buffer, ids: RequestIds, me: string = ME_ID): Reply {
  let path = target.path;
  const replaced = target.itemId ? state.drive.get(target.itemId) : undefined;
  if (replaced) path = replaced.path;
  const taken = state.drive.byPath(path);
  if (taken && !replaced) {
    if (target.conflictBehavior === "fail") {
      return errorReply(ids, 409, "upload_name_conflict", "Another file exists with the same name as the uploaded session. You can redirect the upload session to use a new filename by calling PUT with the new metadata and @microsoft.graph.sourceUrl attribute.", "drive");
    }
    if (target.conflictBehavior === "rename") path = freeName(state, path);
  }
  const { file, created } = state.drive.put(path, bytes);
  state.notifications.publish({ kind: "driveItem", changeType: created ? "created" : "updated", userId: me, itemId: file.id });
  return jsonReply(created ? 201 : 200, driveItemJson(file, state.downloadUrl(file)), "drive");
}

function freeName(state: TenantState, path: string): string {
  const slash = path.lastIndexOf("/");
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : "";
  for (let n = 1; ; n++) {
    const candidate = `${path.slice(0, slash)}/${stem} ${n}${ext}`;
    if (!state.drive.byPath(candidate)) return candidate;
  }
}

function matchRoute(original: GraphRequest, state: TenantState): Match {
  const req = driveAlias(original, state);
  const action = driveItemAction(req, state);
  if (action) return action;
  const drivePath = /^\/me\/drive\/root:(\/.*)$/i.exec(req.path);
  if (drivePath) return driveByPath(req, state, drivePath[1]);

  const segments = req.path.split("/").filter(Boolean).map(decodeSegment);
  const lower = segments.map((s) => s.toLowerCase());
  const [first, second, third, fourth, fifth] = lower;

  if (segments.length === 0) return on(req, "gateway", { GET: () => serviceDocument(req, state) });

  if (first === "me") {
    if (segments.length === 1) {
      return on(req, "directory", {
        GET: () => getUser(req, state, req.me ?? ME_ID),
        PATCH: () => patchUser(req, state, req.me ?? ME_ID),
      });
    }
    if (second === "manager" && segments.length === 2) {
      return on(req, "directory", { GET: () => getManager(directoryView(req, state), findUser(state, req.me ?? ME_ID).position, req.rawQuery) });
    }
    if (second === "directreports" && segments.length === 2) {
      return on(req, "directory", { GET: () => listDirectReports(directoryView(req, state), findUser(state, req.me ?? ME_ID).position, req.rawQuery) });
    }
    if (second === "memberof" && segments.length === 2) {
      return on(req, "directory", { GET: () => listMemberOf(directoryView(req, state), findUser(state, req.me ?? ME_ID).position, req.rawQuery) });
    }
    if (second === "photo") return photoRoute(req, state, req.me ?? ME_ID, segments.slice(2));
    if (second === "joinedteams" && segments.length === 2) return on(req, "teams", { GET: () => joinedTeams(req, state) });
    if (second === "sendmail" && segments.length === 2) return on(req, "outlook", { POST: () => sendMail(req, state) });
    if (second === "drive") {
      if (segments.length === 2) return on(req, "drive", { GET: () => getDrive(req, state) });
      if (third === "root" && segments.length === 3) return on(req, "drive", { GET: () => rootItem(req, state) });
      if (third === "root" && fourth === "children" && segments.length === 4) {
        return on(req, "drive", { GET: () => rootChildren(req, state) });
      }
      if (third === "items" && segments.length >= 4) {
        const itemId = segments[3];
        if (segments.length === 4) {
          return on(req, "drive", {
            GET: () => (itemId.toUpperCase() === ROOT_ITEM_ID ? rootItem(req, state) : itemMetadata(req, state, findItem(state, itemId), "items")),
          });
        }
        if (fifth === "content" && segments.length === 5) {
          return on(req, "drive", {
            GET: () => contentRedirect(req, state, findItem(state, itemId)),
            PUT: () => upload(req, state, findItem(state, itemId).path),
          });
        }
        throw segmentNotFound(segments[4]);
      }
      throw segmentNotFound(third === "root" && segments.length > 3 ? segments[3] : segments[2]);
    }
    const mail = mailRoute(req, state, req.me ?? ME_ID, segments.slice(1));
    if (mail) return mail;
    throw segmentNotFound(segments[1]);
  }

  if (first === "users") {
    if (segments.length === 1) {
      return on(req, "directory", { GET: () => listUsers(req, state), POST: () => createUser(req, state) });
    }
    if (second === "$count" && segments.length === 2) return on(req, "directory", { GET: () => countUsers(req, state) });
    // `/delta` is a shortcut for `/microsoft.graph.delta`, which the SDKs send (DC concepts/delta-query-users.md tip).
    if (isDelta(second) && segments.length === 2) return on(req, "directory", { GET: () => delta(req, state, "users") });
    if (segments.length === 2) {
      const key = segments[1];
      return on(req, "directory", {
        GET: () => getUser(req, state, key),
        PATCH: () => patchUser(req, state, key),
        DELETE: () => deleteUser(state, key),
      });
    }
    if (third === "manager" && segments.length === 3) {
      return on(req, "directory", { GET: () => getManager(directoryView(req, state), findUser(state, segments[1]).position, req.rawQuery) });
    }
    if (third === "directreports" && segments.length === 3) {
      return on(req, "directory", { GET: () => listDirectReports(directoryView(req, state), findUser(state, segments[1]).position, req.rawQuery) });
    }
    if (third === "memberof" && segments.length === 3) {
      return on(req, "directory", { GET: () => listMemberOf(directoryView(req, state), findUser(state, segments[1]).position, req.rawQuery) });
    }
    if (third === "photo") return photoRoute(req, state, segments[1], segments.slice(3));
    if (third === "mailfolders" || third === "messages" || third === "events" || /^mailfolders\(/.test(third)) {
      const mail = mailRoute(req, state, String(findUser(state, segments[1]).user.id), segments.slice(2));
      if (mail) return mail;
    }
    throw segmentNotFound(segments[2]);
  }

  if (first === "groups") {
    if (segments.length === 1) return on(req, "directory", { GET: () => listGroups(req, state), POST: notImplemented });
    if (second === "$count" && segments.length === 2) return on(req, "directory", { GET: () => countGroups(req) });
    if (isDelta(second) && segments.length === 2) return on(req, "directory", { GET: () => delta(req, state, "groups") });
    if (segments.length === 2) {
      const id = segments[1];
      return on(req, "directory", { GET: () => getGroup(req, state, id), PATCH: notImplemented, DELETE: notImplemented });
    }
    if (third === "members" && segments.length === 3) {
      return on(req, "directory", { GET: () => listMembers(directoryView(req, state), findGroup(segments[1]), req.rawQuery) });
    }
    throw segmentNotFound(segments[2]);
  }

  if (first === "teams") {
    if (segments.length === 1) return on(req, "teams", { GET: () => listTeams(req, state), POST: notImplemented });
    const team = (): Entity => findTeam(segments[1]);
    if (segments.length === 2) return on(req, "teams", { GET: () => getTeam(req, state, team()) });
    if (third === "channels" && segments.length === 3) return on(req, "teams", { GET: () => listChannels(req, state, team()), POST: notImplemented });
    throw segmentNotFound(segments[2]);
  }

  if (first === "subscriptions") return subscriptionRoutes(req, state, segments);

  if (first === "sites") {
    if (second === "root" && segments.length === 2) {
      return on(req, "drive", { GET: () => jsonReply(200, { "@odata.context": `${state.origin}/${req.version}/$metadata#sites/$entity`, ...ROOT_SITE }, "drive") });
    }
    if (segments.length === 2) throw new GraphError(404, "itemNotFound", "The emulator serves /sites/root only.");
    throw segmentNotFound(segments[2]);
  }

  throw segmentNotFound(segments[0]);
}

/** 48×48, the smallest of the sizes Office 365 serves profile photos in (DC profilephoto-get.md). */
const PHOTO_SIZE = 48;
/** Every user's photo: a committed 48×48 baseline JPEG (one flat grey), read once. The emulator runs from source, never bundled. */
const PROFILE_PHOTO = readFileSync(join(__dirname, "assets", "profile-photo.jpg"));
const PROFILE_PHOTO_ETAG = `"${createHash("sha256").update(PROFILE_PHOTO).digest("hex").slice(0, 8).toUpperCase()}"`;

/**
 * /users/{id}/photo (profilePhoto metadata) and /photo/$value (the JPEG bytes), DC profilephoto-get.md. A user
 * without a photo gets the 404 Graph answers: code ImageNotFound with the profile service's exception text.
 */
function photoRoute(req: GraphRequest, state: TenantState, key: string, rest: string[]): Match {
  const photoOf = (): Entity => {
    const { position, user } = findUser(state, key);
    if (!hasPhoto(position, state.users.generated)) {
      throw new GraphError(404, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.");
    }
    return user;
  };
  if (rest.length === 0) {
    return on(req, "outlook", {
      GET: () => {
        const user = photoOf();
        const payload = {
          "@odata.context": `${state.origin}/${req.version}/$metadata#users('${String(user.id)}')/photo/$entity`,
          "@odata.mediaContentType": "image/jpeg",
          "@odata.mediaEtag": PROFILE_PHOTO_ETAG,
          id: `${PHOTO_SIZE}X${PHOTO_SIZE}`,
          width: PHOTO_SIZE,
          height: PHOTO_SIZE,
        };
        return jsonReply(200, payload, "outlook");
      },
    });
  }
  if (rest.length === 1 && rest[0] === "$value") {
    return on(req, "outlook", {
      GET: () => {
        photoOf();
        return { ...emptyReply(200, "outlook", { headers: { "Content-Type": "image/jpeg", ETag: PROFILE_PHOTO_ETAG } }), body: PROFILE_PHOTO };
      },
    });
  }
  throw segmentNotFound(rest[0]);
}

/** Outlook mail below a user (/me/… or /users/{id}/…): mailFolders, messages, their delta; logic in mailbox.ts. */
function mailRoute(req: GraphRequest, state: TenantState, userId: string, rest: string[]): Match | undefined {
  const handlers = state.mailbox.routes(
    {
      origin: state.origin,
      version: req.version,
      path: req.path,
      rawQuery: req.rawQuery,
      prefer: header(req, "prefer"),
      readJson: () => readJson(req),
      createAttachmentSession: (r) =>
        state.uploads.create({
          kind: "attachment",
          userId: r.userId,
          parent: r.parent,
          parentId: r.parentId,
          name: r.name,
          size: r.size,
          contentType: r.contentType,
          isInline: r.isInline,
          ...(r.contentId === undefined ? {} : { contentId: r.contentId }),
        }),
    },
    userId,
    rest,
  );
  return handlers && on(req, "outlook", handlers);
}

/** /subscriptions (DC api-reference/v1.0/resources/subscription.md); logic in subscriptions.ts. */
function subscriptionRoutes(req: GraphRequest, state: TenantState, segments: string[]): Match {
  const ctx: SubscriptionRouteContext = {
    origin: state.origin,
    version: req.version,
    store: state.subscriptions,
    caller: { applicationId: req.appId ?? DEMO_CLIENT_ID, userId: req.appOnly ? undefined : (req.me ?? ME_ID), me: req.appOnly ? undefined : (req.me ?? ME_ID) },
  };
  if (segments.length === 1) return on(req, "gateway", { GET: () => listSubscriptions(ctx), POST: () => createSubscription(ctx, readJson(req)) });
  const id = segments[1];
  if (segments.length === 2) {
    return on(req, "gateway", {
      GET: () => getSubscription(ctx, id),
      PATCH: () => patchSubscription(ctx, id, readJson(req)),
      DELETE: () => deleteSubscription(ctx, id),
    });
  }
  if (segments.length === 3 && segments[2].toLowerCase() === "reauthorize") return on(req, "gateway", { POST: () => reauthorizeSubscription(ctx, id) });
  throw segmentNotFound(segments[2]);
}

/** `delta`, and the function forms `delta()` and `microsoft.graph.delta()` (DC user-delta.md: GET /users/delta). */
function isDelta(segment: string | undefined): boolean {
  return segment !== undefined && /^(microsoft\.graph\.)?delta(\(\))?$/.test(segment);
}

function on(req: GraphRequest, workload: Workload, handlers: Handlers): Match {
  const method = (req.method === "HEAD" ? "GET" : req.method) as keyof Handlers;
  const handler = handlers[method];
  return {
    workload,
    handle:
      handler ??
      (() => {
        if (workload === "outlook") throw new GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.");
        throw new GraphError(405, workload === "directory" ? "Request_BadRequest" : "BadRequest", "Specified HTTP method is not allowed for the request target.");
      }),
  };
}

/** Operations Graph has but the emulator does not model. */
function notImplemented(): Reply {
  throw new GraphError(501, "NotImplemented", "This operation target is not yet supported.");
}

function header(req: GraphRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** `ConsistencyLevel: eventual` (DC concepts/aad-advanced-queries.md). */
function isEventual(req: GraphRequest): boolean {
  return (header(req, "consistencylevel") ?? "").trim().toLowerCase() === "eventual";
}

/**
 * Graph answers a missing or non-JSON Content-Type, and malformed JSON, with this 400 rather than 415
 * (microsoft-graph-docs-contrib issue #6337: "Request returns HTTP 400 if no Content-Type").
 */
export function unreadableJson(): GraphError {
  return new GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
}

function readJson(req: GraphRequest): Entity {
  const type = header(req, "content-type") ?? "";
  if (!/^application\/json(\s*;|\s*$)/i.test(type)) throw unreadableJson();
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body.toString("utf8"));
  } catch {
    throw unreadableJson();
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw unreadableJson();
  return parsed as Entity;
}

function serviceDocument(req: GraphRequest, state: TenantState): Reply {
  const sets = [
    { name: "users", kind: "EntitySet", url: "users" },
    { name: "groups", kind: "EntitySet", url: "groups" },
    { name: "teams", kind: "EntitySet", url: "teams" },
    { name: "drives", kind: "EntitySet", url: "drives" },
    { name: "me", kind: "Singleton", url: "me" },
  ];
  return jsonReply(200, { "@odata.context": `${state.origin}/${req.version}/$metadata`, value: sets }, "gateway");
}

function listCollection(
  req: GraphRequest,
  state: TenantState,
  entitySet: "users" | "groups" | "teams",
  schema: EntitySchema,
  source: PageSource,
  total: () => number,
  defaults: string[],
): Reply {
  const options = parseQuery(req.rawQuery, req.version);
  if (options.has("$skip")) throw new GraphError(400, "Request_BadRequest", "'$skip' is not supported by the service.");
  const top = parseTop(options, 100);
  const select = parseSelect(options, schema);
  const directory = entitySet !== "teams";
  const eventual = isEventual(req);
  // Directory objects need ConsistencyLevel: eventual for $count; /teams is not a directory query (DC teams-list.md).
  const count = parseCount(options) && (eventual || !directory);
  const predicate = both(parseFilter(options, schema, count), parseSearch(options, schema, eventual));
  const sortable = SORTABLE[entitySet];
  let order: SortKey | undefined;
  if (options.has("$orderby")) {
    if (!sortable) throw sortingNotSupported();
    order = parseOrderBy(options, schema, sortable, { advanced: eventual && count, filtered: options.has("$filter") || options.has("$search") });
  }
  const token = options.get("$skiptoken");
  const start = token === undefined ? 0 : state.skipTokens.decode(token);
  const view = directoryView(req, state);
  const expansions = entitySet === "users" ? userExpansions(options, view) : entitySet === "groups" ? groupExpansions(options, view) : refuseExpand(options, "teams");
  const expand = (e: Entity): Entity => (entitySet === "users" ? expandUser(e, expansions, view) : expandGroup(e, expansions, view));
  const fields = expansions.length > 0 ? [...(select ?? defaults), "id"] : (select ?? defaults);
  // Users change (their change sequence counts every write); groups, teams and channels are fixed data.
  const cacheKey = JSON.stringify([entitySet, entitySet === "users" ? state.users.sequence : 0, order, options.get("$filter"), options.get("$search")]);
  const page = readPage(order ? sortedSource(source, order, predicate, cacheKey) : source, start, top, predicate, fields);

  const payload: Entity = { "@odata.context": contextUrl(state.origin, req.version, entitySet, select, false) };
  // @odata.count only on the first page, and only with ConsistencyLevel: eventual (DC concepts/paging.md).
  if (count && token === undefined) payload["@odata.count"] = predicate ? countMatching(source, predicate) : total();
  if (page.next !== undefined) {
    payload["@odata.nextLink"] = nextLink(state.origin, `/${req.version}/${entitySet}`, req.rawQuery, state.skipTokens.encode(page.next));
  }
  payload.value = page.items.map((e) => ({ ...project(e, select ?? defaults), ...expand(e) }));
  return directory ? jsonReply(200, payload, "directory", { resourceUnits: 2 }) : jsonReply(200, payload, "teams");
}

/**
 * Sort keys per collection. Without an advanced query Graph sorts users by displayName and userPrincipalName
 * and groups by displayName (DC user.md, group.md property notes "Supports $orderby"); createdDateTime sorts
 * only in an advanced query (same notes, DC concepts/aad-advanced-queries.md). /teams documents no $orderby.
 */
const SORTABLE: Partial<Record<"users" | "groups" | "teams", { basic: ReadonlySet<string>; advanced: ReadonlySet<string> }>> = {
  users: { basic: new Set(["displayName", "userPrincipalName"]), advanced: new Set(["displayName", "userPrincipalName", "createdDateTime"]) },
  groups: { basic: new Set(["displayName"]), advanced: new Set(["displayName", "createdDateTime"]) },
};

function directoryView(req: GraphRequest, state: TenantState): DirectoryView {
  return {
    origin: state.origin,
    version: req.version,
    users: state.users,
    userSchema: USER_SCHEMA,
    groupSchema: GROUP_SCHEMA,
    userDefaults: userDefaults(req),
    groupDefaults: GROUP_DEFAULT,
    skipTokens: state.skipTokens,
  };
}

/** Where the emulator expands nothing, $expand is refused rather than ignored (Graph's teams docs list no $expand). */
function refuseExpand(options: Map<string, string>, where: string): [] {
  if (options.has("$expand")) throw new GraphError(501, "NotImplemented", `The emulator does not support $expand on ${where}.`);
  return [];
}

function countCollection(req: GraphRequest, schema: EntitySchema, source: PageSource, total: () => number): Reply {
  // The /$count segment needs ConsistencyLevel: eventual (DC concepts/aad-advanced-queries.md, first error sample).
  if (!isEventual(req)) throw new GraphError(400, "Request_BadRequest", "$count is not currently supported.");
  const options = parseQuery(req.rawQuery, req.version);
  const predicate = both(parseFilter(options, schema, true), parseSearch(options, schema, true));
  return textReply(200, String(predicate ? countMatching(source, predicate) : total()), "directory", 1);
}

function userDefaults(req: GraphRequest): string[] {
  return req.version === "beta" ? USER_DEFAULT_BETA : USER_DEFAULT_V1;
}

function listUsers(req: GraphRequest, state: TenantState): Reply {
  return listCollection(req, state, "users", USER_SCHEMA, state.users, () => state.users.count(), userDefaults(req));
}

function countUsers(req: GraphRequest, state: TenantState): Reply {
  return countCollection(req, USER_SCHEMA, state.users, () => state.users.count());
}

function listGroups(req: GraphRequest, state: TenantState): Reply {
  return listCollection(req, state, "groups", GROUP_SCHEMA, GROUP_SOURCE, () => GROUPS.length, GROUP_DEFAULT);
}

function countGroups(req: GraphRequest): Reply {
  return countCollection(req, GROUP_SCHEMA, GROUP_SOURCE, () => GROUPS.length);
}

function notFound(key: string): GraphError {
  return new GraphError(404, "Request_ResourceNotFound", `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
}

function findUser(state: TenantState, key: string): { position: number; user: Entity } {
  const found = state.users.find(key);
  if (!found) throw notFound(key);
  return found;
}

function getUser(req: GraphRequest, state: TenantState, key: string): Reply {
  const options = parseQuery(req.rawQuery, req.version);
  const select = parseSelect(options, USER_SCHEMA);
  const view = directoryView(req, state);
  const expansions = userExpansions(options, view);
  const { user } = findUser(state, key);
  const payload = {
    "@odata.context": contextUrl(state.origin, req.version, "users", select, true),
    ...project(user, select ?? userDefaults(req)),
    ...expandUser(user, expansions, view),
  };
  return jsonReply(200, payload, "directory", { resourceUnits: 1 });
}

function getGroup(req: GraphRequest, state: TenantState, id: string): Reply {
  const options = parseQuery(req.rawQuery, req.version);
  const select = parseSelect(options, GROUP_SCHEMA);
  const view = directoryView(req, state);
  const expansions = groupExpansions(options, view);
  const group = findGroup(id);
  const payload = {
    "@odata.context": contextUrl(state.origin, req.version, "groups", select, true),
    ...project(group, select ?? GROUP_DEFAULT),
    ...expandGroup(group, expansions, view),
  };
  return jsonReply(200, payload, "directory", { resourceUnits: 1 });
}

function findGroup(id: string): Entity {
  const group = GROUPS.find((g) => String(g.id) === id.toLowerCase());
  if (!group) throw notFound(id);
  return group;
}

function invalidValue(property: string): GraphError {
  return new GraphError(400, "Request_BadRequest", `Invalid value specified for property '${property}' of resource 'User'.`);
}

/** Rejects properties the user type lacks (OData reader message) or that clients may not write. */
function checkUserProperties(body: Entity): void {
  for (const key of Object.keys(body)) {
    if (key.includes("@")) continue;
    if (!USER_PROPERTIES.includes(key)) {
      throw new GraphError(
        400,
        "BadRequest",
        `The property '${key}' does not exist on type 'microsoft.graph.user'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
      );
    }
    if (!USER_WRITABLE.has(key)) throw new GraphError(400, "Request_BadRequest", `Property '${key}' is read-only and cannot be set.`);
  }
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}

/** Entra ID password policy: 8-256 characters, three of lower/upper/digit/symbol. */
function checkPassword(profile: unknown): void {
  const password = typeof profile === "object" && profile !== null ? (profile as Entity).password : undefined;
  if (!isNonEmptyString(password)) throw invalidValue("passwordProfile");
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(password)).length;
  if (password.length < 8 || password.length > 256 || classes < 3) {
    throw new GraphError(400, "Request_BadRequest", "The specified password does not comply with password complexity requirements. Please provide a different password.");
  }
}

function checkUserValues(body: Entity, state: TenantState, selfId?: string): void {
  if ("accountEnabled" in body && typeof body.accountEnabled !== "boolean") throw invalidValue("accountEnabled");
  for (const key of ["displayName", "mailNickname"]) {
    if (key in body && !isNonEmptyString(body[key])) throw invalidValue(key);
  }
  if ("passwordProfile" in body) checkPassword(body.passwordProfile);
  if ("userPrincipalName" in body) {
    const upn = body.userPrincipalName;
    if (!isNonEmptyString(upn) || !/^[A-Za-z0-9'._!#^~-]+@[^@\s]+$/.test(upn)) throw invalidValue("userPrincipalName");
    const domain = upn.slice(upn.indexOf("@") + 1).toLowerCase();
    if (!VERIFIED_DOMAINS.includes(domain)) {
      throw new GraphError(
        400,
        "Request_BadRequest",
        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
      );
    }
    const existing = state.users.find(upn);
    if (existing && existing.user.id !== selfId) {
      throw new GraphError(400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.");
    }
  }
}

function createUser(req: GraphRequest, state: TenantState): Reply {
  const body = readJson(req);
  checkUserProperties(body);
  for (const key of USER_REQUIRED) {
    if (body[key] === undefined || body[key] === null) throw invalidValue(key);
  }
  checkUserValues(body, state);
  const user = state.users.create(body);
  state.notifications.publish({ kind: "user", changeType: "created", userId: String(user.id) });
  const properties = ["id", ...userDefaults(req).filter((p) => p !== "id")];
  const payload = { "@odata.context": contextUrl(state.origin, req.version, "users", undefined, true), ...project(user, properties) };
  // Graph's Location for a new user is the directory-object URL (seen in Graph Explorer, docs issue microsoft-graph-docs#7589).
  const location = `${state.origin}/v2/${TENANT_ID}/directoryObjects/${String(user.id)}/Microsoft.DirectoryServices.User`;
  return jsonReply(201, payload, "directory", { resourceUnits: 1, headers: { Location: location } });
}

function patchUser(req: GraphRequest, state: TenantState, key: string): Reply {
  const { position, user } = findUser(state, key);
  const body = readJson(req);
  checkUserProperties(body);
  for (const property of ["accountEnabled", "displayName", "mailNickname", "userPrincipalName"]) {
    if (property in body && body[property] === null) throw invalidValue(property);
  }
  checkUserValues(body, state, String(user.id));
  state.users.update(position, body);
  state.notifications.publish({ kind: "user", changeType: "updated", userId: String(user.id) });
  return emptyReply(204, "directory", { resourceUnits: 1 });
}

function deleteUser(state: TenantState, key: string): Reply {
  const { position, user } = findUser(state, key);
  state.users.remove(position);
  state.notifications.publish({ kind: "user", changeType: "deleted", userId: String(user.id) });
  return emptyReply(204, "directory", { resourceUnits: 1 });
}

function delta(req: GraphRequest, state: TenantState, kind: "users" | "groups"): Reply {
  const ctx: DeltaContext =
    kind === "users"
      ? { origin: state.origin, tokens: state.deltaTokens, pageSize: state.deltaPageSize, schema: USER_SCHEMA, source: state.users, defaults: userDefaults(req), users: state.users }
      : { origin: state.origin, tokens: state.deltaTokens, pageSize: state.deltaPageSize, schema: GROUP_SCHEMA, source: GROUP_SOURCE, defaults: GROUP_DEFAULT };
  const minimal = /(^|[,;\s])return=minimal\b/i.test(header(req, "prefer") ?? "");
  return deltaQuery(kind, { version: req.version, rawQuery: req.rawQuery, minimal }, ctx);
}

function listTeams(req: GraphRequest, state: TenantState): Reply {
  return listCollection(req, state, "teams", TEAM_SCHEMA, TEAM_SOURCE, () => TEAMS.length, TEAM_PROPERTIES);
}

/** Teams' 404 for an id that is no team (microsoft-graph-docs issue #17077, GET /teams/{groupId}). */
function findTeam(id: string): Entity {
  const team = TEAMS.find((t) => String(t.id) === id.toLowerCase());
  if (!team) {
    throw new GraphError(404, "NotFound", `No team found with Group Id ${id}`, {}, {
      message: `No team found with Group Id ${id}`,
      code: "ItemNotFound",
      innerError: {},
    });
  }
  return team;
}

function getTeam(req: GraphRequest, state: TenantState, team: Entity): Reply {
  const options = parseQuery(req.rawQuery, req.version);
  refuseExpand(options, "a team");
  const select = parseSelect(options, TEAM_SCHEMA);
  return jsonReply(200, { "@odata.context": contextUrl(state.origin, req.version, "teams", select, true), ...project(team, select ?? TEAM_PROPERTIES) }, "teams");
}

/** One page with @odata.count, context `#teams('{id}')/channels` (DC channel-list.md, channel-get.md). */
function listChannels(req: GraphRequest, state: TenantState, team: Entity): Reply {
  const options = parseQuery(req.rawQuery, req.version);
  refuseExpand(options, "channels");
  const select = parseSelect(options, CHANNEL_SCHEMA);
  const predicate = parseFilter(options, CHANNEL_SCHEMA, false);
  const channels = (CHANNELS.get(String(team.id)) ?? []).filter((c) => !predicate || predicate(c));
  const selection = select ? `(${select.join(",")})` : "";
  return jsonReply(
    200,
    {
      "@odata.context": `${state.origin}/${req.version}/$metadata#teams('${String(team.id)}')/channels${selection}`,
      "@odata.count": channels.length,
      value: channels.map((c) => project(c, select ?? CHANNEL_PROPERTIES)),
    },
    "teams",
  );
}

function joinedTeams(req: GraphRequest, state: TenantState): Reply {
  return jsonReply(
    200,
    { "@odata.context": `${state.origin}/${req.version}/$metadata#teams`, "@odata.count": JOINED_TEAMS.length, value: JOINED_TEAMS },
    "teams",
  );
}

/** POST /me/sendMail: 202 Accepted, empty body, `Cache-Control: private`, `Content-Length: 0` (captured response). */
function sendMail(req: GraphRequest, state: TenantState): Reply {
  const type = header(req, "content-type") ?? "";
  // text/plain carries a base64 MIME message (DC user-sendmail.md, example 4).
  if (/^text\/plain/i.test(type)) return emptyReply(202, "outlook");
  const body = readJson(req);
  const message = body.message;
  if (typeof message === "object" && message !== null && !Array.isArray(message)) {
    state.mailbox.send(req.me ?? ME_ID, message as Partial<Message>, body.saveToSentItems !== false);
  }
  return emptyReply(202, "outlook");
}

function driveContext(state: TenantState, req: GraphRequest, suffix: string): string {
  return `${state.origin}/${req.version}/$metadata#users('${ME_ID}')/drive/${suffix}`;
}

function getDrive(req: GraphRequest, state: TenantState): Reply {
  const used = state.drive.list().reduce((sum, f) => sum + f.bytes.length, 0);
  const total = 1_099_511_627_776;
  return jsonReply(
    200,
    {
      "@odata.context": `${state.origin}/${req.version}/$metadata#drives/$entity`,
      createdDateTime: "2017-09-25T03:51:04Z",
      description: "",
      id: DRIVE_ID,
      lastModifiedDateTime: "2023-03-14T09:28:41Z",
      name: "OneDrive",
      webUrl: "https://contoso-my.sharepoint.com/personal/meganb_contoso_onmicrosoft_com/Documents",
      driveType: "business",
      createdBy: { user: { displayName: "System Account" } },
      lastModifiedBy: { user: { email: "MeganB@contoso.onmicrosoft.com", id: ME_ID, displayName: "Megan Bowen" } },
      owner: { user: { email: "MeganB@contoso.onmicrosoft.com", id: ME_ID, displayName: "Megan Bowen" } },
      quota: { deleted: 0, remaining: total - used, state: "normal", total, used },
    },
    "drive",
  );
}

function rootItem(req: GraphRequest, state: TenantState): Reply {
  const files = state.drive.list();
  return jsonReply(
    200,
    {
      "@odata.context": driveContext(state, req, "root/$entity"),
      createdDateTime: "2017-09-25T03:51:04Z",
      id: ROOT_ITEM_ID,
      lastModifiedDateTime: "2023-03-14T09:28:41Z",
      name: "root",
      webUrl: "https://contoso-my.sharepoint.com/personal/meganb_contoso_onmicrosoft_com/Documents",
      size: files.reduce((sum, f) => sum + f.bytes.length, 0),
      parentReference: { driveType: "business", driveId: DRIVE_ID },
      fileSystemInfo: { createdDateTime: "2017-09-25T03:51:04Z", lastModifiedDateTime: "2023-03-14T09:28:41Z" },
      folder: { childCount: files.length },
      root: {},
    },
    "drive",
  );
}

function rootChildren(req: GraphRequest, state: TenantState): Reply {
  const files = state.drive.list().sort((a, b) => a.path.localeCompare(b.path));
  return jsonReply(
    200,
    { "@odata.context": driveContext(state, req, "root/children"), value: files.map((f) => driveItemJson(f, state.downloadUrl(f))) },
    "drive",
  );
}

function itemNotFound(): GraphError {
  return new GraphError(404, "itemNotFound", "The resource could not be found.");
}

function findItem(state: TenantState, id: string): DriveFile {
  const file = state.drive.get(id);
  if (!file) throw itemNotFound();
  return file;
}

/**
 * Whether an `If-None-Match` / `If-Match` list names the file's eTag or cTag (`*` names any; a weak `W/` prefix
 * is compared weakly, RFC 9110 §13.1.1-2). DC driveitem-get.md and driveitem-get-content.md document
 * `If-None-Match` giving 304 Not Modified when it matches the item's eTag.
 */
function namesTag(list: string | undefined, file: DriveFile): boolean {
  if (list === undefined) return false;
  const tags = [itemETag(file), itemCTag(file)];
  return entityTags(list).some((tag) => tag === "*" || tags.includes(tag));
}

function notModified(file: DriveFile): Reply {
  return emptyReply(304, "drive", { headers: { ETag: itemETag(file) } });
}

function itemMetadata(req: GraphRequest, state: TenantState, file: DriveFile, via: "items" | "root"): Reply {
  if (namesTag(header(req, "if-none-match"), file)) return notModified(file);
  const suffix = via === "items" ? "items/$entity" : "root/$entity";
  const payload = { "@odata.context": driveContext(state, req, suffix), ...driveItemJson(file, state.downloadUrl(file)) };
  return jsonReply(200, payload, "drive", { headers: { ETag: itemETag(file) } });
}

/** GET …/content → 302 to the pre-authenticated downloadUrl, no body (DC driveitem-get-content.md). */
function contentRedirect(req: GraphRequest, state: TenantState, file: DriveFile): Reply {
  if (namesTag(header(req, "if-none-match"), file)) return notModified(file);
  return emptyReply(302, "drive", { headers: { Location: state.downloadUrl(file) } });
}

/** PUT …/content: 201 Created for a new file, 200 OK when it replaces one (DC driveitem-put-content.md). */
function upload(req: GraphRequest, state: TenantState, path: string): Reply {
  const ifMatch = header(req, "if-match");
  if (ifMatch !== undefined) {
    // An `If-Match` that names no current tag (or names a file that does not exist) fails the precondition
    // (RFC 9110 §13.1.1); OneDrive's code for it is resourceModified (DC concepts/errors.md).
    const existing = state.drive.byPath(path);
    if (!existing || !namesTag(ifMatch, existing)) {
      throw new GraphError(412, "resourceModified", "The resource has changed since the caller last read it; usually an eTag mismatch.");
    }
  }
  const { file, created } = state.drive.put(path, req.body);
  state.notifications.publish({ kind: "driveItem", changeType: created ? "created" : "updated", userId: req.me ?? ME_ID, itemId: file.id });
  const payload = {
    "@odata.context": `${state.origin}/${req.version}/$metadata#drives('${encodeURIComponent(DRIVE_ID)}')/items/$entity`,
    ...driveItemJson(file, state.downloadUrl(file)),
  };
  return jsonReply(created ? 201 : 200, payload, "drive");
}

/** /me/drive/root:/{path}[:][/content] addressing (DC concepts/onedrive-concept-overview.md, path-based addressing). */
function driveByPath(req: GraphRequest, state: TenantState, rest: string): Match {
  let raw = rest;
  let content = false;
  if (/:\/content$/i.test(raw)) {
    raw = raw.slice(0, -":/content".length);
    content = true;
  } else if (raw.endsWith(":")) {
    raw = raw.slice(0, -1);
  }
  const path = "/" + raw.split("/").filter(Boolean).map(decodeSegment).join("/");
  if (path === "/") return on(req, "drive", { GET: () => rootItem(req, state) });
  const existing = (): DriveFile => {
    const file = state.drive.byPath(path);
    if (!file) throw itemNotFound();
    return file;
  };
  if (content) {
    return on(req, "drive", { GET: () => contentRedirect(req, state, existing()), PUT: () => upload(req, state, path) });
  }
  return on(req, "drive", { GET: () => itemMetadata(req, state, existing(), "root") });
}
