/**
 * What a connection means for the client: which Microsoft cloud it signs in to, whether its tokens carry
 * a user, and where the access token comes from. Mismatched hosts are caught here, before the first call,
 * instead of surfacing as a confusing 401 "invalid audience".
 */
import type { Connection } from "@prismatic-io/spectral";
import { certificateToken, forgetCertificateToken } from "./certificate";
import { CLOUDS, cloudsSigningInAt, findCloud, host, MicrosoftCloud } from "./clouds";
import { InputError } from "./errors";

export const CONNECTION_KEYS = {
  authorizationCode: "oauth",
  clientCredentials: "oauthClientCredentials",
  certificate: "certificateCredentials",
} as const;

export interface ConnectionProfile {
  cloud: MicrosoftCloud;
  /** App-only tokens (client credentials, certificate) have no signed-in user, so /me is meaningless. */
  appOnly: boolean;
  accessToken(): Promise<string>;
  /** Forgets a token Graph refused, so the next accessToken() signs in again; only where the component signs in itself. */
  forgetToken?(token: string): void;
  /** Values that must never appear in a log line or an error. */
  secrets: string[];
}

const TENANT_INDEPENDENT = new Set(["common", "organizations", "consumers"]);

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : value === undefined || value === null ? "" : String(value);
}

function cloudOf(connection: Connection): MicrosoftCloud {
  const cloud = findCloud(connection.fields?.cloud);
  if (!cloud) {
    throw new InputError("Connection", `Microsoft Cloud '${text(connection.fields?.cloud)}' is not one of ${CLOUDS.map((c) => c.label).join(", ")}`);
  }
  return cloud;
}

/** A sign-in URL (Authorize URL, Token URL, Sign-in Host) must be on the chosen cloud's sign-in host. */
function checkSignInHost(label: string, value: unknown, cloud: MicrosoftCloud): void {
  const raw = text(value);
  if (!raw) return;
  let origin: string;
  try {
    origin = new URL(raw).origin;
  } catch {
    throw new InputError("Connection", `${label} '${raw}' is not a URL`);
  }
  if (origin === cloud.login) return;
  const other = cloudsSigningInAt(origin);
  const whose = other.length ? `, which signs in to ${other.map((c) => c.label.split(" (")[0]).join(" and ")}` : "";
  throw new InputError(
    "Connection",
    `${label} is on ${host(origin)}${whose}, but Microsoft Cloud is ${cloud.label.split(" (")[0]}, whose Graph host ${host(cloud.graph)} only accepts tokens from ${host(cloud.login)}. Choose the matching Microsoft Cloud, or change ${label}.`,
  );
}

/** A scope that names a Graph host (https://graph.microsoft.us/User.Read) must name the chosen cloud's. */
function checkScopes(value: unknown, cloud: MicrosoftCloud): void {
  for (const scope of text(value).split(/\s+/).filter(Boolean)) {
    if (!scope.includes("://")) continue;
    let origin: string;
    try {
      origin = new URL(scope).origin;
    } catch {
      continue;
    }
    const graphCloud = CLOUDS.find((c) => c.graph === origin);
    if (graphCloud && graphCloud.graph !== cloud.graph) {
      throw new InputError(
        "Connection",
        `Scopes ask for ${scope}, a permission of ${host(origin)}, but Microsoft Cloud is ${cloud.label.split(" (")[0]} (${host(cloud.graph)}); a token for one cloud is refused by another. Use ${scope.replace(origin, cloud.graph)}.`,
      );
    }
  }
}

function checkTenant(value: unknown): string {
  const tenant = text(value);
  if (!tenant) throw new InputError("Connection", "Tenant is required: the directory (tenant) ID or a verified domain such as contoso.onmicrosoft.com");
  if (TENANT_INDEPENDENT.has(tenant.toLowerCase())) {
    throw new InputError(
      "Connection",
      `Tenant '${tenant}' cannot be used here: an app signing in as itself must name the one tenant that granted it permissions. Enter that tenant's ID (a GUID, on the app registration's Overview page) or a verified domain such as contoso.onmicrosoft.com.`,
    );
  }
  if (!/^[A-Za-z0-9.-]+$/.test(tenant)) throw new InputError("Connection", `Tenant '${tenant}' is not a tenant ID or domain`);
  return tenant;
}

function platformToken(connection: Connection): string {
  const token = connection.token?.access_token;
  if (typeof token !== "string" || !token) {
    throw new InputError("Connection", "has no access token; reconnect the connection (sign in again) and retry");
  }
  return token;
}

export function readConnection(connection: Connection | undefined): ConnectionProfile {
  if (!connection) throw new InputError("Connection", "is required");
  const cloud = cloudOf(connection);
  const fields = connection.fields ?? {};
  switch (connection.key) {
    case CONNECTION_KEYS.certificate: {
      const tenant = checkTenant(fields.tenant);
      const clientId = text(fields.clientId);
      if (!clientId) throw new InputError("Connection", "Client ID is required");
      const pem = text(fields.certificate);
      return {
        cloud,
        appOnly: true,
        accessToken: () => certificateToken({ tenant, clientId, pem, cloud }),
        forgetToken: forgetCertificateToken,
        secrets: [],
      };
    }
    case CONNECTION_KEYS.clientCredentials: {
      checkTenant(fields.tenant);
      checkSignInHost("Sign-in Host", fields.loginHost, cloud);
      checkSignInHost("Token URL", fields.tokenUrl, cloud);
      checkScopes(fields.scopes, cloud);
      const token = platformToken(connection);
      return { cloud, appOnly: true, accessToken: async () => token, secrets: [token] };
    }
    default: {
      // The spec's authorization-code connection, or a connection value without a key (Spectral's connectionValue()).
      checkSignInHost("Authorize URL", fields.authorizeUrl, cloud);
      checkSignInHost("Token URL", fields.tokenUrl, cloud);
      checkScopes(fields.scopes, cloud);
      const token = platformToken(connection);
      return { cloud, appOnly: false, accessToken: async () => token, secrets: [token] };
    }
  }
}
