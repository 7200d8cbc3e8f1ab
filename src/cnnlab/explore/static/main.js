// cnnlab explore: the page. Every number shown comes from the server (the real PyTorch model); the modules
// only draw. This one starts the page: it lists the networks, loads the chosen one and wires the tab groups.
// Each panel is its own module (input, prediction, layers, kernel, gradcam, compare, live, playground); they
// share state through store.js and talk to the server through api.js.
import { api } from "./api.js";
import { $, clearError, el, openTab, setupTabs, showError } from "./dom.js";
import { clearCanvas, onInputTab } from "./input.js";
import "./prediction.js";
import "./layers.js";
import "./kernel.js";
import "./gradcam.js";
import "./compare.js";
import "./live.js";
import { startPlayground, update as updatePlayground } from "./playground.js";
import { on, refresh, refreshPanel, state } from "./store.js";

let sources = []; // /api/sources: every network the server was given

// show network `sid`: its description in the header, then the current input through it. `fresh`: a newly
// chosen network, so what belonged to the previous one (the clicked unit, the Grad-CAM choices) is dropped.
async function loadSource(sid, fresh = true) {
  state.source = sid;
  if (fresh) {
    state.unit = null;
    $("unit").hidden = true;
    $("unit-hint").hidden = false;
    $("why-class").replaceChildren(el("option", { value: "", text: "the predicted class" }));
    $("why-layer").replaceChildren();
    $("compare-a").value = sid;
  }
  try {
    const info = await api(`/api/info?source=${sid}`);
    state.info = info;
    const trained = info.trained
      ? ` · trained on ${info.dataset}${info.epoch ? `, ${info.epoch} epoch(s)` : ""}` : " · untrained (random weights)";
    $("model-info").textContent = `${info.model} · ${info.parameters.toLocaleString()} parameters · ` +
      `input ${info.input_size}×${info.input_size}${trained}`;
    if (fresh) $("fit").value = info.fit;
    clearError("source");
    if (!state.input) openTab("input", "test");
    else refresh();
  } catch (e) {
    state.info = null; // not loaded (a run not yet written): the next checkpoint of a followed run tries again
    showError(e.message, "source");
  }
}

// a followed run wrote new weights: redraw when the page shows that run (the first checkpoint of a run that
// was empty when the page opened fills the top panels and clears the "no checkpoint yet" message)
on("checkpoint", (sid) => {
  const run = (id) => (sources.find((s) => s.id === id) || {}).run;
  if (state.source === sid || (run(sid) && run(state.source) === run(sid))) loadSource(state.source, state.info === null);
});

async function start() {
  clearCanvas();
  setupTabs("input", onInputTab);
  setupTabs("panel", (tab) => {
    state.panel = tab;
    if (tab === "playground") updatePlayground();
    refreshPanel();
  });
  try {
    ({ sources } = await api("/api/sources"));
    for (const id of ["source", "compare-a", "compare-b"]) {
      $(id).append(...sources.map((s) => el("option", { value: s.id, text: s.label })));
    }
    $("live-source").append(...sources.filter((s) => s.live).map((s) => el("option", { value: s.id, text: s.label })));
    // compare against another run when there is one, else the run's other checkpoint
    const other = sources.find((s) => s.run !== sources[0].run) || sources[1];
    if (other) $("compare-b").value = other.id;
    $("source").onchange = () => loadSource($("source").value);
    await loadSource(sources[0].id);
  } catch (e) {
    showError(e.message);
  }
  startPlayground();
}

start();
