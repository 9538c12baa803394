/**
 * A self-signed X.509 v3 certificate (RSA 2048, sha256WithRSAEncryption) for client-assertion and
 * rich-notification tests against the emulator, made by `selfsigned` (as the loopback TLS certificate in tls.ts).
 * RSA because client assertions are signed RS256/PS256 and rich notifications encrypt with RSA-OAEP.
 */
import { createHash, X509Certificate } from "node:crypto";
import { generate } from "selfsigned";

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

/** Test helper: a self-signed certificate and its private key (PEM) for client-assertion tests. */
export async function makeTestCertificate(options: TestCertificateOptions = {}): Promise<TestCertificate> {
  const notBefore = options.notBefore ?? new Date(Date.now() - 3600_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * 86400_000);
  const pems = await generate([{ name: "commonName", value: options.commonName ?? "Graph Emulator Test" }], {
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    keyType: "rsa",
    keySize: 2048,
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, critical: true },
    ],
  });
  const certificate = new X509Certificate(pems.cert);
  const der = certificate.raw;
  return {
    // Node's PEM ends with a newline (selfsigned's does not), so `${certificatePem}${privateKeyPem}` stays two blocks.
    certificatePem: certificate.toString(),
    privateKeyPem: pems.private,
    thumbprintSha1Hex: createHash("sha1").update(der).digest("hex").toUpperCase(),
    thumbprintSha256Base64Url: createHash("sha256").update(der).digest("base64url"),
    thumbprintSha1Base64Url: createHash("sha1").update(der).digest("base64url"),
  };
}
