import { LIFETIME_RULES, UNKNOWN_RESOURCE_MINUTES } from "../triggers/subscriptionLifetimes";

/**
 * documentation.md, generated from the component definition so it can never drift from what the
 * platform shows: `npm run docs` writes it, and a test fails when it is stale.
 */
interface DocInput {
  key: string;
  label: string;
  comments?: string;
  default?: unknown;
  type?: string;
  shown?: boolean;
  model?: Array<{ label: string; value: string }>;
}

interface DocComponent {
  display: { label: string; description: string; iconPath?: string };
  connections: Array<{ key: string; label: string; comments?: string; inputs: unknown }>;
  actions: Record<string, { display: { label: string; description: string }; inputs: unknown }>;
  dataSources?: Record<string, { display: { label: string; description: string }; inputs: unknown }>;
  triggers?: Record<string, { display: { label: string; description: string }; inputs: unknown; staticBranchNames?: string[] }>;
}

const CONNECTION_GUIDES: Record<string, string> = {
  oauth: `To use the Microsoft Graph API component, configure an OAuth 2.0 application through Active Directory in the [Microsoft Azure Portal](https://portal.azure.com/#home).

When creating the application you will be prompted to select the **Supported account types**.
Under this section, be sure to select **Accounts in any organizational directory (Any Azure AD directory - Multitenant)** so that users outside of your organization (i.e. your customers) can authenticate.
You will need to go to **Platforms** and add the **Web** platform.
In that section you should add the OAuth 2.0 callback URL - \`https://oauth2.%WHITE_LABEL_BASE_URL%/callback\` - as a **Redirect URI**.

Next, go to **Certificates & Secrets** for the app and add a new **Client Secret**.
Copy the **value** (not ID) of the secret for future use.

You will also need the **Application (client) ID** from the "Overview" page.

Next, supply the following values to the **OAuth 2.0** connection:

- For **Client ID** and **Client Secret** enter the values that you got from the Microsoft Azure Portal.
- The **Scopes** your integration requires.
  You can find scopes on [Microsoft Graph permissions reference](https://learn.microsoft.com/en-us/graph/permissions-reference), or by making test calls in the [Graph Explorer](https://developer.microsoft.com/en-us/graph/graph-explorer).
- Additionally, ensure the \`offline_access\` scope is included in your app registration. It is essential to maintain your OAuth connection and receive refresh tokens. Without it, users will need to re-authenticate every hour.
- If you didn't select Multi-tenant when creating the Azure application, you will need to replace the **Authorize URL** and **Token URL** with ones specific to your tenant.

For more information regarding authenticating against the Microsoft Graph API refer to the [Microsoft documentation](https://docs.microsoft.com/en-us/graph/auth-v2-user).

**National clouds.** For a tenant in a US Government or China cloud, choose it in **Microsoft Cloud**, register the app in that cloud's portal, and use that cloud's sign-in host in **Authorize URL** and **Token URL** (\`login.microsoftonline.us\` for both US Government clouds, \`login.chinacloudapi.cn\` for China) and its Graph host in **Scopes** (\`https://graph.microsoft.us/User.Read.All\`, …). A sign-in URL or scope of another cloud is refused before the first call, with an error naming both hosts.`,
};

CONNECTION_GUIDES.oauthClientCredentials = `For flows that run without a signed-in user (a nightly user sync, processing every mailbox of a tenant). The app signs in as itself with a client secret; the platform exchanges it for a token at the cloud's sign-in host (\`{Sign-in Host}/{Tenant}/oauth2/v2.0/token\`, scope \`{Microsoft Cloud}/.default\`).

1. In the [Microsoft Entra admin center](https://entra.microsoft.com) (or the Azure portal), open **App registrations** → **New registration**. Any supported account type; no redirect URI is needed.
2. Under **API permissions** → **Add a permission** → **Microsoft Graph** → **Application permissions**, add what the flows need (for example \`User.Read.All\`, \`Group.Read.All\`, \`Mail.ReadWrite\`), then **Grant admin consent** for the tenant: application permissions do nothing without it.
3. Under **Certificates & secrets** → **Client secrets** → **New client secret**, copy the secret's **Value**.
4. Enter the **Tenant** (the directory (tenant) ID from the app's Overview page, or a verified domain; \`common\` and \`organizations\` are refused), the **Client ID**, the **Client secret value**, the **Microsoft Cloud** and its **Sign-in Host**.

App-only tokens have no user behind them: paths under \`/me\` are refused with an explanation; use \`/users/{id or userPrincipalName}\`.`;

CONNECTION_GUIDES.certificateCredentials = `For tenants that forbid client secrets. The component signs in itself with a client assertion signed by the certificate's private key (through Microsoft's MSAL library), and keeps the token until shortly before it expires. The key and the assertion are never logged.

1. Register the app and grant **Application permissions** with admin consent, as for client credentials.
2. Make a certificate, for example \`openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 365 -subj "/CN=graph-connector"\`.
3. Upload \`cert.pem\` under **Certificates & secrets** → **Certificates**.
4. Paste \`cert.pem\` followed by \`key.pem\` (unencrypted, \`-----BEGIN PRIVATE KEY-----\`) into **Certificate and Private Key (PEM)**, with the **Tenant**, **Client ID** and **Microsoft Cloud**.

A malformed PEM, a key that does not match the certificate, or an expired certificate is refused before any sign-in; a refusal from Microsoft Entra (unknown tenant, wrong client, unregistered certificate) is reported with its AADSTS code and message.`;

const ACTION_NOTES: Record<string, string> = {
  fetchAllPages: `Follows \`@odata.nextLink\` verbatim, through the same origin check as the first URL, resending Header on every page. Returns \`{ value, pageCount, "@odata.count"?, "@odata.deltaLink"?, "@odata.nextLink"?, removedCount?, stoppedBy?, resynced? }\`: the count from the first page, the deltaLink when the chain ends in one, and the nextLink only when Max Pages or Max Items stopped the read early (the step also logs it). A throttled or failed page is retried alone. On a delta query, a 410 Gone names the URL to restart from, or restarts the sync when Restart Expired Delta Sync is on.`,
  batchRequests: `Validates the list before sending, then sends \`POST /$batch\` calls of at most 20 requests, keeping dependent requests together or waiting for a dependency sent earlier. Items Graph throttled are resent after the longest \`Retry-After\`; other items are never resent. Returns one \`{ id, status, headers, body }\` per request in the order given; non-JSON bodies come back as files.`,
  rawRequest: `Enter a path (\`/me/joinedTeams\`) or paste a Graph URL such as an \`@odata.nextLink\`; any other host is refused, so the access token only ever reaches Microsoft Graph. Requests that Graph throttles (429, or 503/504 with \`Retry-After\`) are retried for every method, waiting what \`Retry-After\` says, up to **Max Throttle Retries**; the spec's retry inputs add retries of network errors and 5xx. A failed call reads like \`Microsoft Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (request-id …, client-request-id …, date …)\`, with a hint for 401 and 403.`,
};

/** Graph's lifetime table, rendered from the same rules the trigger applies. */
function lifetimeTable(): string {
  const rows = LIFETIME_RULES.map(
    (r) => `| ${r.row} | ${r.maxMinutes.toLocaleString("en-US")}${r.maxMinutesWithResourceData ? ` (${r.maxMinutesWithResourceData.toLocaleString("en-US")} with resource data)` : ""} |`,
  );
  return [
    "| Resource | Longest subscription (minutes) |",
    "| --- | --- |",
    ...rows,
    `| anything else | ${UNKNOWN_RESOURCE_MINUTES.toLocaleString("en-US")} by default (not checked: Graph decides) |`,
  ].join("\n");
}

const TRIGGER_NOTES: Record<string, () => string> = {
  changeNotifications: () => `Owns one Microsoft Graph subscription for the flow's webhook URL. **Deploying** the instance (or entering listening mode) runs its create handler: it renews the subscription the flow already has, or finds one of its own by the flow's URL when the state was lost, or creates one; a flow never has two. \`notificationUrl\` and \`lifecycleNotificationUrl\` are both the flow's URL; the client state is a fresh 32-byte random secret per subscription, kept in the instance's crossFlowState under the flow's stable id, never an input and never logged. **Deleting** the instance (or leaving listening mode) deletes the subscription (a 404 counts as done) and clears the state.

Branches:

| Branch | When | The flow receives |
| --- | --- | --- |
| Notification | Graph reported changes | \`notifications\`: Graph's items without \`clientState\`; with Fetch Changed Resources or Include Resource Data each has \`content\` (the resource) and \`contentSource\` (\`fetched\` or \`decrypted\`), or \`fetchError\` |
| Lifecycle | Graph asked to reauthorize: the subscription was renewed (or recreated if gone) | \`lifecycleEvents\`: \`{ subscriptionId, lifecycleEvent, action }\` |
| Resync Required | Graph reported \`missed\` notifications, or removed the subscription (recreated at once) | \`lifecycleEvents\`: run a delta query (Delta Changes, or Fetch All Pages on \`…/delta\`) to catch up |
| URL Validation | Graph's validation handshake: answered at once with the token | nothing to do |
| Renewal | a scheduled run: the subscription was extended to the full lifetime, or recreated when Graph had dropped it | \`action\` (\`renewed\` or \`recreated\`) and \`subscription\` |
| Ignored | nothing of this flow's subscription survived the checks, or the request was not a notification | \`dropped\` counts |

Every item's \`clientState\` is compared in constant time with the subscription's secret; items of another subscription and forged ones are dropped, counted in \`dropped\` and logged without the secret. Rich notifications (Include Resource Data) are accepted only when every validation token verifies (signature by the cloud's published keys, audience our app, issuer the tenant, Microsoft Graph Change Tracking as publisher) and each item's HMAC matches before it is decrypted. Graph gets 202 (503 when the signing keys cannot be fetched, so it delivers again).

**Renewal.** Put the trigger on a schedule shorter than the lifetime (daily for mail, hourly for Teams chats, every 30 minutes for presence): each scheduled run extends the subscription, and recreates it when Graph has dropped it, so the flow never goes deaf. Without a schedule the subscription ends after the lifetime below, unless Graph's reauthorization lifecycle events keep renewing it.

${lifetimeTable()}

Permissions (delegated / application): mail \`Mail.ReadBasic\` or \`Mail.Read\` (\`Mail.Read\` for resource data); events \`Calendars.Read\`; contacts \`Contacts.Read\`; users \`User.Read.All\`; groups \`Group.Read.All\`; drive items \`Files.ReadWrite\` / \`Files.ReadWrite.All\`; SharePoint lists \`Sites.ReadWrite.All\`; channel messages \`ChannelMessage.Read.All\`; chat messages \`Chat.Read\` / \`Chat.Read.All\`; presence \`Presence.Read.All\`; security alerts \`SecurityEvents.Read.All\`. Application permissions see every mailbox: use \`users/{id}/…\` resources instead of \`me/…\`.

Example flow: new mail to a ticket. Trigger Change Notifications with Resource \`me/mailFolders('Inbox')/messages\`, Change Types \`created\`, Fetch Changed Resources on, Select Properties \`id,subject,from,receivedDateTime,bodyPreview\`, on a daily schedule. On the Notification branch, loop over \`notifications\` and create a ticket from each \`content\`; on Resync Required, run Fetch All Pages on \`/me/mailFolders/inbox/messages/delta\` with the deltaLink kept in state; Lifecycle, URL Validation, Renewal and Ignored need no steps.`,
};

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

function table(inputs: DocInput[]): string {
  const rows = inputs
    .filter((i) => i.shown !== false)
    .map((i) => `| ${cell(i.label)} | ${cell(i.comments ?? "")} | ${cell(i.default === undefined ? "" : String(i.default))} |`);
  return ["| Input | Comments | Default |", "| --- | --- | --- |", ...rows].join("\n");
}

export function renderDocumentation(component: DocComponent): string {
  const { label, description } = component.display;
  const parts = [
    "---",
    `title: ${label} Connector`,
    `sidebar_label: ${label}`,
    `description: ${description}`,
    "---",
    "",
    `![${label}](./assets/icon.png#connector-icon)`,
    description,
    "",
    "<!-- Generated by `npm run docs` from the component definition (src/tools/documentation.ts). Do not edit by hand. -->",
    "",
    "## Connections",
  ];
  for (const connection of component.connections) {
    parts.push("", `### ${connection.label}`, "", connection.comments ?? "");
    const guide = CONNECTION_GUIDES[connection.key];
    if (guide) parts.push("", guide);
    parts.push("", table(connection.inputs as DocInput[]));
  }
  parts.push("", "## Actions");
  for (const [key, action] of Object.entries(component.actions)) {
    parts.push("", `### ${action.display.label}`, "", action.display.description);
    if (ACTION_NOTES[key]) parts.push("", ACTION_NOTES[key]);
    parts.push("", table(action.inputs as DocInput[]));
  }
  if (component.dataSources && Object.keys(component.dataSources).length > 0) {
    parts.push("", "## Data Sources");
    for (const source of Object.values(component.dataSources)) {
      parts.push("", `### ${source.display.label}`, "", source.display.description, "", table(source.inputs as DocInput[]));
    }
  }
  if (component.triggers && Object.keys(component.triggers).length > 0) {
    parts.push("", "## Triggers");
    for (const [key, trigger] of Object.entries(component.triggers)) {
      parts.push("", `### ${trigger.display.label}`, "", trigger.display.description);
      if (TRIGGER_NOTES[key]) parts.push("", TRIGGER_NOTES[key]());
      parts.push("", table(trigger.inputs as DocInput[]));
    }
  }
  return `${parts.join("\n")}\n`;
}
