#!/usr/bin/env node
/**
 * Generates assets/icon.png — the connector icon.
 *
 * Design: a small "graph" of connected nodes (white circles joined by soft
 * white edges) on a rounded-square tile with a blue → teal diagonal gradient.
 * Everything outside the rounded square is transparent.
 *
 * Pure Node.js: shapes are evaluated analytically and anti-aliased by
 * supersampling (SS×SS samples per pixel); the PNG is encoded with zlib.
 *
 * Usage: node src/tools/makeIcon.js [outputPath]
 */
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const SIZE = 500; // output is SIZE × SIZE
const SS = 4; // supersampling factor per axis (16 samples / pixel)

// ---------------------------------------------------------------------------
// Design parameters (all in output-pixel coordinates)
// ---------------------------------------------------------------------------
const TILE = { x: 0, y: 0, w: SIZE, h: SIZE, r: 112 };
const GRADIENT = {
  from: { x: 0, y: 0, color: hex("#2F6FE4") }, // blue (top-left)
  to: { x: SIZE, y: SIZE, color: hex("#0FA39A") }, // teal (bottom-right)
};

const NODES = {
  hub: { x: 250, y: 256, r: 50 },
  nw: { x: 130, y: 158, r: 34 },
  ne: { x: 362, y: 120, r: 38 },
  e: { x: 390, y: 322, r: 32 },
  s: { x: 276, y: 404, r: 28 },
  sw: { x: 126, y: 358, r: 38 },
};
const EDGES = [
  // spokes from the hub
  ["hub", "nw"],
  ["hub", "ne"],
  ["hub", "e"],
  ["hub", "sw"],
  ["hub", "s"],
  // outer ring
  ["nw", "ne"],
  ["ne", "e"],
  ["e", "s"],
  ["s", "sw"],
  ["sw", "nw"],
];
const EDGE_WIDTH = 16;
const EDGE_COLOR = [255, 255, 255, 0.62];
const NODE_COLOR = [255, 255, 255, 1];
const HUB_CORE = { r: 20, color: [31, 111, 196, 1] }; // accent dot in the hub
const SHADOW = { dx: 0, dy: 6, spread: 12, alpha: 0.22 }; // soft node shadow

// ---------------------------------------------------------------------------
// Geometry helpers
// ---------------------------------------------------------------------------
function hex(s) {
  const n = parseInt(s.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255, 1];
}

function insideRoundRect(px, py, { x, y, w, h, r }) {
  const cx = Math.min(Math.max(px, x + r), x + w - r);
  const cy = Math.min(Math.max(py, y + r), y + h - r);
  if (px < x || px > x + w || py < y || py > y + h) return false;
  const dx = px - cx;
  const dy = py - cy;
  return dx * dx + dy * dy <= r * r;
}

function distToSegment(px, py, ax, ay, bx, by) {
  const vx = bx - ax;
  const vy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy)));
  const dx = px - (ax + t * vx);
  const dy = py - (ay + t * vy);
  return Math.sqrt(dx * dx + dy * dy);
}

function lerp(a, b, t) {
  return a + (b - a) * t;
}

function smoothstep(e0, e1, x) {
  const t = Math.max(0, Math.min(1, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

// "over" compositing onto a premultiplied accumulator [r, g, b, a] (0..1)
function over(dst, rgb, a) {
  const k = 1 - a;
  dst[0] = (rgb[0] / 255) * a + dst[0] * k;
  dst[1] = (rgb[1] / 255) * a + dst[1] * k;
  dst[2] = (rgb[2] / 255) * a + dst[2] * k;
  dst[3] = a + dst[3] * k;
}

// ---------------------------------------------------------------------------
// Scene: colour of a single sample point (premultiplied RGBA, 0..1)
// ---------------------------------------------------------------------------
const nodeList = Object.values(NODES);
const edgeList = EDGES.map(([a, b]) => [NODES[a], NODES[b]]);
const gdx = GRADIENT.to.x - GRADIENT.from.x;
const gdy = GRADIENT.to.y - GRADIENT.from.y;
const glen2 = gdx * gdx + gdy * gdy;

function sample(px, py, out) {
  out[0] = out[1] = out[2] = out[3] = 0;
  if (!insideRoundRect(px, py, TILE)) return out;

  // Background: diagonal gradient
  const t = Math.max(0, Math.min(1, ((px - GRADIENT.from.x) * gdx + (py - GRADIENT.from.y) * gdy) / glen2));
  const c0 = GRADIENT.from.color;
  const c1 = GRADIENT.to.color;
  over(out, [lerp(c0[0], c1[0], t), lerp(c0[1], c1[1], t), lerp(c0[2], c1[2], t)], 1);

  // Subtle top highlight (soft radial glow toward the upper-left)
  const hx = px - SIZE * 0.3;
  const hy = py - SIZE * 0.15;
  const glow = 1 - smoothstep(0, SIZE * 0.75, Math.sqrt(hx * hx + hy * hy));
  if (glow > 0) over(out, [255, 255, 255], 0.1 * glow);

  // Soft shadows beneath nodes (analytic falloff, no blur pass needed)
  let shadow = 0;
  for (const n of nodeList) {
    const d = Math.hypot(px - n.x - SHADOW.dx, py - n.y - SHADOW.dy) - n.r;
    const s = 1 - smoothstep(-SHADOW.spread * 0.5, SHADOW.spread, d);
    if (s > shadow) shadow = s;
  }
  if (shadow > 0) over(out, [10, 40, 70], SHADOW.alpha * shadow);

  // Edges (union, so overlapping translucent edges don't double up)
  for (const [a, b] of edgeList) {
    if (distToSegment(px, py, a.x, a.y, b.x, b.y) <= EDGE_WIDTH / 2) {
      over(out, EDGE_COLOR, EDGE_COLOR[3]);
      break;
    }
  }

  // Nodes
  for (const n of nodeList) {
    const dx = px - n.x;
    const dy = py - n.y;
    if (dx * dx + dy * dy <= n.r * n.r) {
      over(out, NODE_COLOR, NODE_COLOR[3]);
      if (n === NODES.hub && dx * dx + dy * dy <= HUB_CORE.r * HUB_CORE.r) {
        over(out, HUB_CORE.color, HUB_CORE.color[3]);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Rasterise with supersampling → straight-alpha RGBA8 buffer
// ---------------------------------------------------------------------------
function render(size) {
  const scale = SIZE / size;
  const rgba = Buffer.alloc(size * size * 4);
  const s = [0, 0, 0, 0];
  const n = SS * SS;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          sample((x + (sx + 0.5) / SS) * scale, (y + (sy + 0.5) / SS) * scale, s);
          r += s[0]; g += s[1]; b += s[2]; a += s[3];
        }
      }
      const i = (y * size + x) * 4;
      a /= n;
      if (a > 0) {
        // un-premultiply
        rgba[i] = Math.round(((r / n) / a) * 255);
        rgba[i + 1] = Math.round(((g / n) / a) * 255);
        rgba[i + 2] = Math.round(((b / n) / a) * 255);
        rgba[i + 3] = Math.round(a * 255);
      }
    }
  }
  return rgba;
}

// ---------------------------------------------------------------------------
// Minimal PNG encoder (RGBA8, non-interlaced)
// ---------------------------------------------------------------------------
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

function encodePNG(rgba, width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // interlace
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    raw[o] = 1; // filter type: Sub
    for (let x = 0; x < stride; x++) {
      const cur = rgba[y * stride + x];
      const left = x >= 4 ? rgba[y * stride + x - 4] : 0;
      raw[o + 1 + x] = (cur - left) & 0xff;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------
if (require.main === module) {
  const out = path.resolve(process.argv[2] || path.join(__dirname, "..", "..", "assets", "icon.png"));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, encodePNG(render(SIZE), SIZE, SIZE));
  console.log(`Wrote ${path.relative(process.cwd(), out) || out} (${SIZE}x${SIZE})`);
}

module.exports = { render, encodePNG };
