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

For more information regarding authenticating against the Microsoft Graph API refer to the [Microsoft documentation](https://docs.microsoft.com/en-us/graph/auth-v2-user).`,
};

const ACTION_NOTES: Record<string, string> = {
  fetchAllPages: `Follows \`@odata.nextLink\` verbatim, through the same origin check as the first URL, resending Header on every page. Returns \`{ value, pageCount, "@odata.count"?, "@odata.deltaLink"?, "@odata.nextLink"?, removedCount?, stoppedBy?, resynced? }\`: the count from the first page, the deltaLink when the chain ends in one, and the nextLink only when Max Pages or Max Items stopped the read early (the step also logs it). A throttled or failed page is retried alone. On a delta query, a 410 Gone names the URL to restart from, or restarts the sync when Restart Expired Delta Sync is on.`,
  batchRequests: `Validates the list before sending, then sends \`POST /$batch\` calls of at most 20 requests, keeping dependent requests together or waiting for a dependency sent earlier. Items Graph throttled are resent after the longest \`Retry-After\`; other items are never resent. Returns one \`{ id, status, headers, body }\` per request in the order given; non-JSON bodies come back as files.`,
  rawRequest: `Enter a path (\`/me/joinedTeams\`) or paste a Graph URL such as an \`@odata.nextLink\`; any other host is refused, so the access token only ever reaches Microsoft Graph. Requests that Graph throttles (429, or 503/504 with \`Retry-After\`) are retried for every method, waiting what \`Retry-After\` says, up to **Max Throttle Retries**; the spec's retry inputs add retries of network errors and 5xx. A failed call reads like \`Microsoft Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (request-id …, client-request-id …, date …)\`, with a hint for 401 and 403.`,
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
  return `${parts.join("\n")}\n`;
}
