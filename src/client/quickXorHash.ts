const WIDTH_IN_BITS = 160;
const WIDTH_IN_BYTES = WIDTH_IN_BITS / 8;
const SHIFT = 11;
const CELLS = 3;

/**
 * OneDrive's QuickXorHash, base64: the only hash OneDrive for Business reports in file.hashes
 * (OneDrive docs, code-snippets/quickxorhash.md). Byte j lands at bit (11·j) mod 160, so bytes 160 apart
 * share a position: one linear pass folds them first (a strided pass per position would read the file 160 times).
 */
export function quickXorHash(bytes: Uint8Array): string {
  const folded = new Uint8Array(WIDTH_IN_BITS);
  const whole = bytes.length - (bytes.length % WIDTH_IN_BITS);
  for (let base = 0; base < whole; base += WIDTH_IN_BITS) {
    for (let k = 0; k < WIDTH_IN_BITS; k++) folded[k] ^= bytes[base + k];
  }
  for (let j = whole; j < bytes.length; j++) folded[j - whole] ^= bytes[j];

  const data = [0n, 0n, 0n];
  let cell = 0;
  let offset = 0;
  const iterations = Math.min(bytes.length, WIDTH_IN_BITS);
  for (let i = 0; i < iterations; i++) {
    const isLastCell = cell === CELLS - 1;
    const bitsInCell = isLastCell ? WIDTH_IN_BITS % 64 : 64;
    const xored = folded[i];
    if (offset <= bitsInCell - 8) {
      data[cell] ^= BigInt(xored) << BigInt(offset);
    } else {
      const next = isLastCell ? 0 : cell + 1;
      data[cell] ^= BigInt(xored) << BigInt(offset);
      data[next] ^= BigInt(xored) >> BigInt(bitsInCell - offset);
    }
    offset += SHIFT;
    while (offset >= bitsInCell) {
      cell = isLastCell ? 0 : cell + 1;
      offset -= bitsInCell;
    }
  }
  const out = Buffer.alloc(WIDTH_IN_BYTES);
  for (let i = 0; i < CELLS; i++) {
    const cellBytes = Buffer.alloc(8);
    cellBytes.writeBigUInt64LE(data[i] & 0xffff_ffff_ffff_ffffn);
    cellBytes.copy(out, i * 8, 0, Math.min(8, out.length - i * 8));
  }
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes.length));
  for (let i = 0; i < 8; i++) out[out.length - 8 + i] ^= length[i];
  return out.toString("base64");
}
