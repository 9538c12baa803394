/**
 * The sign-in host's HTTP plumbing: reading a request, the form and Basic-auth parsing, the log's redaction of
 * secrets, and the reply writer with the headers every Entra answer carries.
 * ED = MicrosoftDocs/entra-docs, docs/identity-platform/.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";

import { stsTimestamp, type AadError } from "./errors";
import { GUID, type IdentityLogEntry } from "./state";

/** Never logged as sent: a credential, or something that can be exchanged for a token. */
const REDACTED_FORM_FIELDS = new Set(["client_secret", "client_assertion", "code_verifier", "refresh_token", "code", "device_code"]);

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request as the handlers see it. */
export interface IdentityRequest {
  /** Upper-case. */
  method: string;
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  body: string;
  /** The route pattern's captures, e.g. the `{tenant}` segment. */
  params: string[];
  /** ms epoch from the emulator clock, taken when the request arrived. */
  now: number;
  traceId: string;
  correlationId: string;
  /** This request's log entry; handlers fill in `form`. */
  entry: IdentityLogEntry;
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Entra echoes a GUID `client-request-id` as the correlation id, and makes one up otherwise. */
export function correlationIdOf(clientRequestId: string | undefined): string {
  return clientRequestId && GUID.test(clientRequestId) ? clientRequestId : randomUUID();
}

export function parseForm(body: string): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(body)) if (!(key in form)) form[key] = value;
  return form;
}

/** A form body's fields; a body that is not a form yields none (Entra then answers for the first one it looks for). */
export function readForm(request: IdentityRequest): Record<string, string> {
  const mediaType = String(request.headers["content-type"] ?? "")
    .split(";")[0]
    .trim()
    .toLowerCase();
  return mediaType === "application/x-www-form-urlencoded" ? parseForm(request.body) : {};
}

/** The first value of each query parameter. */
export function queryParams(query: URLSearchParams): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [k, v] of query) if (!(k in params)) params[k] = v;
  return params;
}

export function redact(form: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(form)) out[key] = REDACTED_FORM_FIELDS.has(key) ? "[REDACTED]" : value;
  return out;
}

/** The logged URL: a secret sent in the query string (where it does not belong) is redacted too. */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  if (![...params.keys()].some((k) => REDACTED_FORM_FIELDS.has(k))) return url;
  for (const key of REDACTED_FORM_FIELDS) if (params.has(key)) params.set(key, "[REDACTED]");
  return `${url.slice(0, q)}?${params}`;
}

/** RFC 6749 §2.3.1 client_secret_basic: form-urlencoded id and secret, base64'd. */
export function basicCredentials(header: string | undefined): BasicCredentials | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const unform = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      return s;
    }
  };
  return { clientId: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
}

export interface BasicCredentials {
  clientId: string;
  secret: string;
}

/** A path segment as sent, percent-decoded when it decodes. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function jsonReply(status: number, payload: unknown, headers: Record<string, string> = {}): HttpReply {
  return { status, headers: { "Content-Type": "application/json; charset=utf-8", ...headers }, body: JSON.stringify(payload) };
}

export function htmlReply(status: number, html: string): HttpReply {
  return { status, headers: { "Content-Type": "text/html; charset=utf-8" }, body: html };
}

/** The sign-in page's error view: "Sorry, but we're having trouble signing you in." + AADSTS text. */
export function errorPage(e: AadError, request: IdentityRequest): HttpReply {
  return htmlReply(
    400,
    `<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>` +
      `<h1>Sorry, but we’re having trouble signing you in.</h1>` +
      `<p id="error">AADSTS${e.code}: ${escapeHtml(e.message)}</p>` +
      `<p>Request Id: ${request.traceId}<br>Correlation Id: ${request.correlationId}<br>Timestamp: ${new Date(request.now).toISOString()}</p>` +
      `</body></html>`,
  );
}

/** The `error_description` of every AADSTS answer: the message, then the trace lines. */
export function errorDescription(e: AadError, request: IdentityRequest): string {
  return `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${request.traceId}\r\nCorrelation ID: ${request.correlationId}\r\nTimestamp: ${stsTimestamp(request.now)}`;
}

/** The token endpoint's error JSON: ED reference-error-codes.md sample, key for key. */
export function jsonError(e: AadError, request: IdentityRequest, origin: string): HttpReply {
  return jsonReply(e.status, {
    error: e.error,
    error_description: errorDescription(e, request),
    error_codes: [e.code],
    timestamp: stsTimestamp(request.now),
    trace_id: request.traceId,
    correlation_id: request.correlationId,
    error_uri: `${origin}/error?code=${e.code}`,
  });
}

export function writeReply(res: ServerResponse, request: Pick<IdentityRequest, "method" | "traceId">, clientRequestId: string | undefined, reply: HttpReply): void {
  // Token endpoint answers are never cacheable (RFC 6749 §5.1); Entra sends these plus x-ms-request-id.
  res.setHeader("Cache-Control", "no-store, no-cache");
  res.setHeader("Pragma", "no-cache");
  res.setHeader("Expires", "-1");
  res.setHeader("x-ms-request-id", request.traceId);
  if (clientRequestId !== undefined) res.setHeader("client-request-id", clientRequestId);
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
  const bytes = Buffer.from(reply.body, "utf8");
  res.setHeader("Content-Length", bytes.length);
  res.writeHead(reply.status);
  res.end(request.method === "HEAD" ? undefined : bytes);
}
