import { oauth2Connection, OAuth2Type } from "@prismatic-io/spectral";

/** The spec's authorization-code connection; the platform runs the sign-in and refreshes the token. */
export const oauth = oauth2Connection({
  key: "oauth",
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
    clientSecret: {
      label: "Client secret value",
      placeholder: "Client secret value",
      type: "password",
      required: true,
      shown: true,
      comments: "This is the 'value' (not ID) of the client secret you generated in Azure Portal.",
    },
  },
});

export const connections = [oauth];
