// Page helpers every panel uses: element lookup and creation, number formats, tab groups, the error banner.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

export const fmt = (v, digits = 4) =>
  Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(digits);
export const pct = (p) => (100 * p).toFixed(1) + "%";

// A layer as the page names it: its module name and class, e.g. "conv2 · Conv2d" or "5 · MaxPool2d".
export const layerLabel = (name, kind) => (kind ? `${name} · ${kind}` : name);

// ---------------------------------------------------------------- tabs
// A group is a <nav data-group=G> of buttons and the .tab-body[data-group=G] sections they show.
export function setupTabs(group, onChange) {
  const buttons = document.querySelectorAll(`nav[data-group=${group}] button`);
  buttons.forEach((b) =>
    b.addEventListener("click", () => {
      buttons.forEach((o) => o.classList.toggle("active", o === b));
      document.querySelectorAll(`.tab-body[data-group=${group}]`).forEach((body) => {
        body.hidden = body.dataset.tab !== b.dataset.tab;
      });
      onChange(b.dataset.tab);
    }),
  );
}

export function openTab(group, tab) {
  document.querySelector(`nav[data-group=${group}] button[data-tab=${tab}]`).click();
}

// ---------------------------------------------------------------- the error banner
// `from` names what raised the message ("page", "source", "live"), so that the thing which recovers (the
// network loads, the live stream gets its next epoch) clears its own message and no other.
let shownFrom = null;

export function showError(message, from = "page") {
  $("error-text").textContent = message;
  $("error").hidden = false;
  shownFrom = from;
}

export function clearError(from = null) {
  if (from === null || from === shownFrom) {
    $("error").hidden = true;
    shownFrom = null;
  }
}

$("error-close").onclick = () => clearError();
