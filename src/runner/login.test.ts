/** The runner's PKCE sign-in, refresh and stored login, against the emulator's Entra. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GraphEmulator, startEmulator } from "../emulator";
import { currentToken, loadLogin, pkcePair, refreshLogin, saveLogin, signIn, StoredLogin } from "./login";

let emulator: GraphEmulator;
const clientId = "3f8a2d1c-6b4e-4c7a-9e5f-1d2c3b4a5e6f";

beforeAll(async () => {
  emulator = await startEmulator({ identity: true });
  emulator.identity!.registerApp({ clientId, redirectUris: ["http://localhost/callback"] });
});
afterAll(() => emulator.close());

const openWithoutBrowser = async (url: string) => {
  const answer = await fetch(url, { redirect: "manual" });
  await fetch(answer.headers.get("location")!.replace("://localhost:", "://127.0.0.1:"));
};

async function login(scope = "openid offline_access User.Read"): Promise<StoredLogin> {
  return signIn({ loginOrigin: emulator.loginOrigin!, tenant: "contoso.onmicrosoft.com", clientId, scope, open: openWithoutBrowser });
}

it("makes an S256 PKCE pair", () => {
  const { verifier, challenge } = pkcePair();
  expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

it("signs in with PKCE through a loopback redirect and gets a refresh token only with offline_access", async () => {
  const withRefresh = await login();
  expect(emulator.identity!.tokens.lookup(withRefresh.accessToken)).toMatchObject({ kind: "user" });
  expect(withRefresh.refreshToken).toBeDefined();
  const [authorize, token] = emulator.identity!.log.slice(-2);
  expect(authorize.url).toMatch(/code_challenge_method=S256/);
  expect(token.form).toMatchObject({ grant_type: "authorization_code", code_verifier: "[REDACTED]" });

  const without = await login("openid User.Read");
  expect(without.refreshToken).toBeUndefined();
  await expect(refreshLogin(without)).rejects.toThrow(/no refresh token \(was offline_access in the scopes\?\)/);
});

it("stores the sign-in readable by its owner only, and refreshes it when it is about to expire", async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "login-")), "login.json");
  const first = await login();
  saveLogin({ ...first, cloud: "https://graph.microsoft.com", expiresAt: Date.now() + 60_000 }, file);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);

  const current = await currentToken(file);
  expect(current?.token).not.toBe(first.accessToken);
  const stored = loadLogin(file)!;
  expect(stored.accessToken).toBe(current?.token);
  expect(stored.refreshToken).not.toBe(first.refreshToken);
  expect(stored.expiresAt).toBeGreaterThan(Date.now() + 30 * 60_000);
  // A fresh token is used as is: no second refresh.
  const before = emulator.identity!.log.length;
  expect((await currentToken(file))?.token).toBe(stored.accessToken);
  expect(emulator.identity!.log.length).toBe(before);
});
