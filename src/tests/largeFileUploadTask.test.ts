/**
 * Issue 9 §5, the proof: Microsoft's own LargeFileUploadTask (@microsoft/microsoft-graph-client, unmodified)
 * uploads to the emulator's upload host, and our Download File reads the same bytes back. The session is created
 * with Raw Request: the SDK's AuthenticationHandler adds the token only on https Graph hosts and strips it
 * elsewhere, and the emulator is plain http on loopback. The chunk loop, the part under proof, is the SDK's.
 */
import { Client, FileUpload, LargeFileUploadTask, type LargeFileUploadSession } from "@microsoft/microsoft-graph-client";
import { rawRequest, runAction, useEmulator } from "./support";

const env = useEmulator();

it("LargeFileUploadTask uploads to the emulator and Download File reads the same bytes back", async () => {
  const size = 3 * 320 * 1024 + 4321;
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 9)) & 0xff;

  const created = await rawRequest(env, {
    method: "POST",
    url: "/me/drive/root:/sdk/proof.bin:/createUploadSession",
    data: JSON.stringify({ item: { "@microsoft.graph.conflictBehavior": "replace", name: "proof.bin" } }),
  });
  const { uploadUrl, expirationDateTime } = created.data as { uploadUrl: string; expirationDateTime: string };
  // The SDK takes only https URLs as absolute (GraphRequest.parsePath) and joins anything else to its baseUrl, so
  // the client is pointed at the emulator's upload origin and given the upload URL's path.
  const upload = new URL(uploadUrl);
  const client = Client.init({ authProvider: (done) => done(null, env.emulator.token), baseUrl: upload.origin, defaultVersion: "" });
  const session: LargeFileUploadSession = { url: `${upload.pathname}${upload.search}`, expiry: new Date(expirationDateTime) };
  const task = new LargeFileUploadTask(client, new FileUpload(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + size) as ArrayBuffer, "proof.bin", size), session, {
    rangeSize: 320 * 1024,
  });
  const result = await task.upload();
  expect((result.responseBody as { name: string }).name).toBe("proof.bin");

  const sdkPuts = env.emulator.log.filter((e) => e.server === "upload" && e.method === "PUT");
  expect(sdkPuts.map((e) => e.status)).toEqual([202, 202, 202, 201]);
  expect(sdkPuts.every((e) => e.headers.authorization === undefined)).toBe(true);

  const downloaded = (await runAction(env, "downloadFile", { item: "/me/drive/root:/sdk/proof.bin:" })) as { data: Buffer };
  expect(downloaded.data.equals(bytes)).toBe(true);
});
