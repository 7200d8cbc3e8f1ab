// cnnlab explore: the page. Every number shown comes from the server (the real PyTorch model); this file only
// draws. Sections: helpers and colour maps, API, input, prediction, layers, kernel math, why, compare, live,
// playground, start-up.
"use strict";

// ---------------------------------------------------------------- helpers
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};
const fmt = (v, digits = 4) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) ? v.toExponential(2) : v.toFixed(digits);
const pct = (p) => (100 * p).toFixed(1) + "%";

// colour maps: control points, linearly interpolated (viridis and inferno after matplotlib's tables)
const MAPS = {
  viridis: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#fde725"],
  gray: ["#000000", "#ffffff"],
  diverging: ["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"],
  inferno: ["#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"],
};
const LUTS = {};
function lut(name) {
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
function decode(enc) {
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

// draw values (h x w) on a canvas of the given pixel size with a colour map between lo and hi
function paint(canvas, values, h, w, lo, hi, cmap = "viridis", alpha = null) {
  const small = document.createElement("canvas");
  small.width = w; small.height = h;
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

function rawPixels(b64) {
  return Float32Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// ---------------------------------------------------------------- API
function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
$("error-close").onclick = () => { $("error").hidden = true; };

async function api(path, body = null) {
  const options = body === null ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error("the explorer server does not answer (stopped?)");
  }
  const data = await response.json().catch(() => ({ error: `${path}: ${response.status} ${response.statusText}` }));
  if (!response.ok || data.error) throw new Error(data.error || response.statusText);
  return data;
}

// ---------------------------------------------------------------- state
const state = {
  source: null, info: null, input: null, result: null, panel: "layers", inFlight: false, dirty: false,
  unit: null, testIndex: 0,
};

// ---------------------------------------------------------------- tabs
function setupTabs(group, onChange) {
  const buttons = document.querySelectorAll(`nav[data-group=${group}] button`);
  buttons.forEach((b) => b.addEventListener("click", () => {
    buttons.forEach((o) => o.classList.toggle("active", o === b));
    document.querySelectorAll(`.tab-body[data-group=${group}]`).forEach((body) => { body.hidden = body.dataset.tab !== b.dataset.tab; });
    onChange(b.dataset.tab);
  }));
}
function openTab(group, tab) {
  document.querySelector(`nav[data-group=${group}] button[data-tab=${tab}]`).click();
}

// ---------------------------------------------------------------- input: drawing
const draw = $("draw-canvas"), dctx = draw.getContext("2d");
let drawing = false, last = null, inked = false;
function clearCanvas() {
  dctx.fillStyle = "#000"; dctx.fillRect(0, 0, draw.width, draw.height); inked = false;
}
function stroke(e) {
  const r = draw.getBoundingClientRect();
  const p = { x: (e.clientX - r.left) * (draw.width / r.width), y: (e.clientY - r.top) * (draw.height / r.height) };
  dctx.strokeStyle = "#fff"; dctx.lineWidth = +$("brush").value; dctx.lineCap = "round"; dctx.lineJoin = "round";
  dctx.beginPath(); dctx.moveTo((last || p).x, (last || p).y); dctx.lineTo(p.x, p.y); dctx.stroke();
  last = p; inked = true;
}
function drawingInput() {
  return { kind: "drawing", png: draw.toDataURL("image/png"), fit: $("fit").value };
}
draw.addEventListener("pointerdown", (e) => { drawing = true; last = null; draw.setPointerCapture(e.pointerId); stroke(e); setInput(drawingInput()); });
draw.addEventListener("pointermove", (e) => { if (drawing) { stroke(e); setInput(drawingInput()); } });
const stop = () => { if (drawing) { drawing = false; setInput(drawingInput()); } };
draw.addEventListener("pointerup", stop);
draw.addEventListener("pointerleave", stop);
$("clear").onclick = () => { clearCanvas(); setInput(drawingInput()); };
$("fit").onchange = () => { if (inked) setInput(drawingInput()); };

// ---------------------------------------------------------------- input: test images and upload
async function pickTest(params) {
  try {
    const image = await api(`/api/test?source=${state.source}&${params}`);
    state.testIndex = image.index;
    $("test-index").value = image.index;
    $("test-index").max = image.count - 1;
    $("test-label").textContent = `${image.dataset} test image ${image.index} of ${image.count}: true class “${image.class}”`;
    const klass = $("test-class");
    if (klass.options.length !== image.classes.length) {
      klass.innerHTML = "";
      image.classes.forEach((c, i) => klass.append(el("option", { value: i, text: `${i} · ${c}` })));
    }
    klass.value = image.label;
    setInput({ kind: "test", index: image.index });
  } catch (e) { showError(e.message); }
}
$("test-index").onchange = () => pickTest(`index=${$("test-index").value}`);
$("test-prev").onclick = () => pickTest(`index=${Math.max(0, state.testIndex - 1)}`);
$("test-next").onclick = () => pickTest(`index=${state.testIndex + 1}`);
$("test-random").onclick = () => pickTest(`index=${Math.floor(Math.random() * (+$("test-index").max || 100))}`);
let classNth = 0;
$("test-class").onchange = () => { classNth = 0; pickTest(`class=${$("test-class").value}&nth=0`); };
$("test-class-next").onclick = () => { classNth += 1; pickTest(`class=${$("test-class").value}&nth=${classNth}`); };

$("upload-file").onchange = async () => {
  const file = $("upload-file").files[0];
  if (!file) return;
  try {
    const response = await fetch(`/api/upload?name=${encodeURIComponent(file.name)}&invert=${$("invert").value}`,
      { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file });
    const data = await response.json().catch(() => ({ error: `upload failed: ${response.status}` }));
    if (!response.ok || data.error) throw new Error(data.error);
    $("error").hidden = true;
    setInput({ kind: "pixels", raw: data.raw, steps: data.steps });
  } catch (e) { showError(e.message); }
};
$("invert").onchange = () => $("upload-file").onchange();

// ---------------------------------------------------------------- refresh: one request in flight at a time
function setInput(input) {
  state.input = input;
  refresh();
}
async function refresh() {
  if (!state.input || !state.source) return;
  if (state.inFlight) { state.dirty = true; return; }
  state.inFlight = true;
  try {
    do {
      state.dirty = false;
      const input = state.input;
      const result = await api("/api/forward", { source: state.source, input, channels: +$("channels").value });
      state.result = result;
      showResult(result);
      $("error").hidden = true;
      if (!drawing) await refreshPanel();
    } while (state.dirty);
  } catch (e) {
    showError(e.message);
  } finally {
    state.inFlight = false;
  }
}
async function refreshPanel() {
  try {
    if (state.panel === "why") await showWhy();
    else if (state.panel === "compare") await showCompare();
    else if (state.panel === "kernel" && state.unit) await showUnit(state.unit);
  } catch (e) { showError(e.message); }
}

// ---------------------------------------------------------------- what the network sees, prediction
function showResult(r) {
  const px = rawPixels(r.raw);
  paint($("pixels-canvas"), px, 28, 28, 0, 255, "gray");
  const inp = decode(r.input)[0], [, h, w] = r.input.shape;
  paint($("input-canvas"), inp.values, h, w, inp.lo, inp.hi, "gray");
  $("input-caption").textContent = `model input ${JSON.stringify(r.input.shape)} · ${fmt(inp.lo, 2)} … ${fmt(inp.hi, 2)}`;
  $("input-canvas").onmousemove = (e) => {
    const rect = e.target.getBoundingClientRect();
    const x = Math.floor(((e.clientX - rect.left) / rect.width) * w), y = Math.floor(((e.clientY - rect.top) / rect.height) * h);
    if (x >= 0 && y >= 0 && x < w && y < h) $("hover-value").textContent = `input[${y}, ${x}] = ${fmt(inp.values[y * w + x], 4)}`;
  };
  $("steps").innerHTML = "";
  [...r.steps, r.transform].forEach((s) => $("steps").append(el("li", { text: s })));
  const top = [...r.top].sort((a, b) => b.p - a.p)[0];
  $("prediction-top").textContent = `${top.class} · ${pct(top.p)}`;
  $("prediction-top").dataset.index = top.index;
  const list = $("prob-list");
  list.innerHTML = "";
  for (const t of r.top) {
    const bar = el("div", { class: "bar" }, el("div"));
    bar.firstChild.style.width = pct(t.p);
    list.append(el("div", { class: "prob" + (t.index === top.index ? " top" : ""), title: `logit ${fmt(t.logit, 3)}` },
      el("span", { text: t.class }), bar, el("span", { class: "p", text: pct(t.p) })));
  }
  $("timing").textContent = `server: preprocess + forward with every activation in ${r.ms} ms`;
  showLayers(r);
}

// ---------------------------------------------------------------- every layer
// a tooltip with the value under the mouse, for any map
const tip = el("div", { id: "tip", hidden: "" });
document.body.append(tip);
function hoverValues(canvas, values, h, w, label) {
  canvas.addEventListener("mousemove", (e) => {
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - rect.left) / rect.width) * w), y = Math.floor(((e.clientY - rect.top) / rect.height) * h);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    tip.textContent = `${label(y, x)} = ${fmt(values[y * w + x], 4)}`;
    tip.style.left = `${e.pageX + 14}px`; tip.style.top = `${e.pageY + 12}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
}

// a map's size on screen: whole pixels up to 8x for small maps, shrunk to `side` for large ones (224x224)
const MAP_PX = (h, w, side = 96) => {
  const fit = side / Math.max(h, w), s = fit >= 1 ? Math.min(16, Math.max(1, Math.floor(fit))) : fit;
  return [Math.max(1, Math.round(h * s)), Math.max(1, Math.round(w * s))];
};

function showLayers(r, into = $("layers"), opts = {}) {
  const showBlocks = opts.blocks ?? $("show-blocks").checked, scale = opts.scale ?? $("scale").value;
  const cmap = opts.cmap ?? $("cmap").value, clickable = opts.clickable ?? true;
  into.innerHTML = "";
  const header = el("div", { class: "layer" }, el("div", { class: "layer-head" },
    el("span", { class: "name", text: "input" }), el("span", { class: "shape", text: JSON.stringify(r.input.shape) })));
  into.append(header);
  for (const layer of r.layers) {
    if (!layer.leaf && !showBlocks) continue;
    if (opts.filter && !opts.filter(layer)) continue;
    if (!opts.filter && $("layer-filter").value && !layer.name.includes($("layer-filter").value) &&
        !layer.kind.toLowerCase().includes($("layer-filter").value.toLowerCase())) continue;
    into.append(layerRow(layer, scale, cmap, clickable, opts.side));
  }
}

function layerRow(layer, scale, cmap, clickable, side = 96) {
  const row = el("div", { class: "layer" + (layer.leaf ? "" : " block"), "data-layer": layer.name });
  row.style.paddingLeft = `${(layer.depth - 1) * 14}px`;
  const conv = layer.conv ? ` · k ${layer.conv.kernel.join("×")}, stride ${layer.conv.stride.join(",")}, padding ${layer.conv.padding}` : "";
  const what = layer.leaf ? "" : " · block output (after its residual sum, concatenation or last layer)";
  const head = el("div", { class: "layer-head" }, el("span", { class: "name", text: layer.name }),
    el("span", { class: "kind", text: layer.kind + what }), el("span", { class: "shape", text: JSON.stringify(layer.shape) }),
    el("span", { class: "muted", text: conv }));
  row.append(head);
  const enc = layer.maps;
  if (!enc || !enc.shown) return row;
  const maps = decode(enc);
  const box = el("div", { class: "maps" });
  if (layer.shape.length === 3) {
    const [c, h, w] = layer.shape;
    const lo = Math.min(...maps.map((m) => m.lo)), hi = Math.max(...maps.map((m) => m.hi));
    maps.forEach((m, i) => {
      const [ph, pw] = MAP_PX(h, w, side);
      const canvas = el("canvas", { width: pw, height: ph, "data-channel": i, title: `channel ${i}: ${fmt(m.lo)} … ${fmt(m.hi)}` });
      paint(canvas, m.values, h, w, scale === "layer" ? lo : m.lo, scale === "layer" ? hi : m.hi, cmap);
      hoverValues(canvas, m.values, h, w, (y, x) => `${layer.name} [${i}, ${y}, ${x}]`);
      const item = el("div", { class: "map" + (layer.kind === "Conv2d" && clickable ? " conv" : "") }, canvas,
        el("div", { class: "cap", text: `ch ${i} · ` + (m.lo === m.hi ? `all ${+m.lo.toFixed(2)}` : `${h}×${w}`) }));
      if (layer.kind === "Conv2d" && clickable) {
        canvas.addEventListener("click", (e) => {
          const rect = canvas.getBoundingClientRect();
          const x = Math.floor(((e.clientX - rect.left) / rect.width) * w), y = Math.floor(((e.clientY - rect.top) / rect.height) * h);
          state.unit = { layer: layer.name, channel: i, y, x };
          openTab("panel", "kernel");
        });
      }
      box.append(item);
    });
    if (enc.shown < c && clickable) {
      const more = el("button", { text: `show all ${c} channels` });
      more.onclick = async () => {
        try {
          const full = await api("/api/forward", { source: state.source, input: state.input, only: layer.name });
          const fresh = full.layers.find((l) => l.name === layer.name);
          row.replaceWith(layerRow(fresh, scale, cmap, clickable));
        } catch (e) { showError(e.message); }
      };
      box.append(more);
    }
  } else {
    // a vector (Linear, Flatten): one strip of cells, at most 512 wide
    const m = maps[0], n = m.values.length, wide = Math.min(n, 512);
    const cell = wide <= 64 ? 24 : 6;  // a few logits get cells as wide as a word
    const canvas = el("canvas", { width: Math.min(900, Math.max(wide * cell, 60)), height: 18 });
    paint(canvas, m.values.subarray(0, wide), 1, wide, m.lo, m.hi, cmap);
    hoverValues(canvas, m.values, 1, wide, (y, x) => `${layer.name} [${x}]` +
      (state.info && state.info.classes.length === n ? ` (${state.info.classes[x]})` : ""));
    // the network's output: name the largest value's class
    const classes = state.info && state.info.classes, last = state.result && state.result.layers.at(-1) === layer;
    const best = last && classes && classes.length === n ? ` · largest: ${classes[m.values.indexOf(Math.max(...m.values))]}` : "";
    box.append(el("div", { class: "vector" }, canvas,
      el("div", { class: "cap muted", text: `${n} values${n > wide ? ` (first ${wide} shown)` : ""} · ${fmt(m.lo)} … ${fmt(m.hi)}${best}` })));
  }
  row.append(box);
  return row;
}
$("layer-filter").addEventListener("input", () => { if (state.result) showLayers(state.result); });
["channels", "scale", "cmap", "show-blocks"].forEach((id) => $(id).addEventListener("change", () => {
  if (id === "channels") refresh(); else if (state.result) showLayers(state.result);
}));

// ---------------------------------------------------------------- kernel math
function numberGrid(plane, caption, lo, hi, cmap) {
  const table = el("table", { class: "grid" }, el("caption", { text: caption }));
  const span = Math.max(Math.abs(lo), Math.abs(hi)) || 1, colours = lut(cmap);
  for (const row of plane) {
    const tr = el("tr");
    for (const v of row) {
      const k = cmap === "diverging" ? Math.round(((v / span + 1) / 2) * 255) : Math.round(((v - lo) / ((hi - lo) || 1)) * 255);
      const td = el("td", { text: fmt(v, 3) });
      const c = Math.max(0, Math.min(255, k));
      td.style.background = `rgb(${colours[c * 3]},${colours[c * 3 + 1]},${colours[c * 3 + 2]})`;
      const light = colours[c * 3] * 0.3 + colours[c * 3 + 1] * 0.59 + colours[c * 3 + 2] * 0.11 > 140;
      td.style.color = light ? "#000" : "#fff";
      tr.append(td);
    }
    table.append(tr);
  }
  return table;
}

function rect(canvas, y0, x0, kh, kw, h, w, colour = "#ff3b30") {
  const ctx = canvas.getContext("2d"), sy = canvas.height / h, sx = canvas.width / w;
  ctx.strokeStyle = colour; ctx.lineWidth = 2;
  ctx.strokeRect(x0 * sx + 1, y0 * sy + 1, kw * sx - 2, kh * sy - 2);
}

async function showUnit(unit) {
  const u = await api("/api/unit", { source: state.source, input: state.input, ...unit });
  $("unit-hint").hidden = true;
  $("unit").hidden = false;
  const [c, y, x] = u.unit;
  $("unit-title").textContent = `${u.layer}: output channel ${c}, row ${y}, column ${x} · kernel ${u.kernel_size.join("×")}, ` +
    `stride ${u.stride.join(",")}, padding ${u.padding.join(",")}, ${u.in_channels} input channel(s)`;
  // the network input with the pixels this unit depends on
  const inp = decode(state.result.input)[0], [, ih, iw] = state.result.input.shape;
  const cv = $("unit-input");
  paint(cv, inp.values, ih, iw, inp.lo, inp.hi, "gray");
  const eff = decode(u.effective.map)[0];
  paint(cv, eff.values, u.effective.size[0], u.effective.size[1], eff.lo, eff.hi, "inferno", 0.75);
  if (u.effective.box) rect(cv, ...u.effective.box, ih, iw, "#00e5ff");
  $("unit-input-caption").textContent = u.effective.box
    ? `network input: the ${u.effective.box[2]}×${u.effective.box[3]} region this unit depends on (gradient ≠ 0)`
    : "network input: no pixel reaches this unit (every path is switched off)";
  // the layer's input maps with the window
  const prev = $("unit-prev");
  prev.innerHTML = "";
  const maps = decode(u.input_maps), [, ph, pw] = u.input_shape;
  maps.slice(0, 6).forEach((m, i) => {
    const [hh, ww] = MAP_PX(ph, pw), canvas = el("canvas", { width: ww, height: hh });
    paint(canvas, m.values, ph, pw, m.lo, m.hi, $("cmap").value);
    const kh = (u.kernel_size[0] - 1) * u.dilation[0] + 1, kw = (u.kernel_size[1] - 1) * u.dilation[1] + 1;
    rect(canvas, u.window_origin[0], u.window_origin[1], kh, kw, ph, pw);
    prev.append(el("figure", { class: "map" }, canvas,
      el("figcaption", { text: `layer input ch ${u.first_channel + i} · ${ph}×${pw}` })));
  });
  if (u.in_channels > 6) prev.append(el("span", { class: "muted", text: `… ${u.in_channels - 6} more input channels` }));
  // the arithmetic, channel by channel
  const box = $("unit-channels");
  box.innerHTML = "";
  u.window.forEach((win, i) => {
    const flat = (p) => p.flat();
    const all = [...flat(win)], kern = [...flat(u.kernel[i])], prod = [...flat(u.products[i])];
    box.append(el("div", { class: "channel-math" },
      el("b", { text: `input ch ${u.first_channel + i}` }),
      numberGrid(win, "window of the (padded) input", Math.min(...all), Math.max(...all), "viridis"),
      el("span", { class: "op", text: "⊙" }),
      numberGrid(u.kernel[i], "kernel weights", -Math.max(...kern.map(Math.abs)), Math.max(...kern.map(Math.abs)), "diverging"),
      el("span", { class: "op", text: "=" }),
      numberGrid(u.products[i], "products", -Math.max(...prod.map(Math.abs)), Math.max(...prod.map(Math.abs)), "diverging"),
      el("span", { class: "op", text: "Σ" }),
      el("b", { class: "mono", text: fmt(u.partial[i], 5) })));
  });
  if (u.in_channels > u.shown) box.append(el("p", { class: "muted", text: `${u.in_channels - u.shown} more input channels are in the sum below` }));
  const terms = u.partial.length <= 8 ? u.partial.map((p) => fmt(p, 4)).join(" + ") : `${u.partial.length} channel sums`;
  const ok = u.difference <= 1e-4 * Math.max(1, Math.abs(u.module_value));
  const eq = $("unit-equation");
  eq.innerHTML = "";
  eq.append(`Σ over ${u.in_channels} input channel(s) (${terms}) + bias ${fmt(u.bias, 4)}\n= `,
    el("b", { id: "unit-sum", "data-value": u.sum, text: fmt(u.sum, 6) }),
    `\nthe module's output at [${c}, ${y}, ${x}]: `, el("b", { id: "unit-module", "data-value": u.module_value, text: fmt(u.module_value, 6) }),
    "  ", el("span", { class: ok ? "ok" : "bad", text: ok ? `✓ equal (difference ${u.difference.toExponential(1)}: float32 rounding)` : `✗ differs by ${u.difference}` }),
    u.ops_value === null ? "" : `\ncnnlab.ops.conv2d over the whole layer gives ${fmt(u.ops_value, 6)} there`);
}

// ---------------------------------------------------------------- why this class
function overlayCanvas(canvas, input, heat, cmap) {
  const inp = decode(input)[0], [, h, w] = input.shape;
  paint(canvas, inp.values, h, w, inp.lo, inp.hi, "gray");
  const m = decode(heat)[0], [hh, hw] = heat.shape;
  paint(canvas, m.values, hh, hw, 0, 1, cmap, 0.8);
}
async function showWhy() {
  const r = await api("/api/explain", { source: state.source, input: state.input, target: $("why-class").value, layer: $("why-layer").value });
  const classSel = $("why-class");
  if (classSel.options.length !== r.classes.length + 1) {
    classSel.innerHTML = "";
    classSel.append(el("option", { value: "", text: "the predicted class" }));
    r.classes.forEach((c, i) => classSel.append(el("option", { value: i, text: `${i} · ${c}` })));
  }
  const layerSel = $("why-layer");
  if (layerSel.options.length !== r.layers.length) {
    layerSel.innerHTML = "";
    r.layers.forEach((l) => layerSel.append(el("option", { value: l, text: l })));
  }
  layerSel.value = r.layer;
  const inp = decode(r.input)[0], [, h, w] = r.input.shape;
  paint($("why-input"), inp.values, h, w, inp.lo, inp.hi, "gray");
  overlayCanvas($("why-cam"), r.input, r.cam, "inferno");
  overlayCanvas($("why-saliency"), r.input, r.saliency, "inferno");
  $("why-cam-caption").textContent = `Grad-CAM at ${r.layer} for “${r.classes[r.target]}” (${pct(r.p)})` +
    (r.cam_empty ? ": zero everywhere, no positive evidence at this layer (try another layer)" : "");
  $("why-cam").dataset.target = r.target;
}
$("why-class").onchange = () => refreshPanel();
$("why-layer").onchange = () => refreshPanel();

// ---------------------------------------------------------------- compare
async function compareSide(sid, into) {
  const r = await api("/api/forward", { source: sid, input: state.input, channels: 6 });
  const ex = await api("/api/explain", { source: sid, input: state.input }).catch(() => null);
  const info = await api(`/api/info?source=${sid}`);
  into.innerHTML = "";
  const top = [...r.top].sort((a, b) => b.p - a.p);
  into.append(el("h3", { text: `${info.source.label} · ${info.model}${info.epoch ? ` · epoch ${info.epoch}` : ""}` }),
    el("div", { class: "big compare-top", text: `${top[0].class} · ${pct(top[0].p)}` }));
  top.slice(0, 3).forEach((t) => {
    const bar = el("div", { class: "bar" }, el("div"));
    bar.firstChild.style.width = pct(t.p);
    into.append(el("div", { class: "prob" }, el("span", { text: t.class }), bar, el("span", { class: "p", text: pct(t.p) })));
  });
  if (ex) {
    const cv = el("canvas", { width: 140, height: 140 });
    overlayCanvas(cv, ex.input, ex.cam, "inferno");
    into.append(el("figure", {}, cv, el("figcaption", { text: `Grad-CAM at ${ex.layer}${ex.cam_empty ? " (zero everywhere)" : ""}` })));
  }
  const layers = el("div");
  let convs = 0;
  showLayers(r, layers, { blocks: false, clickable: false, scale: "map", side: 60, filter: (l) => l.kind === "Conv2d" && ++convs <= 4 });
  into.append(layers);
}
async function showCompare() {
  await Promise.all([compareSide($("compare-a").value, $("compare-left")), compareSide($("compare-b").value, $("compare-right"))]);
}
$("compare-a").onchange = () => refreshPanel();
$("compare-b").onchange = () => refreshPanel();

// ---------------------------------------------------------------- live training
let live = null, liveRows = [];
function drawCurves(history, planned) {
  const cv = $("live-curves"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height;
  ctx.clearRect(0, 0, W, H);
  const n = Math.max(planned || 0, history.length, 2);
  const panels = [["loss", ["train_loss", "test_loss"]], ["accuracy", ["train_acc", "test_acc"]]];
  panels.forEach(([title, keys], p) => {
    const x0 = 50 + p * (W / 2), w = W / 2 - 80, y0 = 20, h = H - 50;
    const values = history.flatMap((r) => keys.map((k) => r[k]));
    const hi = title === "accuracy" ? 1 : Math.max(...values, 0.1), lo = title === "accuracy" ? Math.min(...values, 0.5) * 0.95 : 0;
    ctx.strokeStyle = "#ccd"; ctx.strokeRect(x0, y0, w, h);
    ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
    ctx.fillText(title, x0 + 4, y0 - 6);
    ctx.fillText(fmt(hi, 2), x0 - 40, y0 + 10); ctx.fillText(fmt(lo, 2), x0 - 40, y0 + h);
    for (let e = 1; e <= n; e++) ctx.fillText(String(e), x0 + ((e - 1) / (n - 1)) * w - 3, y0 + h + 14);
    keys.forEach((k, i) => {
      ctx.strokeStyle = i === 0 ? "#2f6fde" : "#e0662f"; ctx.lineWidth = 2; ctx.setLineDash(i === 0 ? [] : [6, 4]);
      ctx.beginPath();
      history.forEach((r, j) => {
        const px = x0 + (j / (n - 1)) * w, py = y0 + h - ((r[k] - lo) / ((hi - lo) || 1)) * h;
        if (j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        ctx.fillStyle = ctx.strokeStyle; ctx.fillRect(px - 2, py - 2, 4, 4);
      });
      ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = ctx.strokeStyle; ctx.fillText((i === 0 ? "— " : "- - ") + k.replace("_", " "), x0 + 90 + 110 * i, y0 - 6);
    });
  });
}
function liveEpoch(d) {
  $("live-status").textContent = `${d.run}: epoch ${d.epoch}${d.epochs ? ` of ${d.epochs}` : ""} · test accuracy ${pct(d.history[d.history.length - 1].test_acc)}`;
  $("live-status").dataset.epoch = d.epoch;
  drawCurves(d.history, d.epochs);
  if (liveRows.includes(d.epoch)) return;
  liveRows.push(d.epoch);
  const top = d.top ? [...d.top].sort((a, b) => b.p - a.p)[0] : null;
  const row = el("div", { class: "epoch-row", "data-epoch": d.epoch });
  const img = el("canvas", { width: 56, height: 56 });
  paint(img, rawPixels(d.raw), 28, 28, 0, 255, "gray");
  const acc = d.history[d.history.length - 1].test_acc;
  row.append(el("div", { class: "label" }, el("b", { text: `epoch ${d.epoch}` }), ` · test acc ${pct(acc)}`, el("br"),
    `test image ${d.image} (${d.class})`, el("br"),
    top ? `predicted ${top.class} ${pct(top.p)}` : "(its weights were replaced before they were seen)"), img);
  for (const layer of d.maps.slice(0, 2)) {
    const [, h, w] = layer.shape;
    decode(layer.maps).forEach((m, i) => {
      const [ph, pw] = MAP_PX(h, w), cv = el("canvas", { width: Math.min(pw, 64), height: Math.min(ph, 64), title: `${layer.name} ch ${i}` });
      paint(cv, m.values, h, w, m.lo, m.hi, "viridis");
      row.append(el("div", { class: "map" }, cv, el("div", { class: "cap", text: `${layer.name}:${i}` })));
    });
  }
  $("live-epochs").prepend(row);
}
$("live-start").onclick = () => {
  if (live) live.close();
  liveRows = [];
  $("live-epochs").innerHTML = "";
  const url = `/api/live?source=${$("live-source").value}&index=${$("live-index").value}`;
  live = new EventSource(url);
  $("live-status").textContent = "connecting…";
  $("live-start").disabled = true; $("live-stop").disabled = false;
  live.addEventListener("waiting", (e) => { const d = JSON.parse(e.data); $("live-status").textContent = `${d.run}: waiting for the first finished epoch…`; });
  live.addEventListener("epoch", (e) => liveEpoch(JSON.parse(e.data)));
  live.addEventListener("problem", (e) => showError(JSON.parse(e.data).error));
  live.onerror = () => {
    if (live && live.readyState === EventSource.CLOSED) {
      showError("live: the server refused or ended the stream (is it a run directory?)");
      $("live-stop").click();
    }
  };
};
$("live-stop").onclick = () => {
  if (live) live.close();
  live = null;
  $("live-start").disabled = false; $("live-stop").disabled = true;
};

// ---------------------------------------------------------------- playground
const pg = { t: 0, playing: true };
function pgValues() { return ["n", "k", "p", "s"].map((k) => +$(`pg-${k}`).value); }
async function pgUpdate() {
  const [n, k, p, s] = pgValues();
  const out = Math.floor((n - k + 2 * p) / s) + 1;
  const f = $("pg-formula");
  if (n + 2 * p < k || k < 1 || s < 1 || n < 1 || p < 0) {
    const r = await api(`/api/outsize?n=${n}&k=${k}&p=${p}&s=${s}`).catch((e) => ({ error: e.message }));
    f.innerHTML = "";
    f.append(el("span", { class: "bad", text: r.error || "invalid" }));
    f.dataset.size = "";
    return;
  }
  f.textContent = `output = ⌊(n − k + 2p) / s⌋ + 1 = ⌊(${n} − ${k} + 2·${p}) / ${s}⌋ + 1 = ${out}` +
    `   (input ${n}×${n} → output ${out}×${out}; rows and columns below 0 or from ${n} on are padding)`;
  f.dataset.size = out;
  pg.t = 0;
}
function pgFrame() {
  const [n, k, p, s] = pgValues(), out = Math.floor((n - k + 2 * p) / s) + 1;
  const cv = $("pg-canvas"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  if (!(out >= 1 && n + 2 * p >= k)) return;
  const full = n + 2 * p, cell = Math.min(32, Math.floor(320 / full)), ocell = Math.min(32, Math.floor(300 / out));
  const step = Math.floor(pg.t / 30) % (out * out), oy = Math.floor(step / out), ox = step % out;
  const X0 = 20, Y0 = 20;
  for (let i = 0; i < full; i++) for (let j = 0; j < full; j++) {
    const pad = i < p || j < p || i >= p + n || j >= p + n;
    ctx.fillStyle = pad ? "#eceff3" : "#9bb6e8";
    ctx.fillRect(X0 + j * cell, Y0 + i * cell, cell - 2, cell - 2);
    if (pad) { ctx.fillStyle = "#99a"; ctx.font = `${Math.max(8, cell / 2.5)}px sans-serif`; ctx.fillText("0", X0 + j * cell + cell / 3, Y0 + i * cell + cell / 1.6); }
  }
  ctx.strokeStyle = "#ff3b30"; ctx.lineWidth = 3;
  ctx.strokeRect(X0 + ox * s * cell - 1, Y0 + oy * s * cell - 1, k * cell, k * cell);
  ctx.fillStyle = "#333"; ctx.font = "13px sans-serif";
  ctx.fillText(`padded input ${full}×${full} (grey: padding)`, X0, Y0 + full * cell + 16);
  const X1 = X0 + full * cell + 80;
  for (let i = 0; i < out; i++) for (let j = 0; j < out; j++) {
    const done = i * out + j <= step;
    ctx.fillStyle = i === oy && j === ox ? "#ff3b30" : done ? "#2f6fde" : "#eceff3";
    ctx.fillRect(X1 + j * ocell, Y0 + i * ocell, ocell - 2, ocell - 2);
  }
  ctx.fillStyle = "#333";
  ctx.fillText(`output ${out}×${out}: unit [${oy}, ${ox}] sees input rows ${oy * s - p}…${oy * s - p + k - 1}, columns ${ox * s - p}…${ox * s - p + k - 1}`, X1, Y0 + out * ocell + 16);
}
function pgLoop() { if (pg.playing) { pg.t += 1; pgFrame(); } requestAnimationFrame(pgLoop); }
["n", "k", "p", "s"].forEach((k) => $(`pg-${k}`).addEventListener("input", () => { pgUpdate(); pgFrame(); }));
$("pg-play").onclick = () => { pg.playing = !pg.playing; $("pg-play").textContent = pg.playing ? "Pause" : "Play"; };

// ---------------------------------------------------------------- start-up
async function chooseSource(sid) {
  state.source = sid;
  state.unit = null;
  $("unit").hidden = true; $("unit-hint").hidden = false;
  try {
    const info = await api(`/api/info?source=${sid}`);
    state.info = info;
    $("model-info").textContent = `${info.model} · ${info.parameters.toLocaleString()} parameters · input ${info.input_size}×${info.input_size}` +
      (info.trained ? ` · trained on ${info.dataset}${info.epoch ? `, ${info.epoch} epoch(s)` : ""}` : " · untrained (random weights)");
    $("fit").value = info.fit;
    $("why-class").innerHTML = "<option value=''>the predicted class</option>";
    $("why-layer").innerHTML = "";
    $("compare-a").value = sid;
    if (!state.input) openTab("input", "test"); else refresh();
  } catch (e) { showError(e.message); }
}

async function start() {
  clearCanvas();
  setupTabs("input", (tab) => { if (tab === "draw" && inked) setInput(drawingInput()); if (tab === "test") pickTest(`index=${state.testIndex}`); });
  setupTabs("panel", (tab) => { state.panel = tab; if (tab === "playground") { pgUpdate(); } refreshPanel(); });
  try {
    const { sources } = await api("/api/sources");
    for (const id of ["source", "compare-a", "compare-b"]) {
      sources.forEach((s) => $(id).append(el("option", { value: s.id, text: s.label })));
    }
    sources.filter((s) => s.live).forEach((s) => $("live-source").append(el("option", { value: s.id, text: s.label })));
    // compare against another run when there is one, else the run's other checkpoint
    const other = sources.find((s) => s.run !== sources[0].run) || sources[1];
    if (other) $("compare-b").value = other.id;
    $("source").onchange = () => chooseSource($("source").value);
    await chooseSource(sources[0].id);
  } catch (e) { showError(e.message); }
  pgUpdate();
  pgLoop();
}
start();
