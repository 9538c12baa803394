/**
 * What Graph's HTTP layer does for any client, over real HTTP with node:http (which neither asks for nor decodes
 * a content coding by itself, so each test sees the bytes on the wire): gzip on request, ETag preconditions on
 * drive items, and the sign-in host's instance discovery that MSAL asks before it trusts an authority.
 */
import { request } from "node:http";
import { request as tlsRequest } from "node:https";

import { ConfidentialClientApplication, type INetworkModule, type NetworkResponse } from "@azure/msal-node";
import { gunzipSync } from "node:zlib";

import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, startIdentityEmulator, type IdentityEmulator } from "./identity";
import { startEmulator } from "./server";
import { TENANT_ID } from "./tenant";
import { generateLoopbackCertificate } from "./tls";
import type { GraphEmulator } from "./types";

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? "GET", headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

let em: GraphEmulator;
let auth: Record<string, string>;
beforeAll(async () => {
  em = await startEmulator();
  auth = { Authorization: `Bearer ${em.token}` };
});
afterAll(() => em.close());
beforeEach(() => em.reset());

async function firstFile(): Promise<{ id: string; downloadUrl: string; eTag: string; cTag: string }> {
  const res = await send(`${em.origin}/v1.0/me/drive/root/children`, { headers: auth });
  const files = (JSON.parse(res.body.toString("utf8")) as { value: Record<string, unknown>[] }).value.filter((i) => "file" in i);
  const file = files[0];
  return { id: file.id as string, downloadUrl: file["@microsoft.graph.downloadUrl"] as string, eTag: file.eTag as string, cTag: file.cTag as string };
}

describe("gzip when the client asks", () => {
  it("Graph answers gzip-coded JSON to Accept-Encoding: gzip, with Vary, and identity to a client that does not ask", async () => {
    const plain = await send(`${em.origin}/v1.0/me`, { headers: auth });
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.headers.vary).toBe("Accept-Encoding");

    const coded = await send(`${em.origin}/v1.0/me`, { headers: { ...auth, "Accept-Encoding": "gzip, deflate, br" } });
    expect(coded.status).toBe(200);
    expect(coded.headers["content-encoding"]).toBe("gzip");
    expect(coded.headers.vary).toBe("Accept-Encoding");
    expect(coded.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(JSON.parse(gunzipSync(coded.body).toString("utf8"))).toEqual(JSON.parse(plain.body.toString("utf8")));
    // The request log keeps what the client sent.
    expect(em.log.at(-1)?.headers["accept-encoding"]).toBe("gzip, deflate, br");
  });

  it.each([["gzip;q=0, deflate"], ["identity"], ["*;q=0"], ["br"]])("Accept-Encoding: %s → identity", async (acceptEncoding) => {
    const res = await send(`${em.origin}/v1.0/me`, { headers: { ...auth, "Accept-Encoding": acceptEncoding } });
    expect(res.headers["content-encoding"]).toBeUndefined();
    expect(JSON.parse(res.body.toString("utf8"))).toHaveProperty("id");
  });

  it("* with q > 0 allows gzip; errors are coded too", async () => {
    const res = await send(`${em.origin}/v1.0/nosuchsegment`, { headers: { ...auth, "Accept-Encoding": "*" } });
    expect(res.status).toBe(400);
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(JSON.parse(gunzipSync(res.body).toString("utf8"))).toHaveProperty("error.code");
  });

  it("never for HEAD or a bodiless answer", async () => {
    const head = await send(`${em.origin}/v1.0/me`, { method: "HEAD", headers: { ...auth, "Accept-Encoding": "gzip" } });
    expect(head.headers["content-encoding"]).toBeUndefined();
    const file = await firstFile();
    const redirect = await send(`${em.origin}/v1.0/me/drive/items/${file.id}/content`, { headers: { ...auth, "Accept-Encoding": "gzip" } });
    expect(redirect.status).toBe(302);
    expect(redirect.headers["content-encoding"]).toBeUndefined();
  });

  it("the download host codes a whole file, never a range (Content-Range counts the file's bytes)", async () => {
    const file = await firstFile();
    const plain = await send(file.downloadUrl);
    const whole = await send(file.downloadUrl, { headers: { "Accept-Encoding": "gzip" } });
    expect(whole.status).toBe(200);
    expect(whole.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(whole.body)).toEqual(plain.body);
    const range = await send(file.downloadUrl, { headers: { "Accept-Encoding": "gzip", Range: "bytes=0-3" } });
    expect(range.status).toBe(206);
    expect(range.headers["content-encoding"]).toBeUndefined();
    expect(range.body).toEqual(plain.body.subarray(0, 4));
  });
});

describe("ETag and If-None-Match on drive items", () => {
  it("metadata carries eTag and cTag and answers 304 with no body to a matching If-None-Match", async () => {
    const file = await firstFile();
    expect(file.eTag).toMatch(/^"\{.+\},\d+"$/);
    expect(file.cTag).toMatch(/^"c:\{.+\},\d+"$/);
    const url = `${em.origin}/v1.0/me/drive/items/${file.id}`;
    const fresh = await send(url, { headers: auth });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.etag).toBe(file.eTag);

    const cached = await send(url, { headers: { ...auth, "If-None-Match": file.eTag, "Accept-Encoding": "gzip" } });
    expect(cached.status).toBe(304);
    expect(cached.headers.etag).toBe(file.eTag);
    expect(cached.headers["content-encoding"]).toBeUndefined();
    expect(cached.body).toHaveLength(0);

    const stale = await send(url, { headers: { ...auth, "If-None-Match": '"{00000000-0000-0000-0000-000000000000},1"' } });
    expect(stale.status).toBe(200);
  });

  it("/content and the downloadUrl answer 304 to the current tag, and a changed file answers again", async () => {
    const file = await firstFile();
    const content = `${em.origin}/v1.0/me/drive/items/${file.id}/content`;
    expect((await send(content, { headers: { ...auth, "If-None-Match": file.cTag } })).status).toBe(304);
    const download = await send(file.downloadUrl, { headers: { "If-None-Match": file.eTag } });
    expect(download.status).toBe(304);
    expect(download.body).toHaveLength(0);

    const put = await send(content, { method: "PUT", headers: { ...auth, "Content-Type": "text/plain" }, body: Buffer.from("changed") });
    expect(put.status).toBe(200);
    const changed = await send(content, { headers: { ...auth, "If-None-Match": file.cTag } });
    expect(changed.status).toBe(302);
    expect((await send(file.downloadUrl, { headers: { "If-None-Match": file.eTag } })).status).not.toBe(304);
  });

  it("PUT /content with a stale If-Match is refused 412 resourceModified and leaves the file unchanged", async () => {
    const file = await firstFile();
    const content = `${em.origin}/v1.0/me/drive/items/${file.id}/content`;
    const before = (await send(file.downloadUrl)).body;
    const stale = '"{00000000-0000-0000-0000-000000000000},1"';
    const refused = await send(content, { method: "PUT", headers: { ...auth, "If-Match": stale }, body: Buffer.from("lost update") });
    expect(refused.status).toBe(412);
    expect(JSON.parse(refused.body.toString("utf8"))).toMatchObject({ error: { code: "resourceModified" } });
    expect((await send(file.downloadUrl)).body).toEqual(before);

    const accepted = await send(content, { method: "PUT", headers: { ...auth, "If-Match": file.eTag }, body: Buffer.from("next") });
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.body.toString("utf8")).eTag).not.toBe(file.eTag);
  });
});

describe("GET /common/discovery/instance on the sign-in host", () => {
  let login: IdentityEmulator;
  beforeAll(async () => {
    login = await startIdentityEmulator();
  });
  afterAll(() => login.close());

  it("answers MSAL's request with the tenant's OpenID document and the emulator's host as a known instance", async () => {
    const own = new URL(login.origin).host;
    const authorize = `${login.origin}/${TENANT_ID}/oauth2/v2.0/authorize`;
    const res = await fetch(`${login.origin}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(authorize)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const body = (await res.json()) as { tenant_discovery_endpoint: string; "api-version": string; metadata: { aliases: string[] }[] };
    expect(body).toMatchObject({
      tenant_discovery_endpoint: `${login.origin}/${TENANT_ID}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
    });
    expect(body.metadata[0]).toEqual({ preferred_network: own, preferred_cache: own, aliases: [own] });
    expect(body.metadata[1]).toEqual({
      preferred_network: "login.microsoftonline.com",
      preferred_cache: "login.windows.net",
      aliases: ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
    });

    // The endpoint it names is the one that answers.
    const doc = (await (await fetch(body.tenant_discovery_endpoint)).json()) as { authorization_endpoint: string };
    expect(doc.authorization_endpoint).toBe(authorize);
  });

  it("refuses an authorize endpoint on a host no cloud lists, as Entra does", async () => {
    const res = await fetch(
      `${login.origin}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent("https://login.example.org/common/oauth2/v2.0/authorize")}`,
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_instance", error_codes: [50049] });
  });
});

describe("MSAL Node without knownAuthorities", () => {
  it("validates an emulator authority through instance discovery, then gets a token", async () => {
    const certificate = await generateLoopbackCertificate();
    const tlsEm = await startEmulator({ identity: true, tls: { cert: certificate.cert, key: certificate.key } });
    try {
      const login = tlsEm.loginOrigin ?? "";
      const asked: string[] = [];
      // MSAL always sends instance discovery to login.microsoftonline.com (msal-common AAD_INSTANCE_DISCOVERY_ENDPT);
      // a user's proxy or hosts entry would send it to the emulator, here the network module does.
      const over = (method: "GET" | "POST", url: string, headers: Record<string, string> = {}, body?: string): Promise<NetworkResponse<never>> =>
        new Promise((resolve, reject) => {
          const target = url.replace("https://login.microsoftonline.com/common/discovery/instance", `${login}/common/discovery/instance`);
          asked.push(`${method} ${target}`);
          const req = tlsRequest(target, { method, headers, ca: certificate.caPem }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as never }),
            );
          });
          req.on("error", reject);
          req.end(body);
        });
      const networkClient: INetworkModule = {
        sendGetRequestAsync: (url, options) => over("GET", url, options?.headers),
        sendPostRequestAsync: (url, options) => over("POST", url, options?.headers, options?.body),
      } as INetworkModule;
      const app = new ConfidentialClientApplication({
        auth: { clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, authority: `${login}/${TENANT_ID}` },
        system: { networkClient },
      });
      const result = await app.acquireTokenByClientCredential({ scopes: [`${tlsEm.graphResource}/.default`] });
      expect(result?.accessToken).toBeTruthy();
      expect(asked[0]).toMatch(new RegExp(`^GET ${login}/common/discovery/instance\\?api-version=1\\.1&authorization_endpoint=`));
      expect(asked).toContain(`GET ${login}/${TENANT_ID}/v2.0/.well-known/openid-configuration`);
      expect(asked.at(-1)).toMatch(new RegExp(`^POST ${login}/${TENANT_ID}/oauth2/v2\\.0/token\\?`));
    } finally {
      await tlsEm.close();
    }
  }, 30_000);
});
