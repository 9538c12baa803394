/**
 * App-only sign-in with a certificate (client assertion), for tenants that forbid client secrets.
 * MSAL builds and signs the assertion; this module feeds it the key, sends its requests through our
 * transport, and keeps one token per app and tenant until shortly before it expires.
 * Security: neither the private key nor the assertion is ever logged or put in an error.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";
import { clock } from "./clock";
import { host, MicrosoftCloud } from "./clouds";
import { InputError } from "./errors";
import { LOGIN_URL_ENV, readLoopbackOverride } from "./hosts";
import { sendWithoutToken } from "./transport";

export interface CertificateCredentials {
  tenant: string;
  clientId: string;
  /** PEM text holding the certificate and its unencrypted private key. */
  pem: string;
  cloud: MicrosoftCloud;
}

interface ParsedCertificate {
  certificatePem: string;
  privateKeyPem: string;
  thumbprintSha256: string;
}

/** Renew this long before expiry, as MSAL does, so a token never expires mid-request. */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

const cache = new Map<string, { accessToken: string; expiresAt: number }>();
const inFlight = new Map<string, Promise<string>>();
const parsedPems = new Map<string, ParsedCertificate>();

/** Drops a cached token that Graph refused (revoked, or a clock skew made it expire early). */
export function forgetCertificateToken(accessToken: string): void {
  for (const [key, entry] of cache) if (entry.accessToken === accessToken) cache.delete(key);
}

/** For tests: forget every cached token. */
export function clearCertificateTokenCache(): void {
  cache.clear();
  inFlight.clear();
  parsedPems.clear();
}

export function parseCertificatePem(pem: string): ParsedCertificate {
  const text = pem.replace(/\r\n/g, "\n").trim();
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  if (!cert) throw new InputError("Certificate", "no '-----BEGIN CERTIFICATE-----' block was found; paste the PEM certificate followed by its private key");
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    throw new InputError("Certificate", "the private key is encrypted; export it without a passphrase (PKCS#8 '-----BEGIN PRIVATE KEY-----')");
  }
  const key = /-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (RSA |EC )?PRIVATE KEY-----/.exec(text)?.[0];
  if (!key) throw new InputError("Certificate", "no private key was found; paste the certificate and its '-----BEGIN PRIVATE KEY-----' block together");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new InputError("Certificate", "the certificate block is not a valid X.509 certificate");
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new InputError("Certificate", "the private key block is not a valid private key");
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new InputError("Certificate", "the private key does not belong to the certificate");
  }
  if (Date.parse(x509.validTo) < clock.now()) {
    throw new InputError("Certificate", `the certificate expired on ${new Date(x509.validTo).toISOString()}; upload a new one to the app registration and here`);
  }
  return {
    certificatePem: cert,
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    thumbprintSha256: x509.fingerprint256.replace(/:/g, "").toLowerCase(),
  };
}

/** A token for the cloud's Graph, from the cache or a new sign-in. */
export async function certificateToken(credentials: CertificateCredentials): Promise<string> {
  // Asked once per request attempt: the PEM is parsed and checked once per process.
  let parsed = parsedPems.get(credentials.pem);
  if (!parsed) {
    parsed = parseCertificatePem(credentials.pem);
    parsedPems.set(credentials.pem, parsed);
  }
  const key = [credentials.cloud.login, credentials.tenant.toLowerCase(), credentials.clientId, parsed.thumbprintSha256, credentials.cloud.graph].join("|");
  const cached = cache.get(key);
  if (cached && clock.now() < cached.expiresAt - TOKEN_REFRESH_MARGIN_MS) return cached.accessToken;
  // Concurrent steps share one sign-in instead of racing the token endpoint.
  const pending = inFlight.get(key);
  if (pending) return pending;
  const request = signIn(credentials, parsed)
    .then(({ accessToken, expiresAt }) => {
      cache.set(key, { accessToken, expiresAt });
      return accessToken;
    })
    .finally(() => inFlight.delete(key));
  inFlight.set(key, request);
  return request;
}

interface EntraErrorBody {
  error?: string;
  error_description?: string;
  error_codes?: number[];
  trace_id?: string;
  correlation_id?: string;
}

async function signIn(credentials: CertificateCredentials, parsed: ParsedCertificate): Promise<{ accessToken: string; expiresAt: number }> {
  const { cloud, tenant, clientId } = credentials;
  const authority = `${cloud.login}/${tenant}`;
  const loopbackLogin = readLoopbackOverride(LOGIN_URL_ENV);
  let lastError: { status: number; body: EntraErrorBody } | undefined;

  const networkClient: INetworkModule = {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>("GET", url, options),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>("POST", url, options),
  };
  async function send<T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const target = new URL(url);
    if (target.origin !== cloud.login) throw new Error(`refusing to send a sign-in to ${target.origin}`);
    const wireUrl = loopbackLogin ? new URL(`${loopbackLogin}${target.pathname}${target.search}`) : target;
    const response = await sendWithoutToken(
      { method, url: wireUrl, headers: options?.headers ?? {}, body: options?.body ? Buffer.from(options.body) : undefined, timeoutMs: 30_000 },
      loopbackLogin !== undefined,
    );
    let body: unknown = {};
    try {
      body = JSON.parse(response.body.toString("utf8"));
    } catch {
      body = {};
    }
    if (response.status >= 400) lastError = { status: response.status, body: body as EntraErrorBody };
    return { status: response.status, headers: response.headers, body: body as T };
  }

  const { ConfidentialClientApplication, LogLevel } = await import("@azure/msal-node");
  const app = new ConfidentialClientApplication({
    auth: {
      clientId,
      authority,
      knownAuthorities: [host(cloud.login)],
      // Known endpoints, so MSAL makes no discovery calls: the only request is the token request.
      cloudDiscoveryMetadata: JSON.stringify({
        tenant_discovery_endpoint: `${authority}/v2.0/.well-known/openid-configuration`,
        metadata: [{ preferred_network: host(cloud.login), preferred_cache: host(cloud.login), aliases: [host(cloud.login)] }],
      }),
      authorityMetadata: JSON.stringify({
        authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
        token_endpoint: `${authority}/oauth2/v2.0/token`,
        issuer: `${cloud.login}/${tenant}/v2.0`,
        jwks_uri: `${authority}/discovery/v2.0/keys`,
      }),
      clientCertificate: {
        thumbprintSha256: parsed.thumbprintSha256,
        privateKey: parsed.privateKeyPem,
        x5c: parsed.certificatePem,
      },
    },
    system: {
      networkClient,
      // Security: MSAL's own logging could carry the assertion; it is off.
      loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => undefined },
    },
  });
  try {
    const result = await app.acquireTokenByClientCredential({ scopes: [`${cloud.graph}/.default`], skipCache: true });
    if (!result?.accessToken) throw new Error("no access token in the answer");
    const expiresAt = result.expiresOn ? result.expiresOn.getTime() : clock.now() + 3_600_000;
    return { accessToken: result.accessToken, expiresAt };
  } catch (error) {
    throw signInError(error, lastError, host(cloud.login));
  }
}

function signInError(error: unknown, last: { status: number; body: EntraErrorBody } | undefined, loginHost: string): InputError {
  if (last?.body.error) {
    // Entra's description is "AADSTS…: message\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …": keep the first line, cite the ids.
    const description = (last.body.error_description ?? "").split(/\r?\n/)[0].trim();
    const ids = [last.body.trace_id && `trace id ${last.body.trace_id}`, last.body.correlation_id && `correlation id ${last.body.correlation_id}`].filter(Boolean);
    return new InputError(
      "Connection",
      `Microsoft Entra (${loginHost}) refused the certificate sign-in: ${last.status} ${last.body.error}: ${description}${ids.length ? ` (${ids.join(", ")})` : ""}`,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InputError("Connection", `the certificate sign-in at ${loginHost} failed: ${message.split("\n")[0]}`);
}
