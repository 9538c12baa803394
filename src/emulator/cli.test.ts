/**
 * `npm run emulator` as a script in another language would drive it: start the process, read the one JSON
 * line of --print-config, call Graph and the sign-in host with what it printed; and the exit code 2 of a refused
 * command line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const CLI = join(__dirname, "cli.ts");

function startCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CLI, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
}

/** Everything the process prints until it exits. */
function finished(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

/** The first stdout line. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const end = buffered.indexOf("\n");
      if (end >= 0) resolve(buffered.slice(0, end));
    });
    child.on("exit", (code) => reject(new Error(`emulator exited with ${code} before printing a line`)));
  });
}

/** A GET over TLS that trusts only `ca` (as NODE_EXTRA_CA_CERTS would make Node trust it). */
function getTls(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request(url, { ca, headers }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    })
      .on("error", reject)
      .end();
  });
}

describe("npm run emulator", () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = finished(child);
      child.kill("SIGTERM");
      expect((await exited).code).toBe(0);
    }
    child = undefined;
  });

  it("--print-config prints one JSON line once listening, whose token reads /me, whose app gets a token, with the tenant size and throttling asked for", async () => {
    child = startCli(["--print-config", "--port", "0", "--users", "7", "--throttle", "3/60"]);
    const config = JSON.parse(await firstLine(child)) as Record<string, string | null>;
    const origin = /^http:\/\/127\.0\.0\.1:\d+$/;
    expect(config).toEqual({
      graph: expect.stringMatching(origin),
      login: expect.stringMatching(origin),
      download: expect.stringMatching(origin),
      upload: expect.stringMatching(origin),
      tenant: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tokenEndpoint: `${config.login}/${config.tenant}/oauth2/v2.0/token`,
      clientId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      clientSecret: expect.any(String),
      token: expect.any(String),
      graphResource: "https://graph.microsoft.com",
      controlToken: expect.stringMatching(/^emulator-control-/),
      caFile: null,
    });
    expect(new Set([config.graph, config.login, config.download, config.upload]).size).toBe(4);

    const me = await fetch(`${config.graph}/v1.0/me`, { headers: { Authorization: `Bearer ${config.token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ displayName: "Megan Bowen" });
    // --users reached the tenant.
    const count = await fetch(`${config.graph}/v1.0/users/$count`, { headers: { Authorization: `Bearer ${config.token}`, ConsistencyLevel: "eventual" } });
    expect(await count.text()).toBe("7");
    // The printed control token drives the control surface from outside.
    const log = await fetch(`${config.graph}/_emulator/log`, { headers: { Authorization: `Bearer ${config.controlToken}` } });
    expect(log.status).toBe(200);
    expect(((await log.json()) as { entries: unknown[] }).entries.length).toBeGreaterThanOrEqual(2);

    const granted = await fetch(String(config.tokenEndpoint), {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: String(config.clientId),
        client_secret: String(config.clientSecret),
        scope: `${config.graphResource}/.default`,
      }),
    });
    expect(granted.status).toBe(200);
    const { access_token } = (await granted.json()) as { access_token: string };
    const users = await fetch(`${config.graph}/v1.0/users?$top=2`, { headers: { Authorization: `Bearer ${access_token}` } });
    expect(users.status).toBe(200);

    // --throttle 3/60 reached the demo token's budget: its third request passes, the fourth waits about a minute.
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${config.graph}/v1.0/me`, { headers: { Authorization: `Bearer ${config.token}` } });
      statuses.push(res.status);
      retryAfter = res.headers.get("retry-after");
      await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(59);
  }, 60_000);

  it("--throttle is the profile POST /_emulator/reset returns to", async () => {
    child = startCli(["--print-config", "--port", "0", "--throttle", "1/60"]);
    const config = JSON.parse(await firstLine(child)) as Record<string, string>;
    const me = async (): Promise<number> => {
      const res = await fetch(`${config.graph}/v1.0/me`, { headers: { Authorization: `Bearer ${config.token}` } });
      await res.arrayBuffer();
      return res.status;
    };
    expect([await me(), await me()]).toEqual([200, 429]);
    const reset = await fetch(`${config.graph}/_emulator/reset`, { method: "POST", headers: { Authorization: `Bearer ${config.controlToken}` } });
    expect(reset.status).toBe(200);
    expect([await me(), await me()]).toEqual([200, 429]);
  }, 60_000);

  it("--https serves Graph and the sign-in host over TLS trusted through the printed CA file; links name --public-origin", async () => {
    child = startCli(["--print-config", "--port", "0", "--https", "--public-origin", "https://graph.example.test"]);
    const config = JSON.parse(await firstLine(child)) as Record<string, string>;
    for (const name of ["graph", "login", "download", "upload"]) expect(config[name]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(config.caFile, "utf8");
    expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);

    // Without the CA, TLS refuses the certificate: nothing is trusted by accident.
    await expect(getTls(`${config.graph}/v1.0/me`, "")).rejects.toThrow();
    const users = await getTls(`${config.graph}/v1.0/users?$top=2`, ca, { Authorization: `Bearer ${config.token}` });
    expect(users.status).toBe(200);
    expect(users.body["@odata.context"]).toBe("https://graph.example.test/v1.0/$metadata#users");
    expect(String(users.body["@odata.nextLink"])).toMatch(/^https:\/\/graph\.example\.test\/v1\.0\/users\?/);

    // Another process trusts it through NODE_EXTRA_CA_CERTS alone, with Node's own fetch.
    const probe = spawn(
      process.execPath,
      ["-e", "fetch(process.argv[1] + '/v1.0/me', { headers: { Authorization: 'Bearer ' + process.argv[2] } }).then((r) => console.log(r.status))", config.graph, config.token],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: config.caFile }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const probed = await finished(probe);
    expect(probed.stdout.trim()).toBe("200");

    // MSAL Node, unmodified, with no authorityMetadata: it reads the tenant's OpenID discovery document over TLS
    // (knownAuthorities only spares it the instance-discovery call to login.microsoftonline.com).
    const msal = spawn(
      process.execPath,
      [
        "-e",
        `const { ConfidentialClientApplication } = require(${JSON.stringify(require.resolve("@azure/msal-node"))});
        const [login, tenant, clientId, clientSecret] = process.argv.slice(1);
        new ConfidentialClientApplication({ auth: { clientId, clientSecret, authority: login + "/" + tenant, knownAuthorities: [new URL(login).host] } })
          .acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] })
          .then((r) => console.log(r.accessToken), (e) => console.error(e.errorCode, e.message));`,
        config.login,
        config.tenant,
        config.clientId,
        config.clientSecret,
      ],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: config.caFile }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const acquired = await finished(msal);
    expect(acquired.stderr).toBe("");
    const appUsers = await getTls(`${config.graph}/v1.0/users?$top=1`, ca, { Authorization: `Bearer ${acquired.stdout.trim()}` });
    expect(appUsers.status).toBe(200);

    const discovery = await getTls(`${config.login}/common/v2.0/.well-known/openid-configuration`, ca);
    expect(discovery.body.token_endpoint).toBe(`${config.login}/common/oauth2/v2.0/token`);

    // Stopping removes the run's CA file.
    const exited = finished(child);
    child.kill("SIGTERM");
    expect((await exited).code).toBe(0);
    expect(existsSync(config.caFile)).toBe(false);
  }, 60_000);

  it("--seed repeats the run's random choices after POST /_emulator/reset; --device-code-interval reaches the device code answer", async () => {
    child = startCli(["--print-config", "--port", "0", "--users", "3", "--seed", "42", "--device-code-interval", "0"]);
    const config = JSON.parse(await firstLine(child)) as Record<string, string>;
    const graph = async (path: string, init: RequestInit = {}): Promise<Response> =>
      fetch(`${config.graph}/v1.0${path}`, { ...init, headers: { Authorization: `Bearer ${config.token}`, "Content-Type": "application/json" } });
    const control = async (path: string, body?: unknown): Promise<number> => {
      const res = await fetch(`${config.graph}/_emulator/${path}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${config.controlToken}`, "Content-Type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    const requests = Array.from({ length: 6 }, (_, i) => ({ id: String(i + 1), method: "GET", url: "/organization" }));
    /** Two batches' answer orders, then the statuses of ten /me under a 50 % fault rule without a seed of its own. */
    const session = async (): Promise<{ orders: string[][]; statuses: number[] }> => {
      const orders: string[][] = [];
      for (let i = 0; i < 2; i++) {
        const answer = (await (await graph("/$batch", { method: "POST", body: JSON.stringify({ requests }) })).json()) as { responses: { id: string }[] };
        orders.push(answer.responses.map((r) => r.id));
      }
      expect(await control("faults", { path: "/me", rate: 0.5, times: 100, fault: { kind: "status", status: 503 } })).toBe(201);
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await graph("/me");
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return { orders, statuses };
    };
    const first = await session();
    expect(first.orders[0]).not.toEqual(first.orders[1]);
    expect(first.statuses).toContain(503);
    expect(first.statuses).toContain(200);
    expect(await control("reset")).toBe(200);
    expect(await session()).toEqual(first);

    const started = await fetch(`${config.login}/${config.tenant}/oauth2/v2.0/devicecode`, {
      method: "POST",
      body: new URLSearchParams({ client_id: config.clientId, scope: "User.Read" }),
    });
    expect(started.status).toBe(200);
    expect(await started.json()).toMatchObject({ interval: 0 });
  }, 60_000);

  it("refuses an unknown flag with exit code 2 and a message naming it, without starting", async () => {
    child = startCli(["--port", "0", "--prot", "1"]);
    const { code, stdout, stderr } = await finished(child);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe("emulator: Unknown option '--prot'. See --help.");
  }, 60_000);
});
