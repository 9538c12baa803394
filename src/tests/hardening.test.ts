/**
 * Issue 7, sections 1 and 3, on the wire: every step ends and says why (whole-attempt deadline, size bound,
 * paging chains that do not end, unreadable Retry-After, bodies that are not what they claim), and secrets and
 * text that cannot be sent faithfully never reach Graph or a message.
 */
import { gzipSync } from "node:zlib";
import { attemptBounds, DEFAULT_ATTEMPT_TIMEOUT_MS } from "../client/transport";
import type { CollectedPages } from "../client/paging";
import { MAX_EMPTY_PAGES_IN_A_ROW } from "../client/paging";
import { picklistBounds } from "../dataSources";
import { failureOf, harness, connectionFor, rawRequest, runAction, useEmulator } from "./support";

const env = useEmulator({ users: 300 });
const JSON_TYPE = "application/json;odata.metadata=minimal;charset=utf-8";

function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}) {
  return { kind: "reply" as const, status, headers: { "Content-Type": JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

async function fetchAll(params: Record<string, unknown>): Promise<CollectedPages> {
  return (await runAction(env, "fetchAllPages", params)).data as CollectedPages;
}

describe("a step always ends", () => {
  afterEach(() => {
    attemptBounds.defaultTimeoutMs = DEFAULT_ATTEMPT_TIMEOUT_MS;
  });

  it("bounds the whole attempt with Timeout, body included: a body that stalls after the headers fails, and is retried", async () => {
    env.emulator.addFault({ path: "/users", fault: { kind: "stall" } });
    const started = Date.now();
    const error = await failureOf(rawRequest(env, { url: "/users", timeout: "300" }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.message).toBe(`Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/users: no complete answer within 300 ms (Timeout)`);
    expect(env.graphRequests()).toHaveLength(1);
    // The headers (200) had arrived: only a deadline over the body ends this.
    expect(env.graphRequests()[0].status).toBe(200);

    env.emulator.reset();
    env.emulator.addFault({ path: "/users", fault: { kind: "stall" } });
    const result = await rawRequest(env, { url: "/users", timeout: "300", maxRetries: "1" });
    expect((result.data as { value: unknown[] }).value).toHaveLength(100);
    expect(env.graphRequests()).toHaveLength(2);
  });

  it("bounds every request even when Timeout is empty", async () => {
    attemptBounds.defaultTimeoutMs = 250;
    env.emulator.addFault({ path: "/me", fault: { kind: "stall" } });
    const error = await failureOf(rawRequest(env, { url: "/me" }));
    expect(error.message).toContain("no complete answer within 250 ms (the bound used when Timeout is empty)");
  });

  it("bounds picklist requests too, with their own shorter bound", async () => {
    picklistBounds.timeoutMs = 200;
    try {
      // Picklists retry a failed page twice; a body that stalls every time ends the picklist with the reason.
      env.emulator.addFault({ path: "/groups", times: 3, fault: { kind: "stall" } });
      const error = await failureOf(harness.dataSource("selectGroup", { connection: connectionFor(env.emulator.token) }, { logger: env.logger }));
      expect(error.message).toBe(
        `Microsoft Graph request failed: GET ${env.emulator.origin}/v1.0/groups?$select=id,displayName,mail: no complete answer within 200 ms (Timeout) (after 3 attempts)`,
      );
      expect(env.graphRequests().map((e) => e.status)).toEqual([200, 200, 200]);
    } finally {
      picklistBounds.timeoutMs = 30_000;
    }
  });

  it.each([
    ["2147483648", /^Timeout: 2147483648 ms is out of range: enter 1 to 2147483647 ms/],
    ["99999999999999999999", /^Timeout: 100000000000000000000 ms is out of range: enter 1 to 2147483647 ms/],
    ["-5", /^Timeout: '-5' is not a whole number/],
  ])("refuses Timeout %p naming the allowed range, before sending", async (timeout, message) => {
    const error = await failureOf(rawRequest(env, { url: "/me", timeout }));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });

  it("accepts the longest Timeout a timer can hold", async () => {
    await rawRequest(env, { url: "/me", timeout: "2147483647" });
    expect(env.graphRequests()).toHaveLength(1);
  });
});
