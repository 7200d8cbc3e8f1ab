// The "Live training" panel: follow a run directory that `cnnlab train` is writing. Each finished epoch adds
// its curves and a row with one test image's feature maps under that epoch's weights; the stream ends by
// itself after the run's last planned epoch.
import { follow } from "./api.js";
import { $, clearError, el, fmt, layerLabel, pct, showError } from "./dom.js";
import { decode, mapPx, paint, paintPixels, pixelsOf } from "./paint.js";
import { emit } from "./store.js";

let stream = null, sourceId = null, rows = [];

// loss and accuracy against the epoch, train solid and test dashed, with room for the planned epochs
function drawCurves(history, planned) {
  const cv = $("live-curves"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height;
  ctx.clearRect(0, 0, W, H);
  const n = Math.max(planned || 0, history.length, 2);
  const charts = [["loss", ["train_loss", "test_loss"]], ["accuracy", ["train_acc", "test_acc"]]];
  charts.forEach(([title, keys], p) => {
    const x0 = 50 + p * (W / 2), w = W / 2 - 80, y0 = 20, h = H - 50;
    const values = history.flatMap((r) => keys.map((k) => r[k])).filter((v) => v !== null); // --test-every: gaps
    const hi = title === "accuracy" ? 1 : Math.max(...values, 0.1);
    const lo = title === "accuracy" ? Math.min(...values, 0.5) * 0.95 : 0;
    ctx.strokeStyle = "#ccd";
    ctx.strokeRect(x0, y0, w, h);
    ctx.fillStyle = "#333";
    ctx.font = "12px sans-serif";
    ctx.fillText(title, x0 + 4, y0 - 6);
    ctx.fillText(fmt(hi, 2), x0 - 40, y0 + 10);
    ctx.fillText(fmt(lo, 2), x0 - 40, y0 + h);
    for (let e = 1; e <= n; e++) ctx.fillText(String(e), x0 + ((e - 1) / (n - 1)) * w - 3, y0 + h + 14);
    keys.forEach((k, i) => {
      ctx.strokeStyle = i === 0 ? "#2f6fde" : "#e0662f";
      ctx.lineWidth = 2;
      ctx.setLineDash(i === 0 ? [] : [6, 4]);
      ctx.beginPath();
      let first = true;
      history.forEach((r, j) => {
        if (r[k] === null) return; // an epoch without a test pass: the line joins the tested ones
        const px = x0 + (j / (n - 1)) * w, py = y0 + h - ((r[k] - lo) / (hi - lo || 1)) * h;
        if (first) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
        first = false;
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillRect(px - 2, py - 2, 4, 4);
      });
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText((i === 0 ? "— " : "- - ") + k.replace("_", " "), x0 + 90 + 110 * i, y0 - 6);
    });
  });
}

// one conv layer's maps in an epoch row, headed by the layer's name and kind
function layerMaps(layer) {
  const [c, h, w] = layer.shape;
  const group = el("div", { class: "live-layer", "data-layer": layer.name },
    el("div", { class: "name", text: layerLabel(layer.name, layer.kind), title: `output ${c}×${h}×${w}` }));
  const maps = el("div", { class: "maps" });
  decode(layer.maps).forEach((m, i) => {
    const [ph, pw] = mapPx(h, w);
    const cv = el("canvas", { width: Math.min(pw, 64), height: Math.min(ph, 64), title: `${layer.name} channel ${i}` });
    paint(cv, m.values, h, w, m.lo, m.hi, "viridis");
    maps.append(el("div", { class: "map" }, cv, el("div", { class: "cap", text: `ch ${i}` })));
  });
  group.append(maps);
  return group;
}

// the newest epoch's test accuracy; a run with --test-every tests only some epochs
function testAcc(history) {
  const acc = history[history.length - 1].test_acc;
  return acc === null ? "not tested this epoch" : `test accuracy ${pct(acc)}`;
}

function epochRow(d) {
  const top = d.top ? [...d.top].sort((a, b) => b.p - a.p)[0] : null;
  const row = el("div", { class: "epoch-row", "data-epoch": d.epoch });
  const img = el("canvas", { width: 56, height: 56 });
  paintPixels(img, pixelsOf(d.raw, d.shape));
  row.append(el("div", { class: "label" }, el("b", { text: `epoch ${d.epoch}` }), ` · ${testAcc(d.history)}`, el("br"),
    `test image ${d.image} (${d.class})`, el("br"),
    top ? `predicted ${top.class} ${pct(top.p)}` : "(its weights were replaced before they were seen)"), img);
  for (const layer of d.maps.slice(0, 2)) row.append(layerMaps(layer));
  return row;
}

function onEpoch(d) {
  const done = d.epochs && d.epoch >= d.epochs;
  $("live-status").textContent = `${d.run}: epoch ${d.epoch}${d.epochs ? ` of ${d.epochs}` : ""} · ${testAcc(d.history)}` +
    (done ? " · finished" : "");
  $("live-status").dataset.epoch = d.epoch;
  drawCurves(d.history, d.epochs);
  clearError("live"); // a problem reading the run (mid-write) is over
  if (!rows.includes(d.epoch)) {
    rows.push(d.epoch);
    $("live-epochs").prepend(epochRow(d));
  }
  if (d.top) emit("checkpoint", sourceId); // new weights on disk: a panel showing this network redraws
  if (done) end();
}

// stop following: the run ended, the user pressed Stop, or the server closed the stream
function end() {
  if (stream) stream.close();
  stream = null;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
}

$("live-start").onclick = () => {
  if (stream) stream.close();
  rows = [];
  $("live-epochs").innerHTML = "";
  sourceId = $("live-source").value;
  stream = follow(sourceId, $("live-index").value);
  $("live-status").textContent = "connecting…";
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  stream.addEventListener("waiting", (e) => {
    $("live-status").textContent = `${JSON.parse(e.data).run}: waiting for the first finished epoch…`;
  });
  stream.addEventListener("epoch", (e) => onEpoch(JSON.parse(e.data)));
  stream.addEventListener("problem", (e) => showError(JSON.parse(e.data).error, "live"));
  stream.onerror = () => {
    if (stream && stream.readyState === EventSource.CLOSED) {
      showError("live: the server refused or ended the stream (is it a run directory?)", "live");
      end();
    }
  };
};
$("live-stop").onclick = end;
