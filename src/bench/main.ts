/**
 * `npm run bench`: every figure is a ratio against a baseline measured in the same run, on this machine.
 * The component under test is the built bundle (dist/index.js), the thing a flow step loads.
 */
import { fork, execFileSync, ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const root = path.resolve(__dirname, "../..");
const dist = path.join(root, "dist/index.js");
const TEMPLATE_BUNDLE_BYTES = 1.3 * 1024 * 1024; // Prismatic's component template bundle, as the issue cites it.
const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 400);

interface EmulatorHandle {
  origin: string;
  token: string;
  child: ChildProcess;
  /** Sends a control message; resolves with the number of requests the emulator logged since its last reset. */
  send(message: unknown): Promise<number>;
  close(): Promise<void>;
}

async function startEmulatorProcess(env: Record<string, string> = {}): Promise<EmulatorHandle> {
  const child = fork(path.join(__dirname, "emulatorProcess.ts"), [], {
    execArgv: ["-r", "ts-node/register/transpile-only"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...env },
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const ns = () => Number(process.hrtime.bigint()) / 1e6;

async function bareKeepAliveGet(origin: string, token: string, agent: http.Agent): Promise<number> {
  const started = ns();
  await new Promise<void>((resolve, reject) => {
    const req = http.get(`${origin}/v1.0/me`, { agent, headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        JSON.parse(Buffer.concat(chunks).toString("utf8"));
        resolve();
      });
    });
    req.on("error", reject);
  });
  return ns() - started;
}

function requireTimeMs(file: string, runs = 7): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ["-e", `const t=process.hrtime.bigint();require(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`]);
    times.push(Number(out.toString().trim()));
  }
  return median(times);
}

/** The same component bundled the default way (everything Spectral pulls in), as a same-run baseline. */
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
    logLevel: "error",
  });
  return out;
}

async function main(): Promise<void> {
  if (!fs.existsSync(dist)) throw new Error("dist/index.js is missing: run npm run build first");
  const rows: Array<[string, string, string, string]> = [];

  // 1. Bundle size and cold require.
  const size = fs.statSync(dist).size;
  const unstubbed = await buildUnstubbedBundle();
  const unstubbedSize = fs.statSync(unstubbed).size;
  const requireOurs = requireTimeMs(dist);
  const requireUnstubbed = requireTimeMs(unstubbed);
  fs.rmSync(unstubbed);
  rows.push(["Bundle size: dist/index.js vs Prismatic's component template bundle (1.3 MB)", `${(size / 1024).toFixed(0)} KiB`, `${(TEMPLATE_BUNDLE_BYTES / 1024).toFixed(0)} KiB`, (size / TEMPLATE_BUNDLE_BYTES).toFixed(2)]);
  rows.push(["Bundle size vs the same component bundled without stubbing Spectral's unused deps", `${(size / 1024).toFixed(0)} KiB`, `${(unstubbedSize / 1024).toFixed(0)} KiB`, (size / unstubbedSize).toFixed(2)]);
  rows.push(["Cold `require` of dist/index.js vs the unstubbed bundle (median of 7 fresh processes)", `${requireOurs.toFixed(1)} ms`, `${requireUnstubbed.toFixed(1)} ms`, (requireOurs / requireUnstubbed).toFixed(2)]);

  // The component as shipped, run through Spectral's harness like a flow step.
  const component = (await import(dist)).default;
  const { createHarness, createConnection } = await import("@prismatic-io/spectral/dist/testing");
  const { oauth } = await import("../connections");
  const harness = createHarness(component);
  const silent = { metric() {}, trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };

  const emulator = await startEmulatorProcess();
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  const connectionFor = (token: string) => createConnection(oauth, {}, { access_token: token });
  const connection = connectionFor(emulator.token);
  const rawGet = async (): Promise<number> => {
    const started = ns();
    await harness.action("rawRequest", { connection, method: "GET", url: "/me" }, { logger: silent });
    return ns() - started;
  };
  try {
    // 2. Latency: Raw Request vs a bare keep-alive GET of the same route (interleaved, after a warm-up).
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 50; i++) {
      await bareKeepAliveGet(emulator.origin, emulator.token, agent);
      await rawGet();
    }
    const bare: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      bare.push(await bareKeepAliveGet(emulator.origin, emulator.token, agent));
      ours.push(await rawGet());
    }
    const bareMedian = median(bare);
    const oursMedian = median(ours);
    rows.push([`Raw Request GET /me vs a bare keep-alive http.get (median of ${LATENCY_SAMPLES})`, `${oursMedian.toFixed(2)} ms`, `${bareMedian.toFixed(2)} ms`, (oursMedian / bareMedian).toFixed(2)]);

    // 3. Throttle efficiency: 20 concurrent requests, each throttled once with Retry-After: 1 (real time).
    await emulator.send({ type: "reset" });
    await emulator.send({ type: "fault", rule: { method: "GET", path: "/me", times: 20, fault: { kind: "status", status: 429, retryAfter: "1" } } });
    const started = ns();
    await Promise.all(Array.from({ length: 20 }, () => rawGet()));
    const wall = ns() - started;
    const ideal = 1000 + 2 * bareMedian;
    rows.push(["Throttle efficiency: 20 concurrent GETs each throttled once (Retry-After: 1), wall time vs ideal (1 s + 2 round trips)", `${wall.toFixed(0)} ms`, `${ideal.toFixed(0)} ms`, (wall / ideal).toFixed(2)]);

    // 4. Memory: heap growth over 1,000 Raw Requests vs 1,000 bare calls.
    await emulator.send({ type: "reset" });
    const heapAfter = async (fn: () => Promise<unknown>) => {
      global.gc?.();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 1000; i++) await fn();
      global.gc?.();
      return Math.max(0, process.memoryUsage().heapUsed - before);
    };
    if (global.gc) {
      const bareHeap = await heapAfter(() => bareKeepAliveGet(emulator.origin, emulator.token, agent));
      const oursHeap = await heapAfter(rawGet);
      // Retained heap is noise below a MiB; the row is a leak check, so it says so instead of a ratio of noise.
      const ratio = Math.max(oursHeap, bareHeap) < 2 ** 20 ? "no leak (both < 1 MiB)" : (oursHeap / Math.max(bareHeap, 1)).toFixed(2);
      rows.push(["Heap retained after 1,000 Raw Requests vs after 1,000 bare calls (leak check)", `${(oursHeap / 1024).toFixed(0)} KiB`, `${(bareHeap / 1024).toFixed(0)} KiB`, ratio]);
    }
    agent.destroy();
  } finally {
    await emulator.close();
  }

  rows.push(...(await benchFetchAll(harness, connectionFor, silent)));
  rows.push(...(await benchBatch(harness, connectionFor, silent)));

  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  console.log(`\nBench ${new Date().toISOString().slice(0, 10)} on ${machine}\n`);
  console.log("| Measure | Ours | Baseline | Ratio |");
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

type Harness = { action(key: string, params: Record<string, unknown>, context: Record<string, unknown>): Promise<unknown> };
type Row = [string, string, string, string];

/** GET a URL over a keep-alive agent and parse its JSON, the least a client can do. */
function bareGetJson(url: string, token: string, agent: http.Agent, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { Authorization: `Bearer ${token}`, Accept: "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
    });
    req.on("error", reject);
  });
}

/** Samples heap + buffers while `run` works; returns the peak above what was in use before it started. */
async function peakMemory<T>(run: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
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
  try {
    const result = await run();
    peak = Math.max(peak, used());
    return { result, peakBytes: peak - before };
  } finally {
    clearInterval(timer);
  }
}

const USERS = Number(process.env.BENCH_FETCH_USERS ?? 100_000);

async function benchFetchAll(harness: Harness, connectionFor: (t: string) => unknown, logger: unknown): Promise<Row[]> {
  const emulator = await startEmulatorProcess({ BENCH_USERS: String(USERS) });
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  const agent = new http.Agent({ keepAlive: true });
  try {
    const bareRun = async () => {
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
        { logger },
      )) as { data: { value: unknown[] } }).data.value;
    await bareRun();
    await oursRun();
    const t0 = ns();
    const { result: bare, peakBytes: barePeak } = await peakMemory(bareRun);
    const bareMs = ns() - t0;
    const t1 = ns();
    const { result: ours, peakBytes } = await peakMemory(oursRun);
    const oursMs = ns() - t1;
    if (ours.length !== USERS || bare.length !== USERS) throw new Error(`expected ${USERS} users, got ${ours.length} / ${bare.length}`);
    const jsonBytes = Buffer.byteLength(JSON.stringify(ours));
    return [
      [`Fetch All Pages over ${USERS.toLocaleString("en")} users at $top=999 vs a bare sequential keep-alive nextLink loop (wall time)`, `${oursMs.toFixed(0)} ms`, `${bareMs.toFixed(0)} ms`, (oursMs / bareMs).toFixed(2)],
      [`Fetch All Pages peak memory (heap + buffers) vs the JSON size of its result`, `${(peakBytes / 2 ** 20).toFixed(0)} MiB`, `${(jsonBytes / 2 ** 20).toFixed(0)} MiB`, (peakBytes / jsonBytes).toFixed(2)],
      [`Fetch All Pages peak memory vs the bare loop's peak (same items held)`, `${(peakBytes / 2 ** 20).toFixed(0)} MiB`, `${(barePeak / 2 ** 20).toFixed(0)} MiB`, (peakBytes / barePeak).toFixed(2)],
    ];
  } finally {
    agent.destroy();
    await emulator.close();
  }
}

async function benchBatch(harness: Harness, connectionFor: (t: string) => unknown, logger: unknown): Promise<Row[]> {
  const emulator = await startEmulatorProcess({ BENCH_USERS: "1000", BENCH_LATENCY_MS: "20" });
  process.env.MS_GRAPH_BASE_URL = emulator.origin;
  try {
    const connection = connectionFor(emulator.token);
    const ids = ((await harness.action(
      "fetchAllPages",
      { connection, url: "/users", queryParams: [{ key: "$top", value: "999" }, { key: "$select", value: "id" }] },
      { logger },
    )) as { data: { value: Array<{ id: string }> } }).data.value.map((u) => u.id);
    await emulator.send({ type: "reset" });
    const t0 = ns();
    for (const id of ids) await harness.action("rawRequest", { connection, method: "GET", url: `/users/${id}` }, { logger });
    const rawMs = ns() - t0;
    const rawTrips = await emulator.send({ type: "count" });
    await emulator.send({ type: "reset" });
    const t1 = ns();
    const out = (await harness.action(
      "batchRequests",
      { connection, requests: JSON.stringify(ids.map((id) => ({ method: "GET", url: `/users/${id}` }))) },
      { logger },
    )) as { data: Array<{ status: number }> };
    const batchMs = ns() - t1;
    const batchTrips = await emulator.send({ type: "count" });
    if (out.data.length !== ids.length || out.data.some((r) => r.status !== 200)) throw new Error("batch answers incomplete");
    return [
      [`1,000 GETs through Batch Requests vs 1,000 Raw Requests, 20 ms emulated latency (HTTP round trips)`, `${batchTrips}`, `${rawTrips}`, (batchTrips / rawTrips).toFixed(3)],
      [`1,000 GETs through Batch Requests vs 1,000 Raw Requests, 20 ms emulated latency (wall time)`, `${batchMs.toFixed(0)} ms`, `${rawMs.toFixed(0)} ms`, (batchMs / rawMs).toFixed(3)],
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
