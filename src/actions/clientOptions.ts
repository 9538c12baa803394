import type { ActionContext, ActionLogger, Connection } from "@prismatic-io/spectral";
import { createGraphClient, GraphClient } from "../client";
import type { ApiVersion } from "../client/hosts";

/** The cleaned inputs that shape the client: the same on every action. */
export interface ClientParams {
  connection: Connection;
  apiVersion: ApiVersion;
  timeout?: number;
  maxResponseBytes: number;
  debugRequest: boolean;
  maxThrottleRetries: number;
  maxRetryAfterSeconds: number;
  maxRetries: number;
  retryDelayMS: number;
  useExponentialBackoff: boolean;
  retryAllErrors: boolean;
}

export function graphClientFor(
  context: { logger: ActionLogger; debug?: ActionContext["debug"] },
  params: ClientParams,
): GraphClient {
  return createGraphClient(params.connection, {
    apiVersion: params.apiVersion,
    timeoutMs: params.timeout,
    maxResponseBytes: params.maxResponseBytes,
    debug: params.debugRequest || Boolean(context.debug?.enabled),
    logger: context.logger,
    retry: {
      maxThrottleRetries: params.maxThrottleRetries,
      maxRetryAfterMs: params.maxRetryAfterSeconds * 1000,
      maxErrorRetries: params.maxRetries,
      retryAllErrors: params.retryAllErrors,
      retryDelayMs: params.retryDelayMS,
      useExponentialBackoff: params.useExponentialBackoff,
    },
  });
}
