// The "Why this class" panel: Grad-CAM at a chosen layer and saliency, for the predicted or a chosen class.
import { api } from "./api.js";
import { $, el, layerLabel, pct } from "./dom.js";
import { overlay, paintInput } from "./paint.js";
import { panels, refreshPanel, state } from "./store.js";

// "conv2 · Conv2d" for module `name`, its class taken from forward answer `result` (which records every module)
export function camLayerLabel(name, result) {
  const layer = result && result.layers.find((l) => l.name === name);
  return layerLabel(name, layer && layer.kind);
}

function fillSelectors(r) {
  const classSel = $("why-class");
  if (classSel.options.length !== r.classes.length + 1) {
    classSel.replaceChildren(el("option", { value: "", text: "the predicted class" }),
      ...r.classes.map((c, i) => el("option", { value: i, text: `${i} · ${c}` })));
  }
  // the layers Grad-CAM can use, by name and kind; a new network or a new forward pass may rename them
  const layerSel = $("why-layer");
  const labels = r.layers.map((name) => camLayerLabel(name, state.result));
  if ([...layerSel.options].map((o) => o.text).join("\n") !== labels.join("\n")) {
    layerSel.replaceChildren(...r.layers.map((name, i) => el("option", { value: name, text: labels[i] })));
  }
  layerSel.value = r.layer;
}

panels.why = async () => {
  const body = { source: state.source, input: state.input, target: $("why-class").value, layer: $("why-layer").value };
  const r = await api("/api/explain", body);
  fillSelectors(r);
  paintInput($("why-input"), r.input);
  overlay($("why-cam"), r.input, r.cam);
  overlay($("why-saliency"), r.input, r.saliency);
  $("why-cam-caption").textContent = `Grad-CAM at ${camLayerLabel(r.layer, state.result)} for “${r.classes[r.target]}” ` +
    `(${pct(r.p)})` + (r.cam_empty ? ": zero everywhere, no positive evidence at this layer (try another layer)" : "");
  $("why-cam").dataset.target = r.target;
};

$("why-class").onchange = () => refreshPanel();
$("why-layer").onchange = () => refreshPanel();
