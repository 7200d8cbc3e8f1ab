// Panel 1, the input: a drawing, a test image of the network's data set, or an uploaded picture file.
import { api, upload } from "./api.js";
import { $, clearError, el, showError } from "./dom.js";
import { setInput, state } from "./store.js";

// ---------------------------------------------------------------- drawing
const draw = $("draw-canvas"), dctx = draw.getContext("2d");
let last = null, inked = false;

export function clearCanvas() {
  dctx.fillStyle = "#000";
  dctx.fillRect(0, 0, draw.width, draw.height);
  inked = false;
}

function stroke(e) {
  const r = draw.getBoundingClientRect();
  const p = { x: (e.clientX - r.left) * (draw.width / r.width), y: (e.clientY - r.top) * (draw.height / r.height) };
  Object.assign(dctx, { strokeStyle: "#fff", lineWidth: +$("brush").value, lineCap: "round", lineJoin: "round" });
  dctx.beginPath();
  dctx.moveTo((last || p).x, (last || p).y);
  dctx.lineTo(p.x, p.y);
  dctx.stroke();
  last = p;
  inked = true;
}

const drawingInput = () => ({ kind: "drawing", png: draw.toDataURL("image/png"), fit: $("fit").value });

draw.addEventListener("pointerdown", (e) => {
  state.drawing = true;
  last = null;
  draw.setPointerCapture(e.pointerId);
  stroke(e);
  setInput(drawingInput());
});
draw.addEventListener("pointermove", (e) => {
  if (!state.drawing) return;
  stroke(e);
  setInput(drawingInput());
});
const stop = () => {
  if (!state.drawing) return;
  state.drawing = false;
  setInput(drawingInput());
};
draw.addEventListener("pointerup", stop);
draw.addEventListener("pointerleave", stop);
$("clear").onclick = () => {
  clearCanvas();
  setInput(drawingInput());
};
$("fit").onchange = () => {
  if (inked) setInput(drawingInput());
};

// ---------------------------------------------------------------- test images
// `params`: index=N, or class=K&nth=N for the N-th test image of class K
export async function pickTest(params) {
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
  } catch (e) {
    showError(e.message);
  }
}

$("test-index").onchange = () => pickTest(`index=${$("test-index").value}`);
$("test-prev").onclick = () => pickTest(`index=${Math.max(0, state.testIndex - 1)}`);
$("test-next").onclick = () => pickTest(`index=${state.testIndex + 1}`);
$("test-random").onclick = () => pickTest(`index=${Math.floor(Math.random() * (+$("test-index").max || 100))}`);
let classNth = 0;
$("test-class").onchange = () => {
  classNth = 0;
  pickTest(`class=${$("test-class").value}&nth=0`);
};
$("test-class-next").onclick = () => {
  classNth += 1;
  pickTest(`class=${$("test-class").value}&nth=${classNth}`);
};

// ---------------------------------------------------------------- upload
async function sendUpload() {
  const file = $("upload-file").files[0];
  if (!file) return;
  try {
    const data = await upload(file, $("invert").value);
    clearError();
    setInput({ kind: "pixels", raw: data.raw, steps: data.steps });
  } catch (e) {
    showError(e.message);
  }
}
$("upload-file").onchange = sendUpload;
$("invert").onchange = sendUpload;

// what opening an input tab does: show that kind of input again
export function onInputTab(tab) {
  if (tab === "draw" && inked) setInput(drawingInput());
  if (tab === "test") pickTest(`index=${state.testIndex}`);
}
