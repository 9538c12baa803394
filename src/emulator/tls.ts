import { generate } from "selfsigned";

/** A certificate for the emulator's loopback hosts, signed by a CA made for this run. */
export interface LoopbackCertificate {
  /** The CA certificate (PEM): what a client trusts, e.g. through NODE_EXTRA_CA_CERTS. */
  caPem: string;
  /** The server certificate (PEM) for 127.0.0.1 and localhost, and its private key. */
  cert: string;
  key: string;
}

const DAY_MS = 86_400_000;

/**
 * A fresh CA and a server certificate it signs, valid for a week, with the names clients use for loopback
 * (IP 127.0.0.1 and ::1, DNS localhost). A CA rather than one self-signed leaf, because TLS stacks that take
 * extra trust anchors (Node's NODE_EXTRA_CA_CERTS, curl --cacert, Python's certifi bundles) expect a CA there.
 */
export async function generateLoopbackCertificate(now = new Date()): Promise<LoopbackCertificate> {
  const validity = { notBeforeDate: new Date(now.getTime() - DAY_MS), notAfterDate: new Date(now.getTime() + 7 * DAY_MS) };
  const ca = await generate([{ name: "commonName", value: "Graph Emulator Test CA" }], {
    ...validity,
    algorithm: "sha256",
    keyType: "ec",
    curve: "P-256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: "commonName", value: "localhost" }], {
    ...validity,
    algorithm: "sha256",
    keyType: "ec",
    curve: "P-256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }, { type: 2, value: "localhost" }] },
    ],
  });
  return { caPem: ca.cert, cert: server.cert, key: server.private };
}
