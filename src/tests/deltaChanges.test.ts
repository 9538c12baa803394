/**
 * The Delta Changes polling trigger through the harness, against the emulator's /users/delta: state is kept in
 * the instance state the way the platform keeps it (context.polling), and one object is reused across runs.
 */
import type { DeltaChangeItem, DeltaChangesData, DeltaCursor, DeltaPollingState } from "../triggers/deltaChanges";
import component from "../index";
import { connectionFor, failureOf, harness, runAction, useEmulator } from "./support";

const env = useEmulator({ users: 20, deltaPageSize: 5 });

interface PollResult {
  payload: { body: { data: DeltaChangesData }; paginationState?: DeltaCursor };
  resultType: "completed" | "polled_no_changes";
}

/** The platform's instance state for one flow: polling state lives in it between runs. */
function newInstance(): Record<string, unknown> {
  return {};
}

function pollingState(instance: Record<string, unknown>): DeltaPollingState | undefined {
  return (instance.__prismaticInternal as { polling?: DeltaPollingState } | undefined)?.polling;
}

async function poll(instance: Record<string, unknown>, params: Record<string, unknown> = {}, payload: Record<string, unknown> = {}): Promise<PollResult> {
  const result = await harness.trigger(
    "deltaChanges",
    payload,
    { connection: connectionFor(env.emulator.token), resource: "/users/delta", ...params },
    { logger: env.logger, instanceState: instance },
  );
  return result as unknown as PollResult;
}

/** Delta requests that reached Graph, as path and query. */
function deltaRequests() {
  return env.graphRequests().filter((e) => /\/users\/delta/.test(e.url));
}

function pathOf(link: string | undefined): string {
  return link ? link.slice(env.emulator.origin.length) : "";
}

const ids = (items: unknown[]) => items.map((u) => (u as { id: string }).id);

const newUser = (n: number) => ({
  displayName: `Delta Person ${n}`,
  mailNickname: `deltap${n}`,
  userPrincipalName: `deltap${n}@contoso.onmicrosoft.com`,
  accountEnabled: true,
  passwordProfile: { password: "x!Y2-long-enough" },
});

async function graphWrite(method: string, url: string, data?: unknown) {
  await runAction(env, "rawRequest", { method, url, ...(data ? { data } : {}) });
}

describe("Delta Changes: first run", () => {
  it("Full initial sync reads every item, stores the deltaLink after the last page, and the next run with no change says so", async () => {
    const instance = newInstance();
    const first = await poll(instance, { queryParams: [{ key: "$select", value: "id,displayName,jobTitle" }] });
    const data = first.payload.body.data;
    expect(data.counts).toEqual({ changes: 20, deletions: 0, pages: 4 });
    expect(new Set(ids(data.changes)).size).toBe(20);
    expect(data).toMatchObject({ roundComplete: true, resync: false, baseline: false });
    expect(first.resultType).toBe("completed");
    expect(first.payload.paginationState).toBeUndefined();
    const sent = deltaRequests();
    expect(sent[0].url).toBe("/v1.0/users/delta?$select=id,displayName,jobTitle");
    expect(sent.slice(1).every((e) => /\$skiptoken=/.test(e.url))).toBe(true);
    const state = pollingState(instance);
    expect(state?.deltaLink).toMatch(new RegExp(`^${env.emulator.origin}/v1\\.0/users/delta\\?\\$deltatoken=`));
    expect(state?.nextLink).toBeUndefined();

    env.emulator.log.length = 0;
    const second = await poll(instance, { queryParams: [{ key: "$select", value: "id,displayName,jobTitle" }] });
    expect(second.resultType).toBe("polled_no_changes");
    expect(second.payload.body.data.counts).toEqual({ changes: 0, deletions: 0, pages: 1 });
    expect(deltaRequests().map((e) => e.url)).toEqual([pathOf(state?.deltaLink)]);
    expect(pollingState(instance)?.deltaLink).toMatch(/\$deltatoken=/);
  });

  it("Changes from now on asks Graph for the latest token, returns nothing, then only later changes", async () => {
    const instance = newInstance();
    const first = await poll(instance, { firstRun: "Changes from now on" });
    expect(first.resultType).toBe("polled_no_changes");
    expect(first.payload.body.data).toMatchObject({ changes: [], deletions: [], baseline: true, roundComplete: true });
    expect(deltaRequests().map((e) => e.url)).toEqual(["/v1.0/users/delta?$deltatoken=latest"]);
    expect(pollingState(instance)?.deltaLink).toMatch(/\$deltatoken=/);

    await graphWrite("POST", "/users", newUser(1));
    const second = await poll(instance, { firstRun: "Changes from now on" });
    expect(second.resultType).toBe("completed");
    expect(second.payload.body.data.changes).toEqual([expect.objectContaining({ displayName: "Delta Person 1" })]);
    expect(second.payload.body.data.baseline).toBe(false);
  });

  it("refuses Changes from now on where Graph has no latest token, before sending anything", async () => {
    const error = await failureOf(poll(newInstance(), { resource: "/me/mailFolders('Inbox')/messages/delta", firstRun: "Changes from now on" }));
    expect(error.message).toMatch(/^First Run: Microsoft Graph offers "Changes from now on" .* only for directory objects .* choose "Full initial sync"/);
    expect(env.emulator.log).toHaveLength(0);
  });

  it.each([
    [{ resource: "/users" }, /^Resource: '\/users' is not a delta query/],
    [{ resource: "https://graph.microsoft.com/v1.0/users/delta" }, /^Resource: '.*' is a URL; enter the path only/],
    [{ resource: "/me/calendarView/delta" }, /^Resource: '\/me\/calendarView\/delta' needs startDateTime and endDateTime/],
    [{ resource: "" }, /^Resource: is required/],
    [{ firstRun: "yesterday" }, /^First Run: 'yesterday' is not one of Full initial sync, Changes from now on/],
    [{ maxPagesPerExecution: "0" }, /^Max Pages Per Execution: must be at least 1/],
  ])("refuses bad input %j before sending anything", async (params, message) => {
    const error = await failureOf(poll(newInstance(), params));
    expect(error.message).toMatch(message);
    expect(env.emulator.log).toHaveLength(0);
  });
});

describe("Delta Changes: later runs", () => {
  it("hands over changes and @removed deletions, separated and counted", async () => {
    const instance = newInstance();
    const initial = await poll(instance);
    const [victim, changed] = ids(initial.payload.body.data.changes);
    await graphWrite("PATCH", `/users/${changed}`, { jobTitle: "Delta Tester" });
    await graphWrite("DELETE", `/users/${victim}`);

    const result = await poll(instance);
    const data = result.payload.body.data;
    expect(data.counts).toEqual({ changes: 1, deletions: 1, pages: 1 });
    expect(data.changes).toEqual([expect.objectContaining({ id: changed, jobTitle: "Delta Tester" })]);
    expect(data.deletions).toEqual([{ id: victim, reason: "changed", item: { id: victim, "@removed": { reason: "changed" } } }]);

    // A flow that batches gets one record per item, deletions flagged.
    const converted = component.triggers.deltaChanges as unknown as {
      resolveTriggerItems: (ctx: unknown, r: unknown) => DeltaChangeItem[];
      getNextPaginationState: (ctx: unknown, r: unknown) => unknown;
    };
    expect(converted.resolveTriggerItems({}, result)).toEqual([
      { change: "changed", id: changed, item: data.changes[0], resync: false },
      { change: "deleted", id: victim, reason: "changed", item: data.deletions[0].item, resync: false },
    ]);
    expect(converted.getNextPaginationState({}, result)).toBeNull();
  });

  it("a failure on page 2 of a round keeps the old state, and the next run repeats the round and loses nothing", async () => {
    const instance = newInstance();
    await poll(instance);
    const before = structuredClone(pollingState(instance));
    const initial = await poll(newInstance());
    const touched = ids(initial.payload.body.data.changes).slice(0, 7);
    for (const id of touched) await graphWrite("PATCH", `/users/${id}`, { jobTitle: "Changed" });

    env.emulator.log.length = 0;
    // Page 1 of the change round passes; page 2 fails (no retries configured): the run fails.
    env.emulator.addFault({ path: "/users/delta", skip: 1, fault: { kind: "status", status: 500 } });
    const error = await failureOf(poll(instance));
    expect(error.message).toMatch(/Microsoft Graph 500/);
    expect(deltaRequests().map((e) => e.status)).toEqual([200, 500]);
    expect(deltaRequests()[0].url).toBe(pathOf(before?.deltaLink));
    expect(pollingState(instance)).toEqual(before);

    env.emulator.log.length = 0;
    const retry = await poll(instance);
    expect(deltaRequests()[0].url).toBe(pathOf(before?.deltaLink));
    expect(retry.payload.body.data.counts).toEqual({ changes: 7, deletions: 0, pages: 2 });
    expect(new Set(ids(retry.payload.body.data.changes))).toEqual(new Set(touched));
    expect(pollingState(instance)?.deltaLink).not.toBe(before?.deltaLink);
  });

  it("spreads a backlog over executions with Max Pages Per Execution, storing the nextLink and never an early deltaLink", async () => {
    const instance = newInstance();
    const params = { maxPagesPerExecution: "1" };
    const seen: string[] = [];

    // Execution 1: one page, a cursor for the platform's pagination, and the nextLink in polling state.
    const first = await poll(instance, params);
    expect(first.payload.body.data).toMatchObject({ roundComplete: false, counts: { changes: 5, deletions: 0, pages: 1 } });
    expect(first.resultType).toBe("completed");
    const state1 = pollingState(instance);
    expect(state1?.deltaLink).toBeUndefined();
    expect(state1?.nextLink).toMatch(/\$skiptoken=/);
    expect(first.payload.paginationState).toEqual({ nextLink: state1?.nextLink });
    seen.push(...ids(first.payload.body.data.changes));

    // Execution 2: the platform runs the trigger again with the cursor (same run); the cursor alone says where
    // to go on, even if the polling state written a moment ago has not reached this execution yet.
    env.emulator.log.length = 0;
    const sameRun = { __prismaticInternal: { polling: { query: state1?.query, deltaLink: "stale" } } };
    await poll(sameRun, params, { paginationState: first.payload.paginationState });
    expect(deltaRequests().map((e) => e.url)).toEqual([pathOf(state1?.nextLink)]);
    env.emulator.log.length = 0;
    const second = await poll(instance, params, { paginationState: first.payload.paginationState });
    expect(deltaRequests().map((e) => e.url)).toEqual([pathOf(state1?.nextLink)]);
    seen.push(...ids(second.payload.body.data.changes));

    // Execution 3 fails; execution 4 (a new scheduled run, no cursor) repeats that page from polling state.
    const state2 = pollingState(instance);
    env.emulator.addFault({ path: "/users/delta", fault: { kind: "status", status: 500 } });
    await failureOf(poll(instance, params));
    expect(pollingState(instance)).toEqual(state2);
    env.emulator.log.length = 0;
    const third = await poll(instance, params);
    expect(deltaRequests().map((e) => e.url)).toEqual([pathOf(state2?.nextLink)]);
    seen.push(...ids(third.payload.body.data.changes));

    const last = await poll(instance, params);
    seen.push(...ids(last.payload.body.data.changes));
    expect(last.payload.body.data.roundComplete).toBe(true);
    expect(last.payload.paginationState).toBeUndefined();
    expect(pollingState(instance)).toEqual({ query: state1?.query, deltaLink: expect.stringMatching(/\$deltatoken=/) });
    expect(seen).toHaveLength(20);
    expect(new Set(seen).size).toBe(20);
  });

  it("restarts from Graph's Location after 410 Gone and marks the whole round as a resync", async () => {
    const instance = newInstance();
    const params = { maxPagesPerExecution: "2", queryParams: [{ key: "$select", value: "id,displayName" }] };
    await poll(instance, params);
    env.emulator.expireDeltaTokens();
    env.emulator.log.length = 0;

    const first = await poll(instance, params);
    const sent = deltaRequests();
    expect(sent.map((e) => e.status)).toEqual([410, 200, 200]);
    expect(sent[1].url).toBe("/v1.0/users/delta?$select=id,displayName&$deltatoken=");
    expect(first.payload.body.data).toMatchObject({ resync: true, roundComplete: false, counts: { changes: 10 } });
    expect(pollingState(instance)).toMatchObject({ resync: true, nextLink: expect.stringMatching(/\$skiptoken=/) });
    expect(pollingState(instance)?.deltaLink).toBeUndefined();
    expect(env.logLines.some((l) => /^warn: Microsoft Graph answered 410 Gone \(resyncRequired\)/.test(l))).toBe(true);

    const second = await poll(instance, params);
    expect(second.payload.body.data).toMatchObject({ resync: true, roundComplete: true, counts: { changes: 10 } });
    expect(pollingState(instance)).toEqual({ query: expect.any(String), deltaLink: expect.stringMatching(/\$deltatoken=/) });

    const third = await poll(instance, params);
    expect(third.payload.body.data.resync).toBe(false);
    expect(third.resultType).toBe("polled_no_changes");
  });

  it("never follows a 410 Location to another host: the resync starts from the Resource itself", async () => {
    const instance = newInstance();
    await poll(instance);
    env.emulator.addFault({
      path: "/users/delta",
      fault: {
        kind: "reply",
        status: 410,
        headers: { "Content-Type": "application/json", Location: "https://evil.example.com/v1.0/users/delta?$deltatoken=" },
        body: JSON.stringify({ error: { code: "resyncRequired", message: "The delta token is no longer valid." } }),
      },
    });
    env.emulator.log.length = 0;
    const result = await poll(instance);
    // The client drops a Location off the Graph origin, so the token never goes there; the sync restarts from the input.
    expect(deltaRequests().slice(0, 2).map((e) => e.url)).toEqual([expect.stringMatching(/^\/v1\.0\/users\/delta\?\$deltatoken=/), "/v1.0/users/delta"]);
    expect(env.emulator.log.every((e) => e.server === "graph")).toBe(true);
    expect(result.payload.body.data.resync).toBe(true);
    expect(env.logLines.some((l) => /^warn: Microsoft Graph answered 410 Gone .*starts over from \/users\/delta/.test(l))).toBe(true);
  });

  it("starts over when Resource or Query Parameter changed since the last run", async () => {
    const instance = newInstance();
    await poll(instance, { queryParams: [{ key: "$select", value: "id" }] });
    env.emulator.log.length = 0;
    const result = await poll(instance, { queryParams: [{ key: "$select", value: "id,mail" }] });
    expect(deltaRequests()[0].url).toBe("/v1.0/users/delta?$select=id,mail");
    expect(result.payload.body.data.counts.changes).toBe(20);
    expect(env.logLines.some((l) => /^warn: Resource, Query Parameter or API Version changed since the last run/.test(l))).toBe(true);
  });
});

describe("Delta Changes on a mail folder", () => {
  const inbox = "/me/mailFolders('Inbox')/messages/delta";
  const params = {
    resource: inbox,
    queryParams: [{ key: "$select", value: "subject,isRead" }],
    // Outlook pages delta by Prefer: odata.maxpagesize (DC message-delta.md); the header is resent on every page.
    headers: [{ key: "Prefer", value: "odata.maxpagesize=2" }],
    maxPagesPerExecution: "1",
  };
  const mailRequests = () => env.graphRequests().filter((e) => e.url.includes("/messages/delta"));

  /** Runs the trigger the way the platform pages one run: again with each returned cursor until there is none. */
  async function drain(instance: Record<string, unknown>) {
    const runs: PollResult[] = [];
    let cursor: DeltaCursor | undefined;
    do {
      const run = await poll(instance, params, cursor ? { paginationState: cursor } : {});
      runs.push(run);
      cursor = run.payload.paginationState;
      // Never an early deltaLink: until the round's last page, polling state holds only the nextLink.
      expect(pollingState(instance)?.deltaLink === undefined).toBe(cursor !== undefined);
    } while (cursor);
    return {
      runs,
      changes: runs.flatMap((r) => r.payload.body.data.changes) as Array<Record<string, unknown>>,
      deletions: runs.flatMap((r) => r.payload.body.data.deletions),
    };
  }

  it("syncs the folder across executions, then hands over new, changed and deleted mail; other folders stay out", async () => {
    for (const n of [1, 2, 3]) env.emulator.mailbox.receive({ subject: `Invoice ${n}` });
    env.emulator.mailbox.receive({ subject: "Archived elsewhere" }, { folder: "archive" });
    const instance = newInstance();

    const initial = await drain(instance);
    expect(initial.runs.length).toBeGreaterThan(1);
    expect(initial.runs.every((r) => r.payload.body.data.counts.pages === 1)).toBe(true);
    const subjects = initial.changes.map((m) => m.subject);
    expect(subjects).toEqual(expect.arrayContaining(["Invoice 1", "Invoice 2", "Invoice 3"]));
    expect(subjects).not.toContain("Archived elsewhere");
    expect(new Set(initial.changes.map((m) => m.id)).size).toBe(initial.changes.length);
    const sent = mailRequests();
    expect(sent[0].url).toBe("/v1.0/me/mailFolders('Inbox')/messages/delta?$select=subject,isRead");
    expect(sent.every((e) => e.headers.prefer === "odata.maxpagesize=2")).toBe(true);
    expect(sent).toHaveLength(initial.runs.length);

    const invoices = initial.changes.filter((m) => String(m.subject).startsWith("Invoice"));
    const [read, removed] = invoices;
    await graphWrite("PATCH", `/me/messages/${read.id}`, { isRead: true });
    await graphWrite("DELETE", `/me/messages/${removed.id}`);
    env.emulator.mailbox.receive({ subject: "Invoice 4" });
    env.emulator.mailbox.receive({ subject: "Archived too" }, { folder: "archive" });

    const later = await drain(instance);
    expect(later.changes).toHaveLength(2);
    expect(later.changes).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: read.id, isRead: true }), expect.objectContaining({ subject: "Invoice 4" })]),
    );
    expect(later.deletions).toEqual([{ id: removed.id, reason: "deleted", item: expect.objectContaining({ "@removed": { reason: "deleted" } }) }]);

    const quiet = await poll(instance, params);
    expect(quiet.resultType).toBe("polled_no_changes");
  });
});
