/**
 * A loopback Microsoft Graph emulator for tests and local runs; never imported by the component.
 *
 * Serves /v1.0 and /beta: users (paged, $count/$filter/$search, writable), groups, teams and their channels,
 * /users/delta and /groups/delta (nextLink → deltaLink rounds, `$deltatoken=latest`, 410 after
 * `expireDeltaTokens()`), OneDrive files with a pre-authenticated download host, sendMail, and JSON batching
 * (`POST /$batch`: items routed like single requests, shuffled responses, dependsOn → 424). Tests script
 * failures with `addFault` (also hits batch items), turn on per-token throttling with `setThrottle`, and read
 * every request (and each batch item, `batchItems`) from `log`.
 *
 * Change notifications: `/subscriptions` (create runs the validation handshake against both URLs, as a `$batch`
 * item too; per-resource maximum lifetimes; expiry on the `now` clock), `/me/mailFolders…` and `/me/messages…`
 * (also under /users/{id}) with per-folder message delta. Writes to users, messages (and `mailbox.receive`) and drive uploads are
 * queued for matching subscriptions and POSTed by `flushNotifications()` (or by themselves with
 * `notifications.autoDeliverMs`), batched per notificationUrl, retried while the receiver fails, encrypted
 * with signed validation tokens when a subscription includes resource data; `sendLifecycleEvent` provokes
 * lifecycle notifications and `deliveries` logs every POST.
 *
 * Files of any size (uploadSessions.ts): `POST …/createUploadSession` on drive items (`/me/drive/root:/{path}:`,
 * `/drives/{id}/items/{parent}:/{name}:`, `/me/drive/items/{id}`) and on Outlook messages and events
 * (`…/attachments/createUploadSession`) hands out URLs on a separate upload host that refuses any Authorization
 * header, enforces Graph's fragment rules (320 KiB multiples, under 60 MiB, or under 4 MiB for Outlook; in order;
 * one total), answers 202 (Outlook 200, PascalCase) with nextExpectedRanges, 416 for bytes already received,
 * GET status, DELETE 204, 404 once expired on the `now` clock, and stores the finished file (driveItem with its
 * quickXorHash, 201/200; conflictBehavior fail/replace/rename) or attachment (201, empty, Location). Faults match
 * upload paths (`/up/…`) too; `driveFile`, `attachments` and `uploadSessions` read back what was stored. The
 * download host honours `Range` (206 with Content-Range, 416).
 *
 * With `identity`, an Entra ID v2.0 login host (identity/) runs alongside and Graph accepts the access tokens
 * it issues: expiry on the injected clock, audience per `cloud` (CLOUD_RESOURCES), app-only tokens refused on
 * /me, delegated scopes deciding directory reads and writes, /me as the token's signed-in user. `GET`/`POST
 * {origin}/oidc/userinfo` answers OpenID Connect UserInfo (userInfo.ts) for a delegated token, its `sub` equal to the
 * id_token's.
 *
 * From outside the process (control.ts): `{origin}/_emulator/…` with `Authorization: Bearer {controlToken}`
 * scripts faults (also at a seeded `rate`), sets throttling, resets, expires delta tokens and upload sessions, flushes notifications,
 * provokes lifecycle events and reads the log, bypassing faults, throttling and the log itself.
 */
export { CLOUD_RESOURCES, DEMO_TOKEN, READ_ONLY_TOKEN, startEmulator } from "./server";
export type { DeliveryLogEntry, LifecycleEvent, NotificationOptions, ResourceChange } from "./notifications";
export type { EmulatedSubscription } from "./subscriptions";
export type { StoredAttachment } from "./mailbox";
export type { DriveFile } from "./tenant";
export { DEFAULT_SESSION_LIFETIME_MS, FRAGMENT_UNIT, MAX_DRIVE_FRAGMENT, MAX_OUTLOOK_FRAGMENT, type UploadSessionInfo } from "./uploadSessions";
export type { BatchItemLogEntry, EmulatorOptions, Fault, FaultRule, GraphCloud, GraphEmulator, RequestLogEntry, ThrottleOptions, TlsCredentials } from "./types";
export { generateLoopbackCertificate, type LoopbackCertificate } from "./tls";
export {
  DEMO_CLIENT_ID,
  DEMO_CLIENT_SECRET,
  DEMO_REDIRECT_URI,
  PRISMATIC_REDIRECT_URI,
  startIdentityEmulator,
  TokenRegistry,
} from "./identity";
export type { AppRegistration, IdentityEmulator, IdentityLogEntry, IdentityOptions, IdentityTenant, IdentityUser, IssuedToken } from "./identity";
export {
  base64DerOf,
  buildRichNotifications,
  CHANGE_TRACKING_APP_ID,
  encryptResourceData,
  parseEncryptionCertificate,
  prepareValidationTokenKeys,
  publishedSigningKeys,
  rotateValidationTokenKey,
  signValidationToken,
  validationTokenKeyId,
} from "./richNotifications";
export type { EncryptedContent, RichNotificationBatch, RichNotificationBatchOptions, ValidationTokenOptions } from "./richNotifications";
