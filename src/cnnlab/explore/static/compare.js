// The "Compare" panel: the same input through two networks side by side (a run's best.pt and last.pt, or two
// runs): prediction, Grad-CAM and the first conv layers' maps.
import { api } from "./api.js";
import { $, el, pct } from "./dom.js";
import { camLayerLabel } from "./gradcam.js";
import { showLayers } from "./layers.js";
import { overlay } from "./paint.js";
import { probRow } from "./prediction.js";
import { panels, refreshPanel, state } from "./store.js";

async function compareSide(sid, into) {
  const r = await api("/api/forward", { source: sid, input: state.input, channels: 6 });
  const ex = await api("/api/explain", { source: sid, input: state.input }).catch(() => null);
  const info = await api(`/api/info?source=${sid}`);
  const top = [...r.top].sort((a, b) => b.p - a.p);
  into.replaceChildren(el("h3", { text: `${info.source.label} · ${info.model}${info.epoch ? ` · epoch ${info.epoch}` : ""}` }),
    el("div", { class: "big compare-top", text: `${top[0].class} · ${pct(top[0].p)}` }),
    ...top.slice(0, 3).map((t) => probRow(t)));
  if (ex) {
    const cv = el("canvas", { width: 140, height: 140 });
    overlay(cv, ex.input, ex.cam);
    const caption = `Grad-CAM at ${camLayerLabel(ex.layer, r)}${ex.cam_empty ? " (zero everywhere)" : ""}`;
    into.append(el("figure", {}, cv, el("figcaption", { text: caption })));
  }
  const layers = el("div");
  let convs = 0;
  const firstConvs = (l) => l.kind === "Conv2d" && ++convs <= 4;
  showLayers(r, layers, { blocks: false, clickable: false, scale: "map", side: 60, filter: firstConvs });
  into.append(layers);
}

panels.compare = () =>
  Promise.all([compareSide($("compare-a").value, $("compare-left")), compareSide($("compare-b").value, $("compare-right"))]);

$("compare-a").onchange = () => refreshPanel();
$("compare-b").onchange = () => refreshPanel();
