/**
 * Issue 9 §2 and §5 on the wire: Upload File through the harness against the emulator's upload host. Chunk
 * boundaries and headers, no token on the upload URL, resume after a reset in chunk 7 without resending accepted
 * bytes, 416 re-sync, an expired session, cancel on an unrecoverable answer, a hash mismatch, Outlook attachments.
 */
import { quickXorHash } from "../client/quickXorHash";
import type { RequestLogEntry } from "../emulator";
import { failureOf, rawRequest, runAction, useEmulator } from "./support";

const UNIT = 320 * 1024;
const env = useEmulator();

function fileOf(size: number, seed = 3): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + seed + (i >> 10)) & 0xff;
  return bytes;
}

function upload(params: Record<string, unknown>) {
  return runAction(env, "uploadFile", params);
}

/** Log entries before this index belong to a test's set-up (a draft message), not to the step under test. */
let setUpEntries = 0;
beforeEach(() => {
  setUpEntries = 0;
});
const sinceSetUp = () => env.emulator.log.slice(setUpEntries);
const uploads = () => sinceSetUp().filter((e) => e.server === "upload");
const graphSent = () => sinceSetUp().filter((e) => e.server === "graph");
const puts = () => uploads().filter((e) => e.method === "PUT");
const ranges = (entries: RequestLogEntry[]) => entries.map((e) => e.headers["content-range"]);

function expectedRanges(size: number, chunk: number, from = 0): string[] {
  const out: string[] = [];
  for (let start = from; start < size; start += chunk) out.push(`bytes ${start}-${Math.min(start + chunk, size) - 1}/${size}`);
  return out;
}

describe("Upload File to a drive", () => {
  it("sends a file larger than one chunk as an upload session: 320 KiB-multiple chunks in order, Content-Range, no token", async () => {
    const file = fileOf(8 * UNIT + 1000);
    const result = await upload({
      destination: "/me/drive/root:/Reports/q3.bin:",
      file: { data: file, contentType: "application/octet-stream" },
      conflictBehavior: "replace",
      chunkSize: String(2 * UNIT),
    });

    const create = env.graphRequests().filter((e) => e.url.endsWith("/createUploadSession"));
    expect(create).toHaveLength(1);
    expect(create[0].url).toBe("/v1.0/me/drive/root:/Reports/q3.bin:/createUploadSession");
    expect(JSON.parse(create[0].body ?? "")).toEqual({ item: { "@microsoft.graph.conflictBehavior": "replace", name: "q3.bin", fileSize: file.length } });
    expect(ranges(puts())).toEqual(expectedRanges(file.length, 2 * UNIT));
    expect(puts().map((e) => e.headers["content-length"])).toEqual(["655360", "655360", "655360", "655360", "1000"]);
    expect(puts().map((e) => e.status)).toEqual([202, 202, 202, 202, 201]);
    // Security: the upload URL is its own credential; the token never reaches the upload host.
    expect(uploads().every((e) => e.headers.authorization === undefined && e.auth === "none")).toBe(true);
    expect(env.emulator.driveFile("/Reports/q3.bin")?.bytes.equals(file)).toBe(true);
    expect(result.data).toMatchObject({ name: "q3.bin", size: file.length, file: { hashes: { quickXorHash: quickXorHash(file) } } });
  });

  it("sends a file of one chunk or less as one PUT to /content with the conflict behaviour", async () => {
    const result = await upload({ destination: "/me/drive/root", fileName: "notes.txt", file: "hello drive" });
    expect(env.graphRequests().map((e) => [e.method, e.url])).toEqual([
      ["PUT", "/v1.0/me/drive/root:/notes.txt:/content?%40microsoft.graph.conflictBehavior=fail"],
    ]);
    expect(uploads()).toHaveLength(0);
    expect(env.emulator.driveFile("/notes.txt")?.bytes.toString()).toBe("hello drive");
    expect(result.data).toMatchObject({ name: "notes.txt" });
  });

  it("resumes after a reset in the middle of chunk 7 from nextExpectedRanges: chunks 1-6 are not sent again", async () => {
    const file = fileOf(9 * UNIT + 5);
    env.emulator.addFault({ method: "PUT", path: /^\/up\//, skip: 6, fault: { kind: "reset" } });
    await upload({ destination: "/me/drive/root:/flaky.bin:", file, chunkSize: String(UNIT) });

    const all = expectedRanges(file.length, UNIT);
    // Chunk 7 twice (the reset, then the resume), every other chunk once; the session was asked where to resume.
    expect(ranges(puts())).toEqual([...all.slice(0, 7), ...all.slice(6)]);
    const methods = uploads().map((e) => e.method);
    expect(methods.indexOf("GET")).toBe(7);
    expect(methods.filter((m) => m === "GET")).toHaveLength(1);
    expect(env.sleeps).toEqual([1000]);
    expect(env.emulator.driveFile("/flaky.bin")?.bytes.equals(file)).toBe(true);
    expect(env.logLines.some((l) => l.includes("asking the session where to resume"))).toBe(true);
  });

  it("re-syncs on 416: a chunk stored before its answer was lost is not sent a third time", async () => {
    const file = fileOf(4 * UNIT);
    // Chunk 2 is stored, then the connection drops; the sender's own retry resends it and gets 416.
    env.emulator.addFault({ method: "PUT", path: /^\/up\//, skip: 1, fault: { kind: "reset", afterProcessing: true } });
    await upload({ destination: "/me/drive/root:/resync.bin:", file, chunkSize: String(UNIT), maxRetries: "1" });

    const all = expectedRanges(file.length, UNIT);
    expect(ranges(puts())).toEqual([all[0], all[1], all[1], all[2], all[3]]);
    // 0: the emulator stored chunk 2 and dropped the connection without an answer.
    expect(puts().map((e) => e.status)).toEqual([202, 0, 416, 202, 201]);
    expect(uploads().filter((e) => e.method === "GET")).toHaveLength(1);
    expect(env.emulator.driveFile("/resync.bin")?.bytes.equals(file)).toBe(true);
  });

  it("cancels the session on an unrecoverable answer and says how many bytes Graph had accepted", async () => {
    const file = fileOf(4 * UNIT);
    env.emulator.addFault({
      method: "PUT",
      path: /^\/up\//,
      skip: 2,
      fault: { kind: "reply", status: 400, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ error: { code: "invalidRange", message: "Bad fragment" } }) },
    });
    const error = await failureOf(upload({ destination: "/me/drive/root:/cancelled.bin:", file, chunkSize: String(UNIT) }));
    expect(error.message).toBe(
      "Upload File: the upload stopped with 655,360 of 1,310,720 bytes accepted by Graph: 400 invalidRange: Bad fragment. The upload session was cancelled; nothing was saved.",
    );
    expect(error.bytesTransferred).toBe(2 * UNIT);
    const cancel = uploads().filter((e) => e.method === "DELETE");
    expect(cancel).toHaveLength(1);
    expect(cancel[0].status).toBe(204);
    expect(cancel[0].headers.authorization).toBeUndefined();
    expect(env.emulator.uploadSessions()).toEqual([]);
    expect(env.emulator.driveFile("/cancelled.bin")).toBeUndefined();
  });

  it("fails loudly when the stored file's quickXorHash differs from the local file's (a fragment corrupted in transit)", async () => {
    const file = fileOf(2 * UNIT + 10);
    env.emulator.addFault({ method: "PUT", path: /^\/up\//, skip: 1, fault: { kind: "corrupt" } });
    const error = await failureOf(upload({ destination: "/me/drive/root:/damaged.bin:", file, chunkSize: String(UNIT) }));
    const stored = env.emulator.driveFile("/damaged.bin");
    expect(stored?.bytes.equals(file)).toBe(false);
    const remoteHash = quickXorHash(stored?.bytes ?? Buffer.alloc(0));
    expect(error.message).toBe(
      `Upload File: the stored file does not match the one sent: OneDrive's quickXorHash is ${remoteHash}, the local file's is ${quickXorHash(file)}. The item 'damaged.bin' (id ${stored?.id}) is corrupt; upload it again or delete it.`,
    );
  });

  it("refuses a chunk size that is not a multiple of 320 KiB before sending anything", async () => {
    const error = await failureOf(upload({ destination: "/me/drive/root:/x.bin:", file: fileOf(10), chunkSize: "1000000" }));
    expect(error.message).toContain("Chunk Size (bytes): 1,000,000 is not a multiple of 320 KiB");
    expect(error.message).toContain("983,040 (3 × 320 KiB) and 1,310,720 (4 × 320 KiB)");
    expect(env.emulator.log).toHaveLength(0);
  });
});

describe("Upload File to an Outlook message", () => {
  async function draft(): Promise<string> {
    const created = await rawRequest(env, { method: "POST", url: "/me/messages", data: '{"subject":"Report"}' });
    setUpEntries = env.emulator.log.length;
    return (created.data as { id: string }).id;
  }

  it("uses an attachment upload session for 3 MB and more: PascalCase 200s, then 201 with Location", async () => {
    const messageId = await draft();
    const file = fileOf(5 * 1024 * 1024 + 17);
    const result = await upload({ destination: `/me/messages/${messageId}`, fileName: "flower.jpg", file: { data: file, contentType: "image/jpeg" } });

    const create = graphSent();
    expect(create.map((e) => [e.method, e.url])).toEqual([["POST", `/v1.0/me/messages/${messageId}/attachments/createUploadSession`]]);
    expect(JSON.parse(create[0].body ?? "")).toEqual({ AttachmentItem: { attachmentType: "file", name: "flower.jpg", size: file.length, contentType: "image/jpeg" } });
    // Outlook asks for requests under 4 MB: 12 × 320 KiB.
    expect(ranges(puts())).toEqual(expectedRanges(file.length, 12 * UNIT));
    expect(puts().map((e) => e.status)).toEqual([200, 201]);
    expect(uploads().every((e) => e.headers.authorization === undefined)).toBe(true);
    const [attachment] = env.emulator.attachments(messageId);
    expect(attachment.bytes.equals(file)).toBe(true);
    expect(result.data).toMatchObject({ name: "flower.jpg", size: file.length, id: attachment.id });
  });

  it("gives up after five resumes without progress, cancels, and never shows the upload URL's authtoken", async () => {
    const messageId = await draft();
    const file = fileOf(4 * 1024 * 1024);
    env.emulator.addFault({ method: "PUT", path: /AttachmentSessions/, times: 10, fault: { kind: "status", status: 500 } });
    const error = await failureOf(upload({ destination: `/me/messages/${messageId}`, fileName: "big.bin", file, debugRequest: "true" }));

    expect(error.message).toMatch(/^Upload File: the upload stopped after 5 resumes without progress with 0 of 4,194,304 bytes accepted by Graph: 500/);
    expect(error.message).toContain("The upload session was cancelled");
    expect(puts()).toHaveLength(6);
    expect(uploads().filter((e) => e.method === "GET")).toHaveLength(5);
    expect(env.sleeps).toEqual([1000, 2000, 4000, 8000, 16000]);
    const authtoken = new URL(`http://x${uploads()[0].url}`).searchParams.get("authtoken") ?? "";
    expect(authtoken.length).toBeGreaterThan(10);
    // Security: the upload URL's query is its credential; neither the error nor any log line shows it.
    expect(JSON.stringify({ message: error.message, cause: String(error.cause), logs: env.logLines })).not.toContain(authtoken);
    expect(env.logLines.some((l) => l.includes("AttachmentSessions"))).toBe(true);
  });

  it("attaches a file under 3 MB with one POST", async () => {
    const messageId = await draft();
    const result = await upload({ destination: `/me/messages/${messageId}/attachments`, fileName: "note.txt", file: "hello mail" });
    const sent = graphSent();
    expect(sent.map((e) => [e.method, e.url])).toEqual([["POST", `/v1.0/me/messages/${messageId}/attachments`]]);
    expect(JSON.parse(sent[0].body ?? "")).toMatchObject({ "@odata.type": "#microsoft.graph.fileAttachment", name: "note.txt", contentBytes: Buffer.from("hello mail").toString("base64") });
    expect(env.emulator.attachments(messageId)[0].bytes.toString()).toBe("hello mail");
    expect(result.data).toMatchObject({ name: "note.txt" });
  });
});

describe("Upload File when the session expires", () => {
  const short = useEmulator({ uploadSessionLifetimeMs: 60_000 });

  it("starts a new session when Graph no longer knows the old one (404 after expiry)", async () => {
    const file = fileOf(3 * UNIT);
    // Graph throttles chunk 2 for 100 s; meanwhile the 60 s session expires.
    short.emulator.addFault({ method: "PUT", path: /^\/up\//, skip: 1, fault: { kind: "status", status: 503, retryAfter: "100" } });
    await runAction(short, "uploadFile", { destination: "/me/drive/root:/late.bin:", file, chunkSize: String(UNIT) });

    const creates = short.graphRequests().filter((e) => e.url.endsWith("/createUploadSession"));
    expect(creates).toHaveLength(2);
    const sent = short.emulator.log.filter((e) => e.server === "upload" && e.method === "PUT");
    expect(sent.map((e) => e.status)).toEqual([202, 503, 404, 202, 202, 201]);
    expect(short.sleeps).toEqual([100_000]);
    expect(short.emulator.driveFile("/late.bin")?.bytes.equals(file)).toBe(true);
  });
});
