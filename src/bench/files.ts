/**
 * Issue 9 §5 bench: Upload File (an upload session in 10 MiB chunks through the harness) against one bare PUT of
 * the same bytes to the same emulator, and Download File against one bare GET of the download URL. Wall time
 * (ratio of medians) and peak RSS above the starting point, over the file size. The emulator runs in its own
 * process so its copy of the file is not counted. Runnable alone: `node --expose-gc -r ts-node/register/transpile-only
 * src/bench/files.ts` (BENCH_FILE_MIB, BENCH_FILE_ROUNDS); the coordinator wires `benchFiles` into main.ts.
 */
import { fork } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { createConnection, createHarness } from "@prismatic-io/spectral/dist/testing";
import component from "../index";
import { oauth } from "../connections";
import { BASE_URL_ENV } from "../client/hosts";
import { formatSummary, summarize, type Summary } from "./stats";

type Row = [string, string, string, string];
const quiet = { metric() {}, trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

interface Emulator {
  origin: string;
  token: string;
  /** Drops the emulator's files and request log (a 256 MiB body is logged too), so rounds do not pile up. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function startEmulatorProcess(): Promise<Emulator> {
  const child = fork(path.join(__dirname, "emulatorProcess.ts"), [], {
    execArgv: ["-r", "ts-node/register/transpile-only", "--max-old-space-size=4096"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const info = await new Promise<{ origin: string; token: string }>((resolve) => child.once("message", resolve as never));
  return {
    ...info,
    reset: () =>
      new Promise<void>((resolve) => {
        child.once("message", () => resolve());
        child.send({ type: "reset" });
      }),
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send({ type: "close" });
      await exited;
    },
  };
}

/** Runs `run` and samples RSS every 2 ms; returns the wall time and the peak RSS above where it started. */
async function measured(run: () => Promise<unknown>): Promise<{ ms: number; peakRss: number }> {
  global.gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 2);
  const started = nowMs();
  try {
    await run();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { ms: nowMs() - started, peakRss: peak - before };
  } finally {
    clearInterval(timer);
  }
}

function bare(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body ? { "Content-Length": String(body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export async function benchFiles(options: { sizeMiB?: number; rounds?: number } = {}): Promise<Row[]> {
  const sizeMiB = options.sizeMiB ?? 256;
  const rounds = options.rounds ?? 3;
  const size = sizeMiB * 1024 * 1024;
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);

  const emulator = await startEmulatorProcess();
  const previousBase = process.env[BASE_URL_ENV];
  process.env[BASE_URL_ENV] = emulator.origin;
  const harness = createHarness(component);
  // Max Retry Count 2 and a warm-up GET before each timed step: a pooled keep-alive socket that the emulator had
  // closed during a long baseline transfer was seen to reset the next request (a POST, which is not retried).
  // The bench measures transfers, not that race; the report names it.
  const warmUp = () => harness.action("rawRequest", { connection, url: "/me", method: "GET", maxRetries: "3" }, { logger: quiet });
  const connection = createConnection(oauth, {}, { access_token: emulator.token });
  const auth = { Authorization: `Bearer ${emulator.token}` };
  const samples = { upload: [] as number[], bareUpload: [] as number[], download: [] as number[], bareDownload: [] as number[] };
  const rss = { upload: [] as number[], bareUpload: [] as number[], download: [] as number[], bareDownload: [] as number[] };
  const record = (key: keyof typeof samples, m: { ms: number; peakRss: number }) => {
    samples[key].push(m.ms);
    rss[key].push(m.peakRss / size);
  };
  try {
    for (let round = 0; round < rounds; round++) {
      await emulator.reset();
      const ours = async () =>
        (await warmUp()) &&
        record(
          "upload",
          await measured(() =>
            harness.action("uploadFile", { connection, destination: "/me/drive/root:/bench/ours.bin:", file: bytes, conflictBehavior: "replace", maxRetries: "2" }, { logger: quiet }),
          ),
        );
      const baseline = async () =>
        record(
          "bareUpload",
          await measured(async () => {
            const res = await bare("PUT", `${emulator.origin}/v1.0/me/drive/root:/bench/bare.bin:/content`, { ...auth, "Content-Type": "application/octet-stream" }, bytes);
            if (res.status >= 300) throw new Error(`bare PUT answered ${res.status}`);
          }),
        );
      // Alternate which goes first, so a drift in the machine's load weighs on both.
      if (round % 2 === 0) {
        await ours();
        await baseline();
      } else {
        await baseline();
        await ours();
      }

      const downloadOurs = async () =>
        (await warmUp()) &&
        record(
          "download",
          await measured(async () => {
            const result = (await harness.action("downloadFile", { connection, item: "/me/drive/root:/bench/ours.bin:", maxBytes: String(sizeMiB + 1), maxRetries: "2" }, { logger: quiet })) as { data: Buffer };
            if (result.data.length !== size) throw new Error("Download File returned the wrong size");
          }),
        );
      const downloadBare = async () =>
        record(
          "bareDownload",
          await measured(async () => {
            const redirect = await bare("GET", `${emulator.origin}/v1.0/me/drive/root:/bench/bare.bin:/content`, auth);
            const res = await bare("GET", String(redirect.headers.location), {});
            if (res.body.length !== size) throw new Error("bare GET returned the wrong size");
          }),
        );
      if (round % 2 === 0) {
        await downloadOurs();
        await downloadBare();
      } else {
        await downloadBare();
        await downloadOurs();
      }
    }
  } finally {
    if (previousBase === undefined) delete process.env[BASE_URL_ENV];
    else process.env[BASE_URL_ENV] = previousBase;
    await emulator.close();
  }
  const time = (s: Summary) => formatSummary(s, "ms", 0);
  const share = (s: Summary) => formatSummary(s, "× file", 3);
  const ratio = (a: number[], b: number[]) => {
    const [ours, baseline] = [summarize(a).median, summarize(b).median];
    // RSS that barely moved on both sides is noise, not a ratio.
    return baseline < 0.01 && ours < 0.01 ? "both < 0.01 × file" : (ours / baseline).toFixed(2);
  };
  const label = `${sizeMiB} MiB`;
  return [
    [`Upload File, ${label} (10 MiB chunks, upload session) vs one bare PUT, wall time (${rounds} rounds)`, time(summarize(samples.upload)), time(summarize(samples.bareUpload)), ratio(samples.upload, samples.bareUpload)],
    [`Upload File, ${label}: peak RSS above start over file size`, share(summarize(rss.upload)), share(summarize(rss.bareUpload)), ratio(rss.upload, rss.bareUpload)],
    [`Download File, ${label} (16 MiB ranged windows) vs one bare GET, wall time`, time(summarize(samples.download)), time(summarize(samples.bareDownload)), ratio(samples.download, samples.bareDownload)],
    [`Download File, ${label}: peak RSS above start over file size`, share(summarize(rss.download)), share(summarize(rss.bareDownload)), ratio(rss.download, rss.bareDownload)],
  ];
}

if (require.main === module) {
  void benchFiles({ sizeMiB: Number(process.env.BENCH_FILE_MIB ?? 256), rounds: Number(process.env.BENCH_FILE_ROUNDS ?? 3) }).then((rows) => {
    console.log("| Measure | Ours: median (spread) | Baseline: median (spread) | Ratio of medians |");
    console.log("| --- | --- | --- | --- |");
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  });
}
