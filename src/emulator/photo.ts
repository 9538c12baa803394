/**
 * The profile photo /users/{id}/photo/$value serves: a square of one grey, as the smallest baseline JPEG
 * (ITU-T T.81): one component, a quantization table of ones, and two Huffman tables holding just the codes
 * a flat image needs (DC: 0 → "0", the first block's category → "10"; AC: end-of-block → "0").
 */
export const PHOTO_SIZE = 48;

function segment(marker: number, body: number[]): number[] {
  const length = body.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...body];
}

export function flatGreyJpeg(size: number, grey: number): Buffer {
  // A flat 8×8 block's only coefficient is DC = 8 × (sample − 128) (T.81 A.3.3, level shift by 128).
  const dc = 8 * (grey - 128);
  const category = dc === 0 ? 0 : Math.floor(Math.log2(Math.abs(dc))) + 1;
  const extra = dc >= 0 ? dc : dc + (1 << category) - 1;
  const bits: number[] = [];
  const put = (value: number, count: number): void => {
    for (let i = count - 1; i >= 0; i--) bits.push((value >> i) & 1);
  };
  const blocks = (size / 8) ** 2;
  for (let b = 0; b < blocks; b++) {
    if (b === 0 && category > 0) {
      put(0b10, 2);
      put(extra, category);
    } else {
      put(0, 1);
    }
    put(0, 1); // end of block: every AC coefficient is zero
  }
  while (bits.length % 8 !== 0) bits.push(1);
  const scan: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    const byte = bits.slice(i, i + 8).reduce((acc, bit) => (acc << 1) | bit, 0);
    scan.push(byte);
    if (byte === 0xff) scan.push(0x00);
  }
  const dcCounts = [1, 1, ...Array<number>(14).fill(0)];
  const acCounts = [1, ...Array<number>(15).fill(0)];
  return Buffer.from([
    0xff, 0xd8,
    ...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    ...segment(0xdb, [0x00, ...Array<number>(64).fill(1)]),
    ...segment(0xc0, [8, size >> 8, size & 0xff, size >> 8, size & 0xff, 1, 1, 0x11, 0]),
    ...segment(0xc4, [0x00, ...dcCounts, 0, category]),
    ...segment(0xc4, [0x10, ...acCounts, 0x00]),
    ...segment(0xda, [1, 1, 0x00, 0, 63, 0]),
    ...scan,
    0xff, 0xd9,
  ]);
}

export const PROFILE_PHOTO = flatGreyJpeg(PHOTO_SIZE, 0x78);
