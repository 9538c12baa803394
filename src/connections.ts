import { connection, oauth2Connection, OAuth2Type } from "@prismatic-io/spectral";
import { CLOUDS, GLOBAL_CLOUD } from "./client/clouds";
import { CONNECTION_KEYS } from "./client/credentials";

/** Every connection's cloud choice; its value is the cloud's Graph origin. */
const cloudInput = {
  label: "Microsoft Cloud",
  type: "string" as const,
  required: false,
  shown: true,
  default: GLOBAL_CLOUD.graph,
  model: CLOUDS.map((c) => ({ label: c.label, value: c.graph })),
  comments:
    "The Microsoft cloud the tenant lives in. Graph calls go to its Graph host, and sign-in URLs and scopes must belong to it: a token from one cloud is refused by another. Global covers commercial tenants and GCC.",
};

const clientSecretInput = {
  label: "Client secret value",
  placeholder: "Client secret value",
  type: "password" as const,
  required: true,
  shown: true,
  comments: "This is the 'value' (not ID) of the client secret you generated in Azure Portal.",
};

const appClientIdInput = {
  label: "Client ID",
  placeholder: "Client ID",
  type: "string" as const,
  required: true,
  shown: true,
  comments: "The Application (client) ID from the app registration's Overview page.",
};

const SIGN_IN_HOSTS = [...new Set(CLOUDS.map((c) => c.login))];

/** The spec's authorization-code connection; the platform runs the sign-in and refreshes the token. */
export const oauth = oauth2Connection({
  key: CONNECTION_KEYS.authorizationCode,
  display: {
    label: "OAuth 2.0 Authorization Code",
    description: "OAuth 2.0 Authorization Code Connectivity for Microsoft Graph API",
  },
  oauth2Type: OAuth2Type.AuthorizationCode,
  inputs: {
    authorizeUrl: {
      label: "Authorize URL",
      placeholder: "Authorize URL",
      type: "string",
      required: true,
      shown: true,
      default: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
      comments:
        "The OAuth 2.0 Authorization URL for Microsoft's Graph API. If you have a multi-tenant application, you can use /common/ endpoints. If you have a single-tenant app, change these URLs to your tenant-specific ones.",
    },
    tokenUrl: {
      label: "Token URL",
      placeholder: "Token URL",
      type: "string",
      required: true,
      shown: true,
      default: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
      comments:
        "The OAuth 2.0 Token URL for Microsoft's Graph API. If you have a multi-tenant application, you can use /common/ endpoints. If you have a single-tenant app, change these URLs to your tenant-specific ones.",
    },
    scopes: {
      label: "Scopes",
      placeholder: "Scopes",
      type: "string",
      required: false,
      shown: true,
      default: "https://graph.microsoft.com/User.Read.All offline_access",
      comments:
        "Add additional required scopes you identify on https://developer.microsoft.com/en-us/graph/graph-explorer to this list",
    },
    clientId: {
      label: "Client ID",
      placeholder: "Client ID",
      type: "string",
      required: true,
      shown: true,
    },
    clientSecret: clientSecretInput,
    cloud: cloudInput,
  },
});

const tenantInput = {
  label: "Tenant",
  placeholder: "contoso.onmicrosoft.com",
  type: "string" as const,
  required: true,
  shown: true,
  comments:
    "The directory (tenant) ID of the organization whose data the app reads, or one of its verified domains (contoso.onmicrosoft.com). An app signing in as itself needs one tenant: 'common' and 'organizations' are refused.",
};

/** App-only access with a client secret: the platform exchanges it for a token at the cloud's sign-in host. */
export const oauthClientCredentials = oauth2Connection({
  key: CONNECTION_KEYS.clientCredentials,
  display: {
    label: "OAuth 2.0 Client Credentials",
    description: "App-only access to Microsoft Graph with a client secret, for flows that run without a signed-in user",
  },
  oauth2Type: OAuth2Type.ClientCredentials,
  inputs: {
    tenant: tenantInput,
    clientId: appClientIdInput,
    clientSecret: clientSecretInput,
    cloud: cloudInput,
    loginHost: {
      label: "Sign-in Host",
      type: "string",
      required: false,
      shown: true,
      default: GLOBAL_CLOUD.login,
      model: SIGN_IN_HOSTS.map((h) => ({ label: h.replace("https://", ""), value: h })),
      comments:
        "The Microsoft Entra sign-in host of the Microsoft Cloud: login.microsoftonline.com for Global, login.microsoftonline.us for both US Government clouds, login.chinacloudapi.cn for China. A host that does not match the cloud is refused with an error naming both.",
    },
    tokenUrl: {
      label: "Token URL",
      type: "template",
      shown: false,
      templateValue: "{{#loginHost}}/{{#tenant}}/oauth2/v2.0/token",
    },
    scopes: {
      label: "Scopes",
      type: "template",
      shown: false,
      // Client credentials take the resource's .default scope: every application permission admin-consented.
      templateValue: "{{#cloud}}/.default",
    },
  },
});

/** App-only access with a certificate, for tenants that forbid client secrets: the component signs in itself. */
export const certificateCredentials = connection({
  key: CONNECTION_KEYS.certificate,
  display: {
    label: "Certificate Credentials",
    description: "App-only access to Microsoft Graph with a certificate instead of a client secret",
  },
  inputs: {
    tenant: tenantInput,
    clientId: appClientIdInput,
    certificate: {
      label: "Certificate and Private Key (PEM)",
      placeholder: "-----BEGIN CERTIFICATE-----",
      type: "password",
      required: true,
      shown: true,
      comments:
        "The PEM certificate uploaded to the app registration (Certificates & secrets), followed by its unencrypted private key (-----BEGIN PRIVATE KEY-----). The key never leaves the component and is never logged.",
    },
    cloud: cloudInput,
  },
});

export const connections = [oauth, oauthClientCredentials, certificateCredentials];
