import { mulberry32 } from "./random";
import { errorReply, innerErrorDate, type Reply, type RequestIds } from "./http";
import type { Fault, FaultRule } from "./types";

const FAULT_STATUSES = new Set([429, 500, 502, 503, 504]);

interface ArmedRule {
  method?: string;
  path: string | RegExp;
  /** Matching requests still to let through before the rule starts firing. */
  skip: number;
  remaining: number;
  fault: Fault;
  /** Draws in [0, 1) deciding whether a matching request is hit, for rules with a `rate`. */
  draw?: () => number;
  rate?: number;
}


/** Scripted faults, consumed in the order they were added; each rule fires `times` times. */
export class FaultQueue {
  private rules: ArmedRule[] = [];

  /** `seedOfRate`: the seed of a rate rule added without one (the run's SeededChoices); default 1, as always. */
  constructor(private readonly seedOfRate: () => number | undefined = () => undefined) {}

  add(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`FaultRule.times must be a positive integer, got ${times}`);
    if (rule.fault.kind === "status" && !FAULT_STATUSES.has(rule.fault.status)) {
      throw new RangeError(`Fault status must be one of ${[...FAULT_STATUSES].join(", ")}`);
    }
    if (rule.fault.kind === "slow" && !(rule.fault.delayMs >= 0)) throw new RangeError("Fault delayMs must be >= 0");
    if (rule.fault.kind === "reply" && !(Number.isInteger(rule.fault.status) && rule.fault.status >= 100 && rule.fault.status <= 599)) {
      throw new RangeError("Fault reply status must be an HTTP status (100-599)");
    }
    const skip = rule.skip ?? 0;
    if (!Number.isInteger(skip) || skip < 0) throw new RangeError(`FaultRule.skip must be a non-negative integer, got ${skip}`);
    if (rule.rate !== undefined && !(rule.rate > 0 && rule.rate <= 1)) throw new RangeError(`FaultRule.rate must be a number in (0, 1], got ${rule.rate}`);
    if (rule.seed !== undefined && !Number.isInteger(rule.seed)) throw new RangeError(`FaultRule.seed must be an integer, got ${rule.seed}`);
    const random = rule.rate === undefined ? {} : { rate: rule.rate, draw: mulberry32(rule.seed ?? this.seedOfRate() ?? 1) };
    this.rules.push({ method: rule.method?.toUpperCase(), path: rule.path, skip, remaining: times, fault: rule.fault, ...random });
  }

  /**
   * The fault for this request, if a rule matches; consumes one firing of that rule. With `kinds`, rules of
   * other kinds are passed over and stay armed (batch items cannot suffer a socket reset or truncation).
   */
  take(method: string, path: string, kinds?: readonly Fault["kind"][]): Fault | undefined {
    for (let index = 0; index < this.rules.length; index++) {
      const rule = this.rules[index];
      if (rule.method !== undefined && rule.method !== method.toUpperCase()) continue;
      if (kinds !== undefined && !kinds.includes(rule.fault.kind)) continue;
      if (!matches(rule.path, path)) continue;
      if (rule.skip > 0) {
        // Still letting matches through; a later rule may fire for this one.
        rule.skip -= 1;
        continue;
      }
      // Spared by chance: the request goes on to later rules and to Graph.
      if (rule.draw !== undefined && rule.rate !== undefined && rule.draw() >= rule.rate) continue;
      rule.remaining -= 1;
      if (rule.remaining === 0) this.rules.splice(index, 1);
      return rule.fault;
    }
    return undefined;
  }

  clear(): void {
    this.rules = [];
  }
}

function matches(pattern: string | RegExp, path: string): boolean {
  if (typeof pattern === "string") return pattern === path;
  pattern.lastIndex = 0;
  return pattern.test(path);
}

const STATUS_BODIES: Record<number, { code: string; message: string }> = {
  // DC concepts/errors.md: generalException; the message is the one Graph workloads send for it.
  500: { code: "generalException", message: "General exception while processing." },
  // Seen from Graph's front end for upstream failures: UnknownError with an empty message.
  502: { code: "UnknownError", message: "" },
  // DC concepts/errors.md, "Code property" table.
  503: { code: "serviceNotAvailable", message: "The service is not available. Try the request again after a delay." },
  // DC concepts/errors.md, 504 row.
  504: {
    code: "UnknownError",
    message:
      "The server, while acting as a gateway or proxy, did not receive a timely response from the upstream server it needed to access in attempting to complete the request.",
  },
};

/** A scripted answer, sent as given: no Graph headers beyond the per-request ids the server adds. */
export function scriptedReply(fault: Extract<Fault, { kind: "reply" }>): Reply {
  const body = typeof fault.body === "string" ? Buffer.from(fault.body, "utf8") : fault.body;
  return { status: fault.status, headers: { ...(fault.headers ?? {}) }, body, chunked: false };
}

export function statusFaultReply(ids: RequestIds, fault: Extract<Fault, { kind: "status" }>): Reply {
  const headers: Record<string, string> = fault.retryAfter !== undefined ? { "Retry-After": fault.retryAfter } : {};
  if (fault.status === 429) {
    // The official throttling sample body (DC concepts/throttling.md), plus client-request-id.
    return errorReply(ids, 429, "TooManyRequests", "Please retry again later.", "gateway", {
      headers,
      innerError: {
        code: "429",
        date: innerErrorDate(),
        message: "Please retry after",
        "request-id": ids.requestId,
        status: "429",
        "client-request-id": ids.clientRequestId,
      },
    });
  }
  const body = STATUS_BODIES[fault.status];
  return errorReply(ids, fault.status, body.code, body.message, "gateway", { headers });
}
