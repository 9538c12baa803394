/**
 * A loopback webhook receiver for emulator tests: records every POST it gets and answers as the test says
 * (by default as a correct Graph subscriber: the validation token echoed as text/plain, 202 for notifications).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

import { closeServer, listen } from "./http";

export interface ReceivedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type Responder = (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Requests carrying notifications (no validationToken), parsed. */
  notifications(): { value: Record<string, unknown>[]; validationTokens?: string[] }[];
  /** Replaces how the receiver answers; `null` restores the default. */
  respond(responder: Responder | null): void;
  close(): Promise<void>;
}

/** The correct answer to the handshake (DC …notificationurl-validation.md) and 202 to anything else. */
export const defaultResponder: Responder = (req, res) => {
  const token = new URL(req.url, "http://x").searchParams.get("validationToken");
  if (token !== null) {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(token);
    return;
  }
  res.writeHead(202);
  res.end();
};

export async function startReceiver(path = "/hook"): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let responder: Responder = defaultResponder;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const received: ReceivedRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(received);
      void Promise.resolve(responder(received, res)).catch(() => res.destroy());
    });
  });
  const port = await listen(server, 0);
  return {
    url: `http://127.0.0.1:${port}${path}`,
    requests,
    notifications: () =>
      requests
        .filter((r) => !r.url.includes("validationToken="))
        .map((r) => JSON.parse(r.body) as { value: Record<string, unknown>[]; validationTokens?: string[] }),
    respond: (next) => {
      responder = next ?? defaultResponder;
    },
    close: () => closeServer(server),
  };
}
