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
  send(message: unknown): Promise<void>;
}

async function startEmulatorProcess(): Promise<EmulatorHandle> {
  const child = fork(path.join(__dirname, "emulatorProcess.ts"), [], {
    execArgv: ["-r", "ts-node/register/transpile-only"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const info = await new Promise<{ origin: string; token: string }>((resolve) => child.once("message", resolve as never));
  const send = (message: unknown) =>
    new Promise<void>((resolve) => {
      child.once("message", () => resolve());
      child.send(message as never);
    });
  return { ...info, child, send };
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
  const connection = createConnection(oauth, {}, { access_token: emulator.token });
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
      rows.push(["Heap retained after 1,000 Raw Requests vs after 1,000 bare calls", `${(oursHeap / 1024).toFixed(0)} KiB`, `${(bareHeap / 1024).toFixed(0)} KiB`, bareHeap ? (oursHeap / bareHeap).toFixed(2) : "n/a"]);
    }
    agent.destroy();
  } finally {
    const exited = new Promise((resolve) => emulator.child.once("exit", resolve));
    emulator.child.send({ type: "close" });
    await exited;
  }

  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  console.log(`\nBench ${new Date().toISOString().slice(0, 10)} on ${machine}\n`);
  console.log("| Measure | Ours | Baseline | Ratio |");
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
