import { redactError, redactSecrets } from "./client/errors";

/**
 * The component's error hook: whatever an action throws passes through here before the platform shows it.
 * A Graph error keeps status, code, request-id and Graph's body for the flow to branch on; nothing from
 * the request's headers survives. The client has already masked the tokens it holds; here, without the
 * connection at hand, anything after "Bearer" and anything shaped like a JWT is masked in every text field.
 */
export function handleGraphError(error: unknown): unknown {
  if (error instanceof Error && ((error as { isAxiosError?: boolean }).isAxiosError || "config" in error)) {
    // An axios error carries its request config (headers, Authorization included): keep only the words.
    const safe = new Error(redactSecrets(error.message));
    safe.name = error.name;
    return safe;
  }
  return redactError(error);
}
