import { createHash, randomUUID } from "node:crypto";

import { quickXorHash } from "./quickxor";

export type Entity = Record<string, unknown>;

export const TENANT_ID = "6e8f2a1c-3b5d-4c7e-9f01-2a3b4c5d6e7f";
export const TENANT_DOMAIN = "contoso.onmicrosoft.com";
export const VERIFIED_DOMAINS = [TENANT_DOMAIN, "contoso.com"];
const MY_SITE = "https://contoso-my.sharepoint.com/personal/meganb_contoso_onmicrosoft_com";

/** The signed-in user: Megan Bowen, the user of the Graph docs samples (DC user-get.md). */
export const ME_ID = "48d31887-5fad-4d73-a9f5-3c356e68a038";

const ME: Entity = {
  id: ME_ID,
  accountEnabled: true,
  businessPhones: ["+1 412 555 0109"],
  city: "Pittsburgh",
  companyName: "Contoso",
  country: "United States",
  createdDateTime: "2017-09-25T03:40:29Z",
  department: "Finance",
  displayName: "Megan Bowen",
  employeeId: "100000",
  givenName: "Megan",
  jobTitle: "Auditor",
  mail: "MeganB@contoso.onmicrosoft.com",
  mailNickname: "MeganB",
  mobilePhone: null,
  officeLocation: "12/1110",
  otherMails: [],
  postalCode: "15212",
  preferredLanguage: "en-US",
  proxyAddresses: ["SMTP:MeganB@contoso.onmicrosoft.com"],
  state: "PA",
  streetAddress: "30 Isabella St., Second Floor",
  surname: "Bowen",
  usageLocation: "US",
  userPrincipalName: "MeganB@contoso.onmicrosoft.com",
  userType: "Member",
};

/** Structural properties of microsoft.graph.user (v1.0 resource doc); unknown names in $select are rejected. */
export const USER_PROPERTIES = [
  "id", "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans", "birthday",
  "businessPhones", "city", "companyName", "consentProvidedForMinor", "country", "createdDateTime",
  "creationType", "deletedDateTime", "department", "displayName", "employeeHireDate", "employeeId",
  "employeeLeaveDateTime", "employeeOrgData", "employeeType", "externalUserState",
  "externalUserStateChangeDateTime", "faxNumber", "givenName", "hireDate", "identities", "imAddresses",
  "interests", "isResourceAccount", "jobTitle", "lastPasswordChangeDateTime",
  "legalAgeGroupClassification", "licenseAssignmentStates", "mail", "mailboxSettings", "mailNickname",
  "mobilePhone", "mySite", "officeLocation", "onPremisesDistinguishedName", "onPremisesDomainName",
  "onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
  "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
  "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
  "passwordProfile", "pastProjects", "postalCode", "preferredDataLocation", "preferredLanguage",
  "preferredName", "provisionedPlans", "proxyAddresses", "responsibilities", "schools",
  "securityIdentifier", "showInAddressList", "signInActivity", "signInSessionsValidFromDateTime",
  "skills", "state", "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType",
];

/** Properties GET /users returns without $select on v1.0, in Graph's order (DC user-list.md). */
export const USER_DEFAULT_V1 = [
  "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
  "preferredLanguage", "surname", "userPrincipalName", "id",
];

/** beta returns the full stored property set by default. */
export const USER_DEFAULT_BETA = [
  "id", "deletedDateTime", "accountEnabled", "businessPhones", "city", "companyName", "country",
  "createdDateTime", "creationType", "department", "displayName", "employeeId", "givenName",
  "imAddresses", "jobTitle", "mail", "mailNickname", "mobilePhone", "officeLocation", "otherMails",
  "postalCode", "preferredLanguage", "proxyAddresses", "securityIdentifier", "state", "streetAddress",
  "surname", "usageLocation", "userPrincipalName", "userType",
];

/** Properties POST /users and PATCH /users/{id} may set. */
export const USER_WRITABLE = new Set([
  "aboutMe", "accountEnabled", "ageGroup", "birthday", "businessPhones", "city", "companyName",
  "consentProvidedForMinor", "country", "department", "displayName", "employeeHireDate", "employeeId",
  "employeeLeaveDateTime", "employeeOrgData", "employeeType", "faxNumber", "givenName", "hireDate",
  "identities", "interests", "jobTitle", "mail", "mailNickname", "mobilePhone", "mySite",
  "officeLocation", "onPremisesExtensionAttributes", "onPremisesImmutableId", "otherMails",
  "passwordPolicies", "passwordProfile", "pastProjects", "postalCode", "preferredDataLocation",
  "preferredLanguage", "preferredName", "responsibilities", "schools", "showInAddressList", "skills",
  "state", "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType",
]);

/** Required on create (DC user-post-users.md, "Request body"). */
export const USER_REQUIRED = ["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"];

const FIRST = [
  "Adele", "Alex", "Allan", "Bianca", "Brian", "Cameron", "Christie", "Debra", "Diego", "Emily",
  "Enrico", "Gerhart", "Grady", "Henrietta", "Irvin", "Isaiah", "Johanna", "Joni", "Lee", "Lidia",
  "Lynne", "Miriam", "Nestor", "Patti", "Pradeep", "Raul", "Sanjay", "Sara", "Tomas", "Yasmin",
  "Zrinka", "Omar", "Priya", "Kenji", "Fatima", "Lucas", "Ingrid", "Mateo", "Aisha", "Noah",
];
const LAST = [
  "Vance", "Wilber", "Deyoung", "Pinchon", "Johnson", "White", "Cline", "Berger", "Siciliani", "Braun",
  "Cattaneo", "Moser", "Archie", "Kelly", "Sayers", "Langer", "Lauer", "Sherman", "Gu", "Holloway",
  "Robbins", "Graham", "Wilke", "Fernandez", "Gupta", "Razo", "Patel", "Davis", "Novak", "Haddad",
  "Makovac", "Nakamura", "Rossi", "Okafor", "Lindqvist", "Moreau", "Silva", "Kowalski", "Tanaka", "Osei",
];
const JOBS = [
  "Retail Manager", "Marketing Assistant", "Operations Manager", "Sales Representative", "Developer",
  "Product Manager", "Accountant", "Paralegal", "HR Manager", "Designer", "Attorney", "Director",
  "IT Admin", "Support Engineer", "Data Analyst", "Program Manager",
];
const DEPARTMENTS = ["Retail", "Marketing", "Operations", "Sales", "Engineering", "Finance", "Legal", "Human Resources", "IT"];
const SITES = [
  { city: "Redmond", state: "WA", postalCode: "98052", street: "One Microsoft Way", phone: "+1 425 555" },
  { city: "Seattle", state: "WA", postalCode: "98101", street: "1 Pike Place", phone: "+1 206 555" },
  { city: "Pittsburgh", state: "PA", postalCode: "15212", street: "30 Isabella St.", phone: "+1 412 555" },
  { city: "Charlotte", state: "NC", postalCode: "28202", street: "200 S Tryon St.", phone: "+1 980 555" },
  { city: "Austin", state: "TX", postalCode: "78701", street: "500 W 2nd St.", phone: "+1 512 555" },
];
const LANGUAGES = ["en-US", "en-US", "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP"];

const NAME_COMBOS = FIRST.length * LAST.length;
const CREATED_EPOCH = Date.UTC(2018, 0, 8, 9, 0, 0);

// lowbias32 (Chris Wellons' hash-prospector) and its exact inverse: ids decode back to their index.
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}
function unmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x43021123);
  x ^= (x >>> 15) ^ (x >>> 30);
  x = Math.imul(x, 0x1d69e2a5);
  x ^= x >>> 16;
  return x >>> 0;
}
const ID_SEED = 0x5eed1e55;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hex4(n: number): string {
  return HEX[(n >>> 8) & 255] + HEX[n & 255];
}
function hex8(n: number): string {
  return hex4(n >>> 16) + hex4(n & 0xffff);
}
function byteSwap(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

/** A generated user's GUID as four big-endian words; the first decodes back to the index. */
function userGuidWords(index: number): [number, number, number, number] {
  const head = mix32((index ^ ID_SEED) >>> 0);
  const a = mix32(head ^ 0x9e3779b9);
  const b = mix32(a ^ 0x85ebca6b);
  const c = mix32(b ^ 0xc2b2ae35);
  // Version 4 in the third group, RFC 4122 variant in the fourth.
  return [head, ((a & 0xffff0fff) | 0x4000) >>> 0, ((b & 0x3fffffff) | 0x80000000) >>> 0, c];
}

function formatGuid([w0, w1, w2, w3]: [number, number, number, number]): string {
  return `${hex8(w0)}-${hex4(w1 >>> 16)}-${hex4(w1 & 0xffff)}-${hex4(w2 >>> 16)}-${hex4(w2 & 0xffff)}${hex8(w3)}`;
}

/** Objectid → Windows SID as Entra ID derives it: S-1-12-1 plus the GUID's .NET bytes read as four little-endian uint32s. */
function sidFromWords([w0, w1, w2, w3]: [number, number, number, number]): string {
  return `S-1-12-1-${w0}-${(w1 & 0xffff) * 65536 + (w1 >>> 16)}-${byteSwap(w2)}-${byteSwap(w3)}`;
}

export function securityIdentifierFor(id: string): string {
  const h = id.replace(/-/g, "");
  return sidFromWords([0, 8, 16, 24].map((i) => parseInt(h.slice(i, i + 8), 16)) as [number, number, number, number]);
}

/** A version-4-shaped GUID whose first 8 hex digits decode back to `index`. */
export function userIdFor(index: number): string {
  return index === 0 ? ME_ID : formatGuid(userGuidWords(index));
}

export function indexOfUserId(id: string): number | undefined {
  const lower = id.toLowerCase();
  if (lower === ME_ID) return 0;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(lower)) return undefined;
  const index = (unmix32(parseInt(lower.slice(0, 8), 16)) ^ ID_SEED) >>> 0;
  return userIdFor(index) === lower ? index : undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}

function nicknameParts(index: number): { first: number; last: number; round: number } {
  const first = index % FIRST.length;
  const b = Math.floor(index / FIRST.length) % LAST.length;
  return { first, last: (first + b) % LAST.length, round: Math.floor(index / NAME_COMBOS) };
}

/** Inverse of the nickname scheme "Given.Surname[round]": the index it would belong to. */
function indexOfNickname(nickname: string): number | undefined {
  const m = /^([a-z]+)\.([a-z]+?)(\d*)$/i.exec(nickname);
  if (!m) return undefined;
  const first = FIRST.findIndex((n) => n.toLowerCase() === m[1].toLowerCase());
  const last = LAST.findIndex((n) => n.toLowerCase() === m[2].toLowerCase());
  if (first < 0 || last < 0 || (m[3] !== "" && (m[3].startsWith("0") || m[3] === "1"))) return undefined;
  const round = m[3] === "" ? 0 : Number(m[3]) - 1;
  const b = (((last - first) % LAST.length) + LAST.length) % LAST.length;
  return round * NAME_COMBOS + b * FIRST.length + first;
}

const ME_FULL: Entity = {
  ...ME,
  deletedDateTime: null,
  creationType: null,
  imAddresses: ["meganb@contoso.onmicrosoft.com"],
  securityIdentifier: securityIdentifierFor(ME_ID),
};

interface UserSeed {
  index: number;
  givenName: string;
  surname: string;
  nickname: string;
  upn: string;
  site: (typeof SITES)[number];
  words: [number, number, number, number];
}

function seedOf(index: number): UserSeed {
  const { first, last, round } = nicknameParts(index);
  const nickname = `${FIRST[first]}.${LAST[last]}${round === 0 ? "" : round + 1}`;
  return {
    index,
    givenName: FIRST[first],
    surname: LAST[last],
    nickname,
    upn: `${nickname}@${TENANT_DOMAIN}`,
    site: SITES[index % SITES.length],
    words: userGuidWords(index),
  };
}

/** One computer per stored property, so a page that selects `id` does not pay for the rest. */
const GENERATED_FIELDS: [string, (s: UserSeed) => unknown][] = [
  ["id", (s) => formatGuid(s.words)],
  ["deletedDateTime", () => null],
  ["accountEnabled", (s) => s.index % 23 !== 22],
  ["businessPhones", (s) => (s.index % 5 === 4 ? [] : [`${s.site.phone} ${pad((s.index * 7919) % 10000, 4)}`])],
  ["city", (s) => s.site.city],
  ["companyName", () => "Contoso"],
  ["country", () => "United States"],
  ["createdDateTime", (s) => isoSeconds(CREATED_EPOCH + s.index * 3_571_000)],
  ["creationType", () => null],
  ["department", (s) => DEPARTMENTS[(s.index * 5) % DEPARTMENTS.length]],
  ["displayName", (s) => `${s.givenName} ${s.surname}`],
  ["employeeId", (s) => pad(100000 + s.index, 6)],
  ["givenName", (s) => s.givenName],
  ["imAddresses", (s) => [s.upn.toLowerCase()]],
  ["jobTitle", (s) => JOBS[(s.index * 7) % JOBS.length]],
  ["mail", (s) => s.upn],
  ["mailNickname", (s) => s.nickname],
  ["mobilePhone", (s) => (s.index % 3 === 0 ? null : `+1 555 555 ${pad((s.index * 104729) % 10000, 4)}`)],
  ["officeLocation", (s) => `${10 + (s.index % 30)}/${pad(1000 + ((s.index * 37) % 2000), 4)}`],
  ["otherMails", () => []],
  ["postalCode", (s) => s.site.postalCode],
  ["preferredLanguage", (s) => LANGUAGES[s.index % LANGUAGES.length]],
  ["proxyAddresses", (s) => [`SMTP:${s.upn}`]],
  ["securityIdentifier", (s) => sidFromWords(s.words)],
  ["state", (s) => s.site.state],
  ["streetAddress", (s) => s.site.street],
  ["surname", (s) => s.surname],
  ["usageLocation", () => "US"],
  ["userPrincipalName", (s) => s.upn],
  ["userType", () => "Member"],
];
const FIELD_BY_NAME = new Map(GENERATED_FIELDS);

/** User `index` of the generated tenant; with `fields`, only those properties are computed. */
export function generateUser(index: number, fields?: readonly string[]): Entity {
  if (index === 0) return { ...ME_FULL };
  const seed = seedOf(index);
  const user: Entity = {};
  if (fields) {
    for (const name of fields) {
      const make = FIELD_BY_NAME.get(name);
      if (make) user[name] = make(seed);
    }
  } else {
    for (const [name, make] of GENERATED_FIELDS) user[name] = make(seed);
  }
  return user;
}

/** One write to the user collection, as delta query reports it later. */
export interface UserChange {
  position: number;
  id: string;
  kind: "created" | "updated" | "deleted";
  /** Properties whose value changed (all stored ones for "created"). */
  props: string[];
}

/**
 * The user collection: generated users 0..size-1 (computed on demand) followed by users created
 * through POST, with patches and deletions overlaid. Positions are stable, which is what paging relies on.
 * Every write is appended to a change log; its length is the change sequence that delta tokens carry.
 */
export class UserDirectory {
  private changeLog: UserChange[] = [];
  private patches = new Map<number, Entity>();
  private deleted = new Set<number>();
  private created: (Entity | undefined)[] = [];
  private createdPositions = new Map<string, number>();
  /** Lower-cased UPN → id for users whose UPN is not the generated one. */
  private upns = new Map<string, string>();

  constructor(private readonly size: number) {}

  get length(): number {
    return this.size + this.created.length;
  }

  /** Positions below this are generated users (they have a manager and groups); the rest were created by POST. */
  get generated(): number {
    return this.size;
  }

  /** The user at a position, or undefined if it was deleted; `fields` limits what must be computed. */
  at(position: number, fields?: readonly string[]): Entity | undefined {
    if (position < this.size) {
      if (this.deleted.has(position)) return undefined;
      const patch = this.patches.get(position);
      return patch ? { ...generateUser(position, fields), ...patch } : generateUser(position, fields);
    }
    return this.created[position - this.size];
  }

  /** Resolves an id or userPrincipalName, as /users/{id | userPrincipalName} does. */
  find(key: string): { position: number; user: Entity } | undefined {
    const position = this.positionOf(key);
    if (position === undefined) return undefined;
    const user = this.at(position);
    return user ? { position, user } : undefined;
  }

  count(): number {
    return this.size - this.deleted.size + this.created.filter(Boolean).length;
  }

  /** Number of writes so far; a delta token taken now reports the changes after it. */
  get sequence(): number {
    return this.changeLog.length;
  }

  /** Writes numbered from+1 .. to, oldest first. */
  changes(from: number, to: number): readonly UserChange[] {
    return this.changeLog.slice(from, to);
  }

  create(props: Entity): Entity {
    const id = randomUUID();
    const upn = String(props.userPrincipalName);
    const user: Entity = {
      id,
      deletedDateTime: null,
      accountEnabled: props.accountEnabled,
      businessPhones: [],
      city: null,
      companyName: null,
      country: null,
      createdDateTime: isoSeconds(Date.now()),
      creationType: null,
      department: null,
      displayName: props.displayName,
      employeeId: null,
      givenName: null,
      imAddresses: [],
      jobTitle: null,
      // Entra ID fills mail only once Exchange provisions a mailbox.
      mail: null,
      mailNickname: props.mailNickname,
      mobilePhone: null,
      officeLocation: null,
      otherMails: [],
      postalCode: null,
      preferredLanguage: null,
      proxyAddresses: [],
      securityIdentifier: securityIdentifierFor(id),
      state: null,
      streetAddress: null,
      surname: null,
      usageLocation: null,
      userPrincipalName: upn,
      userType: "Member",
      ...storable(props),
    };
    const position = this.size + this.created.length;
    this.createdPositions.set(id, position);
    this.created.push(user);
    this.upns.set(upn.toLowerCase(), id);
    this.changeLog.push({ position, id, kind: "created", props: Object.keys(user) });
    return user;
  }

  update(position: number, props: Entity): void {
    const before = this.at(position);
    if (!before) return;
    const changes = storable(props);
    const changed = Object.keys(changes).filter((key) => JSON.stringify(changes[key]) !== JSON.stringify(before[key] ?? null));
    if (changed.length > 0) this.changeLog.push({ position, id: String(before.id), kind: "updated", props: changed });
    if (typeof changes.userPrincipalName === "string") {
      this.upns.delete(String(before.userPrincipalName).toLowerCase());
      this.upns.set(changes.userPrincipalName.toLowerCase(), String(before.id));
    }
    if (position < this.size) {
      this.patches.set(position, { ...this.patches.get(position), ...changes });
    } else {
      this.created[position - this.size] = { ...before, ...changes };
    }
  }

  remove(position: number): void {
    const user = this.at(position);
    if (!user) return;
    this.upns.delete(String(user.userPrincipalName).toLowerCase());
    if (position < this.size) this.deleted.add(position);
    else this.created[position - this.size] = undefined;
    this.changeLog.push({ position, id: String(user.id), kind: "deleted", props: [] });
  }

  private positionOf(key: string): number | undefined {
    const lower = key.toLowerCase();
    if (lower.includes("@")) {
      const id = this.upns.get(lower);
      if (id !== undefined) return this.positionOf(id);
      const [local, domain] = lower.split("@");
      const index = domain !== TENANT_DOMAIN ? undefined : lower === String(ME.userPrincipalName).toLowerCase() ? 0 : indexOfNickname(local);
      if (index === undefined || index >= this.size) return undefined;
      const user = this.at(index);
      return user && String(user.userPrincipalName).toLowerCase() === lower ? index : undefined;
    }
    const created = this.createdPositions.get(lower);
    if (created !== undefined) return created;
    const index = indexOfUserId(lower);
    return index !== undefined && index < this.size ? index : undefined;
  }
}

/** passwordProfile is write-only: Graph never returns it. */
function storable(props: Entity): Entity {
  const out: Entity = {};
  for (const [key, value] of Object.entries(props)) {
    if (key !== "passwordProfile" && !key.includes("@")) out[key] = value;
  }
  return out;
}

function guidFromName(kind: string, name: string): string {
  const h = createHash("sha1").update(`${kind}:${name}`).digest("hex");
  const variant = "89ab"[parseInt(h[16], 16) & 3];
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

type GroupKind = "team" | "unified" | "security" | "mailSecurity" | "distribution";

const GROUP_SEED: { name: string; kind: GroupKind; description: string; visibility?: "Public" | "Private" }[] = [
  { name: "Mark 8 Project Team", kind: "team", description: "Welcome to the team that we've assembled to create the Mark 8.", visibility: "Public" },
  { name: "Sales and Marketing", kind: "team", description: "Marketing and sales campaigns for Contoso.", visibility: "Public" },
  { name: "Retail", kind: "team", description: "Retail stores and merchandising.", visibility: "Private" },
  { name: "Digital Initiative Public Relations", kind: "team", description: "Marketing campaigns for the digital initiative.", visibility: "Public" },
  { name: "All Company", kind: "unified", description: "This is the default group for everyone in the network", visibility: "Public" },
  { name: "U.S. Sales", kind: "unified", description: "All US sales teams.", visibility: "Private" },
  { name: "Leadership", kind: "unified", description: "Executive leadership.", visibility: "Private" },
  { name: "Finance", kind: "unified", description: "Finance department.", visibility: "Private" },
  { name: "Human Resources", kind: "unified", description: "HR policies and announcements.", visibility: "Private" },
  { name: "Legal", kind: "unified", description: "Contracts and compliance.", visibility: "Private" },
  { name: "Engineering", kind: "unified", description: "Product engineering.", visibility: "Public" },
  { name: "Contoso Admins", kind: "security", description: "Tenant administrators." },
  { name: "VPN Users", kind: "security", description: "Users allowed to connect through the corporate VPN." },
  { name: "Intune Pilot Devices", kind: "security", description: "Devices in the Intune pilot ring." },
  { name: "SharePoint Owners", kind: "security", description: "Owners of the intranet sites." },
  { name: "Finance Security", kind: "security", description: "Access to finance systems." },
  { name: "Payroll Approvers", kind: "mailSecurity", description: "Approvers for payroll runs." },
  { name: "Sales Leadership DL", kind: "distribution", description: "Sales leadership distribution list." },
  { name: "IT Announcements", kind: "distribution", description: "IT service announcements." },
  { name: "Contoso Events", kind: "distribution", description: "Company events and celebrations." },
];

function nicknameOf(name: string): string {
  return name.replace(/[^A-Za-z0-9]/g, "");
}

/** Group entities in the v1.0 default property order of GET /groups (DC group-list.md). */
export const GROUPS: Entity[] = GROUP_SEED.map((seed, i) => {
  const id = guidFromName("group", seed.name);
  const unified = seed.kind === "team" || seed.kind === "unified";
  const mailEnabled = seed.kind !== "security";
  const nickname = nicknameOf(seed.name);
  const mail = mailEnabled ? `${nickname}@${TENANT_DOMAIN}` : null;
  const created = isoSeconds(Date.UTC(2017, 8, 25, 3, 40, 29) + i * 86_400_000 * 11);
  return {
    id,
    deletedDateTime: null,
    classification: null,
    createdDateTime: created,
    creationOptions: seed.kind === "team" ? ["Team", "ExchangeProvisioningFlags:3552"] : [],
    description: seed.description,
    displayName: seed.name,
    expirationDateTime: null,
    groupTypes: unified ? ["Unified"] : [],
    isAssignableToRole: null,
    mail,
    mailEnabled,
    mailNickname: mailEnabled ? nickname : `${nickname.toLowerCase()}-${id.slice(0, 4)}`,
    membershipRule: null,
    membershipRuleProcessingState: null,
    onPremisesDomainName: null,
    onPremisesLastSyncDateTime: null,
    onPremisesNetBiosName: null,
    onPremisesSamAccountName: null,
    onPremisesSecurityIdentifier: null,
    onPremisesSyncEnabled: null,
    preferredDataLocation: null,
    preferredLanguage: null,
    proxyAddresses: mail ? [`SMTP:${mail}`] : [],
    renewedDateTime: created,
    resourceBehaviorOptions: [],
    resourceProvisioningOptions: seed.kind === "team" ? ["Team"] : [],
    securityEnabled: seed.kind !== "distribution" && seed.kind !== "unified" && seed.kind !== "team",
    securityIdentifier: securityIdentifierFor(id),
    theme: null,
    visibility: seed.visibility ?? null,
    onPremisesProvisioningErrors: [],
    serviceProvisioningErrors: [],
  };
});

/** Who has a profile photo: Megan Bowen and four in five generated users; users created by POST have none. */
export function hasPhoto(position: number, generated: number): boolean {
  return position < generated && position % 5 !== 4;
}

/** The tenant's root SharePoint site, as GET /sites/root answers it (DC site-get.md, "root site" sample). */
export const ROOT_SITE: Entity = {
  createdDateTime: "2017-09-25T03:38:41Z",
  description: "",
  id: "contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fda80a,2d2244c3-251a-49ea-93a8-39e1c3a060fe",
  lastModifiedDateTime: "2023-03-14T09:28:41Z",
  name: "",
  webUrl: "https://contoso.sharepoint.com",
  displayName: "Communication site",
  root: {},
  siteCollection: { hostname: "contoso.sharepoint.com" },
};

/** "All Company" holds every user, so an expanded member list always meets Graph's 20-object cap. */
export const ALL_COMPANY_GROUP = GROUPS.findIndex((g) => g.displayName === "All Company");

/**
 * The org chart of the generated tenant: user 1 (Alex Wilber) heads it, users 0 and 2..15 report to user 1,
 * user n >= 16 to user floor(n / 8). Users created by POST have none. Megan Bowen (user 0) reports to Alex
 * Wilber as in the Graph Explorer sample tenant.
 */
export function managerPositionOf(position: number, generated: number): number | undefined {
  if (position === 1 || position >= generated) return undefined;
  const manager = position < 16 ? 1 : Math.floor(position / 8);
  return manager < generated ? manager : undefined;
}

/**
 * The inverse of managerPositionOf, in closed form (no scan of the tenant): user 1 manages users 0 and
 * 2..15, user m >= 2 manages users 8m..8m+7, each only if generated; user 0 and users created by POST
 * manage no one. Ascending positions, deleted users included (the caller skips them), at most 15.
 */
export function reportPositionsOf(manager: number, generated: number): number[] {
  const generatedIn = (from: number, to: number): number[] => {
    const end = Math.min(to, generated);
    return Array.from({ length: Math.max(0, end - from) }, (_, i) => from + i);
  };
  if (manager >= generated || manager === 0) return [];
  if (manager === 1) return [0, ...generatedIn(2, 16)];
  return generatedIn(8 * manager, 8 * manager + 8);
}

/** Group indexes a user belongs to: group (position mod 20) and All Company; created users only All Company. */
export function groupIndexesOf(position: number, generated: number): number[] {
  const own = position % GROUPS.length;
  if (position >= generated || own === ALL_COMPANY_GROUP) return [ALL_COMPANY_GROUP];
  return own < ALL_COMPANY_GROUP ? [own, ALL_COMPANY_GROUP] : [ALL_COMPANY_GROUP, own];
}

/** The inverse of groupIndexesOf: a group's member positions in position order (deleted ones included). */
export function* memberPositionsOf(group: number, generated: number, length: number): Generator<number> {
  if (group === ALL_COMPANY_GROUP) {
    for (let p = 0; p < length; p++) yield p;
    return;
  }
  for (let p = group; p < generated; p += GROUPS.length) yield p;
}

export const GROUP_PROPERTIES = [
  ...Object.keys(GROUPS[0]),
  "acceptedSenders", "allowExternalSenders", "assignedLabels", "assignedLicenses", "autoSubscribeNewMembers",
  "hasMembersWithLicenseErrors", "hideFromAddressLists", "hideFromOutlookClients", "isSubscribedByMail",
  "licenseProcessingState", "unseenCount",
];

const TEAM_GROUPS = GROUPS.filter((g) => (g.resourceProvisioningOptions as string[]).includes("Team"));

/** A microsoft.graph.team in the property order Graph serialises it (DC user-list-joinedteams.md sample). */
function teamJson(group: Entity, visibility: string | null): Entity {
  return {
    id: group.id,
    createdDateTime: null,
    displayName: group.displayName,
    description: group.description,
    internalId: null,
    classification: null,
    specialization: null,
    visibility,
    webUrl: null,
    isArchived: group.displayName === "Retail",
    tenantId: TENANT_ID,
    isMembershipLimitedToOwners: null,
    memberSettings: null,
    guestSettings: null,
    messagingSettings: null,
    funSettings: null,
    discoverySettings: null,
    tagSettings: null,
    summary: null,
  };
}

/**
 * /me/joinedTeams items. Graph fills only id, displayName, description (plus isArchived and tenantId)
 * and sends the other team properties as null (DC user-list-joinedteams.md, "Response" note).
 */
export const JOINED_TEAMS: Entity[] = TEAM_GROUPS.map((g) => teamJson(g, null));

/**
 * GET /teams items: the tenant's team-kind groups. The list guarantees id, displayName and description
 * (DC teams-list.md note); visibility (teamVisibilityType, lower case) is filled from the backing group.
 */
export const TEAMS: Entity[] = TEAM_GROUPS.map((g) => teamJson(g, typeof g.visibility === "string" ? g.visibility.toLowerCase() : null));

export const TEAM_PROPERTIES = Object.keys(TEAMS[0]);

const EXTRA_CHANNELS: { name: string; description: string; membershipType: "standard" | "private" }[] = [
  { name: "Announcements", description: "Team news and updates.", membershipType: "standard" },
  { name: "Planning", description: "Roadmaps, milestones and schedules.", membershipType: "standard" },
  { name: "Design", description: "Specs, mock-ups and reviews.", membershipType: "standard" },
  { name: "Leads", description: "Private channel for team leads.", membershipType: "private" },
  { name: "Random", description: "Anything goes.", membershipType: "standard" },
];

function channelId(teamId: string, name: string): string {
  return `19:${createHash("sha1").update(`channel:${teamId}:${name}`).digest("hex").slice(0, 32)}@thread.tacv2`;
}

/**
 * A channel in the shape of DC channel-get.md (example 3): id "19:…@thread.tacv2", webUrl a Teams deep link
 * with the id percent-encoded, email "" until someone emails the channel.
 */
function channelJson(team: Entity, name: string, description: string, membershipType: string, index: number): Entity {
  const id = channelId(String(team.id), name);
  const group = TEAM_GROUPS.find((g) => g.id === team.id);
  const created = Date.parse(String(group?.createdDateTime)) + index * 3_600_000 * 26 + 692;
  return {
    id,
    createdDateTime: new Date(created).toISOString(),
    displayName: name,
    description,
    isFavoriteByDefault: null,
    email: "",
    tenantId: TENANT_ID,
    webUrl: `https://teams.microsoft.com/l/channel/${encodeURIComponent(id)}/${encodeURIComponent(name)}?groupId=${String(team.id)}&tenantId=${TENANT_ID}`,
    membershipType,
    isArchived: team.isArchived,
  };
}

/** Every team has "General" (described like the team) plus 1–3 channels chosen from its id. */
export const CHANNELS: ReadonlyMap<string, Entity[]> = new Map(
  TEAMS.map((team) => {
    const seed = parseInt(String(team.id).slice(0, 8), 16);
    const extra = 1 + (seed % 3);
    const picked = Array.from({ length: extra }, (_, i) => EXTRA_CHANNELS[(seed + i * 2) % EXTRA_CHANNELS.length]);
    const unique = picked.filter((c, i) => picked.findIndex((o) => o.name === c.name) === i);
    return [
      String(team.id),
      [
        channelJson(team, "General", String(team.description), "standard", 0),
        ...unique.map((c, i) => channelJson(team, c.name, c.description, c.membershipType, i + 1)),
      ],
    ];
  }),
);

export const CHANNEL_PROPERTIES = Object.keys([...CHANNELS.values()][0][0]);

export const DRIVE_ID = "b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd";
export const ROOT_ITEM_ID = "01BYE5RZ56Y2GOVW7725BZO354PWSELRRZ";

export interface DriveFile {
  id: string;
  /** Path below the drive root, e.g. "/hello.txt". */
  path: string;
  bytes: Buffer;
  mimeType: string;
  listItemId: string;
  version: number;
  createdDateTime: string;
  lastModifiedDateTime: string;
}

// A 1x1 PNG: its signature starts with 0x89, so clients that decode binary as text corrupt it.
const PNG_1X1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

const MIME_BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  csv: "text/csv",
  json: "application/json",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
};

/** OneDrive derives mimeType from the file name, not from the upload's Content-Type. */
export function mimeTypeFor(name: string): string {
  const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
  return MIME_BY_EXTENSION[ext] ?? "application/octet-stream";
}

function driveItemId(seed: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const digest = createHash("sha256").update(seed).digest();
  let out = "01BYE5RZ";
  for (let i = 0; out.length < 34; i++) out += alphabet[digest[i] & 31];
  return out;
}

function seedFiles(): DriveFile[] {
  const seeded: [string, Buffer, string][] = [
    ["/hello.txt", Buffer.from("Hello, world!\nGrüße aus Contoso.\n", "utf8"), "2023-03-14T09:26:53Z"],
    ["/logo.png", PNG_1X1, "2023-03-14T09:27:10Z"],
    ["/data.bin", Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) & 0xff)), "2023-03-14T09:28:41Z"],
  ];
  return seeded.map(([path, bytes, when]) => ({
    id: driveItemId(path),
    path,
    bytes,
    mimeType: mimeTypeFor(path),
    listItemId: guidFromName("listitem", path).toUpperCase(),
    version: 1,
    createdDateTime: when,
    lastModifiedDateTime: when,
  }));
}

export class Drive {
  private files = new Map<string, DriveFile>();

  constructor() {
    this.reset();
  }

  reset(): void {
    this.files = new Map(seedFiles().map((f) => [f.id, f]));
  }

  get(id: string): DriveFile | undefined {
    return this.files.get(id.toUpperCase());
  }

  byPath(path: string): DriveFile | undefined {
    const wanted = normalisePath(path).toLowerCase();
    for (const file of this.files.values()) if (file.path.toLowerCase() === wanted) return file;
    return undefined;
  }

  list(): DriveFile[] {
    return [...this.files.values()];
  }

  /** Simple upload: replaces the file at `path` or creates it. */
  put(path: string, bytes: Buffer): { file: DriveFile; created: boolean } {
    const existing = this.byPath(path);
    const now = isoSeconds(Date.now());
    if (existing) {
      const file = { ...existing, bytes, version: existing.version + 1, lastModifiedDateTime: now };
      this.files.set(file.id, file);
      return { file, created: false };
    }
    const normalised = normalisePath(path);
    const file: DriveFile = {
      id: driveItemId(`${normalised}:${randomUUID()}`),
      path: normalised,
      bytes,
      mimeType: mimeTypeFor(normalised),
      listItemId: randomUUID().toUpperCase(),
      version: 1,
      createdDateTime: now,
      lastModifiedDateTime: now,
    };
    this.files.set(file.id, file);
    return { file, created: true };
  }
}

function normalisePath(path: string): string {
  return "/" + path.split("/").filter(Boolean).join("/");
}

/** A file's eTag: it changes with any change to the item, metadata or content (DC resources/driveitem.md). */
export function itemETag(file: DriveFile): string {
  return `"{${file.listItemId}},${file.version}"`;
}

/** A file's cTag: it changes when the content changes (DC resources/driveitem.md). */
export function itemCTag(file: DriveFile): string {
  return `"c:{${file.listItemId}},${file.version}"`;
}

/** A driveItem as Graph returns it for a OneDrive for Business file (DC driveitem-get.md). */
export function driveItemJson(file: DriveFile, downloadUrl: string): Entity {
  const name = file.path.slice(file.path.lastIndexOf("/") + 1);
  const parent = file.path.slice(0, file.path.lastIndexOf("/"));
  const owner = { user: { email: ME.mail, id: ME_ID, displayName: ME.displayName } };
  return {
    "@microsoft.graph.downloadUrl": downloadUrl,
    createdDateTime: file.createdDateTime,
    eTag: itemETag(file),
    id: file.id,
    lastModifiedDateTime: file.lastModifiedDateTime,
    name,
    webUrl: `${MY_SITE}/Documents${file.path.split("/").map(encodeURIComponent).join("/")}`,
    cTag: itemCTag(file),
    size: file.bytes.length,
    createdBy: owner,
    lastModifiedBy: owner,
    parentReference: { driveType: "business", driveId: DRIVE_ID, id: ROOT_ITEM_ID, path: `/drive/root:${parent}` },
    file: { mimeType: file.mimeType, hashes: { quickXorHash: quickXorHash(file.bytes) } },
    fileSystemInfo: { createdDateTime: file.createdDateTime, lastModifiedDateTime: file.lastModifiedDateTime },
  };
}
