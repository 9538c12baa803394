/**
 * A loopback Microsoft identity platform (Entra ID v2.0) emulator: the `/{tenant}/oauth2/v2.0/token`,
 * `/authorize`, `/devicecode` and `/logout` endpoints for client credentials (secret or certificate assertion),
 * authorization code with PKCE, device code and refresh tokens, answering the AADSTS error envelope. Access tokens are opaque and land
 * in a TokenRegistry the Graph emulator can consult. Tests and local runs only; never imported by the component.
 *
 * Sources (ED = MicrosoftDocs/entra-docs, docs/identity-platform/): v2-oauth2-client-creds-grant-flow.md,
 * v2-oauth2-auth-code-flow.md, v2-oauth2-device-code.md, v2-protocols-oidc.md, certificate-credentials.md,
 * reference-error-codes.md, reply-url.md.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";

import { closeServer, listen } from "../http";
import { prepareValidationTokenKeys } from "../richNotifications";
import { authorizeEndpoint } from "./authorize";
import { DEVICE_LOGIN_PATH, deviceAuthorizationEndpoint, deviceLoginPage } from "./deviceCode";
import { AadError } from "./errors";
import { correlationIdOf, jsonError, readBody, redactUrl, writeReply, type HttpReply, type IdentityRequest } from "./http";
import { logoutEndpoint } from "./logout";
import { errorCodePage, instanceDiscoveryDocument, openIdConfigurationDocument, signingKeys } from "./published";
import { IdentityState, type IdentityEmulator, type IdentityOptions } from "./state";
import { tokenEndpoint } from "./token";

export { makeTestCertificate, type TestCertificate, type TestCertificateOptions } from "../x509";
export {
  DEMO_CLIENT_ID,
  DEMO_CLIENT_SECRET,
  DEMO_REDIRECT_URI,
  GRAPH_APP_ID,
  GRAPH_RESOURCE,
  JWT_BEARER_ASSERTION_TYPE,
  normalizeResource,
  PRISMATIC_REDIRECT_URI,
  TokenRegistry,
  type AppRegistration,
  type IdentityEmulator,
  type IdentityLogEntry,
  type IdentityOptions,
  type IdentityTenant,
  type IdentityUser,
  type IssuedToken,
} from "./state";

type Handler = (state: IdentityState, request: IdentityRequest) => HttpReply | Promise<HttpReply>;

interface Route {
  /** Undefined: any method (the handler answers the ones it refuses, as Entra does). */
  methods?: string[];
  pattern: RegExp;
  handler: Handler;
}

const READ = ["GET", "HEAD"];

const ROUTES: Route[] = [
  { pattern: /^\/([^/]+)\/oauth2\/v2\.0\/token\/?$/i, handler: tokenEndpoint },
  { pattern: /^\/([^/]+)\/oauth2\/v2\.0\/authorize\/?$/i, handler: authorizeEndpoint },
  { pattern: /^\/([^/]+)\/oauth2\/v2\.0\/devicecode\/?$/i, handler: deviceAuthorizationEndpoint },
  { methods: ["GET", "POST"], pattern: /^\/([^/]+)\/oauth2\/v2\.0\/logout\/?$/i, handler: logoutEndpoint },
  { methods: ["GET", "POST"], pattern: new RegExp(`^${DEVICE_LOGIN_PATH}/?$`, "i"), handler: deviceLoginPage },
  { methods: READ, pattern: /^\/([^/]+)\/discovery\/v2\.0\/keys$/i, handler: signingKeys },
  { methods: READ, pattern: /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i, handler: openIdConfigurationDocument },
  { methods: READ, pattern: /^\/common\/discovery\/instance\/?$/i, handler: instanceDiscoveryDocument },
  { methods: ["GET"], pattern: /^\/error$/, handler: errorCodePage },
];

function route(method: string, pathname: string): { handler: Handler; params: string[] } | undefined {
  for (const candidate of ROUTES) {
    if (candidate.methods && !candidate.methods.includes(method)) continue;
    const match = candidate.pattern.exec(pathname);
    if (match) return { handler: candidate.handler, params: match.slice(1) };
  }
  return undefined;
}

async function answer(state: IdentityState, request: IdentityRequest, pathname: string): Promise<HttpReply> {
  const found = route(request.method, pathname);
  if (!found) return { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "Not Found" };
  try {
    return await found.handler(state, { ...request, params: found.params });
  } catch (e) {
    if (e instanceof AadError) return jsonError(e, request, state.origin);
    console.error("identity emulator: unhandled error", e);
    return { ...jsonError(new AadError("server_error", 50000, "There was an error issuing a token."), request, state.origin), status: 500 };
  }
}

async function handle(state: IdentityState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const now = state.clock();
  const method = (req.method ?? "GET").toUpperCase();
  const url = req.url ?? "/";
  const entry = { method, url: redactUrl(url), form: {}, status: 0, at: now };
  state.log.push(entry);
  const body = await readBody(req);
  const clientRequestId = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : undefined;
  const q = url.indexOf("?");
  const request: IdentityRequest = {
    method,
    headers: req.headers,
    query: new URLSearchParams(q < 0 ? "" : url.slice(q + 1)),
    body,
    params: [],
    now,
    traceId: randomUUID(),
    correlationId: correlationIdOf(clientRequestId),
    entry,
  };
  const reply = await answer(state, request, q < 0 ? url : url.slice(0, q));
  entry.status = reply.status;
  writeReply(res, request, clientRequestId, reply);
}

export async function startIdentityEmulator(options: IdentityOptions = {}): Promise<IdentityEmulator> {
  const state = new IdentityState(options);
  // The keys it publishes (discovery/v2.0/keys) are made asynchronously, once per process: before the first request.
  await prepareValidationTokenKeys();
  const listener: RequestListener = (req, res) => {
    handle(state, req, res).catch((error: unknown) => {
      console.error("identity emulator: request failed", error);
      res.destroy();
    });
  };
  const server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createServer(listener);
  const port = await listen(server, options.port ?? 0);
  const origin = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
  state.origin = origin;

  const defaultTenant = state.tenants[0].id;
  return {
    origin,
    tenantId: defaultTenant,
    tokens: state.tokens,
    log: state.log,
    tokenEndpoint: (tenant = defaultTenant) => `${origin}/${tenant}/oauth2/v2.0/token`,
    authorizeEndpoint: (tenant = defaultTenant) => `${origin}/${tenant}/oauth2/v2.0/authorize`,
    deviceCodeEndpoint: (tenant = defaultTenant) => `${origin}/${tenant}/oauth2/v2.0/devicecode`,
    logoutEndpoint: (tenant = defaultTenant) => `${origin}/${tenant}/oauth2/v2.0/logout`,
    registerApp: (app) => state.registerApp(app),
    reset: () => state.reset(),
    close: () => closeServer(server),
  };
}
