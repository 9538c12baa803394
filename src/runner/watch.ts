/**
 * `npm start -- watch <resource>`: the whole change-notification loop with no account. The Graph emulator delivers
 * by itself; a loopback webhook receiver hands each request to the Change Notifications trigger as the platform
 * would; the subscription is made through the trigger's lifecycle handler; one change is made in the emulator and
 * the notification the flow would receive is printed; the subscription is deleted on exit.
 */
import type { ActionLogger } from "@prismatic-io/spectral";
import { createConnection } from "@prismatic-io/spectral/dist/testing";
import { oauth } from "../connections";
import { BASE_URL_ENV, LOGIN_URL_ENV } from "../client/hosts";
import { makeTestCertificate } from "../emulator/x509";
import { startEmulator, type GraphEmulator } from "../emulator";
import { BRANCHES } from "../triggers/changeNotifications";
import { supportedChangeTypes } from "../triggers/subscriptionLifetimes";
import { Execution, startFlowHost } from "./webhookReceiver";

export interface WatchOptions {
  print: (line: string) => void;
  /** Keep running (and printing) until `stop` resolves; otherwise end after the first notification or the timeout. */
  untilStopped?: Promise<void>;
  /** Without `untilStopped`: give up waiting for a notification after this long; default 10 s. */
  timeoutMs?: number;
  /** Rich notifications: a throwaway certificate, Graph's signed validation tokens and encrypted resource data. */
  rich?: boolean;
}

export interface WatchOutcome {
  /** What the flow received, one entry per notification run. */
  received: unknown[];
  subscriptionId?: string;
  /** Subscriptions the emulator still had after the trigger's delete handler ran. */
  subscriptionsLeft: number;
}

/** A change that makes Graph notify a subscription on `resource`, made the way another Graph client would make it. */
async function makeChange(emulator: GraphEmulator, resource: string, print: (line: string) => void): Promise<void> {
  const call = (method: string, path: string, body?: unknown, contentType = "application/json") =>
    fetch(`${emulator.origin}/v1.0${path}`, {
      method,
      headers: { Authorization: `Bearer ${emulator.token}`, "Content-Type": contentType },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  const path = resource.replace(/^\/+/, "");
  if (/^users$/i.test(path)) {
    const page = (await (await call("GET", "/users?$top=1&$select=id,displayName")).json()) as { value: Array<{ id: string; displayName: string }> };
    const user = page.value[0];
    await call("PATCH", `/users/${user.id}`, { jobTitle: `Watcher ${new Date().toISOString()}` });
    print(`change: PATCH /users/${user.id} (${user.displayName}): a new jobTitle`);
  } else if (/messages/i.test(path)) {
    const message = emulator.mailbox.receive({
      subject: "Quarterly report",
      from: { emailAddress: { name: "Adele Vance", address: "AdeleV@contoso.onmicrosoft.com" } },
      body: { contentType: "text", content: "The figures are attached." },
    });
    print(`change: a mail arrived in the Inbox from outside ("${message.subject}", id ${message.id})`);
  } else if (/drive\/root/i.test(path)) {
    const name = `watch-${Date.now()}.txt`;
    await call("PUT", `/me/drive/root:/${name}:/content`, "hello from npm start -- watch", "text/plain");
    print(`change: PUT /me/drive/root:/${name}:/content (a new file)`);
  } else {
    print(`no change is scripted for '${resource}': make one against ${emulator.origin} (token ${emulator.token.slice(0, 4)}…)`);
  }
}

async function richParams(rich: boolean | undefined): Promise<Record<string, unknown>> {
  if (!rich) return {};
  const certificate = await makeTestCertificate({ commonName: "graph-notifications" });
  return { includeResourceData: true, encryptionCertificate: `${certificate.certificatePem}\n${certificate.privateKeyPem}`, encryptionCertificateId: "watch" };
}

export async function watch(resource: string, options: WatchOptions): Promise<WatchOutcome> {
  const { print } = options;
  const emulator = await startEmulator({ notifications: { autoDeliverMs: 100 }, identity: Boolean(options.rich) });
  const previousBase = process.env[BASE_URL_ENV];
  const previousLogin = process.env[LOGIN_URL_ENV];
  process.env[BASE_URL_ENV] = emulator.origin;
  // The validation tokens' signing keys come from the emulator's sign-in host.
  if (options.rich) process.env[LOGIN_URL_ENV] = emulator.loginOrigin;
  const logger: ActionLogger = {
    metric: () => undefined,
    trace: () => undefined,
    debug: () => undefined,
    info: (...a) => print(`  trigger log: ${a.join(" ")}`),
    log: (...a) => print(`  trigger log: ${a.join(" ")}`),
    warn: (...a) => print(`  trigger warn: ${a.join(" ")}`),
    error: (...a) => print(`  trigger error: ${a.join(" ")}`),
  };
  const connection = createConnection(
    oauth,
    {
      authorizeUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
      tokenUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
      scopes: "https://graph.microsoft.com/User.Read.All offline_access",
      clientId: "watch",
      clientSecret: "watch",
    },
    { access_token: emulator.token },
  );
  const received: unknown[] = [];
  const host = await startFlowHost({
    triggerKey: "changeNotifications",
    params: { connection, resource, changeTypes: [...supportedChangeTypes(resource)], ...(await richParams(options.rich)) },
    logger,
  });
  let subscriptionId: string | undefined;
  let left = -1;
  try {
    print(`Graph emulator on ${emulator.origin}, delivering notifications every 100 ms`);
    print(`webhook receiver (the flow's URL) on ${host.url}`);
    await host.deploy();
    const sub = emulator.subscriptions()[0];
    subscriptionId = sub?.id;
    print(`subscribed through the trigger's lifecycle handler: ${sub?.id} on '${sub?.resource}' (${sub?.changeType}) until ${sub?.expirationDateTime}`);
    const isNotification = (e: Execution) => (e.result as { branch?: string } | undefined)?.branch === BRANCHES.notification;
    let printed = 0;
    const printNew = () => {
      for (const execution of host.executions.filter(isNotification).slice(printed)) {
        printed++;
        const data = (execution.result as { payload: { body: { data: unknown } } }).payload.body.data;
        received.push(data);
        print(`the flow receives (branch Notification, answered ${execution.status}):\n${JSON.stringify(data, null, 2)}`);
      }
    };
    await makeChange(emulator, resource, print);
    if (options.untilStopped) {
      const timer = setInterval(printNew, 100);
      await options.untilStopped;
      clearInterval(timer);
      printNew();
    } else {
      try {
        await host.waitFor(isNotification, options.timeoutMs ?? 10_000);
      } catch {
        print(`no notification within ${options.timeoutMs ?? 10_000} ms`);
      }
      printNew();
    }
  } finally {
    await host.undeploy().catch((error: Error) => print(`delete failed: ${error.message}`));
    left = emulator.subscriptions().length;
    print(`deleted the subscription through the trigger's lifecycle handler; ${left} left`);
    await host.close();
    await emulator.close();
    if (previousBase === undefined) delete process.env[BASE_URL_ENV];
    else process.env[BASE_URL_ENV] = previousBase;
    if (previousLogin === undefined) delete process.env[LOGIN_URL_ENV];
    else process.env[LOGIN_URL_ENV] = previousLogin;
  }
  return { received, subscriptionId, subscriptionsLeft: left };
}

/** The CLI entry: Ctrl-C ends an interactive session; without a TTY it ends by itself. */
export async function watchCommand(args: string[]): Promise<void> {
  const rich = args.includes("--rich");
  const target = args.find((a) => !a.startsWith("--"))?.trim() || "me/mailFolders('Inbox')/messages";
  const interactive = Boolean(process.stdin.isTTY);
  const untilStopped = interactive
    ? new Promise<void>((resolve) => {
        console.log("Ctrl-C to stop (the subscription is deleted on the way out)");
        process.once("SIGINT", () => resolve());
      })
    : undefined;
  const outcome = await watch(target, { print: (line) => console.log(line), untilStopped, rich });
  if (!interactive && outcome.received.length === 0) process.exitCode = 1;
}
