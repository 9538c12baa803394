import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Compares a presented secret (token, tempauth, client secret, PKCE challenge) with the expected one in constant
 * time: both are hashed first, so neither the content nor the length leaks through timing.
 */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}
