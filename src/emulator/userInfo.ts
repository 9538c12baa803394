import { DEMO_CLIENT_ID } from "./identity";
import { refusedToken, unauthenticated, type Authentication } from "./callers";
import { errorReply, type Reply, type RequestIds } from "./http";
import { pairwiseSubject } from "./oidcSubject";
import type { TenantState } from "./routes";
import { hasPhoto, ME_ID } from "./tenant";

/**
 * The OpenID Connect UserInfo endpoint, "a standard OAuth bearer token API hosted by Microsoft Graph" at
 * `https://graph.microsoft.com/oidc/userinfo` (no version segment), for GET and POST (ED userinfo.md); the sign-in
 * host's discovery document publishes it as `userinfo_endpoint`.
 */
const USER_INFO_PATH = /^\/oidc\/userinfo\/?$/i;

export function isUserInfoPath(pathname: string): boolean {
  return USER_INFO_PATH.test(pathname);
}

/** The parts of a Graph request UserInfo reads. */
export interface UserInfoRequest {
  method: string;
  ids: RequestIds;
  authorization?: string;
  authentication: Authentication;
}

/**
 * GET or POST /oidc/userinfo. Claims (ED userinfo.md, "UserInfo response": "The claims shown in the response are all
 * those that the UserInfo endpoint can return"): `sub` always; `name`, `family_name`, `given_name` with the
 * `profile` scope ("all names require the profile scope"); `email` with the `email` scope; `openid` is required.
 * Where the doc is silent the emulator chooses, as noted at each choice below.
 */
export function userInfo(request: UserInfoRequest, state: TenantState): Reply {
  const { ids, authentication } = request;
  if (request.method !== "GET" && request.method !== "POST") {
    // The doc names GET and POST only; the answer to others is the gateway's, as for $batch.
    return errorReply(ids, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.", "gateway");
  }
  // "Call the UserInfo endpoint as you would call any Microsoft Graph API": a missing, expired or foreign token
  // gets Graph's 401 InvalidAuthenticationToken (DC concepts/errors.md shape, same challenge and messages).
  if (authentication.auth !== "valid") {
    return unauthenticated(ids, request.authorization, authentication.auth === "invalid" ? authentication.failure : "unknown");
  }
  const caller = authentication.caller;
  if (caller.kind === "app") {
    // ED userinfo.md, "Permissions": Application "Not applicable" (there is no user). The doc gives no error for it;
    // the emulator answers Graph's 401 shape with a message of its own.
    return refusedToken(ids, "UserInfo needs a delegated (user) token; an app-only token has no signed-in user.");
  }
  // The static demo tokens stand for Megan Bowen signed in to the demo app with every OIDC scope consented.
  const scopes = caller.issued ? caller.issued.scopes.map((scope) => scope.toLowerCase()) : ["openid", "profile", "email"];
  if (!scopes.includes("openid")) {
    // ED userinfo.md: "The openid claim is required"; it documents no answer without it. The emulator refuses as
    // for any missing permission: 403 Authorization_RequestDenied.
    return errorReply(ids, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "gateway");
  }
  const userId = caller.me ?? ME_ID;
  const tokenUser = caller.issued?.user;
  // The directory's user, as Graph reads it; a token user the directory does not hold has only what its token says.
  const found = state.users.find(userId);
  const directory = found?.user;
  const text = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);
  const claims: Record<string, string | undefined> = {
    // The same pairwise value as the id_token's sub (oidcSubject.ts), for this token's app.
    sub: pairwiseSubject(userId, caller.issued?.clientId ?? DEMO_CLIENT_ID),
  };
  if (scopes.includes("profile")) {
    claims.name = text(directory?.displayName) ?? tokenUser?.displayName;
    claims.family_name = text(directory?.surname);
    claims.given_name = text(directory?.givenName);
    // The doc's sample is `https://graph.microsoft.com/v1.0/me/photo/$value`; it is silent on the scope `picture` needs
    // (OIDC Core §5.4 puts it in `profile`) and on users without a photo, who get no `picture` here.
    if (found && hasPhoto(found.position, state.users.generated)) claims.picture = `${state.origin}/v1.0/me/photo/$value`;
  }
  // The email address when the user has one (ED userinfo.md: "email when available and consented to"), else the
  // user principal name, as the emulator's id_token's `email`.
  if (scopes.includes("email")) claims.email = text(directory?.mail) ?? tokenUser?.userPrincipalName ?? text(directory?.userPrincipalName);
  // OIDC Core §5.3.2: a claim with no value is omitted rather than sent as null.
  const present = Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
  return { status: 200, headers: { "Content-Type": "application/json; charset=utf-8" }, body: Buffer.from(JSON.stringify(present), "utf8"), chunked: false };
}
