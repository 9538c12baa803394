/**
 * Bench rows for rich notifications ("decrypting 100 rich notifications (per item)"), for `npm run bench` to add
 * to its table. Ours: what a receiver of one POST does with the component's module (the validation token verified
 * once, then each item's data key, HMAC and AES checked and decrypted). Baseline, measured in the same run: the bare
 * node:crypto minimum per item (RSA-OAEP key, AES-CBC, JSON.parse) without any check.
 */
import { constants, createDecipheriv, createPrivateKey, privateDecrypt } from "node:crypto";
import { buildRichNotifications, publishedSigningKeys } from "../emulator/richNotifications";
import { TENANT_ID } from "../emulator/tenant";
import { decryptEncryptedContent, verifyValidationTokens, type EncryptedContent } from "../triggers/richNotifications";
import { formatSummary, interleaved, summarize } from "./stats";

type Row = [string, string, string, string];

const APP_ID = "9a7c3e51-2f4b-4d86-b0e3-5c1d7f2a8e64";
const ms = () => Number(process.hrtime.bigint()) / 1e6;

export async function benchRichNotificationDecryption(count = 100, rounds = 9): Promise<Row[]> {
  const now = Date.now();
  const batch = await buildRichNotifications({ count, audience: APP_ID, tenantId: TENANT_ID, now });
  const contents = batch.body.value.map((item) => (item as { encryptedContent: EncryptedContent }).encryptedContent);
  const signingKeys = publishedSigningKeys("https://login.microsoftonline.com");
  const privateKeyPem = batch.certificate.privateKeyPem;

  const ours = async () => {
    await verifyValidationTokens(batch.body.validationTokens, { audience: APP_ID, signingKeys, tenantIds: [TENANT_ID], now });
    for (const content of contents) decryptEncryptedContent(content, privateKeyPem, { encryptionCertificateId: batch.encryptionCertificateId });
  };
  const bare = () => {
    const key = createPrivateKey(privateKeyPem);
    for (const content of contents) {
      const symmetricKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, Buffer.from(content.dataKey, "base64"));
      const decipher = createDecipheriv("aes-256-cbc", symmetricKey, symmetricKey.subarray(0, 16));
      JSON.parse(Buffer.concat([decipher.update(Buffer.from(content.data, "base64")), decipher.final()]).toString("utf8"));
    }
  };

  await ours(); // warm-up: key parsing, JIT
  bare();
  // Interleaved rounds, summarized by their median and spread like every other timed row.
  const times = await interleaved(
    rounds,
    async () => {
      const started = ms();
      await ours();
      return (ms() - started) / count;
    },
    async () => {
      const started = ms();
      bare();
      return (ms() - started) / count;
    },
  );
  const oursPerItem = summarize(times.ours);
  const barePerItem = summarize(times.baseline);
  return [
    [
      `Decrypting ${count} rich notifications (token verified once, HMAC checked, per item) vs bare RSA-OAEP + AES-CBC + JSON.parse; median (min–max) of ${rounds} interleaved rounds`,
      formatSummary(oursPerItem, "ms", 3),
      formatSummary(barePerItem, "ms", 3),
      (oursPerItem.median / barePerItem.median).toFixed(2),
    ],
  ];
}
