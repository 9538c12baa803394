/**
 * The sign-in host's OpenID Provider Configuration Document (OpenID Connect Discovery 1.0 §3), as Entra ID v2.0
 * publishes it at `{login}/{tenant}/v2.0/.well-known/openid-configuration` (ED v2-protocols-oidc.md, "Fetch the
 * OpenID configuration document"). MSAL and `@azure/identity` read it to find the token and authorize endpoints
 * of an authority, so they work against the emulator without `authorityMetadata`.
 */

/** The consumer (personal Microsoft account) tenant: `consumers` issues as this tenant (ED v2-protocols-oidc.md). */
export const CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad";

export interface DiscoveryTarget {
  /** Where the emulator's sign-in host answers (the endpoints point here, so a client stays on the emulator). */
  loginOrigin: string;
  /** The real sign-in origin the emulator stands in for ("https://login.microsoftonline.com"): cloud_instance_name. */
  cloudLoginOrigin: string;
  /** The cloud's Graph resource ("https://graph.microsoft.com"): msgraph_host, and userinfo_endpoint without graphOrigin. */
  graphResource: string;
  /** Where the Graph emulator answers: userinfo_endpoint points there, so a client that follows it stays on the emulator. */
  graphOrigin?: string;
  /** A tenant's id (lower-case GUID), or the multi-tenant authority as asked: common, organizations, consumers. */
  tenant: { id: string } | { authority: "common" | "organizations" | "consumers" };
}

/**
 * The document's fields in the order and with the values of login.microsoftonline.com's answer for v2.0 (captured
 * for `common`; a tenant's differs in the tenant id in every URL, a concrete issuer and tenant_region_scope).
 * On `common` and `organizations` the issuer is the template `…/{tenantid}/v2.0`, which clients fill from the
 * token's `tid`; `consumers` names the consumer tenant. The issuer uses the emulator's origin because the id
 * tokens it issues carry `iss` = `{emulator login origin}/{tid}/v2.0`. Left out: kerberos_endpoint, rbac_url and
 * cloud_graph_host_name (Azure AD Graph), which no Graph client reads. The emulator's sign-in host serves the token,
 * authorize, device code, logout and keys endpoints; userinfo is Graph's (`https://graph.microsoft.com/oidc/userinfo`),
 * so the Graph emulator answers it, and the document points at the Graph emulator when it started this host.
 */
export function openIdConfiguration(target: DiscoveryTarget): Record<string, unknown> {
  const origin = target.loginOrigin;
  const inUrls = "id" in target.tenant ? target.tenant.id : target.tenant.authority;
  const issuerTenant =
    "id" in target.tenant ? target.tenant.id : target.tenant.authority === "consumers" ? CONSUMERS_TENANT_ID : "{tenantid}";
  const graphHost = new URL(target.graphResource).host;
  return {
    token_endpoint: `${origin}/${inUrls}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${origin}/${inUrls}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${origin}/${issuerTenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${target.graphOrigin ?? `https://${graphHost}`}/oidc/userinfo`,
    authorization_endpoint: `${origin}/${inUrls}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${origin}/${inUrls}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${origin}/${inUrls}/oauth2/v2.0/logout`,
    claims_supported: [
      "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat",
      "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email",
    ],
    // A real tenant answers its region ("NA", "EU", …); the emulated tenant's diagnostics say West Europe.
    tenant_region_scope: "id" in target.tenant ? "EU" : null,
    cloud_instance_name: new URL(target.cloudLoginOrigin).host.replace(/^login\./, ""),
    msgraph_host: graphHost,
  };
}

/**
 * Entra ID's public-cloud instance metadata as `login.microsoftonline.com/common/discovery/instance?api-version=1.1`
 * answers it (captured; the same list MSAL ships as its built-in cloud metadata): each cloud's preferred network
 * host, the host its token cache keys on, and the hosts that are one authority.
 */
const CLOUD_INSTANCES = [
  {
    preferred_network: "login.microsoftonline.com",
    preferred_cache: "login.windows.net",
    aliases: ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
  },
  {
    preferred_network: "login.partner.microsoftonline.cn",
    preferred_cache: "login.partner.microsoftonline.cn",
    aliases: ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
  },
  { preferred_network: "login.microsoftonline.de", preferred_cache: "login.microsoftonline.de", aliases: ["login.microsoftonline.de"] },
  {
    preferred_network: "login.microsoftonline.us",
    preferred_cache: "login.microsoftonline.us",
    aliases: ["login.microsoftonline.us", "login.usgovcloudapi.net"],
  },
  { preferred_network: "login-us.microsoftonline.com", preferred_cache: "login-us.microsoftonline.com", aliases: ["login-us.microsoftonline.com"] },
];

export type InstanceDiscovery = { status: 200; body: Record<string, unknown> } | { status: 400; body: Record<string, unknown> };

/**
 * MSAL's instance discovery (`GET {login}/common/discovery/instance?api-version=1.1&authorization_endpoint=…`):
 * where the authority's OpenID document is, and which hosts are aliases of one another. The emulator's own host
 * is listed first as a cloud of its own, so an authority on the emulator is a known instance and MSAL needs no
 * `knownAuthorities`. An authorize endpoint on a host no cloud lists is refused as Entra refuses it
 * (`invalid_instance`, AADSTS50049). The tenant segment of `authorization_endpoint` names the document's tenant.
 */
export function instanceDiscovery(loginOrigin: string, query: URLSearchParams): InstanceDiscovery {
  const own = new URL(loginOrigin).host;
  const metadata = [{ preferred_network: own, preferred_cache: own, aliases: [own] }, ...CLOUD_INSTANCES];
  let authorize: URL | undefined;
  try {
    authorize = new URL(query.get("authorization_endpoint") ?? `${loginOrigin}/common/oauth2/v2.0/authorize`);
  } catch {
    authorize = undefined;
  }
  if (!authorize || !metadata.some((cloud) => cloud.aliases.includes(authorize.host))) {
    return {
      status: 400,
      body: {
        error: "invalid_instance",
        error_description: "AADSTS50049: Unknown or invalid instance.",
        error_codes: [50049],
      },
    };
  }
  const tenant = authorize.pathname.split("/").filter(Boolean)[0] ?? "common";
  return {
    status: 200,
    body: {
      tenant_discovery_endpoint: `${loginOrigin}/${tenant}/v2.0/.well-known/openid-configuration`,
      "api-version": query.get("api-version") ?? "1.1",
      metadata,
    },
  };
}
