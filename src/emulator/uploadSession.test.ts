/**
 * Proves the emulator's upload sessions over real HTTP (node:http): drive items (fragment rules, 202 ranges,
 * 416, status, cancel, expiry, conflict behaviours, the finished driveItem and its quickXorHash), Outlook
 * attachments (201 session, 200 PascalCase fragments, 201 + Location), faults in the middle of an upload, and
 * ranged downloads on the download host.
 */
import { request } from "node:http";

import { DEMO_TOKEN, READ_ONLY_TOKEN, startEmulator, type GraphEmulator } from "./index";
import { quickXorHash } from "./quickxor";
import { DRIVE_ID, ROOT_ITEM_ID } from "./tenant";
import { FRAGMENT_UNIT } from "./uploadSessions";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP exchange with node:http; rejects when the connection is reset. */
function send(method: string, url: string, options: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Answer> {
  const body = typeof options.body === "string" ? Buffer.from(options.body, "utf8") : options.body;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...(body ? { "Content-Length": String(body.length) } : {}), ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes, json: <T>() => JSON.parse(bytes.toString("utf8")) as T });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

let em: GraphEmulator;
let clockMs = 0;

function graph(method: string, path: string, body?: unknown): Promise<Answer> {
  return send(method, `${em.origin}/v1.0${path}`, {
    headers: { Authorization: `Bearer ${DEMO_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function putRange(uploadUrl: string, file: Buffer, start: number, end: number, headers: Record<string, string> = {}): Promise<Answer> {
  return send("PUT", uploadUrl, {
    headers: { "Content-Range": `bytes ${start}-${end}/${file.length}`, "Content-Type": "application/octet-stream", ...headers },
    body: file.subarray(start, end + 1),
  });
}

function fileOf(size: number, seed = 7): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return bytes;
}

async function createSession(path: string, body?: unknown): Promise<{ uploadUrl: string; expirationDateTime: string; nextExpectedRanges?: string[] }> {
  const res = await graph("POST", path, body);
  expect(res.status).toBe(200);
  return res.json();
}

beforeAll(async () => {
  em = await startEmulator({ now: () => Date.now() + clockMs });
});
afterAll(() => em.close());
beforeEach(() => {
  clockMs = 0;
  em.reset();
});

describe("drive item upload sessions", () => {
  it("creates a session on the upload host, takes 320 KiB fragments with 202 and ends with the driveItem and its quickXorHash", async () => {
    const file = fileOf(2 * FRAGMENT_UNIT + 1000);
    const session = await createSession("/me/drive/root:/Reports/q3.xlsx:/createUploadSession", {
      item: { "@microsoft.graph.conflictBehavior": "fail", name: "q3.xlsx" },
    });
    expect(session.uploadUrl.startsWith(`${em.uploadOrigin}/up/`)).toBe(true);
    expect(em.uploadOrigin).not.toBe(em.origin);
    expect(em.uploadOrigin).not.toBe(em.downloadOrigin);
    expect(session.nextExpectedRanges).toEqual(["0-"]);
    expect(Date.parse(session.expirationDateTime)).toBeGreaterThan(Date.now());

    const first = await putRange(session.uploadUrl, file, 0, FRAGMENT_UNIT - 1);
    expect(first.status).toBe(202);
    expect(first.json()).toEqual({ expirationDateTime: expect.any(String), nextExpectedRanges: [`${FRAGMENT_UNIT}-`] });
    const second = await putRange(session.uploadUrl, file, FRAGMENT_UNIT, 2 * FRAGMENT_UNIT - 1);
    expect(second.status).toBe(202);
    expect(second.json().nextExpectedRanges).toEqual([`${2 * FRAGMENT_UNIT}-`]);
    const last = await putRange(session.uploadUrl, file, 2 * FRAGMENT_UNIT, file.length - 1);
    expect(last.status).toBe(201);
    const item = last.json<{ id: string; name: string; size: number; file: { hashes: { quickXorHash: string } } }>();
    expect(item).toMatchObject({ name: "q3.xlsx", size: file.length });
    expect(item.file.hashes.quickXorHash).toBe(quickXorHash(file));

    const stored = em.driveFile("/Reports/q3.xlsx");
    expect(stored?.bytes.equals(file)).toBe(true);
    expect(em.driveFile(item.id)?.path).toBe("/Reports/q3.xlsx");
    expect(em.uploadSessions()).toEqual([]);
    const uploads = em.log.filter((e) => e.server === "upload");
    expect(uploads.map((e) => [e.method, e.headers["content-range"], e.status])).toEqual([
      ["PUT", `bytes 0-${FRAGMENT_UNIT - 1}/${file.length}`, 202],
      ["PUT", `bytes ${FRAGMENT_UNIT}-${2 * FRAGMENT_UNIT - 1}/${file.length}`, 202],
      ["PUT", `bytes ${2 * FRAGMENT_UNIT}-${file.length - 1}/${file.length}`, 201],
    ]);
  });

  it("accepts a single fragment of any size below 60 MiB as the whole file", async () => {
    const file = fileOf(1000);
    const { uploadUrl } = await createSession("/me/drive/root:/one.bin:/createUploadSession");
    const res = await putRange(uploadUrl, file, 0, file.length - 1);
    expect(res.status).toBe(201);
    expect(em.driveFile("/one.bin")?.bytes.equals(file)).toBe(true);
  });

  it("serves /drives/{id}/items/{parent}:/{name}:/createUploadSession and /me/drive/items/{id}/createUploadSession", async () => {
    const file = fileOf(500);
    const a = await createSession(`/drives/${encodeURIComponent(DRIVE_ID)}/items/${ROOT_ITEM_ID}:/by-parent.txt:/createUploadSession`);
    expect((await putRange(a.uploadUrl, file, 0, 499)).status).toBe(201);
    expect(em.driveFile("/by-parent.txt")?.bytes.equals(file)).toBe(true);

    const existing = em.driveFile("/hello.txt");
    const b = await createSession(`/me/drive/items/${existing?.id}/createUploadSession`);
    const replaced = await putRange(b.uploadUrl, file, 0, 499);
    expect(replaced.status).toBe(200);
    expect(replaced.json().id).toBe(existing?.id);
    expect(em.driveFile("/hello.txt")?.bytes.equals(file)).toBe(true);

    const me = (await graph("GET", "/me")).json<{ id: string; userPrincipalName: string }>();
    const c = await createSession(`/users/${encodeURIComponent(me.userPrincipalName)}/drive/root:/by-user.txt:/createUploadSession`);
    expect((await putRange(c.uploadUrl, file, 0, 499)).status).toBe(201);
    expect(em.driveFile("/by-user.txt")).toBeDefined();
    expect((await graph("POST", `/drives/${encodeURIComponent(DRIVE_ID)}/root:/by-drive.txt:/createUploadSession`)).status).toBe(200);
    expect((await graph("POST", "/sites/root/drive/root:/by-site.txt:/createUploadSession")).status).toBe(200);
    expect((await graph("POST", "/sites/other/drive/root:/by-site.txt:/createUploadSession")).status).toBe(404);
    const readOnly = await send("POST", `${em.origin}/v1.0/drives/${encodeURIComponent(DRIVE_ID)}/root:/ro.txt:/createUploadSession`, {
      headers: { Authorization: `Bearer ${READ_ONLY_TOKEN}` },
    });
    expect(readOnly.status).toBe(403);

    expect((await graph("POST", "/drives/not-a-drive/root:/x.txt:/createUploadSession")).status).toBe(404);
    expect((await graph("POST", `/me/drive/items/${existing?.id}:/x.txt:/createUploadSession`)).status).toBe(400);
  });

  it("refuses fragments that break the rules: not 320 KiB multiples, a changed total, a length mismatch, out of order", async () => {
    const file = fileOf(3 * FRAGMENT_UNIT);
    const { uploadUrl } = await createSession("/me/drive/root:/rules.bin:/createUploadSession");
    const odd = await putRange(uploadUrl, file, 0, 99_999);
    expect(odd.status).toBe(400);
    expect(odd.json<{ error: { code: string } }>().error.code).toBe("invalidRequest");

    const changedTotal = await send("PUT", uploadUrl, { headers: { "Content-Range": `bytes 0-${FRAGMENT_UNIT - 1}/${file.length + 1}` }, body: file.subarray(0, FRAGMENT_UNIT) });
    expect(changedTotal.status).toBe(202);
    const otherTotal = await putRange(uploadUrl, file, FRAGMENT_UNIT, 2 * FRAGMENT_UNIT - 1);
    expect(otherTotal.status).toBe(400);
    expect(otherTotal.json<{ error: { innerError: { code: string } } }>().error.innerError.code).toBe("fragmentLengthMismatch");

    const short = await send("PUT", uploadUrl, { headers: { "Content-Range": `bytes ${FRAGMENT_UNIT}-${2 * FRAGMENT_UNIT - 1}/${file.length + 1}` }, body: file.subarray(0, 10) });
    expect(short.status).toBe(400);

    const skipped = await send("PUT", uploadUrl, {
      headers: { "Content-Range": `bytes ${2 * FRAGMENT_UNIT}-${3 * FRAGMENT_UNIT - 1}/${file.length + 1}` },
      body: file.subarray(0, FRAGMENT_UNIT),
    });
    expect(skipped.status).toBe(416);
    expect(skipped.json<{ error: { innerError: { code: string } } }>().error.innerError.code).toBe("fragmentOutOfOrder");

    const missing = await send("PUT", uploadUrl, { body: file.subarray(0, 10) });
    expect(missing.status).toBe(400);
    // Nothing of the refused fragments was kept.
    expect((await send("GET", uploadUrl)).json().nextExpectedRanges).toEqual([`${FRAGMENT_UNIT}-`]);
  });

  it("refuses a fragment of 60 MiB or more", async () => {
    const size = 60 * 1024 * 1024;
    const big = Buffer.alloc(size);
    const { uploadUrl } = await createSession("/me/drive/root:/huge.bin:/createUploadSession");
    const res = await send("PUT", uploadUrl, { headers: { "Content-Range": `bytes 0-${size - 1}/${size * 2}` }, body: big });
    expect(res.status).toBe(413);
  });

  it("answers 416 with the documented body for bytes already received, and GET tells where to resume", async () => {
    const file = fileOf(2 * FRAGMENT_UNIT);
    const { uploadUrl } = await createSession("/me/drive/root:/again.bin:/createUploadSession");
    expect((await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1)).status).toBe(202);
    const again = await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1);
    expect(again.status).toBe(416);
    expect(again.json()).toMatchObject({ error: { code: "invalidRange", message: "Uploaded fragment overlaps with existing data.", innerError: { code: "invalidRange" } } });
    const status = await send("GET", uploadUrl);
    expect(status.status).toBe(200);
    expect(status.json()).toEqual({ expirationDateTime: expect.any(String), nextExpectedRanges: [`${FRAGMENT_UNIT}-`] });
    expect((await putRange(uploadUrl, file, FRAGMENT_UNIT, file.length - 1)).status).toBe(201);
  });

  it("answers 401 to any Authorization header on the upload URL and keeps the session untouched", async () => {
    const file = fileOf(FRAGMENT_UNIT);
    const { uploadUrl } = await createSession("/me/drive/root:/auth.bin:/createUploadSession");
    const res = await putRange(uploadUrl, file, 0, file.length - 1, { Authorization: `Bearer ${DEMO_TOKEN}` });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect((await send("GET", uploadUrl, { headers: { Authorization: "Bearer x" } })).status).toBe(401);
    // The log never keeps the token.
    expect(JSON.stringify(em.log)).not.toContain(DEMO_TOKEN);
    expect((await send("GET", uploadUrl)).json().nextExpectedRanges).toEqual(["0-"]);
  });

  it("cancels with DELETE 204, after which the URL answers 404 itemNotFound", async () => {
    const { uploadUrl } = await createSession("/me/drive/root:/cancel.bin:/createUploadSession");
    expect((await send("DELETE", uploadUrl)).status).toBe(204);
    const gone = await send("GET", uploadUrl);
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ error: { code: "itemNotFound", innerError: { code: "uploadSessionNotFound" } } });
    expect(em.driveFile("/cancel.bin")).toBeUndefined();
  });

  it("expires on the emulator's clock; every accepted fragment extends the expiry", async () => {
    const file = fileOf(3 * FRAGMENT_UNIT);
    const { uploadUrl, expirationDateTime } = await createSession("/me/drive/root:/slow.bin:/createUploadSession");
    clockMs += 14 * 60_000;
    const first = await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1);
    expect(first.status).toBe(202);
    expect(Date.parse(first.json<{ expirationDateTime: string }>().expirationDateTime)).toBeGreaterThan(Date.parse(expirationDateTime));
    clockMs += 14 * 60_000;
    expect((await putRange(uploadUrl, file, FRAGMENT_UNIT, 2 * FRAGMENT_UNIT - 1)).status).toBe(202);
    clockMs += 16 * 60_000;
    const late = await putRange(uploadUrl, file, 2 * FRAGMENT_UNIT, file.length - 1);
    expect(late.status).toBe(404);
    expect(late.json()).toMatchObject({ error: { code: "itemNotFound" } });
    expect(em.driveFile("/slow.bin")).toBeUndefined();
  });

  it("honours conflictBehavior: fail (409 at create, upload_name_conflict at completion), replace and rename", async () => {
    const file = fileOf(100);
    const failNow = await graph("POST", "/me/drive/root:/hello.txt:/createUploadSession", { item: { "@microsoft.graph.conflictBehavior": "fail" } });
    expect(failNow.status).toBe(409);
    expect(failNow.json()).toMatchObject({ error: { code: "nameAlreadyExists" } });
    // fail is the default too.
    expect((await graph("POST", "/me/drive/root:/hello.txt:/createUploadSession")).status).toBe(409);

    const late = await createSession("/me/drive/root:/race.txt:/createUploadSession", { item: { "@microsoft.graph.conflictBehavior": "fail" } });
    await send("PUT", `${em.origin}/v1.0/me/drive/root:/race.txt:/content`, { headers: { Authorization: `Bearer ${DEMO_TOKEN}` }, body: "first" });
    const conflict = await putRange(late.uploadUrl, file, 0, 99);
    expect(conflict.status).toBe(409);
    expect(conflict.json()).toMatchObject({ error: { code: "upload_name_conflict" } });
    expect(em.driveFile("/race.txt")?.bytes.toString()).toBe("first");

    const replace = await createSession("/me/drive/root:/hello.txt:/createUploadSession", { item: { "@microsoft.graph.conflictBehavior": "replace" } });
    const replaced = await putRange(replace.uploadUrl, file, 0, 99);
    expect(replaced.status).toBe(200);
    expect(em.driveFile("/hello.txt")?.bytes.equals(file)).toBe(true);

    const rename = await createSession("/me/drive/root:/hello.txt:/createUploadSession", { item: { "@microsoft.graph.conflictBehavior": "rename" } });
    const renamed = await putRange(rename.uploadUrl, file, 0, 99);
    expect(renamed.status).toBe(201);
    expect(renamed.json().name).toBe("hello 1.txt");
    expect(em.driveFile("/hello 1.txt")?.bytes.equals(file)).toBe(true);

    expect((await graph("POST", "/me/drive/root:/x.txt:/createUploadSession", { item: { "@microsoft.graph.conflictBehavior": "overwrite" } })).status).toBe(400);
  });

  it("checks item.fileSize against every Content-Range total and the quota (507)", async () => {
    const file = fileOf(1000);
    const { uploadUrl } = await createSession("/me/drive/root:/sized.bin:/createUploadSession", { item: { fileSize: 999 } });
    expect((await putRange(uploadUrl, file, 0, 999)).status).toBe(400);
    const tooBig = await graph("POST", "/me/drive/root:/quota.bin:/createUploadSession", { item: { fileSize: 2 ** 41 } });
    expect(tooBig.status).toBe(507);
    expect(tooBig.json()).toMatchObject({ error: { code: "quotaLimitReached" } });
    // Without fileSize the first fragment's total is checked the same way.
    const unsized = await createSession("/me/drive/root:/quota.bin:/createUploadSession");
    const over = await send("PUT", unsized.uploadUrl, { headers: { "Content-Range": `bytes 0-9/${2 ** 41}` }, body: file.subarray(0, 10) });
    expect(over.status).toBe(507);
  });

  it("with deferCommit keeps the file back until POST {uploadUrl} with an empty body", async () => {
    const file = fileOf(200);
    const { uploadUrl } = await createSession("/me/drive/root:/deferred.bin:/createUploadSession", { deferCommit: true });
    const last = await putRange(uploadUrl, file, 0, 199);
    expect(last.status).toBe(202);
    expect(last.json().nextExpectedRanges).toEqual([]);
    expect(em.driveFile("/deferred.bin")).toBeUndefined();
    const commit = await send("POST", uploadUrl, { body: Buffer.alloc(0) });
    expect(commit.status).toBe(201);
    expect(em.driveFile("/deferred.bin")?.bytes.equals(file)).toBe(true);
  });
});

describe("faults in the middle of an upload", () => {
  it("a reset on the 7th chunk loses that chunk only; the session resumes from nextExpectedRanges", async () => {
    const file = fileOf(8 * FRAGMENT_UNIT);
    const { uploadUrl } = await createSession("/me/drive/root:/flaky.bin:/createUploadSession");
    em.addFault({ method: "PUT", path: /^\/up\//, skip: 6, fault: { kind: "reset" } });
    for (let i = 0; i < 6; i++) expect((await putRange(uploadUrl, file, i * FRAGMENT_UNIT, (i + 1) * FRAGMENT_UNIT - 1)).status).toBe(202);
    await expect(putRange(uploadUrl, file, 6 * FRAGMENT_UNIT, 7 * FRAGMENT_UNIT - 1)).rejects.toThrow();
    expect((await send("GET", uploadUrl)).json().nextExpectedRanges).toEqual([`${6 * FRAGMENT_UNIT}-`]);
    expect((await putRange(uploadUrl, file, 6 * FRAGMENT_UNIT, 7 * FRAGMENT_UNIT - 1)).status).toBe(202);
    expect((await putRange(uploadUrl, file, 7 * FRAGMENT_UNIT, file.length - 1)).status).toBe(201);
    expect(em.driveFile("/flaky.bin")?.bytes.equals(file)).toBe(true);
    const chunk7 = em.log.filter((e) => e.server === "upload" && e.headers["content-range"]?.startsWith(`bytes ${6 * FRAGMENT_UNIT}-`));
    expect(chunk7.map((e) => e.status)).toEqual([0, 202]);
  });

  it("a reset after processing keeps the chunk: resending it gives 416, GET shows the next range", async () => {
    const file = fileOf(2 * FRAGMENT_UNIT);
    const { uploadUrl } = await createSession("/me/drive/root:/lost-answer.bin:/createUploadSession");
    em.addFault({ method: "PUT", path: /^\/up\//, fault: { kind: "reset", afterProcessing: true } });
    await expect(putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1)).rejects.toThrow();
    expect((await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1)).status).toBe(416);
    expect((await send("GET", uploadUrl)).json().nextExpectedRanges).toEqual([`${FRAGMENT_UNIT}-`]);
  });

  it("a corrupt fault damages a fragment in transit: the stored file and its quickXorHash differ from what was sent", async () => {
    const file = fileOf(FRAGMENT_UNIT + 10);
    const { uploadUrl } = await createSession("/me/drive/root:/damaged.bin:/createUploadSession");
    em.addFault({ method: "PUT", path: /^\/up\//, skip: 1, fault: { kind: "corrupt" } });
    expect((await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1)).status).toBe(202);
    const done = await putRange(uploadUrl, file, FRAGMENT_UNIT, file.length - 1);
    expect(done.status).toBe(201);
    const hash = done.json<{ file: { hashes: { quickXorHash: string } } }>().file.hashes.quickXorHash;
    expect(hash).not.toBe(quickXorHash(file));
    expect(hash).toBe(quickXorHash(em.driveFile("/damaged.bin")?.bytes ?? Buffer.alloc(0)));
    // The log shows what the client sent.
    expect(em.log.at(-1)?.bodyBytes.equals(file.subarray(FRAGMENT_UNIT))).toBe(true);
  });

  it("a scripted 503 with Retry-After answers before routing: the fragment is not kept", async () => {
    const file = fileOf(FRAGMENT_UNIT + 10);
    const { uploadUrl } = await createSession("/me/drive/root:/busy.bin:/createUploadSession");
    em.addFault({ method: "PUT", path: /^\/up\//, fault: { kind: "status", status: 503, retryAfter: "3" } });
    const busy = await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1);
    expect(busy.status).toBe(503);
    expect(busy.headers["retry-after"]).toBe("3");
    expect((await send("GET", uploadUrl)).json().nextExpectedRanges).toEqual(["0-"]);
    expect((await putRange(uploadUrl, file, 0, FRAGMENT_UNIT - 1)).status).toBe(202);
  });
});

describe("Outlook attachment upload sessions", () => {
  async function draft(): Promise<string> {
    const res = await graph("POST", "/me/messages", { subject: "Report", toRecipients: [] });
    expect(res.status).toBe(201);
    return res.json<{ id: string }>().id;
  }

  it("creates a 201 session with an AttachmentSessions URL, answers fragments 200 in PascalCase, ends 201 with Location and no body", async () => {
    const messageId = await draft();
    const file = fileOf(5 * 1024 * 1024 + 17);
    const created = await graph("POST", `/me/messages/${messageId}/attachments/createUploadSession`, {
      AttachmentItem: { attachmentType: "file", name: "flower.jpg", size: file.length, contentType: "image/jpeg" },
    });
    expect(created.status).toBe(201);
    const session = created.json<{ uploadUrl: string; expirationDateTime: string; nextExpectedRanges: string[] }>();
    expect(session.nextExpectedRanges).toEqual(["0-"]);
    expect(session.uploadUrl).toMatch(new RegExp(`^${em.uploadOrigin}/api/v2\\.0/Users\\('[^']+'\\)/Messages\\('[^']+'\\)/AttachmentSessions\\('[^']+'\\)\\?authtoken=.+`));

    const chunk = 2 * 1024 * 1024;
    const first = await putRange(session.uploadUrl, file, 0, chunk - 1);
    expect(first.status).toBe(200);
    expect(first.json()).toEqual({ "@odata.context": expect.stringContaining("AttachmentSessions/$entity"), ExpirationDateTime: expect.any(String), NextExpectedRanges: [String(chunk)] });
    expect((await putRange(session.uploadUrl, file, chunk, 2 * chunk - 1)).status).toBe(200);
    const last = await putRange(session.uploadUrl, file, 2 * chunk, file.length - 1);
    expect(last.status).toBe(201);
    expect(last.body.length).toBe(0);
    expect(last.headers["content-length"]).toBe("0");
    expect(last.headers.location).toMatch(/\/Messages\('[^']+'\)\/Attachments\('[^']+'\)$/);

    const [attachment] = em.attachments(messageId);
    expect(attachment).toMatchObject({ name: "flower.jpg", contentType: "image/jpeg" });
    expect(attachment.bytes.equals(file)).toBe(true);
    const value = await graph("GET", `/me/messages/${messageId}/attachments/${attachment.id}/$value`);
    expect(value.status).toBe(200);
    expect(value.body.equals(file)).toBe(true);
    expect((await graph("GET", `/me/messages/${messageId}`)).json().hasAttachments).toBe(true);
  });

  it("uploads to an event's attachments the same way (/users/{id}/events/{id}/attachments/createUploadSession)", async () => {
    const events = await graph("GET", "/me/events");
    const [event] = events.json<{ value: { id: string }[] }>().value;
    const me = (await graph("GET", "/me")).json<{ id: string }>().id;
    const file = fileOf(1_000_000);
    const created = await graph("POST", `/users/${me}/events/${event.id}/attachments/createUploadSession`, {
      AttachmentItem: { attachmentType: "file", name: "agenda.pdf", size: file.length },
    });
    expect(created.status).toBe(201);
    const { uploadUrl } = created.json<{ uploadUrl: string }>();
    expect(uploadUrl).toMatch(/\/Events\('[^']+'\)\/AttachmentSessions\('/);
    const status = await send("GET", uploadUrl);
    expect(status.json()).toMatchObject({ NextExpectedRanges: ["0"] });
    const done = await putRange(uploadUrl, file, 0, file.length - 1);
    expect(done.status).toBe(201);
    expect(done.headers.location).toMatch(/\/Events\('[^']+'\)\/Attachments\('[^']+'\)$/);
    expect(em.attachments(event.id)[0].bytes.equals(file)).toBe(true);
    expect((await graph("GET", `/me/events/${event.id}`)).json().hasAttachments).toBe(true);
    expect((await graph("POST", "/me/events/unknown/attachments/createUploadSession", { AttachmentItem: { name: "x", size: 1 } })).status).toBe(404);
  });

  it("refuses a 4 MiB fragment, a wrong authtoken and an Authorization header", async () => {
    const messageId = await draft();
    const file = fileOf(5 * 1024 * 1024);
    const { uploadUrl } = (
      await graph("POST", `/me/messages/${messageId}/attachments/createUploadSession`, { AttachmentItem: { attachmentType: "file", name: "a.bin", size: file.length } })
    ).json<{ uploadUrl: string }>();
    expect((await putRange(uploadUrl, file, 0, 4 * 1024 * 1024 - 1)).status).toBe(413);
    expect((await putRange(uploadUrl.replace(/authtoken=.*/, "authtoken=forged"), file, 0, 99)).status).toBe(404);
    expect((await putRange(uploadUrl, file, 0, 99, { Authorization: `Bearer ${DEMO_TOKEN}` })).status).toBe(401);
    expect(em.attachments(messageId)).toEqual([]);
  });

  it("takes small files with POST …/attachments (under 3 MB) and lists them", async () => {
    const messageId = await draft();
    const bytes = Buffer.from("Hello World!");
    const res = await graph("POST", `/me/messages/${messageId}/attachments`, {
      "@odata.type": "#microsoft.graph.fileAttachment",
      name: "hello.txt",
      contentType: "text/plain",
      contentBytes: bytes.toString("base64"),
    });
    expect(res.status).toBe(201);
    expect(res.json()).toMatchObject({ "@odata.type": "#microsoft.graph.fileAttachment", name: "hello.txt", size: 12, contentBytes: bytes.toString("base64") });
    const list = await graph("GET", `/me/messages/${messageId}/attachments`);
    expect(list.json<{ value: unknown[] }>().value).toHaveLength(1);
    const big = await graph("POST", `/me/messages/${messageId}/attachments`, {
      "@odata.type": "#microsoft.graph.fileAttachment",
      name: "big.bin",
      contentBytes: Buffer.alloc(3 * 1024 * 1024).toString("base64"),
    });
    expect(big.status).toBe(413);
  });
});

describe("ranged downloads on the download host", () => {
  async function downloadUrl(path: string): Promise<string> {
    const res = await graph("GET", `/me/drive/root:${path}:/content`);
    expect(res.status).toBe(302);
    return String(res.headers.location);
  }

  it("answers Range with 206 and Content-Range, an open range to the end, and 416 when unsatisfiable", async () => {
    const url = await downloadUrl("/data.bin");
    const whole = await send("GET", url);
    expect(whole.status).toBe(200);
    expect(whole.headers["accept-ranges"]).toBe("bytes");
    const part = await send("GET", url, { headers: { Range: "bytes=100-199" } });
    expect(part.status).toBe(206);
    expect(part.headers["content-range"]).toBe("bytes 100-199/512");
    expect(part.body.equals(whole.body.subarray(100, 200))).toBe(true);
    const rest = await send("GET", url, { headers: { Range: "bytes=500-" } });
    expect(rest.headers["content-range"]).toBe("bytes 500-511/512");
    expect(rest.body.length).toBe(12);
    const beyond = await send("GET", url, { headers: { Range: "bytes=512-" } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers["content-range"]).toBe("bytes */512");
  });

  it("serves an uploaded file in ranges, and a fault can cut a download in the middle", async () => {
    const file = fileOf(FRAGMENT_UNIT + 5);
    const { uploadUrl } = await createSession("/me/drive/root:/big.bin:/createUploadSession");
    expect((await putRange(uploadUrl, file, 0, file.length - 1)).status).toBe(201);
    const url = await downloadUrl("/big.bin");
    em.addFault({ method: "GET", path: /^\/download\//, fault: { kind: "truncate" } });
    await expect(send("GET", url)).rejects.toThrow();
    const tail = await send("GET", url, { headers: { Range: `bytes=${FRAGMENT_UNIT}-` } });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(file.subarray(FRAGMENT_UNIT))).toBe(true);
    // /content on Graph still redirects (the Range belongs on the download URL).
    const res = await send("GET", `${em.origin}/v1.0/me/drive/root:/big.bin:/content`, { headers: { Authorization: `Bearer ${DEMO_TOKEN}`, Range: "bytes=0-9" } });
    expect(res.status).toBe(302);
  });
});
