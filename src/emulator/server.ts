import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";

import { authenticate, CLOUD_RESOURCES, DEMO_TOKEN, READ_ONLY_TOKEN, type TokenAuthority } from "./callers";
import { ControlSurface, isControlPath } from "./control";
import { DeltaTokens } from "./delta";
import { FaultQueue } from "./faults";
import { downloadHost, graphHost, tempauthSigner, uploadHost } from "./hosts";
import { closeServer, listen } from "./http";
import { startIdentityEmulator, type IdentityEmulator } from "./identity";
import { EmulatedMailbox } from "./mailbox";
import { ChangeNotifications } from "./notifications";
import { SkipTokens } from "./odata";
import { handle, type PipelineContext } from "./pipeline";
import { completeDriveUpload, driveQuota, type TenantState } from "./routes";
import { Drive, ME_ID, UserDirectory } from "./tenant";
import { SeededChoices } from "./random";
import { Throttle } from "./throttle";
import { DEFAULT_SESSION_LIFETIME_MS, UploadSessions } from "./uploadSessions";
import type { EmulatorOptions, GraphCloud, GraphEmulator, RequestLogEntry, ThrottleOptions, TlsCredentials } from "./types";

export { CLOUD_RESOURCES, DEMO_TOKEN, READ_ONLY_TOKEN } from "./callers";

/** The start options, checked, with their defaults. */
interface Settings {
  users: number;
  tokens: string[];
  readOnlyTokens: string[];
  latencyMs: number;
  deltaPageSize: number;
  cloud: GraphCloud;
  graphResource: string;
  uploadSessionLifetimeMs: number;
  now: () => number;
  /** The throttling profile reset() returns to. */
  throttle: ThrottleOptions | null;
  /** What the emulator chooses at random, seeded by EmulatorOptions.seed; reset() starts it over. */
  choices: SeededChoices;
}

function settingsOf(options: EmulatorOptions): Settings {
  const users = options.users ?? 300;
  if (!Number.isInteger(users) || users < 0 || users > 0xffffffff) throw new RangeError(`users must be a non-negative integer, got ${users}`);
  if (options.tokens && options.tokens.length === 0) throw new RangeError("tokens must list at least one accepted token");
  const deltaPageSize = options.deltaPageSize ?? 200;
  if (!Number.isInteger(deltaPageSize) || deltaPageSize < 1) throw new RangeError(`deltaPageSize must be a positive integer, got ${deltaPageSize}`);
  const cloud: GraphCloud = options.cloud ?? "global";
  if (!Object.hasOwn(CLOUD_RESOURCES, cloud)) throw new RangeError(`cloud must be one of ${Object.keys(CLOUD_RESOURCES).join(", ")}, got ${String(cloud)}`);
  const uploadSessionLifetimeMs = options.uploadSessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
  if (!(uploadSessionLifetimeMs > 0)) throw new RangeError(`uploadSessionLifetimeMs must be positive, got ${uploadSessionLifetimeMs}`);
  return {
    users,
    tokens: options.tokens ? [...options.tokens] : [DEMO_TOKEN],
    readOnlyTokens: options.readOnlyTokens ? [...options.readOnlyTokens] : [READ_ONLY_TOKEN],
    latencyMs: options.latencyMs ?? 0,
    deltaPageSize,
    cloud,
    graphResource: CLOUD_RESOURCES[cloud],
    uploadSessionLifetimeMs,
    // The throttle window runs on this clock, so tests whose client sleeps virtually can advance it too.
    now: options.now ?? Date.now,
    throttle: options.throttle ? { ...options.throttle } : null,
    choices: new SeededChoices(options.seed),
  };
}

/** The tenant's data and the services that change it: directory, drive, mailbox, upload sessions, change notifications. */
interface Tenant {
  state: TenantState;
  mailbox: EmulatedMailbox;
  uploads: UploadSessions;
  changes: ChangeNotifications;
  tempauthValid(itemId: string, tempauth: string): boolean;
  /** The download host's origin, once it listens. */
  downloadOrigin: string;
}

function createTenant(settings: Settings, options: EmulatorOptions): Tenant {
  const { now } = settings;
  const secret = randomBytes(32);
  const tempauth = tempauthSigner(secret);
  const uploads: UploadSessions = new UploadSessions(now, settings.uploadSessionLifetimeMs, {
    drive: (target, bytes, ids) => completeDriveUpload(state, target, bytes, ids),
    driveSpace: () => driveQuota(state).remaining,
    attachment: (target, bytes): { location: string } => {
      const id = mailbox.addAttachment(target.userId, target.parent, target.parentId, {
        name: target.name,
        contentType: target.contentType,
        bytes,
        isInline: target.isInline,
        contentId: target.contentId ?? null,
      });
      // The doc's Location: `https://outlook.office.com/api/v2.0/Users('…')/Messages('…')/Attachments('{id}')`, here on the upload host.
      return { location: `${uploads.origin}/api/v2.0/Users('${encodeURIComponent(target.userId)}')/${target.parent}('${encodeURIComponent(target.parentId)}')/Attachments('${id}')` };
    },
  });
  const changes = new ChangeNotifications(now, options.notifications ?? {}, {
    userId: (reference) => state.users.find(reference)?.user.id as string | undefined,
    folderId: (userId, reference) => mailbox.folderId(userId, reference),
  });
  const mailbox = new EmulatedMailbox(now, (change) => changes.hub.publish(change), (reference) => {
    const user = state.users.find(reference)?.user;
    return user && { id: String(user.id), address: String(user.mail ?? user.userPrincipalName), displayName: String(user.displayName) };
  });
  const tenant: Tenant = {
    state: {
      origin: "",
      users: new UserDirectory(settings.users),
      drive: new Drive(),
      skipTokens: new SkipTokens(secret),
      deltaTokens: new DeltaTokens(secret),
      deltaPageSize: settings.deltaPageSize,
      downloadUrl: (file) => `${tenant.downloadOrigin}/download/${file.id}?tempauth=${tempauth.sign(file.id)}`,
      subscriptions: changes.store,
      notifications: changes.hub,
      mailbox,
      uploads,
    },
    mailbox,
    uploads,
    changes,
    tempauthValid: tempauth.valid,
    downloadOrigin: "",
  };
  const state = tenant.state;
  return tenant;
}

/** Timers of waiting requests, so close() does not wait for them. */
class Sleeper {
  private readonly timers = new Set<NodeJS.Timeout>();

  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  cancelAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

function httpServer(tls: TlsCredentials | undefined, listener: RequestListener): Server {
  return tls ? createTlsServer({ cert: tls.cert, key: tls.key }, listener) : createServer(listener);
}

/** A listener that drops a request whose answer throws, never leaving it hanging. */
function guarded(serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>): RequestListener {
  return (req, res) => {
    serve(req, res).catch((error: unknown) => {
      console.error("graph emulator: request failed", error);
      res.destroy();
    });
  };
}

/** Listens on each server's port in turn; if one cannot, the ones already listening are closed again. */
async function listenAll(servers: ReadonlyArray<{ server: Server; port: number }>): Promise<number[]> {
  const ports: number[] = [];
  for (const [index, { server, port }] of servers.entries()) {
    try {
      ports.push(await listen(server, port));
    } catch (error) {
      await Promise.all(servers.slice(0, index).map((started) => closeServer(started.server)));
      throw error;
    }
  }
  return ports;
}

/** The login host, when asked for: it issues for this cloud's Graph and on this emulator's clock unless set otherwise. */
async function startIdentity(options: EmulatorOptions, settings: Settings, graphOrigin: string): Promise<IdentityEmulator | undefined> {
  if (!options.identity) return undefined;
  const given = options.identity === true ? {} : options.identity;
  // Issue for this cloud's Graph and on this emulator's clock (so advancing `now` expires its tokens), unless set.
  return startIdentityEmulator({
    ...given,
    graphResource: given.graphResource ?? settings.graphResource,
    // Its discovery document publishes this Graph's /oidc/userinfo, so clients that follow it stay here.
    graphOrigin: given.graphOrigin ?? graphOrigin,
    now: given.now ?? settings.now,
    ...(options.tls && !given.tls ? { tls: options.tls } : {}),
  });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<GraphEmulator> {
  const settings = settingsOf(options);
  const tenant = createTenant(settings, options);
  const log: RequestLogEntry[] = [];
  const faults = new FaultQueue(() => settings.choices.next("fault rate"));
  const throttle = new Throttle();
  // Refuses an out-of-range profile with a RangeError before anything listens.
  throttle.configure(settings.throttle);
  const sleeper = new Sleeper();
  const control = new ControlSurface();
  /** The login host starts after the Graph servers listen; Graph consults its token registry from then on. */
  const login: { identity?: IdentityEmulator } = {};
  const authority: TokenAuthority = { ...settings, issued: (token) => login.identity?.tokens.lookup(token) };
  let closed = false;
  const context: PipelineContext = {
    log,
    faults,
    authenticate: (authorization) => authenticate(authority, authorization),
    latencyMs: settings.latencyMs,
    sleep: (ms) => sleeper.sleep(ms),
    closed: () => closed,
  };
  const graph = graphHost({ state: tenant.state, faults, throttle, now: settings.now, latencyMs: settings.latencyMs, batchOrderSeed: () => settings.choices.next("batch order") });
  const download = downloadHost(() => tenant.state.drive, tenant.tempauthValid);
  const upload = uploadHost(tenant.uploads);
  // The control surface answers before logging, faults and throttling: scripting the emulator must not change what it scripts.
  const graphServer = httpServer(options.tls, guarded((req, res) => (isControlPath(req.url ?? "/") ? control.serve(req, res) : handle(context, graph, req, res))));
  const downloadServer = httpServer(options.tls, guarded((req, res) => handle(context, download, req, res)));
  const uploadServer = httpServer(options.tls, guarded((req, res) => handle(context, upload, req, res)));
  const servers = [graphServer, downloadServer, uploadServer];
  const [port, downloadPort, uploadPort] = await listenAll([
    { server: graphServer, port: options.port ?? 0 },
    { server: downloadServer, port: options.downloadPort ?? 0 },
    { server: uploadServer, port: options.uploadPort ?? 0 },
  ]);
  const scheme = options.tls ? "https" : "http";
  const origin = `${scheme}://127.0.0.1:${port}`;
  tenant.state.origin = options.publicOrigin?.replace(/\/+$/, "") ?? origin;
  const identity = (login.identity = await startIdentity(options, settings, tenant.state.origin).catch(async (error: unknown) => {
    await Promise.all(servers.map(closeServer));
    throw error;
  }));
  tenant.downloadOrigin = `${scheme}://127.0.0.1:${downloadPort}`;
  tenant.uploads.origin = `${scheme}://127.0.0.1:${uploadPort}`;
  const emulator = publicEmulator({ settings, tenant, log, faults, throttle, control, origin, identity }, async () => {
    closed = true;
    tenant.changes.close();
    sleeper.cancelAll();
    await Promise.all([...servers.map(closeServer), identity?.close()]);
  });
  control.attach({ ...emulator, clearFaults: () => faults.clear() });
  return emulator;
}

interface Parts {
  settings: Settings;
  tenant: Tenant;
  log: RequestLogEntry[];
  faults: FaultQueue;
  throttle: Throttle;
  control: ControlSurface;
  origin: string;
  identity: IdentityEmulator | undefined;
}

/** The emulator's public object (GraphEmulator): its origins, the request log, and the in-process controls. */
function publicEmulator({ settings, tenant, log, faults, throttle, control, origin, identity }: Parts, close: () => Promise<void>): GraphEmulator {
  const { state, mailbox, uploads, changes } = tenant;
  return {
    origin,
    downloadOrigin: tenant.downloadOrigin,
    uploadOrigin: uploads.origin,
    token: settings.tokens[0],
    controlToken: control.token,
    cloud: settings.cloud,
    graphResource: settings.graphResource,
    ...(identity ? { identity, loginOrigin: identity.origin } : {}),
    log,
    addFault: (rule) => faults.add(rule),
    setThrottle: (throttleOptions) => throttle.configure(throttleOptions),
    expireDeltaTokens: () => {
      state.deltaTokens.expire();
      mailbox.expireDeltaTokens();
    },
    mailbox,
    driveFile: (pathOrId) => {
      const file = pathOrId.startsWith("/") ? state.drive.byPath(pathOrId) : state.drive.get(pathOrId);
      return file && { ...file };
    },
    attachments: (parentId, user = ME_ID) => mailbox.attachmentsOf(user, parentId),
    uploadSessions: () => uploads.list(),
    expireUploadSessions: () => uploads.expireAll(),
    subscriptions: () => changes.store.list(),
    deliveries: changes.hub.deliveries,
    flushNotifications: () => changes.hub.flush(),
    sendLifecycleEvent: (id, event) => changes.sendLifecycleEvent(id, event),
    reset: () => {
      log.length = 0;
      faults.clear();
      settings.choices.reset();
      throttle.configure(settings.throttle);
      state.users = new UserDirectory(settings.users);
      state.drive.reset();
      uploads.reset();
      // The change log starts again, so tokens minted against the old one must not be honoured.
      state.deltaTokens.expire();
      changes.reset();
      mailbox.reset();
      identity?.reset();
    },
    close,
  };
}
