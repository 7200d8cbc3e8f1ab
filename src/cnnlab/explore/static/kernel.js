// The "Kernel math" panel: one conv unit's multiply-add, input channel by input channel, and the check that
// its sum is the module's own output there.
import { api } from "./api.js";
import { $, el, fmt } from "./dom.js";
import { decode, lut, mapPx, paint, paintInput } from "./paint.js";
import { panels, state } from "./store.js";

// a 2-D array of numbers as a table, each cell coloured by its value
function numberGrid(plane, caption, lo, hi, cmap) {
  const table = el("table", { class: "grid" }, el("caption", { text: caption }));
  const span = Math.max(Math.abs(lo), Math.abs(hi)) || 1, colours = lut(cmap);
  for (const row of plane) {
    const tr = el("tr");
    for (const v of row) {
      const k = cmap === "diverging" ? Math.round(((v / span + 1) / 2) * 255) : Math.round(((v - lo) / (hi - lo || 1)) * 255);
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

// outline rows y0..y0+kh and columns x0..x0+kw of an h x w map drawn on `canvas`
function outline(canvas, y0, x0, kh, kw, h, w, colour = "#ff3b30") {
  const ctx = canvas.getContext("2d"), sy = canvas.height / h, sx = canvas.width / w;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.strokeRect(x0 * sx + 1, y0 * sy + 1, kw * sx - 2, kh * sy - 2);
}

// the network input with the pixels this unit depends on
function showField(u) {
  const [, ih, iw] = state.result.input.shape, cv = $("unit-input");
  paintInput(cv, state.result.input);
  const eff = decode(u.effective.map)[0];
  paint(cv, eff.values, u.effective.size[0], u.effective.size[1], eff.lo, eff.hi, "inferno", 0.75);
  if (u.effective.box) outline(cv, ...u.effective.box, ih, iw, "#00e5ff");
  $("unit-input-caption").textContent = u.effective.box
    ? `network input: the ${u.effective.box[2]}×${u.effective.box[3]} region this unit depends on (gradient ≠ 0)`
    : "network input: no pixel reaches this unit (every path is switched off)";
}

// the layer's input maps with the kernel's window on each
function showWindows(u) {
  const prev = $("unit-prev");
  prev.innerHTML = "";
  const maps = decode(u.input_maps), [, ph, pw] = u.input_shape;
  const kh = (u.kernel_size[0] - 1) * u.dilation[0] + 1, kw = (u.kernel_size[1] - 1) * u.dilation[1] + 1;
  maps.slice(0, 6).forEach((m, i) => {
    const [hh, ww] = mapPx(ph, pw), canvas = el("canvas", { width: ww, height: hh });
    paint(canvas, m.values, ph, pw, m.lo, m.hi, $("cmap").value);
    outline(canvas, u.window_origin[0], u.window_origin[1], kh, kw, ph, pw);
    prev.append(el("figure", { class: "map" }, canvas,
      el("figcaption", { text: `layer input ch ${u.first_channel + i} · ${ph}×${pw}` })));
  });
  if (u.in_channels > 6) prev.append(el("span", { class: "muted", text: `… ${u.in_channels - 6} more input channels` }));
}

// window ⊙ kernel = products, Σ, for each shown input channel
function showChannels(u) {
  const box = $("unit-channels");
  box.innerHTML = "";
  const absMax = (plane) => Math.max(...plane.flat().map(Math.abs));
  u.window.forEach((win, i) => {
    const all = win.flat(), kern = absMax(u.kernel[i]), prod = absMax(u.products[i]);
    box.append(el("div", { class: "channel-math" },
      el("b", { text: `input ch ${u.first_channel + i}` }),
      numberGrid(win, "window of the (padded) input", Math.min(...all), Math.max(...all), "viridis"),
      el("span", { class: "op", text: "⊙" }),
      numberGrid(u.kernel[i], "kernel weights", -kern, kern, "diverging"),
      el("span", { class: "op", text: "=" }),
      numberGrid(u.products[i], "products", -prod, prod, "diverging"),
      el("span", { class: "op", text: "Σ" }),
      el("b", { class: "mono", text: fmt(u.partial[i], 5) })));
  });
  if (u.in_channels > u.shown) {
    box.append(el("p", { class: "muted", text: `${u.in_channels - u.shown} more input channels are in the sum below` }));
  }
}

// the sum over channels plus bias, against the module's own output
function showEquation(u) {
  const [c, y, x] = u.unit;
  const terms = u.partial.length <= 8 ? u.partial.map((p) => fmt(p, 4)).join(" + ") : `${u.partial.length} channel sums`;
  const ok = u.difference <= 1e-4 * Math.max(1, Math.abs(u.module_value));
  $("unit-equation").replaceChildren(`Σ over ${u.in_channels} input channel(s) (${terms}) + bias ${fmt(u.bias, 4)}\n= `,
    el("b", { id: "unit-sum", "data-value": u.sum, text: fmt(u.sum, 6) }),
    `\nthe module's output at [${c}, ${y}, ${x}]: `,
    el("b", { id: "unit-module", "data-value": u.module_value, text: fmt(u.module_value, 6) }),
    "  ", el("span", { class: ok ? "ok" : "bad",
      text: ok ? `✓ equal (difference ${u.difference.toExponential(1)}: float32 rounding)` : `✗ differs by ${u.difference}` }),
    u.ops_value === null ? "" : `\ncnnlab.ops.conv2d over the whole layer gives ${fmt(u.ops_value, 6)} there`);
}

panels.kernel = async () => {
  if (!state.unit) return;
  const u = await api("/api/unit", { source: state.source, input: state.input, ...state.unit });
  $("unit-hint").hidden = true;
  $("unit").hidden = false;
  const [c, y, x] = u.unit;
  $("unit-title").textContent = `${u.layer}: output channel ${c}, row ${y}, column ${x} · kernel ${u.kernel_size.join("×")}, ` +
    `stride ${u.stride.join(",")}, padding ${u.padding.join(",")}, ${u.in_channels} input channel(s)`;
  showField(u);
  showWindows(u);
  showChannels(u);
  showEquation(u);
};
