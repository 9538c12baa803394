import { GraphRequestError, redactSecrets } from "./client/errors";

/**
 * The component's error hook: whatever an action throws passes through here before the platform shows it.
 * A Graph error keeps status, code, request-id and Graph's body for the flow to branch on; nothing from
 * the request's headers survives, and any bearer token in a message is redacted.
 */
export function handleGraphError(error: unknown): unknown {
  if (error instanceof GraphRequestError) {
    error.message = redactSecrets(error.message);
    return error;
  }
  if (error instanceof Error) {
    // An axios error carries its request config (headers, Authorization included): keep only the words.
    if ((error as { isAxiosError?: boolean }).isAxiosError || "config" in error) {
      const safe = new Error(redactSecrets(error.message));
      safe.name = error.name;
      return safe;
    }
    error.message = redactSecrets(error.message);
    return error;
  }
  return error;
}
