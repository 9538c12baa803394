/**
 * Issue 9 §3 and §5 on the wire: Download File through the harness. The size and name come from Graph first;
 * /content goes to Graph with the token and its 302 is followed to the download host without it; the bytes come
 * in ranged windows, a dropped window resumes with Range from the first missing byte; the size cap fails early.
 */
import { downloadBounds, DOWNLOAD_WINDOW } from "../client/download";
import { failureOf, rawRequest, runAction, useEmulator } from "./support";

const WINDOW = 1024 * 1024;
const env = useEmulator();

function fileOf(size: number, seed = 5): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 71 + seed + (i >> 12)) & 0xff;
  return bytes;
}

/** Puts a file on the drive through Upload File, then forgets that step's requests. */
async function stored(name: string, bytes: Buffer): Promise<void> {
  await runAction(env, "uploadFile", { destination: `/me/drive/root:/${name}:`, file: { data: bytes, contentType: "text/csv" }, conflictBehavior: "replace", chunkSize: String(32 * 327_680) });
  env.emulator.log.length = 0;
}

async function download(params: Record<string, unknown>) {
  return (await runAction(env, "downloadFile", params)) as { data: Buffer; contentType: string; headers: Record<string, string> };
}

const downloads = () => env.emulator.log.filter((e) => e.server === "download");

beforeEach(() => {
  downloadBounds.windowBytes = WINDOW;
});
afterAll(() => {
  downloadBounds.windowBytes = DOWNLOAD_WINDOW;
});

describe("Download File", () => {
  it("asks Graph (with the token) for size and /content, follows the 302 without it, and reads the file in ranged windows", async () => {
    const file = fileOf(3 * WINDOW + 123);
    await stored("report.csv", file);
    const result = await download({ item: "/me/drive/root:/report.csv:" });

    expect(result.data.equals(file)).toBe(true);
    expect(result.contentType).toBe("text/csv");
    expect(result.headers["Content-Disposition"]).toBe("attachment; filename*=UTF-8''report.csv");
    expect(env.graphRequests().map((e) => [e.method, e.url, e.auth])).toEqual([
      ["GET", "/v1.0/me/drive/root:/report.csv:?$select=name,size,file,folder", "valid"],
      ["GET", "/v1.0/me/drive/root:/report.csv:/content", "valid"],
    ]);
    expect(env.graphRequests()[1].headers.range).toBe(`bytes=0-${WINDOW - 1}`);
    // Security: the download URL is its own credential; the token stays on Graph.
    expect(downloads().every((e) => e.headers.authorization === undefined && e.auth === "none")).toBe(true);
    expect(downloads().map((e) => [e.headers.range, e.status])).toEqual([
      [`bytes=0-${WINDOW - 1}`, 206],
      [`bytes=${WINDOW}-${2 * WINDOW - 1}`, 206],
      [`bytes=${2 * WINDOW}-${3 * WINDOW - 1}`, 206],
      [`bytes=${3 * WINDOW}-${file.length - 1}`, 206],
    ]);
  });

  it("resumes a dropped connection with Range from the first byte not received; earlier windows are not read again", async () => {
    const file = fileOf(3 * WINDOW);
    await stored("flaky.csv", file);
    env.emulator.addFault({ method: "GET", path: /^\/download\//, skip: 1, fault: { kind: "truncate" } });
    const result = await download({ item: "/me/drive/root:/flaky.csv:" });

    expect(result.data.equals(file)).toBe(true);
    expect(downloads().map((e) => e.headers.range)).toEqual([
      `bytes=0-${WINDOW - 1}`,
      `bytes=${WINDOW}-${2 * WINDOW - 1}`,
      `bytes=${WINDOW}-${2 * WINDOW - 1}`,
      `bytes=${2 * WINDOW}-${3 * WINDOW - 1}`,
    ]);
    expect(env.sleeps).toEqual([1000]);
    expect(env.logLines.some((l) => l.includes(`resuming from byte ${WINDOW}`))).toBe(true);
  });

  it("downloads only the Byte Range asked for", async () => {
    const file = fileOf(WINDOW);
    await stored("part.csv", file);
    const result = await download({ item: "/me/drive/root:/part.csv:", range: "100-199" });
    expect(result.data.equals(file.subarray(100, 200))).toBe(true);
    expect(downloads().map((e) => e.headers.range)).toEqual(["bytes=100-199"]);

    env.emulator.log.length = 0;
    const tail = await download({ item: "/me/drive/root:/part.csv:", range: "-10" });
    expect(tail.data.equals(file.subarray(file.length - 10))).toBe(true);
  });

  it("fails a file over Max File Size before any of its bytes are read, naming the size", async () => {
    await stored("big.csv", fileOf(2 * 1024 * 1024 + 1));
    const error = await failureOf(download({ item: "/me/drive/root:/big.csv:", maxBytes: "1" }));
    expect(error.message).toBe(
      "Download File: 'big.csv' is 2.0 MiB, more than Max File Size (1 MiB); nothing was downloaded. Raise Max File Size (at most 1024 MB), or download it in parts with Byte Range.",
    );
    expect(env.graphRequests().map((e) => e.url)).toEqual(["/v1.0/me/drive/root:/big.csv:?$select=name,size,file,folder"]);
    expect(downloads()).toHaveLength(0);
  });

  it("downloads a mail attachment's $value", async () => {
    const created = await rawRequest(env, { method: "POST", url: "/me/messages", data: '{"subject":"Invoice"}' });
    const messageId = (created.data as { id: string }).id;
    await runAction(env, "uploadFile", { destination: `/me/messages/${messageId}`, fileName: "invoice.txt", file: { data: Buffer.from("total 42"), contentType: "text/plain" } });
    const attachmentId = env.emulator.attachments(messageId)[0].id;
    env.emulator.log.length = 0;

    const result = await download({ item: `/me/messages/${messageId}/attachments/${attachmentId}/$value` });
    expect(result.data.toString()).toBe("total 42");
    expect(result.contentType).toBe("text/plain");
    expect(env.graphRequests().map((e) => e.url)).toEqual([
      `/v1.0/me/messages/${messageId}/attachments/${attachmentId}?$select=name,size,contentType`,
      `/v1.0/me/messages/${messageId}/attachments/${attachmentId}/$value`,
    ]);
  });

  it("refuses a Byte Range that starts past the end of the file", async () => {
    await stored("short.csv", fileOf(10));
    const error = await failureOf(download({ item: "/me/drive/root:/short.csv:", range: "10-" }));
    expect(error.message).toBe("Byte Range: starts at byte 10, but the file has 10 bytes (the last is 9)");
  });
});
