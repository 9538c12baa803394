/**
 * `npm start -- login`: an authorization-code sign-in with PKCE and a loopback redirect, as a desktop app
 * does it (RFC 8252), against the emulator's Entra by default or against real Microsoft Entra with your
 * own app registration. A real sign-in is stored so later runner calls use it and refresh it.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { findCloud, MicrosoftCloud } from "../client/clouds";

export interface StoredLogin {
  cloud: string;
  tokenEndpoint: string;
  clientId: string;
  scope: string;
  accessToken: string;
  refreshToken?: string;
  /** ms epoch */
  expiresAt: number;
}

export interface SignInOptions {
  loginOrigin: string;
  tenant: string;
  clientId: string;
  clientSecret?: string;
  scope: string;
  /** Opens the authorize URL: a browser for real Entra, a plain GET for the emulator (it consents at once). */
  open(url: string): Promise<void>;
  /** How long to wait for the redirect. */
  timeoutMs?: number;
}

export const DEFAULT_LOGIN_FILE = path.join(os.homedir(), ".ms-graph-connector", "login.json");

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
  error?: string;
  error_description?: string;
}

async function postToken(tokenEndpoint: string, form: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  const body = (await response.json()) as TokenAnswer;
  if (!response.ok || !body.access_token) {
    throw new Error(`sign-in failed: ${response.status} ${body.error ?? ""}: ${(body.error_description ?? "").split(/\r?\n/)[0]}`);
  }
  return body;
}

/** Runs the whole sign-in: loopback listener, authorize URL, code exchange with the PKCE verifier. */
export async function signIn(options: SignInOptions): Promise<StoredLogin & { refreshedFrom?: never }> {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString("base64url");
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // Entra accepts any port on a http://localhost redirect URI registered for desktop apps.
  const redirectUri = `http://localhost:${(server.address() as AddressInfo).port}/callback`;
  const codePromise = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no sign-in within the time allowed")), options.timeoutMs ?? 300_000);
    server.on("request", (req, res) => {
      const url = new URL(req.url ?? "/", redirectUri);
      if (url.pathname !== "/callback") {
        res.writeHead(404).end();
        return;
      }
      const error = url.searchParams.get("error");
      const code = url.searchParams.get("code");
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(error ? `Sign-in failed: ${error}. You can close this tab.` : "Signed in. You can close this tab and return to the terminal.");
      clearTimeout(timer);
      if (url.searchParams.get("state") !== state) reject(new Error("the redirect's state does not match: refusing it"));
      else if (error || !code) reject(new Error(`sign-in failed: ${error}: ${url.searchParams.get("error_description") ?? ""}`));
      else resolve(code);
    });
  });
  const authorize = new URL(`${options.loginOrigin}/${options.tenant}/oauth2/v2.0/authorize`);
  authorize.search = new URLSearchParams({
    client_id: options.clientId,
    response_type: "code",
    redirect_uri: redirectUri,
    response_mode: "query",
    scope: options.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  try {
    const [code] = await Promise.all([codePromise, options.open(authorize.href)]);
    const tokenEndpoint = `${options.loginOrigin}/${options.tenant}/oauth2/v2.0/token`;
    const answer = await postToken(tokenEndpoint, {
      grant_type: "authorization_code",
      client_id: options.clientId,
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      scope: options.scope,
      ...(options.clientSecret ? { client_secret: options.clientSecret } : {}),
    });
    return {
      cloud: "",
      tokenEndpoint,
      clientId: options.clientId,
      scope: options.scope,
      accessToken: answer.access_token!,
      refreshToken: answer.refresh_token,
      expiresAt: Date.now() + (answer.expires_in ?? 3600) * 1000,
    };
  } finally {
    server.close();
  }
}

/** A fresh access token; the refresh token is replaced by the one Entra returns (they rotate). */
export async function refreshLogin(login: StoredLogin, clientSecret?: string): Promise<StoredLogin> {
  if (!login.refreshToken) throw new Error("the stored sign-in has no refresh token (was offline_access in the scopes?); run npm start -- login again");
  const answer = await postToken(login.tokenEndpoint, {
    grant_type: "refresh_token",
    client_id: login.clientId,
    refresh_token: login.refreshToken,
    scope: login.scope,
    ...(clientSecret ? { client_secret: clientSecret } : {}),
  });
  return {
    ...login,
    accessToken: answer.access_token!,
    refreshToken: answer.refresh_token ?? login.refreshToken,
    expiresAt: Date.now() + (answer.expires_in ?? 3600) * 1000,
  };
}

export function saveLogin(login: StoredLogin, file = DEFAULT_LOGIN_FILE): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Security: tokens are credentials; only the owner may read the file.
  fs.writeFileSync(file, JSON.stringify(login, null, 2), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

export function loadLogin(file = DEFAULT_LOGIN_FILE): StoredLogin | undefined {
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, "utf8")) as StoredLogin;
}

/** The stored sign-in's access token, refreshed (and stored again) when it is within 5 minutes of expiry. */
export async function currentToken(file = DEFAULT_LOGIN_FILE, clientSecret?: string): Promise<{ token: string; cloud: MicrosoftCloud } | undefined> {
  let login = loadLogin(file);
  if (!login) return undefined;
  if (login.expiresAt - 5 * 60_000 < Date.now()) {
    login = await refreshLogin(login, clientSecret);
    saveLogin(login, file);
  }
  return { token: login.accessToken, cloud: findCloud(login.cloud) ?? findCloud("")! };
}
