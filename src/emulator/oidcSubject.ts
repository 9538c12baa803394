import { createHash } from "node:crypto";

/**
 * The `sub` claim Entra gives a user: pairwise, "unique to a particular app ID", so two apps see different values
 * for the same user (ED id-tokens.md, `sub`). The id_token and the UserInfo answer must agree on it (OpenID Connect
 * Core §5.3.2: "The sub Claim in the UserInfo Response MUST be verified to exactly match the sub Claim in the ID Token").
 */
export function pairwiseSubject(userId: string, clientId: string): string {
  return createHash("sha256").update(`${userId}:${clientId}`).digest("base64url").slice(0, 43);
}
