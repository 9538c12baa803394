/**
 * `npm run bench`: every figure is set against a baseline measured in the same run, on this machine; a row
 * without one does not exist. Timed rows are repeated, ours and the baseline interleaved, and show the median
 * with its spread; ratios are ratios of medians. The component under test is the built bundle (dist/index.js),
 * the thing a flow step loads, run through Spectral's harness as the platform runs it.
 */
import { fork, execFileSync, ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import axios from "axios";
import { formatSummary, interleaved, nowMs, rotated, spreadName, summarize, type Summary } from "./stats";

const root = path.resolve(__dirname, "../..");
const distDir = path.join(root, "dist");
const dist = path.join(distDir, "index.js");
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const LATENCY_SAMPLES = env("BENCH_SAMPLES", 2000);
const CPU_BLOCKS = env("BENCH_CPU_BLOCKS", 40);
const CPU_BLOCK = 50;
const REQUIRE_ROUNDS = env("BENCH_REQUIRE_ROUNDS", 9);
const THROTTLE_ROUNDS = env("BENCH_THROTTLE_ROUNDS", 5);
const FETCH_ROUNDS = env("BENCH_FETCH_ROUNDS", 5);
const USERS = env("BENCH_FETCH_USERS", 100_000);
const BATCH_GETS = env("BENCH_BATCH_GETS", 400);
const BATCH_ROUNDS = env("BENCH_BATCH_ROUNDS", 3);
const BATCH_LATENCY_MS = 20;
/** BENCH_ONLY=bundle,raw,fetch,batch,triggers,rich,files runs only those sections (while working on one of them). */
const only = (section: string) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(",").includes(section);
/** Batch Requests' default Concurrent Batches; the single-request side runs as many requests at once. */
const CONCURRENCY = 2;

type Row = [string, string, string, string];
type Component = { actions: Record<string, unknown> };
type Harness = { action(key: string, params: Record<string, unknown>, context: Record<string, unknown>): Promise<unknown> };
const silent = { metric() {}, trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const mib = (s: Summary) => formatSummary({ ...s, median: s.median / 2 ** 20, low: s.low / 2 ** 20, high: s.high / 2 ** 20 }, "MiB", 0);
const ratio = (ours: Summary, baseline: Summary, digits = 2) => (ours.median / baseline.median).toFixed(digits);

interface EmulatorHandle {
  origin: string;
  token: string;
  child: ChildProcess;
  /** Sends a control message; resolves with the number of requests the emulator logged since its last reset. */
  send(message: unknown): Promise<number>;
  close(): Promise<void>;
}

/** The emulator in its own process, so the bench measures the client, not a shared event loop. */
async function startEmulatorProcess(variables: Record<string, string> = {}): Promise<EmulatorHandle> {
  const child = fork(path.join(__dirname, "emulatorProcess.ts"), [], {
    execArgv: ["-r", "ts-node/register/transpile-only"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...variables },
  });
  const info = await new Promise<{ origin: string; token: string }>((resolve) => child.once("message", resolve as never));
  const send = (message: unknown) =>
    new Promise<number>((resolve) => {
      child.once("message", (reply: { requests: number }) => resolve(reply.requests));
      child.send(message as never);
    });
  const close = async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.send({ type: "close" });
    await exited;
  };
  return { ...info, child, send, close };
}

/** The same component bundled the default way (everything Spectral pulls in, MSAL inline), built in this run. */
async function buildUnstubbedBundle(): Promise<string> {
  const esbuild = await import("esbuild");
  const out = path.join(os.tmpdir(), `ms-graph-unstubbed-${process.pid}.js`);
  await esbuild.build({
    entryPoints: [path.join(root, "src/index.ts")],
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    outfile: out,
    minify: true,
    legalComments: "none",
    logLevel: "error",
  });
  return out;
}

/** Milliseconds a fresh Node process takes to require `file`. */
function requireTimeMs(file: string): number {
  const out = execFileSync(process.execPath, ["-e", `const t=process.hrtime.bigint();require(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`]);
  return Number(out.toString().trim());
}

async function benchBundle(): Promise<Row[]> {
  // Every JavaScript file that ships: index.js and the MSAL file certificate connections load.
  const shipped = fs.readdirSync(distDir).filter((f) => f.endsWith(".js"));
  const shippedBytes = shipped.reduce((sum, f) => sum + fs.statSync(path.join(distDir, f)).size, 0);
  const unstubbed = await buildUnstubbedBundle();
  try {
    const unstubbedBytes = fs.statSync(unstubbed).size;
    const times = await interleaved(REQUIRE_ROUNDS, async () => requireTimeMs(dist), async () => requireTimeMs(unstubbed));
    const ours = summarize(times.ours);
    const baseline = summarize(times.baseline);
    return [
      [
        `Bundle size: all shipped JavaScript (${shipped.map((f) => `dist/${f}`).join(" + ")}) vs the same component bundled without stubbing Spectral's unused deps`,
        kib(shippedBytes),
        kib(unstubbedBytes),
        (shippedBytes / unstubbedBytes).toFixed(2),
      ],
      [
        `Cold \`require\` of dist/index.js vs the unstubbed bundle (fresh process each; median (${spreadName(ours.samples)}) of ${ours.samples})`,
        formatSummary(ours, "ms", 1),
        formatSummary(baseline, "ms", 1),
        ratio(ours, baseline),
      ],
    ];
  } finally {
    fs.rmSync(unstubbed, { force: true });
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(dist)) throw new Error("dist/index.js is missing: run npm run build first");
  const loadBefore = os.loadavg()[0];
  const rows: Row[] = [];
  if (only("bundle")) rows.push(...(await benchBundle()));

  const component = (await import(process.env.BENCH_BUNDLE ?? dist)).default;
  const { createHarness, createConnection } = await import("@prismatic-io/spectral/dist/testing");
  const { oauth } = await import("../connections");
  const harness: Harness = createHarness(component);
  const connectionFor = (token: string) => createConnection(oauth, {}, { access_token: token });

  if (only("raw")) rows.push(...(await benchRawRequest(component, harness, connectionFor)));
  if (only("fetch")) rows.push(...(await benchFetchAll(harness, connectionFor)));
  if (only("batch")) rows.push(...(await benchBatch(harness, connectionFor)));
  // The triggers' own modules (they run the source through the harness, with an emulator of their own).
  if (only("triggers")) rows.push(...(await (await import("./triggers")).benchChangeNotificationTrigger()));
  if (only("rich")) rows.push(...(await (await import("./richNotifications")).benchRichNotificationDecryption()));
  // Upload File and Download File over 256 MiB, each against one bare request of the same bytes.
  if (only("files")) rows.push(...(await (await import("./files")).benchFiles({ sizeMiB: 256, rounds: 3 })));

  const cpus = os.cpus();
  const machine = `${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${cpus[0]?.model ?? "unknown CPU"}, Node ${process.version}`;
  const load = `load average ${loadBefore.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end`;
  console.log(`\nBench ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine} (${load})\n`);
  console.log("| Measure | Ours: median (spread) | Baseline: median (spread) | Ratio of medians |");
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

async function benchRawRequest(component: Component, harness: Harness, connectionFor: (token: string) => unknown): Promise<Row[]> {
  const emulator = await startEmulatorProcess();
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  const connection = connectionFor(emulator.token);
  // The baseline is what a hand-written step would do: the same axios, keep-alive, URL and headers as the
  // connector sends, the body read as bytes and parsed. Node's server closes a keep-alive socket idle for 5 s
  // (keepAliveTimeout), and a client that reuses it at that moment gets ECONNRESET; the baseline has no retries (one
  // run crashed that way in the leak check), so its agent drops sockets idle for 4 s first (Agent `timeout`).
  const agent = new http.Agent({ keepAlive: true, timeout: 4_000 });
  const axiosGet = (url: string, extra: Record<string, unknown> = {}) =>
    axios.request({
      method: "GET",
      url,
      headers: { Accept: "application/json", "User-Agent": "PrismaticMsGraphConnector/0.1", "client-request-id": randomUUID(), Authorization: `Bearer ${emulator.token}` },
      responseType: "arraybuffer",
      httpAgent: agent,
      proxy: false,
      validateStatus: () => true,
      ...extra,
    });
  const timedAxios = (extra: Record<string, unknown> = {}) => async () => {
    const started = nowMs();
    const response = await axiosGet(`${emulator.origin}/v1.0/me`, extra);
    JSON.parse(Buffer.from(response.data).toString("utf8"));
    return nowMs() - started;
  };
  const baselineGet = timedAxios();
  // Stricter: axios told not to follow redirects, as our transport tells it (it follows them itself, to drop the
  // token on the way); axios's redirect support (follow-redirects) is work the default call pays and ours does not.
  const strictBaselineGet = timedAxios({ maxRedirects: 0 });
  const oursGet = async () => {
    const started = nowMs();
    await harness.action("rawRequest", { connection, method: "GET", url: "/me" }, { logger: silent });
    return nowMs() - started;
  };
  const rawRequest = component.actions.rawRequest as { inputs: Array<{ key: string; default?: unknown }>; perform(context: unknown, params: unknown): Promise<unknown> };
  const defaults = Object.fromEntries(rawRequest.inputs.map(({ key, default: value }) => [key, `${value ?? ""}`]));
  const stepGet = async () => {
    const started = nowMs();
    await rawRequest.perform({ logger: silent }, { ...defaults, connection, method: "GET", url: "/me" });
    return nowMs() - started;
  };
  const rows: Row[] = [];
  try {
    // 1. Latency, after a warm-up (JIT, sockets) of every side. "As a step" is what the platform runs: the
    // component's action as component() exports it (Spectral's input cleaning and error hook around ours),
    // given every input with its default. "Through the harness" adds what Spectral's test harness does on
    // each call (its jest-mock logger, defaults rebuilt), which no flow step pays.
    const sides = [stepGet, oursGet, baselineGet, strictBaselineGet];
    await rotated(300, sides);
    const [stepMs, harnessMs, baselineMs, strictMs] = (await rotated(LATENCY_SAMPLES, sides)).map(summarize);
    const added = (ours: Summary, base: Summary) => {
      const delta = ours.median - base.median;
      return `${ratio(ours, base)} (${delta < 0 ? "−" : "+"}${Math.abs(delta).toFixed(3)} ms)`;
    };
    const what = `the same axios call to the same emulator (keep-alive, same URL and headers, JSON parsed)`;
    rows.push([
      `Raw Request GET /me as a step vs ${what}; wall time, median (p10–p90) of ${LATENCY_SAMPLES} interleaved calls each`,
      formatSummary(stepMs, "ms", 3),
      formatSummary(baselineMs, "ms", 3),
      added(stepMs, baselineMs),
    ]);
    rows.push([`The same vs that axios call with \`maxRedirects: 0\`, as our transport makes it`, formatSummary(stepMs, "ms", 3), formatSummary(strictMs, "ms", 3), added(stepMs, strictMs)]);
    rows.push([`The same through Spectral's test harness, vs the axios call`, formatSummary(harnessMs, "ms", 3), formatSummary(baselineMs, "ms", 3), added(harnessMs, baselineMs)]);

    // 1b. The same calls measured in CPU time of this process (the emulator runs in another), in blocks: wall
    // time on a loaded machine is mostly waiting for a core, CPU time is what the client itself spends.
    const cpuPerCall = (call: () => Promise<unknown>) => async () => {
      const before = process.cpuUsage();
      for (let i = 0; i < CPU_BLOCK; i++) await call();
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1000 / CPU_BLOCK;
    };
    const [stepCpu, harnessCpu, baselineCpu, strictCpu] = (await rotated(CPU_BLOCKS, sides.map(cpuPerCall))).map(summarize);
    rows.push([
      `Raw Request GET /me as a step vs the same axios call: CPU time of the calling process per call; median (p10–p90) of ${CPU_BLOCKS} interleaved blocks of ${CPU_BLOCK} calls`,
      formatSummary(stepCpu, "ms", 3),
      formatSummary(baselineCpu, "ms", 3),
      added(stepCpu, baselineCpu),
    ]);
    rows.push([`The same (CPU time) vs the axios call with \`maxRedirects: 0\``, formatSummary(stepCpu, "ms", 3), formatSummary(strictCpu, "ms", 3), added(stepCpu, strictCpu)]);
    rows.push([`The same (CPU time) through Spectral's test harness, vs the axios call`, formatSummary(harnessCpu, "ms", 3), formatSummary(baselineCpu, "ms", 3), added(harnessCpu, baselineCpu)]);

    // 2. Throttle efficiency: 20 concurrent GETs, each throttled once with Retry-After: 1 (real time). The
    // baseline is the least a correct client does: wait exactly Retry-After, then send again.
    const throttleRound = (get: () => Promise<unknown>) => async () => {
      await emulator.send({ type: "reset" });
      await emulator.send({ type: "fault", rule: { method: "GET", path: "/me", times: 20, fault: { kind: "status", status: 429, retryAfter: "1" } } });
      const started = nowMs();
      await Promise.all(Array.from({ length: 20 }, get));
      const wall = nowMs() - started;
      if ((await emulator.send({ type: "count" })) !== 40) throw new Error("throttle round: expected 40 requests");
      return wall;
    };
    const baselineRetrying = async () => {
      for (;;) {
        const response = await axiosGet(`${emulator.origin}/v1.0/me`);
        if (response.status !== 429) return JSON.parse(Buffer.from(response.data).toString("utf8"));
        await new Promise((resolve) => setTimeout(resolve, Number(response.headers["retry-after"]) * 1000));
      }
    };
    const throttled = await interleaved(
      THROTTLE_ROUNDS,
      throttleRound(() => harness.action("rawRequest", { connection, method: "GET", url: "/me" }, { logger: silent })),
      throttleRound(baselineRetrying),
    );
    const throttledOurs = summarize(throttled.ours);
    const throttledBaseline = summarize(throttled.baseline);
    rows.push([
      `Throttle efficiency: 20 concurrent GETs each throttled once (Retry-After: 1), wall time vs axios waiting exactly Retry-After; median (min–max) of ${THROTTLE_ROUNDS}`,
      formatSummary(throttledOurs, "ms", 0),
      formatSummary(throttledBaseline, "ms", 0),
      ratio(throttledOurs, throttledBaseline),
    ]);

    // 3. Leak check: heap retained after 1,000 calls on each side.
    await emulator.send({ type: "reset" });
    if (global.gc) {
      const retained = async (call: () => Promise<unknown>) => {
        global.gc?.();
        const before = process.memoryUsage().heapUsed;
        for (let i = 0; i < 1000; i++) await call();
        global.gc?.();
        return Math.max(0, process.memoryUsage().heapUsed - before);
      };
      const leak = await interleaved(3, () => retained(oursGet), () => retained(baselineGet));
      const oursHeap = summarize(leak.ours).median;
      const baseHeap = summarize(leak.baseline).median;
      // Retained heap is noise below a MiB; the row is a leak check, so it says so instead of a ratio of noise.
      const verdict = Math.max(oursHeap, baseHeap) < 2 ** 20 ? "no leak (both < 1 MiB)" : (oursHeap / Math.max(baseHeap, 1)).toFixed(2);
      rows.push(["Heap retained after 1,000 Raw Requests vs after 1,000 axios calls (leak check; median of 3)", kib(oursHeap), kib(baseHeap), verdict]);
    }
  } finally {
    agent.destroy();
    await emulator.close();
  }
  return rows;
}

/** GET a URL over a keep-alive agent and parse its JSON, the least a client can do. */
function bareGetJson(url: string, token: string, agent: http.Agent): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/**
 * Runs `run` from a collected heap and samples heap + buffers every 2 ms (and once at the end); returns the
 * peak above the starting point. Both sides of a row go through this, so they see the same GC and sampling.
 */
async function peakMemory<T>(run: () => Promise<T>): Promise<{ result: T; peakBytes: number; ms: number }> {
  global.gc?.();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, used());
  }, 2);
  const started = nowMs();
  try {
    const result = await run();
    const ms = nowMs() - started;
    peak = Math.max(peak, used());
    return { result, peakBytes: peak - before, ms };
  } finally {
    clearInterval(timer);
  }
}

async function benchFetchAll(harness: Harness, connectionFor: (token: string) => unknown): Promise<Row[]> {
  const emulator = await startEmulatorProcess({ BENCH_USERS: String(USERS) });
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  let agent = new http.Agent({ keepAlive: true });
  try {
    const bareRun = async () => {
      // A fresh agent each run: a socket left idle while the other side ran could be closed by the server
      // (keep-alive timeout) just as it is reused.
      agent.destroy();
      agent = new http.Agent({ keepAlive: true });
      const value: unknown[] = [];
      let url: string | undefined = `${emulator.origin}/v1.0/users?$top=999`;
      while (url) {
        const page: Record<string, unknown> = await bareGetJson(url, emulator.token, agent);
        for (const item of page.value as unknown[]) value.push(item);
        url = page["@odata.nextLink"] as string | undefined;
      }
      return value;
    };
    const oursRun = async () =>
      ((await harness.action(
        "fetchAllPages",
        { connection: connectionFor(emulator.token), url: "/users", queryParams: [{ key: "$top", value: "999" }] },
        { logger: silent },
      )) as { data: { value: unknown[] } }).data.value;
    let jsonBytes = 0;
    const measured = (run: () => Promise<unknown[]>) => async () => {
      const { result, peakBytes, ms } = await peakMemory(run);
      if (result.length !== USERS) throw new Error(`expected ${USERS} users, got ${result.length}`);
      jsonBytes ||= Buffer.byteLength(JSON.stringify(result));
      return { peakBytes, ms };
    };
    await bareRun();
    await oursRun();
    const runs = await interleaved(FETCH_ROUNDS, measured(oursRun), measured(bareRun));
    const oursMs = summarize(runs.ours.map((r) => r.ms));
    const bareMs = summarize(runs.baseline.map((r) => r.ms));
    const oursPeak = summarize(runs.ours.map((r) => r.peakBytes));
    const barePeak = summarize(runs.baseline.map((r) => r.peakBytes));
    const users = USERS.toLocaleString("en");
    return [
      [`Fetch All Pages over ${users} users at $top=999 vs a bare sequential keep-alive nextLink loop (wall time; median (min–max) of ${FETCH_ROUNDS})`, formatSummary(oursMs, "ms", 0), formatSummary(bareMs, "ms", 0), ratio(oursMs, bareMs)],
      [`Fetch All Pages peak memory (heap + buffers) vs the JSON size of its result`, mib(oursPeak), `${(jsonBytes / 2 ** 20).toFixed(0)} MiB`, (oursPeak.median / jsonBytes).toFixed(2)],
      [`Fetch All Pages peak memory vs the bare loop's peak (same items held, same sampling)`, mib(oursPeak), mib(barePeak), ratio(oursPeak, barePeak)],
    ];
  } finally {
    agent.destroy();
    await emulator.close();
  }
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

async function benchBatch(harness: Harness, connectionFor: (token: string) => unknown): Promise<Row[]> {
  const emulator = await startEmulatorProcess({ BENCH_USERS: String(BATCH_GETS), BENCH_LATENCY_MS: String(BATCH_LATENCY_MS) });
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  try {
    const connection = connectionFor(emulator.token);
    const ids = ((await harness.action(
      "fetchAllPages",
      { connection, url: "/users", queryParams: [{ key: "$top", value: "999" }, { key: "$select", value: "id" }] },
      { logger: silent },
    )) as { data: { value: Array<{ id: string }> } }).data.value.map((u) => u.id);
    const trips = { ours: 0, baseline: 0 };
    const singles = async () => {
      await emulator.send({ type: "reset" });
      const started = nowMs();
      await pool(ids, CONCURRENCY, (id) => harness.action("rawRequest", { connection, method: "GET", url: `/users/${id}` }, { logger: silent }));
      const ms = nowMs() - started;
      trips.baseline = await emulator.send({ type: "count" });
      return ms;
    };
    const batched = async () => {
      await emulator.send({ type: "reset" });
      const started = nowMs();
      const out = (await harness.action(
        "batchRequests",
        { connection, requests: JSON.stringify(ids.map((id) => ({ method: "GET", url: `/users/${id}` }))), concurrency: String(CONCURRENCY) },
        { logger: silent },
      )) as { data: Array<{ status: number }> };
      const ms = nowMs() - started;
      trips.ours = await emulator.send({ type: "count" });
      if (out.data.length !== ids.length || out.data.some((r) => r.status !== 200)) throw new Error("batch answers incomplete");
      return ms;
    };
    const runs = await interleaved(BATCH_ROUNDS, batched, singles);
    const ours = summarize(runs.ours);
    const baseline = summarize(runs.baseline);
    const what = `${BATCH_GETS.toLocaleString("en")} GETs through Batch Requests vs as many Raw Requests, ${CONCURRENCY} calls in flight on both sides, ${BATCH_LATENCY_MS} ms emulated latency per request and per batch item`;
    return [
      [`${what} (HTTP round trips)`, `${trips.ours}`, `${trips.baseline}`, (trips.ours / trips.baseline).toFixed(3)],
      [`${what} (wall time; median (min–max) of ${BATCH_ROUNDS})`, formatSummary(ours, "ms", 0), formatSummary(baseline, "ms", 0), ratio(ours, baseline, 3)],
    ];
  } finally {
    await emulator.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
