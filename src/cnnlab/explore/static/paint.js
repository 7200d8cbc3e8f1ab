// Drawing numbers as pictures: colour maps, the server's encoded tensors, maps on canvases, a value tooltip.
import { el, fmt } from "./dom.js";

// colour maps: control points, linearly interpolated (viridis and inferno after matplotlib's tables)
const MAPS = {
  viridis: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#fde725"],
  gray: ["#000000", "#ffffff"],
  diverging: ["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"],
  inferno: ["#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"],
};
const LUTS = {};

// 256 RGB triples of colour map `name`, built once
export function lut(name) {
  if (LUTS[name]) return LUTS[name];
  const stops = MAPS[name].map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1), j = Math.min(Math.floor(t), stops.length - 2), f = t - j;
    for (let c = 0; c < 3; c++) table[i * 3 + c] = stops[j][c] + f * (stops[j + 1][c] - stops[j][c]);
  }
  return (LUTS[name] = table);
}

// an encoded tensor from the server: uint8 per map between lo and hi
export function decode(enc) {
  const bytes = Uint8Array.from(atob(enc.data || ""), (c) => c.charCodeAt(0));
  const per = enc.shown ? bytes.length / enc.shown : 0;
  const maps = [];
  for (let i = 0; i < enc.shown; i++) {
    const q = bytes.subarray(i * per, (i + 1) * per), lo = enc.lo[i], hi = enc.hi[i];
    const values = new Float32Array(per);
    for (let j = 0; j < per; j++) values[j] = lo + (q[j] / 255) * (hi - lo);
    maps.push({ values, lo, hi });
  }
  return maps;
}

// uint8 pixels sent as base64, as the training images are stored: (H, W) grey or (C, H, W) colour planes. Without
// their shape they are square: n bytes are sqrt(n) x sqrt(n) grey, else 3 planes of sqrt(n / 3) x sqrt(n / 3).
export function pixelsOf(b64, shape = null) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  if (shape) return { bytes, shape: shape.length === 2 ? [1, ...shape] : shape };
  const side = Math.round(Math.sqrt(bytes.length)), rgb = Math.round(Math.sqrt(bytes.length / 3));
  return { bytes, shape: side * side === bytes.length ? [1, side, side] : [3, rgb, rgb] };
}

// draw pixelsOf's picture on a canvas, grey or in colour, filling it
export function paintPixels(canvas, { bytes, shape }) {
  const [c, h, w] = shape;
  if (c === 1) return paint(canvas, Float32Array.from(bytes), h, w, 0, 255, "gray");
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  const ctx = small.getContext("2d"), img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    img.data.set([bytes[i], bytes[h * w + i], bytes[2 * h * w + i], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = false;
  out.clearRect(0, 0, canvas.width, canvas.height);
  out.drawImage(small, 0, 0, canvas.width, canvas.height);
}

// draw values (h x w) on a canvas of the given pixel size with a colour map between lo and hi; with `alpha`,
// over what the canvas holds, each value as opaque as it is high
export function paint(canvas, values, h, w, lo, hi, cmap = "viridis", alpha = null) {
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  const ctx = small.getContext("2d"), img = ctx.createImageData(w, h), table = lut(cmap);
  const span = hi - lo || 1;
  for (let i = 0; i < h * w; i++) {
    const k = Math.max(0, Math.min(255, Math.round(((values[i] - lo) / span) * 255)));
    img.data.set([table[k * 3], table[k * 3 + 1], table[k * 3 + 2], alpha === null ? 255 : Math.round(alpha * k)], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = false;
  if (alpha === null) out.clearRect(0, 0, canvas.width, canvas.height);
  out.drawImage(small, 0, 0, canvas.width, canvas.height);
}

// a map's size on screen: whole pixels up to 16x for small maps, shrunk to `side` for large ones (224x224)
export function mapPx(h, w, side = 96) {
  const fit = side / Math.max(h, w), s = fit >= 1 ? Math.min(16, Math.max(1, Math.floor(fit))) : fit;
  return [Math.max(1, Math.round(h * s)), Math.max(1, Math.round(w * s))];
}

// the map cell (row, column) under a mouse event on a canvas showing an h x w map
export function cellAt(canvas, e, h, w) {
  const rect = canvas.getBoundingClientRect();
  return [Math.floor(((e.clientY - rect.top) / rect.height) * h), Math.floor(((e.clientX - rect.left) / rect.width) * w)];
}

// a tooltip with the value under the mouse, for any map
const tip = el("div", { id: "tip", hidden: "" });
document.body.append(tip);

export function hoverValues(canvas, values, h, w, label) {
  canvas.addEventListener("mousemove", (e) => {
    const [y, x] = cellAt(canvas, e, h, w);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    tip.textContent = `${label(y, x)} = ${fmt(values[y * w + x], 4)}`;
    tip.style.left = `${e.pageX + 14}px`;
    tip.style.top = `${e.pageY + 12}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => {
    tip.hidden = true;
  });
}

// an encoded model input (C, H, W) on one scale: grey, or its three normalised channels as colour
export function paintInput(canvas, input) {
  const planes = decode(input), [, h, w] = input.shape;
  const lo = Math.min(...planes.map((p) => p.lo)), hi = Math.max(...planes.map((p) => p.hi));
  if (planes.length !== 3) {
    paint(canvas, planes[0].values, h, w, lo, hi, "gray");
  } else {
    const bytes = new Uint8Array(3 * h * w);
    planes.forEach((p, k) => p.values.forEach((v, i) => {
      bytes[k * h * w + i] = Math.round(((v - lo) / (hi - lo || 1)) * 255);
    }));
    paintPixels(canvas, { bytes, shape: [3, h, w] });
  }
  return { planes, lo, hi };
}

// the model input with a heat map (values 0-1) over it
export function overlay(canvas, input, heat, cmap = "inferno") {
  paintInput(canvas, input);
  const m = decode(heat)[0], [hh, hw] = heat.shape;
  paint(canvas, m.values, hh, hw, 0, 1, cmap, 0.8);
}
