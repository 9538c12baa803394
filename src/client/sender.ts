/**
 * The retrying sender: one logical request to any URL, with the retry policy, the clock, throttle budgets,
 * attempt bounds, size bounds and redirects. It knows no token: the Graph layer hands it origin-bound
 * credentials, which the transport adds on hops to their own origin only.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import { clock } from "./clock";
import { decideRetry, RetryDecision, RetryPolicy } from "./retry";
import { sendFollowingRedirects, TransportFailure, WireResponse } from "./transport";

export interface SendRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
  /** Whether sending it again is safe; by its method when undefined (a PUT of an upload chunk is). */
  idempotent?: boolean;
}

export interface SenderOptions {
  retry: RetryPolicy;
  /** Bound on each attempt, body included; the transport's default when undefined. */
  timeoutMs?: number;
  /** Bound on each answer's decoded body; the transport's default when undefined. */
  maxResponseBytes?: number;
  /** True under the loopback test seam: plain http is then allowed to loopback hosts. */
  loopback: boolean;
  /** Who answers, in the lines logged ("Graph", or the host of a pre-authenticated URL). */
  serverName: string;
  debug: boolean;
  logger: ActionLogger;
  /** Masks secrets in every line logged. */
  redact(line: string): string;
}

/** Headers only one origin may receive, asked for before each attempt (a token may renew during a long run). */
export interface OriginCredentials {
  origin: string;
  headers(): Promise<Record<string, string>>;
  /** After a 401: drops the credentials just used if they can be replaced; true sends again at once (once). */
  renewAfterRefusal?(): boolean;
}

/** The sender gave up: the last answer (a status of 400 or more) or the failure that left none. */
export class SendFailure extends Error {
  constructor(
    readonly last: { response: WireResponse; failure?: undefined } | { response?: undefined; failure: TransportFailure },
    readonly decision: RetryDecision | undefined,
    readonly attempts: number,
    readonly waitedMs: number,
  ) {
    super(last.response ? `answered ${last.response.status}` : last.failure.reason);
    this.name = "SendFailure";
  }
}

/** Sends until an answer under 400, retrying throttled and failed attempts as the policy allows; else SendFailure. */
export async function sendWithRetries(
  request: SendRequest,
  options: SenderOptions,
  credentials?: OriginCredentials,
): Promise<WireResponse> {
  const { method, url, body, idempotent } = request;
  const { retry, debug, timeoutMs, maxResponseBytes, loopback, serverName } = options;
  const log = (line: string) => options.logger.info(options.redact(line));
  const warn = (line: string) => options.logger.warn(options.redact(line));
  let throttleRetriesUsed = 0;
  let errorRetriesUsed = 0;
  let waitedMs = 0;
  let renewed = false;
  for (let attempt = 1; ; attempt++) {
    // Graph SDKs stamp retries with Retry-Attempt so the service can tell them from new requests.
    const headers = attempt > 1 ? { ...request.headers, "Retry-Attempt": String(attempt - 1) } : request.headers;
    const started = clock.now();
    // Credentials are added by the transport, below this line: they are never in these headers.
    if (debug) log(`→ ${method} ${url.href} (attempt ${attempt}) headers ${JSON.stringify(headers)}`);

    let response: WireResponse | undefined;
    let failure: TransportFailure | undefined;
    const originHeaders = credentials && { origin: credentials.origin, headers: await credentials.headers() };
    try {
      response = await sendFollowingRedirects(
        { method, url, headers, body, timeoutMs, maxResponseBytes },
        { loopback, credentials: originHeaders },
      );
    } catch (error) {
      if (!(error instanceof TransportFailure)) throw error;
      failure = error;
    }
    const elapsed = clock.now() - started;
    if (debug) {
      log(
        response
          ? `← ${response.status} ${response.statusText} in ${elapsed} ms (request-id ${response.headers["request-id"] ?? "none"})`
          : `← no answer after ${elapsed} ms: ${failure?.reason}`,
      );
    }
    if (response && response.status < 400) return response;
    if (response?.status === 401 && !renewed && credentials?.renewAfterRefusal?.()) {
      renewed = true;
      continue;
    }
    if (failure && !failure.retryable) throw new SendFailure({ failure }, undefined, attempt, waitedMs);

    const decision = decideRetry(
      retry,
      {
        method,
        idempotent,
        status: response?.status,
        retryAfterHeader: response?.headers["retry-after"],
        throttleRetriesUsed,
        errorRetriesUsed,
      },
      clock.now(),
      clock.random,
    );
    if (!decision.retry) {
      const last = response ? { response } : { failure: failure ?? new TransportFailure("no answer", true) };
      throw new SendFailure(last, decision, attempt, waitedMs);
    }
    if (decision.kind === "throttle") throttleRetriesUsed++;
    else errorRetriesUsed++;
    const what = response ? `${response.status}` : failure?.reason;
    const why =
      decision.kind === "throttle"
        ? decision.retryAfterMs !== undefined
          ? `${serverName} throttled it (${what}); waiting ${formatMs(decision.delayMs)} as Retry-After asked (throttle retry ${throttleRetriesUsed} of ${retry.maxThrottleRetries})`
          : `${serverName} throttled it (${what}) without Retry-After; backing off ${formatMs(decision.delayMs)} (throttle retry ${throttleRetriesUsed} of ${retry.maxThrottleRetries})`
        : `it failed (${what}); retrying in ${formatMs(decision.delayMs)} (retry ${errorRetriesUsed} of ${retry.maxErrorRetries})`;
    warn(`Microsoft Graph ${method} ${url.pathname}: ${why}`);
    waitedMs += decision.delayMs;
    await clock.sleep(decision.delayMs);
  }
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}
