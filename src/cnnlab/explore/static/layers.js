// The "Every layer" panel: every module's output for the current input, maps as pictures, vectors as strips.
// A click on a Conv2d map's pixel opens that unit in the kernel-math panel.
import { api } from "./api.js";
import { $, el, fmt, openTab, showError } from "./dom.js";
import { cellAt, decode, hoverValues, mapPx, paint } from "./paint.js";
import { on, refresh, state } from "./store.js";

const matchesFilter = (layer, text) =>
  !text || layer.name.includes(text) || layer.kind.toLowerCase().includes(text.toLowerCase());

// the layers of forward answer `r` as rows into `into`; opts (for Compare) override the panel's own controls
export function showLayers(r, into = $("layers"), opts = {}) {
  const showBlocks = opts.blocks ?? $("show-blocks").checked, scale = opts.scale ?? $("scale").value;
  const cmap = opts.cmap ?? $("cmap").value, clickable = opts.clickable ?? true;
  const keep = opts.filter ?? ((layer) => matchesFilter(layer, $("layer-filter").value));
  into.replaceChildren(el("div", { class: "layer" }, el("div", { class: "layer-head" },
    el("span", { class: "name", text: "input" }), el("span", { class: "shape", text: JSON.stringify(r.input.shape) }))));
  for (const layer of r.layers) {
    if ((layer.leaf || showBlocks) && keep(layer)) into.append(layerRow(layer, scale, cmap, clickable, opts.side));
  }
}

function layerRow(layer, scale, cmap, clickable, side = 96) {
  const row = el("div", { class: "layer" + (layer.leaf ? "" : " block"), "data-layer": layer.name });
  row.style.paddingLeft = `${(layer.depth - 1) * 14}px`;
  const conv = layer.conv
    ? ` · k ${layer.conv.kernel.join("×")}, stride ${layer.conv.stride.join(",")}, padding ${layer.conv.padding}` : "";
  const what = layer.leaf ? "" : " · block output (after its residual sum, concatenation or last layer)";
  row.append(el("div", { class: "layer-head" }, el("span", { class: "name", text: layer.name }),
    el("span", { class: "kind", text: layer.kind + what }), el("span", { class: "shape", text: JSON.stringify(layer.shape) }),
    el("span", { class: "muted", text: conv })));
  const enc = layer.maps;
  if (!enc || !enc.shown) return row;
  const maps = decode(enc);
  const box = el("div", { class: "maps" });
  if (layer.shape.length === 3) mapGrid(box, row, layer, maps, { scale, cmap, clickable, side });
  else vectorStrip(box, layer, maps[0], cmap);
  row.append(box);
  return row;
}

// a (C, H, W) output: one canvas per shown channel, and a button for the rest
function mapGrid(box, row, layer, maps, { scale, cmap, clickable, side }) {
  const [c, h, w] = layer.shape, conv = layer.kind === "Conv2d" && clickable;
  const lo = Math.min(...maps.map((m) => m.lo)), hi = Math.max(...maps.map((m) => m.hi));
  maps.forEach((m, i) => {
    const [ph, pw] = mapPx(h, w, side);
    const canvas = el("canvas", { width: pw, height: ph, "data-channel": i, title: `channel ${i}: ${fmt(m.lo)} … ${fmt(m.hi)}` });
    paint(canvas, m.values, h, w, scale === "layer" ? lo : m.lo, scale === "layer" ? hi : m.hi, cmap);
    hoverValues(canvas, m.values, h, w, (y, x) => `${layer.name} [${i}, ${y}, ${x}]`);
    const item = el("div", { class: "map" + (conv ? " conv" : "") }, canvas,
      el("div", { class: "cap", text: `ch ${i} · ` + (m.lo === m.hi ? `all ${+m.lo.toFixed(2)}` : `${h}×${w}`) }));
    if (conv) {
      canvas.addEventListener("click", (e) => {
        const [y, x] = cellAt(canvas, e, h, w);
        state.unit = { layer: layer.name, channel: i, y, x };
        openTab("panel", "kernel");
      });
    }
    box.append(item);
  });
  if (maps.length < c && clickable) {
    const more = el("button", { text: `show all ${c} channels` });
    more.onclick = async () => {
      try {
        const full = await api("/api/forward", { source: state.source, input: state.input, only: layer.name });
        const fresh = full.layers.find((l) => l.name === layer.name);
        row.replaceWith(layerRow(fresh, scale, cmap, clickable));
      } catch (e) {
        showError(e.message);
      }
    };
    box.append(more);
  }
}

// a vector (Linear, Flatten): one strip of cells, at most 512 wide; the network's output names its largest class
function vectorStrip(box, layer, m, cmap) {
  const n = m.values.length, wide = Math.min(n, 512);
  const cell = wide <= 64 ? 24 : 6; // a few logits get cells as wide as a word
  const canvas = el("canvas", { width: Math.min(900, Math.max(wide * cell, 60)), height: 18 });
  paint(canvas, m.values.subarray(0, wide), 1, wide, m.lo, m.hi, cmap);
  const classes = state.info && state.info.classes.length === n ? state.info.classes : null;
  hoverValues(canvas, m.values, 1, wide, (y, x) => `${layer.name} [${x}]` + (classes ? ` (${classes[x]})` : ""));
  const last = state.result && state.result.layers.at(-1) === layer;
  const best = last && classes ? ` · largest: ${classes[m.values.indexOf(Math.max(...m.values))]}` : "";
  box.append(el("div", { class: "vector" }, canvas,
    el("div", { class: "cap muted", text: `${n} values${n > wide ? ` (first ${wide} shown)` : ""} · ${fmt(m.lo)} … ${fmt(m.hi)}${best}` })));
}

on("result", (r) => showLayers(r));
$("layer-filter").addEventListener("input", () => {
  if (state.result) showLayers(state.result);
});
$("channels").addEventListener("change", () => refresh()); // more maps per layer: a new forward pass
["scale", "cmap", "show-blocks"].forEach((id) => $(id).addEventListener("change", () => {
  if (state.result) showLayers(state.result);
}));
