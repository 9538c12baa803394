/**
 * The spec (src/tests/spec/seed-ms-graph-api.md, a copy of shared/spec/seed-ms-graph-api.md) fixes every label, comment and default of the connection
 * and of Raw Request. These tests read the component as the platform receives it (converted), against a
 * copy of the spec's tables, and check that copy against the spec file kept in the repo.
 */
import fs from "node:fs";
import path from "node:path";
import component from "../index";

type Row = [label: string, comments: string, defaultValue: string];

const SPEC_CONNECTION: Row[] = [
  ["Authorize URL", "The OAuth 2.0 Authorization URL for Microsoft's Graph API. If you have a multi-tenant application, you can use /common/ endpoints. If you have a single-tenant app, change these URLs to your tenant-specific ones.", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"],
  ["Token URL", "The OAuth 2.0 Token URL for Microsoft's Graph API. If you have a multi-tenant application, you can use /common/ endpoints. If you have a single-tenant app, change these URLs to your tenant-specific ones.", "https://login.microsoftonline.com/common/oauth2/v2.0/token"],
  ["Scopes", "Add additional required scopes you identify on https://developer.microsoft.com/en-us/graph/graph-explorer to this list", "https://graph.microsoft.com/User.Read.All offline_access"],
  ["Client ID", "", ""],
  ["Client secret value", "This is the 'value' (not ID) of the client secret you generated in Azure Portal.", ""],
];

const SPEC_RAW_REQUEST: Row[] = [
  ["Connection", "", ""],
  ["URL", "Input the path only (/me/joinedTeams), The base URL is already included (https://graph.microsoft.com/v1.0). For example, to connect to https://graph.microsoft.com/v1.0/me/joinedTeams, only /me/joinedTeams is entered in this field.", ""],
  ["Method", "The HTTP method to use.", ""],
  ["Data", "The HTTP body payload to send to the URL.", ""],
  ["Form Data", "The Form Data to be sent as a multipart form upload.", ""],
  ["File Data", "File Data to be sent as a multipart form upload.", ""],
  ["Query Parameter", "A list of query parameters to send with the request. This is the portion at the end of the URL similar to ?key1=value1&key2=value2.", ""],
  ["Header", "A list of headers to send with the request.", ""],
  ["Response Type", "The type of data you expect in the response. You can request json, text, or binary data.", "json"],
  ["Timeout", "The maximum time that a client will await a response to its request", ""],
  ["Debug Request", "Enabling this flag will log out the current request.", "false"],
  ["Retry Delay (ms)", "The delay in milliseconds between retries.", "0"],
  ["Retry On All Errors", "If true, retries on all erroneous responses regardless of type.", "false"],
  ["Max Retry Count", "The maximum number of retries to attempt.", "0"],
  ["Use Exponential Backoff", "Specifies whether to use a pre-defined exponential backoff strategy for retries.", "false"],
];

const SPEC_RAW_REQUEST_KEYS = [
  "connection", "url", "method", "data", "formData", "fileData", "queryParams", "headers", "responseType",
  "timeout", "debugRequest", "retryDelayMS", "retryAllErrors", "maxRetries", "useExponentialBackoff",
];

interface ServerInput {
  key: string;
  label: string;
  comments?: string;
  default?: unknown;
  type: string;
}

function rowsOf(inputs: ServerInput[], labels: string[]): Row[] {
  return labels.map((label) => {
    const found = inputs.find((i) => i.label === label);
    if (!found) throw new Error(`no input labelled ${label}`);
    return [found.label, found.comments ?? "", found.default === undefined ? "" : String(found.default)];
  });
}

/** The rows of the markdown table that follows `heading` in the spec. */
function specTable(markdown: string, heading: string): Row[] {
  const start = markdown.indexOf(heading);
  const lines = markdown.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("| Input"));
  const rows: Row[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    rows.push([cells[0], cells[1], cells[2]]);
  }
  return rows;
}

describe("the component as the spec defines it", () => {
  it("has the spec's key, label, description and icon", () => {
    expect(component.key).toBe("ms-graph-api");
    expect(component.display).toMatchObject({
      label: "Microsoft Graph API",
      description: "Interact with the Microsoft Graph API",
      iconPath: "icon.png",
    });
  });

  it("has the OAuth 2.0 authorization-code connection with the spec's inputs", () => {
    const oauth = component.connections.find((c) => c.key === "oauth")!;
    expect(oauth).toMatchObject({
      oauth2Type: "authorization_code",
      label: "OAuth 2.0 Authorization Code",
      comments: "OAuth 2.0 Authorization Code Connectivity for Microsoft Graph API",
    });
    const inputs = oauth.inputs as unknown as ServerInput[];
    // The spec's five inputs, in order; the cloud choice is added after them with a default that changes nothing.
    expect(inputs.map((i) => i.key)).toEqual(["authorizeUrl", "tokenUrl", "scopes", "clientId", "clientSecret", "cloud"]);
    expect(inputs.find((i) => i.key === "cloud")).toMatchObject({ label: "Microsoft Cloud", default: "https://graph.microsoft.com" });
    expect(rowsOf(inputs, SPEC_CONNECTION.map((r) => r[0]))).toEqual(SPEC_CONNECTION);
    expect(inputs.find((i) => i.key === "clientSecret")!.type).toBe("password");
  });

  it("has Raw Request with the spec's label, description, input keys, labels, comments and defaults", () => {
    const action = component.actions.rawRequest;
    expect(action.display).toMatchObject({
      label: "Raw Request",
      description: "Send raw HTTP request to Microsoft Graph API",
    });
    const inputs = action.inputs as unknown as ServerInput[];
    expect(inputs.map((i) => i.key).slice(0, SPEC_RAW_REQUEST_KEYS.length + 1)).toEqual(
      expect.arrayContaining(SPEC_RAW_REQUEST_KEYS),
    );
    expect(rowsOf(inputs, SPEC_RAW_REQUEST.map((r) => r[0]))).toEqual(SPEC_RAW_REQUEST);
  });

  it("gives every input beyond the spec a default that keeps a spec-only flow working", () => {
    const inputs = component.actions.rawRequest.inputs as unknown as ServerInput[];
    const extra = inputs.filter((i) => !SPEC_RAW_REQUEST_KEYS.includes(i.key) && i.key !== "fileDataFileNames");
    expect(extra.map((i) => [i.key, i.label, i.default])).toEqual([
      ["apiVersion", "API Version", "v1.0"],
      ["maxThrottleRetries", "Max Throttle Retries", "5"],
      ["maxRetryAfterSeconds", "Longest Throttle Wait (s)", "120"],
      ["maxResponseBytes", "Max Response Size (MB)", "100"],
    ]);
  });

  // The spec lives in the repo, so this runs everywhere; the shared original is compared when it is beside the repo.
  const specCopyPath = path.resolve(__dirname, "spec/seed-ms-graph-api.md");
  it("copies the spec file's tables exactly", () => {
    const markdown = fs.readFileSync(specCopyPath, "utf8");
    expect(specTable(markdown, "### OAuth 2.0 Authorization Code")).toEqual(SPEC_CONNECTION);
    expect(specTable(markdown, "### Raw Request")).toEqual(SPEC_RAW_REQUEST);
  });

  const sharedSpecPath = path.resolve(__dirname, "../../../shared/spec/seed-ms-graph-api.md");
  (fs.existsSync(sharedSpecPath) ? it : it.skip)("keeps the repo's copy of the spec identical to the shared spec", () => {
    expect(fs.readFileSync(specCopyPath, "utf8")).toBe(fs.readFileSync(sharedSpecPath, "utf8"));
  });
});
