/**
 * A self-signed X.509 v3 certificate (RSA 2048, sha256WithRSAEncryption) built with node:crypto only,
 * for client-assertion tests against the identity emulator. Node can parse certificates
 * (crypto.X509Certificate) but not create them, so the TBSCertificate is DER-encoded here (RFC 5280 §4.1).
 */
import { createHash, createSign, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";

export interface TestCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** Upper-case hex SHA-1 of the DER certificate: the "thumbprint" Entra shows and quotes in AADSTS700027. */
  thumbprintSha1Hex: string;
  /** base64url SHA-256 of the DER certificate: the `x5t#S256` assertion header (ED certificate-credentials.md). */
  thumbprintSha256Base64Url: string;
  /** base64url SHA-1 of the DER certificate: the legacy `x5t` assertion header. */
  thumbprintSha1Base64Url: string;
}

export interface TestCertificateOptions {
  /** Subject and issuer CN; default "Graph Emulator Test". */
  commonName?: string;
  /** Start of validity; default one hour ago. */
  notBefore?: Date;
  /** End of validity; default one year after notBefore. */
  notAfter?: Date;
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const bitString = (bytes: Buffer): Buffer => tlv(0x03, Buffer.from([0]), bytes);
const NULL = Buffer.from([0x05, 0x00]);

function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  // A leading 1 bit would make the INTEGER negative.
  return tlv(0x02, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const bytes: number[] = [40 * parts[0] + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ
  const digits = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, "ascii")) : tlv(0x18, Buffer.from(`${digits}Z`, "ascii"));
}

function name(commonName: string): Buffer {
  // Name ::= SEQUENCE OF RelativeDistinguishedName; one CN (2.5.4.3) as UTF8String.
  return sequence(set(sequence(oid("2.5.4.3"), tlv(0x0c, Buffer.from(commonName, "utf8")))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), tlv(0x01, Buffer.from([0xff])), octetString(value)) : sequence(oid(id), octetString(value));
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Test helper: a self-signed certificate and its private key (PEM) for client-assertion tests. */
export function makeTestCertificate(options: TestCertificateOptions = {}): TestCertificate {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const commonName = options.commonName ?? "Graph Emulator Test";
  const notBefore = options.notBefore ?? new Date(Date.now() - 3600_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * 86400_000);
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const sha256WithRsa = sequence(oid("1.2.840.113549.1.1.11"), NULL);
  const keyId = createHash("sha1").update(spki).digest();

  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    sha256WithRsa,
    name(commonName),
    sequence(time(notBefore), time(notAfter)),
    name(commonName),
    spki, // SubjectPublicKeyInfo, already DER
    explicit(
      3,
      sequence(
        extension("2.5.29.19", true, sequence()), // basicConstraints: cA FALSE
        extension("2.5.29.15", true, bitString(Buffer.from([0x80]))), // keyUsage: digitalSignature
        extension("2.5.29.14", false, octetString(keyId)), // subjectKeyIdentifier
      ),
    ),
  );
  const signature = createSign("sha256").update(tbs).sign(privateKey);
  const der = sequence(tbs, sha256WithRsa, bitString(signature));
  const certificatePem = toPem("CERTIFICATE", der);
  // Parse it back: proves the encoding and that the certificate verifies under its own key.
  const parsed = new X509Certificate(certificatePem);
  if (!parsed.verify(publicKey)) throw new Error("makeTestCertificate: the generated certificate does not verify");

  return {
    certificatePem,
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    thumbprintSha1Hex: createHash("sha1").update(der).digest("hex").toUpperCase(),
    thumbprintSha256Base64Url: createHash("sha256").update(der).digest("base64url"),
    thumbprintSha1Base64Url: createHash("sha1").update(der).digest("base64url"),
  };
}
