/**
 * A loopback stand-in for the platform's webhook endpoint (dev and tests only): each HTTP request becomes a
 * Spectral trigger payload (headers, URL-decoded query parameters, raw and parsed body), runs the trigger through
 * Spectral's harness as the platform would, and the trigger's `response` is written back on the wire. It also
 * plays the platform's other calls: the webhook lifecycle handlers (deploy, undeploy) and a scheduled invocation,
 * keeping crossFlowState between them as an instance does.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import type { ActionLogger, TriggerPayload } from "@prismatic-io/spectral";
import { createHarness } from "@prismatic-io/spectral/dist/testing";
import component from "../index";
import { closeServer, listen } from "../emulator/http";

type Component = typeof component;
type TriggerOutcome = Awaited<ReturnType<ReturnType<typeof createHarness>["trigger"]>>;

export interface Execution {
  method: string;
  /** Path and query as received. */
  url: string;
  payload: Partial<TriggerPayload>;
  result?: TriggerOutcome;
  error?: Error;
  /** What was written back: status and body. */
  status: number;
  responseBody: string;
  responseContentType?: string;
}

export interface FlowHostOptions {
  triggerKey: string;
  /** The trigger's inputs, as a flow builder set them (defaults are filled in as the platform does). */
  params: Record<string, unknown>;
  logger: ActionLogger;
  flowName?: string;
  stableId?: string;
  /** The component to run; default the connector. */
  component?: Component;
}

export interface FlowHost {
  /** The flow's webhook URL (what the platform would give it). */
  url: string;
  /** The instance's crossFlowState, as persisted between executions. */
  crossFlowState: Record<string, unknown>;
  /** Every request the receiver answered, in arrival order. */
  executions: Execution[];
  /** The webhook lifecycle `create` handler, as on deploy or entering listening mode. */
  deploy(): Promise<void>;
  /** The webhook lifecycle `delete` handler, as on instance delete or leaving listening mode. */
  undeploy(): Promise<void>;
  /** A scheduled invocation: the platform calls the trigger with `prismatic-invoke-type: Scheduled`. */
  runScheduled(): Promise<TriggerOutcome>;
  /** Resolves with the first execution (already recorded or still to come) that matches. */
  waitFor(match: (e: Execution) => boolean, timeoutMs?: number): Promise<Execution>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The platform's parsed body: JSON when it parses, else the text. */
function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  const text = raw.toString("utf8");
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

export async function startFlowHost(options: FlowHostOptions): Promise<FlowHost> {
  const target = options.component ?? component;
  const harness = createHarness(target);
  const converted = target.triggers[options.triggerKey];
  if (!converted) throw new Error(`no trigger '${options.triggerKey}'`);
  // Spectral's harness has no call for webhook lifecycle handlers: run them through its deploy/delete calls,
  // which fill defaults and build the context exactly as for the trigger itself.
  const lifecycleHarness = createHarness({
    ...target,
    triggers: {
      [options.triggerKey]: { ...converted, onInstanceDeploy: converted.webhookCreate, onInstanceDelete: converted.webhookDelete },
    },
  } as Component);

  const flowName = options.flowName ?? "Flow 1";
  const flow = { id: `${flowName}-id`, name: flowName, stableId: options.stableId ?? "flow-stable-id" };
  const host = { crossFlowState: {} as Record<string, unknown>, executions: [] as Execution[] } as FlowHost;
  const waiters: Array<{ match: (e: Execution) => boolean; resolve: (e: Execution) => void }> = [];

  const context = () => ({ logger: options.logger, crossFlowState: { ...host.crossFlowState }, webhookUrls: { [flowName]: host.url }, flow });
  const persist = (returned: { crossFlowState?: Record<string, unknown> } | void | undefined) => {
    if (!returned?.crossFlowState) return;
    for (const [key, value] of Object.entries(returned.crossFlowState)) {
      if (value === null || value === undefined) delete host.crossFlowState[key];
      else host.crossFlowState[key] = value;
    }
  };
  const runTrigger = async (payload: Partial<TriggerPayload>) => {
    const result = await harness.trigger(options.triggerKey, payload, options.params, context());
    persist(result as { crossFlowState?: Record<string, unknown> });
    return result;
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const raw = await readBody(req);
      const url = new URL(req.url ?? "/", host.url);
      const contentType = req.headers["content-type"];
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]));
      const payload: Partial<TriggerPayload> = {
        headers,
        // URLSearchParams decodes, as the platform does (Graph's validationToken arrives URL-encoded).
        queryParameters: Object.fromEntries(url.searchParams.entries()),
        rawBody: { data: raw, contentType },
        body: { data: parseBody(raw, contentType), contentType },
        webhookUrls: { [flowName]: host.url },
        invokeUrl: host.url,
        flow,
      };
      const execution: Execution = { method: req.method ?? "POST", url: req.url ?? "/", payload, status: 0, responseBody: "" };
      try {
        execution.result = await runTrigger(payload);
        const response = execution.result?.response;
        execution.status = response?.statusCode ?? 200;
        execution.responseBody = response?.body ?? JSON.stringify({ executionId: `exec-${host.executions.length + 1}` });
        execution.responseContentType = response?.contentType ?? "application/json";
      } catch (error) {
        execution.error = error as Error;
        execution.status = 500;
        execution.responseBody = "The trigger failed.";
        execution.responseContentType = "text/plain";
      }
      host.executions.push(execution);
      res.writeHead(execution.status, { "Content-Type": execution.responseContentType ?? "text/plain" });
      res.end(execution.responseBody);
      for (const waiter of waiters.filter((w) => w.match(execution))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(execution);
      }
    })();
  });
  const port = await listen(server, 0);
  host.url = `http://127.0.0.1:${port}/trigger/${flow.stableId}`;

  host.deploy = async () => persist(await lifecycleHarness.triggerOnInstanceDeploy(options.triggerKey, options.params, context()));
  host.undeploy = async () => persist(await lifecycleHarness.triggerOnInstanceDelete(options.triggerKey, options.params, context()));
  host.runScheduled = () =>
    runTrigger({ headers: { "prismatic-invoke-type": "Scheduled" }, queryParameters: {}, rawBody: { data: "" }, body: { data: "" }, flow });
  host.waitFor = (match, timeoutMs = 5000) => {
    const done = host.executions.find(match);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching webhook request within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  };
  host.close = () => closeServer(server);
  return host;
}
