// The "Playground" panel: input size n, kernel k, padding p and stride s; the output-size formula with the
// numbers filled in, and the kernel's window walking over the padded input, one output unit at a time.
import { api } from "./api.js";
import { $, el } from "./dom.js";

const anim = { t: 0, playing: true }; // animation frame count, and whether it advances
const FRAMES_PER_UNIT = 30;

const values = () => ["n", "k", "p", "s"].map((k) => +$(`pg-${k}`).value);

// the formula; for sizes with no output, the server's own message (cnnlab.ops.conv_output_size)
export async function update() {
  const [n, k, p, s] = values();
  const out = Math.floor((n - k + 2 * p) / s) + 1;
  const f = $("pg-formula");
  if (n + 2 * p < k || k < 1 || s < 1 || n < 1 || p < 0) {
    const r = await api(`/api/outsize?n=${n}&k=${k}&p=${p}&s=${s}`).catch((e) => ({ error: e.message }));
    f.replaceChildren(el("span", { class: "bad", text: r.error || "invalid" }));
    f.dataset.size = "";
    return;
  }
  f.textContent = `output = ⌊(n − k + 2p) / s⌋ + 1 = ⌊(${n} − ${k} + 2·${p}) / ${s}⌋ + 1 = ${out}` +
    `   (input ${n}×${n} → output ${out}×${out}; rows and columns below 0 or from ${n} on are padding)`;
  f.dataset.size = out;
  anim.t = 0;
}

function frame() {
  const [n, k, p, s] = values(), out = Math.floor((n - k + 2 * p) / s) + 1;
  const cv = $("pg-canvas"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  if (!(out >= 1 && n + 2 * p >= k)) return;
  const full = n + 2 * p, cell = Math.min(32, Math.floor(320 / full)), ocell = Math.min(32, Math.floor(300 / out));
  const step = Math.floor(anim.t / FRAMES_PER_UNIT) % (out * out), oy = Math.floor(step / out), ox = step % out;
  const X0 = 20, Y0 = 20;
  // the padded input, padding grey with its zeros written in
  for (let i = 0; i < full; i++) {
    for (let j = 0; j < full; j++) {
      const pad = i < p || j < p || i >= p + n || j >= p + n;
      ctx.fillStyle = pad ? "#eceff3" : "#9bb6e8";
      ctx.fillRect(X0 + j * cell, Y0 + i * cell, cell - 2, cell - 2);
      if (pad) {
        ctx.fillStyle = "#99a";
        ctx.font = `${Math.max(8, cell / 2.5)}px sans-serif`;
        ctx.fillText("0", X0 + j * cell + cell / 3, Y0 + i * cell + cell / 1.6);
      }
    }
  }
  ctx.strokeStyle = "#ff3b30";
  ctx.lineWidth = 3;
  ctx.strokeRect(X0 + ox * s * cell - 1, Y0 + oy * s * cell - 1, k * cell, k * cell);
  ctx.fillStyle = "#333";
  ctx.font = "13px sans-serif";
  ctx.fillText(`padded input ${full}×${full} (grey: padding)`, X0, Y0 + full * cell + 16);
  // the output, units done so far in blue, the current one red
  const X1 = X0 + full * cell + 80;
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < out; j++) {
      const done = i * out + j <= step;
      ctx.fillStyle = i === oy && j === ox ? "#ff3b30" : done ? "#2f6fde" : "#eceff3";
      ctx.fillRect(X1 + j * ocell, Y0 + i * ocell, ocell - 2, ocell - 2);
    }
  }
  ctx.fillStyle = "#333";
  const rows = `${oy * s - p}…${oy * s - p + k - 1}`, cols = `${ox * s - p}…${ox * s - p + k - 1}`;
  ctx.fillText(`output ${out}×${out}: unit [${oy}, ${ox}] sees input rows ${rows}, columns ${cols}`, X1, Y0 + out * ocell + 16);
}

function loop() {
  if (anim.playing) {
    anim.t += 1;
    frame();
  }
  requestAnimationFrame(loop);
}

export function startPlayground() {
  update();
  loop();
}

["n", "k", "p", "s"].forEach((k) => $(`pg-${k}`).addEventListener("input", () => {
  update();
  frame();
}));
$("pg-play").onclick = () => {
  anim.playing = !anim.playing;
  $("pg-play").textContent = anim.playing ? "Pause" : "Play";
};
