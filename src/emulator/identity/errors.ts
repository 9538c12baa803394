/**
 * The AADSTS failures the sign-in host answers, each with its source. Where the docs give only a code, message
 * texts come from captured service answers: MSAL.NET tests/Microsoft.Identity.Test.Common/TestConstants.cs
 * ("MSAL.NET TestConstants", 2023-12), Azure SDK identity TROUBLESHOOTING.md ("Azure SDK"), or other
 * third-party captures ("[3p]"). ED = MicrosoftDocs/entra-docs, docs/identity-platform/.
 */
import { ASSERTION_ALGORITHMS } from "../jwt";
import type { RegisteredApp, RegisteredCertificate } from "./state";

/** An AADSTS failure: rendered as the token endpoint's JSON, an authorize redirect, or the authorize error page. */
export class AadError extends Error {
  constructor(
    readonly error: string,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }

  /** 400 in general; 401 for invalid_client ([3p], graph-protocol.md §8). */
  get status(): number {
    return this.error === "invalid_client" ? 401 : 400;
  }
}

const ASSERTION_DOC = "Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .";

/** Messages, each with its source. Trace/correlation/timestamp lines are appended when rendered. */
export const err = {
  // ED reference-error-codes.md: "AADSTS900144 | The request body must contain the following parameter: '{name}'."
  missing: (name: string) => new AadError("invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`),
  // ED reference-error-codes.md: AADSTS900561 BadResourceRequestInvalidRequest.
  postOnly: (verb: string) => new AadError("invalid_request", 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${verb} request.`),
  // MSAL.NET TestConstants InvalidTenantError900023.
  badTenantId: (t: string) => new AadError("invalid_request", 900023, `Specified tenant identifier '${t}' is neither a valid DNS name, nor a valid external domain.`),
  // [3p] captured answers (token endpoint: error "invalid_request").
  tenantNotFound: (t: string) =>
    new AadError(
      "invalid_request",
      90002,
      `Tenant '${t}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    ),
  // ED reference-error-codes.md: AADSTS9001023.
  grantOverCommon: () =>
    new AadError("invalid_request", 9001023, "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."),
  // ED reference-error-codes.md: AADSTS50059 MissingTenantRealmAndNoUserInformationProvided (client credentials need a tenant: ED client-creds doc).
  noTenantRealm: () => new AadError("invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials."),
  // ED reference-error-codes.md: AADSTS9002332.
  consumersEndpoint: (app: RegisteredApp) =>
    new AadError(
      "invalid_request",
      9002332,
      `Application '${app.clientId}'(${app.displayName}) is configured for use by Microsoft Entra users only. Please do not use the /consumers endpoint to serve this request.`,
    ),
  // ED reference-error-codes.md: AADSTS70003 UnsupportedGrantType.
  unsupportedGrant: (g: string) => new AadError("unsupported_grant_type", 70003, `The app requested an unsupported grant type '${g}'.`),
  // MSAL.NET TestConstants WrongTenantError700016 (error "unauthorized_client", ED reference-error-codes.md).
  appNotFound: (id: string, directory: string) =>
    new AadError(
      "unauthorized_client",
      700016,
      `Application with identifier '${id}' was not found in the directory '${directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  // [3p] captured answers; ED reference-error-codes.md lists the code.
  badSecret: (id: string) =>
    new AadError(
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${id}'.`,
    ),
  // ED reference-error-codes.md: AADSTS7000218.
  noCredential: () => new AadError("invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  // ED reference-error-codes.md: AADSTS700025 InvalidClientPublicClientWithCredential.
  publicWithCredential: () => new AadError("invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
  // ED reference-error-codes.md: AADSTS9002313 (also what a garbage code/refresh token gets, [3p]).
  malformed: (error = "invalid_request") => new AadError(error, 9002313, "Invalid request. Request is malformed or invalid."),
  // MSAL.NET TestConstants SendTenantIdInCredentialValueError50027; Azure SDK.
  assertionMalformed: () => new AadError("invalid_client", 50027, "JWT token is invalid or malformed."),
  // MSAL.NET TestConstants BadCredNoAudError90014 / BadCredNoIssError90014.
  assertionMissing: (field: string) =>
    new AadError("invalid_client", 90014, `The required field '${field}' is missing from the credential. Ensure that you have all the necessary parameters for the login request.`),
  // MSAL.NET TestConstants BadCredBadAlgError5002738 (its list extended with PS*: ED certificate-credentials.md says PS256).
  assertionAlg: (alg: string) =>
    new AadError("invalid_client", 5002738, `Invalid JWT token. '${alg}' is not a supported signature algorithm. Supported signing algorithms are: '${ASSERTION_ALGORITHMS.join(",")}'`),
  // MSAL.NET TestConstants BadCredMissingSha1Error5002723.
  assertionNoThumbprint: () =>
    new AadError("invalid_client", 5002723, "Invalid JWT token. No certificate SHA-1 thumbprint, certificate SHA-256 thumbprint, nor keyId specified in token header."),
  // [3p] captured answers ("The key was not found."); ED reference-error-codes.md AADSTS700027.
  assertionKeyNotFound: (thumbprint: string, id: string) =>
    new AadError(
      "invalid_client",
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are not using the global cloud.]`,
    ),
  // [3p] captured answers ("Client assertion contains an invalid signature. [Reason - ...]").
  assertionSignature: (reason: string, thumbprint: string, cert: RegisteredCertificate) =>
    new AadError(
      "invalid_client",
      700027,
      `Client assertion contains an invalid signature. [Reason - ${reason}, Thumbprint of key used by client: '${thumbprint}', Found key 'Start=${cert.validFromText}, End=${cert.validToText}']`,
    ),
  // Azure SDK TROUBLESHOOTING.md (and MSAL.NET IdentifierMismatchError700021).
  assertionClientMismatch: () => new AadError("invalid_client", 700021, `Client assertion application identifier doesn't match 'client_id' parameter. ${ASSERTION_DOC}`),
  // ED reference-error-codes.md: AADSTS50048 SubjectMismatchesIssuer.
  assertionSubject: () => new AadError("invalid_client", 50048, "Subject mismatches Issuer claim in the client assertion."),
  // Azure SDK TROUBLESHOOTING.md: AADSTS700023 (ED reference-error-codes.md reuses 700023 for a scope error).
  assertionAudience: () => new AadError("invalid_client", 700023, `Client assertion audience claim does not match Realm issuer. ${ASSERTION_DOC}`),
  // MSAL.NET TestConstants BadTimeRangeError700024.
  assertionTime: (now: number, nbf: number | undefined, exp: number) =>
    new AadError(
      "invalid_client",
      700024,
      `Client assertion is not within its valid time range. Current time: ${dotnetTime(now)}, assertion valid from ${nbf === undefined ? "" : dotnetTime(nbf * 1000)}, expiry time of assertion ${dotnetTime(exp * 1000)}. ${ASSERTION_DOC}`,
    ),
  // MSAL.NET TestConstants InvalidScopeError1002012.
  scopeNotDefault: (scope: string) =>
    new AadError(
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  // MSAL.NET TestConstants InvalidScopeError70011; ED v2-oauth2-client-creds-grant-flow.md error sample.
  scopeInvalid: (scope: string, detail = "") =>
    new AadError(
      "invalid_scope",
      70011,
      `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.${detail}`,
    ),
  // ED reference-error-codes.md: AADSTS700022 InvalidMultipleResourcesScope.
  scopeMultipleResources: (scope: string) =>
    new AadError("invalid_scope", 700022, `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`),
  // MSAL.NET TestConstants InvalidResourceError (error "invalid_resource", ED token endpoint error table).
  resourceNotFound: (resource: string, tenantName: string) =>
    new AadError(
      "invalid_resource",
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenantName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  // [3p] captured answers; ED reference-error-codes.md AADSTS70008 ExpiredOrRevokedGrant.
  codeExpired: () =>
    new AadError("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."),
  // ED reference-error-codes.md: AADSTS54005.
  codeRedeemed: () => new AadError("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."),
  // ED reference-error-codes.md: AADSTS700005 InvalidGrantRedeemAgainstWrongTenant.
  codeWrongTenant: () => new AadError("invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant, thus rejected."),
  // [3p]: what a code or refresh token issued to another client gets.
  grantOtherClient: (what: "code" | "refresh_token" | "device_code") => new AadError("invalid_grant", 70000, `The provided value for the '${what}' parameter is not valid.`),
  // Device code flow: the `error` values are ED v2-oauth2-device-code.md "Expected errors"; the AADSTS numbers are
  // ED reference-error-codes.md (70016 AuthorizationPending, 70018 BadVerificationCode, 70019 CodeExpired, 65004
  // UserDeclinedConsent: the device-code doc names no number for a decline). Messages: 70016 as msal-node's
  // captured answer (lib/msal-node test/utils/TestConstants.ts AUTHORIZATION_PENDING_RESPONSE), 70019 as MSAL.NET's
  // captured one (which, from 2017, still says error "code_expired" where the doc now says "expired_token");
  // 70018 and 65004 the reference's descriptions.
  authorizationPending: () => new AadError("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."),
  authorizationDeclined: () => new AadError("authorization_declined", 65004, "User declined to consent to access the app."),
  badVerificationCode: () => new AadError("bad_verification_code", 70018, "Invalid verification code due to User typing in wrong user code for device code flow. Authorization isn't approved."),
  deviceCodeExpired: () => new AadError("expired_token", 70019, "Verification code expired."),
  // ED reference-error-codes.md: AADSTS501481.
  pkceMismatch: () => new AadError("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."),
  // ED reference-error-codes.md: AADSTS501491.
  pkceChallengeSize: () => new AadError("invalid_request", 501491, "Invalid size of Code_Challenge parameter."),
  // [3p] captured answers ("AADSTS500112: The reply address ... does not match ...", error invalid_client).
  replyMismatch: (got: string, expected: string) =>
    new AadError("invalid_client", 500112, `The reply address '${got}' does not match the reply address '${expected}' provided when requesting Authorization code.`),
  // ED reference-error-codes.md: AADSTS700082 ExpiredOrRevokedGrantInactiveToken; the "was inactive for" format from [3p] captures.
  refreshInactive: (issuedAt: number, inactiveMs: number) =>
    new AadError(
      "invalid_grant",
      700082,
      `The refresh token has expired due to inactivity. The token was issued on ${dotnetTime(issuedAt)} and was inactive for ${timeSpan(inactiveMs)}.`,
    ),
  // ED reference-error-codes.md: AADSTS65001 DelegationDoesNotExist; ED auth-code doc: consent_required on code redemption.
  notConsented: (app: RegisteredApp, error: "consent_required" | "invalid_grant") =>
    new AadError(
      error,
      65001,
      `The user or administrator has not consented to use the application with ID '${app.clientId}' named '${app.displayName}'. Send an interactive authorization request for this user and resource.`,
    ),
  // [3p] captured answers; ED reference-error-codes.md AADSTS50011 InvalidReplyTo.
  redirectMismatch: (uri: string, id: string) =>
    new AadError(
      "invalid_request",
      50011,
      `The redirect URI '${uri}' specified in the request does not match the redirect URIs configured for the application '${id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.`,
    ),
  // ED reference-error-codes.md: AADSTS900971.
  noReplyAddress: () => new AadError("invalid_request", 900971, "No reply address provided."),
  // ED reference-error-codes.md: AADSTS700054 / AADSTS70005 / AADSTS70007.
  idTokenNotEnabled: () => new AadError("unsupported_response_type", 700054, "Response_type 'id_token' is not enabled for the application."),
  responseType: (t: string) => new AadError("unsupported_response_type", 70005, `The application requested an unsupported response type '${t}'.`),
  responseMode: (m: string) => new AadError("invalid_request", 70007, `The application returned an unsupported value of 'response_mode' when requesting a token: '${m}'.`),
};

/** .NET DateTime "o" format, as AADSTS messages print times: 2023-12-11T23:52:19.6223401Z. */
function dotnetTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_m, millis: string) => `.${millis}0000Z`);
}

/** .NET TimeSpan "c" format: d.hh:mm:ss. */
function timeSpan(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${Math.floor(s / 86400)}.${pad(Math.floor(s / 3600) % 24)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/** "yyyy-MM-dd HH:mm:ssZ" (ED reference-error-codes.md sample). */
export function stsTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}Z`;
}
