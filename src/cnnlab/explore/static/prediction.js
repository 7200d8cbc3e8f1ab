// Panels 2 and 3: what the network sees (the 28x28 pixels, the model input and how it was made) and its
// prediction, redrawn on every forward pass.
import { $, el, fmt, pct } from "./dom.js";
import { cellAt, paintInput, paintPixels, pixelsOf } from "./paint.js";
import { on } from "./store.js";

// one probability row: class, bar, percentage
export function probRow(t, top = false) {
  const bar = el("div", { class: "bar" }, el("div"));
  bar.firstChild.style.width = pct(t.p);
  return el("div", { class: "prob" + (top ? " top" : ""), title: `logit ${fmt(t.logit, 3)}` },
    el("span", { text: t.class }), bar, el("span", { class: "p", text: pct(t.p) }));
}

function showSees(r) {
  const picture = pixelsOf(r.raw, r.shape), [c, ph, pw] = picture.shape;
  paintPixels($("pixels-canvas"), picture);
  $("pixels-caption").textContent = `${ph}×${pw} pixels${c === 3 ? ", colour" : ""}`;
  const { planes, lo, hi } = paintInput($("input-canvas"), r.input), [, h, w] = r.input.shape;
  $("input-caption").textContent = `model input ${JSON.stringify(r.input.shape)} · ${fmt(lo, 2)} … ${fmt(hi, 2)}`;
  $("input-canvas").onmousemove = (e) => {
    const [y, x] = cellAt(e.target, e, h, w);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const at = planes.map((p) => fmt(p.values[y * w + x], 4));
    $("hover-value").textContent = at.length === 1 ? `input[${y}, ${x}] = ${at[0]}` : `input[:, ${y}, ${x}] = (${at.join(", ")})`;
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
