// The page's shared state and the one path from an input to what every panel shows. Panels never call each
// other: they read `state`, register how they redraw (`panels`), and listen for events (`on`).
import { api } from "./api.js";
import { $, clearError, showError } from "./dom.js";

export const state = {
  source: null, // id of the network shown (/api/sources)
  info: null, // its /api/info, null until it has loaded
  input: null, // what goes through it: a drawing, a test image or an upload's pixels
  result: null, // the latest /api/forward answer for source and input
  panel: "layers", // the lower tab that is open
  unit: null, // the conv unit the kernel-math panel shows: {layer, channel, y, x}
  testIndex: 0,
  drawing: false, // a stroke is under way: only the cheap forward pass runs until it ends
  inFlight: false,
  dirty: false, // the input changed while a forward pass was in flight
};

// ---------------------------------------------------------------- events
// "result" (a new forward answer), "checkpoint" (a followed run wrote new weights; detail: the source id)
const listeners = {};

export function on(event, fn) {
  (listeners[event] ||= []).push(fn);
}

export function emit(event, detail) {
  for (const fn of listeners[event] || []) fn(detail);
}

// ---------------------------------------------------------------- panels
// name of a lower tab -> async function that redraws it for the current source and input
export const panels = {};

export async function refreshPanel() {
  const redraw = panels[state.panel];
  if (!redraw || !state.input || !state.source) return; // nothing to show before the first input
  try {
    await redraw();
  } catch (e) {
    showError(e.message);
  }
}

// ---------------------------------------------------------------- input -> forward pass -> panels
export function setInput(input) {
  state.input = input;
  refresh();
}

// one request in flight at a time: inputs that arrive meanwhile (a stroke being drawn) collapse into one more
export async function refresh() {
  if (!state.input || !state.source) return;
  if (state.inFlight) {
    state.dirty = true;
    return;
  }
  state.inFlight = true;
  try {
    do {
      state.dirty = false;
      const body = { source: state.source, input: state.input, channels: +$("channels").value };
      state.result = await api("/api/forward", body);
      emit("result", state.result);
      clearError(); // the network answered: whatever went wrong before is over
      if (!state.drawing) await refreshPanel();
    } while (state.dirty);
  } catch (e) {
    showError(e.message);
  } finally {
    state.inFlight = false;
  }
}
