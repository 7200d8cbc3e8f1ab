// Panels 2 and 3: what the network sees (the 28x28 pixels, the model input and how it was made) and its
// prediction, redrawn on every forward pass.
import { $, el, fmt, pct } from "./dom.js";
import { cellAt, decode, paint, rawPixels } from "./paint.js";
import { on } from "./store.js";

// one probability row: class, bar, percentage
export function probRow(t, top = false) {
  const bar = el("div", { class: "bar" }, el("div"));
  bar.firstChild.style.width = pct(t.p);
  return el("div", { class: "prob" + (top ? " top" : ""), title: `logit ${fmt(t.logit, 3)}` },
    el("span", { text: t.class }), bar, el("span", { class: "p", text: pct(t.p) }));
}

function showSees(r) {
  paint($("pixels-canvas"), rawPixels(r.raw), 28, 28, 0, 255, "gray");
  const inp = decode(r.input)[0], [, h, w] = r.input.shape;
  paint($("input-canvas"), inp.values, h, w, inp.lo, inp.hi, "gray");
  $("input-caption").textContent = `model input ${JSON.stringify(r.input.shape)} · ${fmt(inp.lo, 2)} … ${fmt(inp.hi, 2)}`;
  $("input-canvas").onmousemove = (e) => {
    const [y, x] = cellAt(e.target, e, h, w);
    if (x >= 0 && y >= 0 && x < w && y < h) $("hover-value").textContent = `input[${y}, ${x}] = ${fmt(inp.values[y * w + x], 4)}`;
  };
  $("steps").innerHTML = "";
  [...r.steps, r.transform].forEach((s) => $("steps").append(el("li", { text: s })));
}

function showPrediction(r) {
  const top = [...r.top].sort((a, b) => b.p - a.p)[0];
  $("prediction-top").textContent = `${top.class} · ${pct(top.p)}`;
  $("prediction-top").dataset.index = top.index;
  $("prob-list").replaceChildren(...r.top.map((t) => probRow(t, t.index === top.index)));
  $("timing").textContent = `server: preprocess + forward with every activation in ${r.ms} ms`;
}

on("result", (r) => {
  showSees(r);
  showPrediction(r);
});
