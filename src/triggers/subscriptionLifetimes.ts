/**
 * The longest lifetime Graph allows a subscription, per resource (DC concepts/includes/
 * change-notifications-subscription-lifetime.md, ms.date 11/07/2024). Graph refuses a longer
 * expirationDateTime, so the trigger defaults to the maximum and refuses more before sending.
 */

export interface LifetimeRule {
  /** What the row covers, as Microsoft's table names it. */
  row: string;
  maxMinutes: number;
  /** Outlook resources allow less when the notifications carry resource data. */
  maxMinutesWithResourceData?: number;
  matches: RegExp;
}

// Order matters: the first match wins, so Teams messages are tried before Outlook messages.
export const LIFETIME_RULES: readonly LifetimeRule[] = [
  { row: "presence", maxMinutes: 60, matches: /^communications\/presences/i },
  {
    row: "Teams Shifts (shift, timeOffRequest, openShiftChangeRequest, swapShiftsChangeRequest, offerShiftRequest)",
    maxMinutes: 360,
    matches: /\/schedule\/(shifts|timeOffRequests|openShiftChangeRequests|swapShiftsChangeRequests|offerShiftRequests)/i,
  },
  {
    row: "Teams callRecord, group conversation, printer, printTaskDefinition, todoTask, baseTask",
    maxMinutes: 4230,
    matches: /^(communications\/callRecords|groups\/[^/]+\/conversations|print\/|users\/[^/]+\/todo\/|me\/todo\/|.*\/tasks\/alltasks)/i,
  },
  {
    row: "Teams chatMessage, chat, channel, team, conversationMember, onlineMeeting, callRecording, callTranscript, teamsAppInstallation; Copilot aiInteraction",
    maxMinutes: 4320,
    matches: /^(chats|teams|appCatalogs\/teamsApps|communications\/onlineMeetings|copilot\/)|\/(chats|joinedTeams|onlineMeetings|installedApps)(\/|$|\?)|\/interactionHistory\//i,
  },
  {
    row: "Outlook message, event, contact",
    maxMinutes: 10_080,
    maxMinutesWithResourceData: 1440,
    matches: /^(me|users\/[^/]+)\/(messages|mailFolders|events|calendars?|calendarView|contacts|contactFolders)(\/|$|\?|\()/i,
  },
  { row: "security alert", maxMinutes: 43_200, matches: /^security\/alerts/i },
  { row: "Teams approvals", maxMinutes: 43_200, matches: /^solutions\/approval/i },
  {
    row: "OneDrive driveItem, SharePoint list, Entra health-monitoring alert",
    maxMinutes: 42_300,
    matches: /(^|\/)(drive|drives\/[^/]+)\/root(\/|$|\?)|^sites\/[^/]+\/lists\/|^reports\/healthMonitoring/i,
  },
  {
    row: "user, group, other directory resources",
    maxMinutes: 41_760,
    matches: /^(users|groups|directory|directoryRoles|administrativeUnits|servicePrincipals|applications|devices|contacts|domains)(\/|$|\?)/i,
  },
];

/** For a resource the table does not name: long enough for a daily renewal, short enough for most resources. */
export const UNKNOWN_RESOURCE_MINUTES = 4230;

export interface ResourceLifetime {
  row: string;
  maxMinutes: number;
  /** False when the resource is not in Microsoft's table: the default is then a cautious guess, not a limit. */
  known: boolean;
}

export function subscriptionLifetime(resource: string, includeResourceData = false): ResourceLifetime {
  const path = resource.trim().replace(/^\/+/, "");
  const rule = LIFETIME_RULES.find((r) => r.matches.test(path));
  if (!rule) return { row: "a resource missing from Microsoft's lifetime table", maxMinutes: UNKNOWN_RESOURCE_MINUTES, known: false };
  const max = includeResourceData && rule.maxMinutesWithResourceData ? rule.maxMinutesWithResourceData : rule.maxMinutes;
  return { row: includeResourceData && rule.maxMinutesWithResourceData ? `${rule.row}, with resource data` : rule.row, maxMinutes: max, known: true };
}

/**
 * The lifetime to ask for: the resource's maximum when none is given, else the given one if Graph allows it.
 * Returns an error text naming the maximum instead of a number when it does not.
 */
export function chooseLifetimeMinutes(resource: string, requested: number | undefined, includeResourceData: boolean): number | string {
  const lifetime = subscriptionLifetime(resource, includeResourceData);
  if (requested === undefined) return lifetime.maxMinutes;
  if (requested < 1) return "must be at least 1 minute";
  if (lifetime.known && requested > lifetime.maxMinutes) {
    return `${requested} minutes is longer than Microsoft Graph allows for ${lifetime.row}: at most ${lifetime.maxMinutes} minutes`;
  }
  return requested;
}

/**
 * Change types a resource supports (DC resources/subscription.md): drive root and lists only `updated`;
 * users and groups only `updated` and `deleted` (a new user is reported as `updated`). Others take all three.
 */
export function supportedChangeTypes(resource: string): readonly string[] {
  const path = resource.trim().replace(/^\/+/, "").split("?")[0];
  if (/(^|\/)(drive|drives\/[^/]+)\/root$|^sites\/[^/]+\/lists\/[^/]+$/i.test(path)) return ["updated"];
  if (/^(users|groups)$/i.test(path)) return ["updated", "deleted"];
  return ["created", "updated", "deleted"];
}
