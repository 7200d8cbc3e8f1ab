// The explorer server's API: every request the page makes goes through here. Errors become one Error whose
// message is the server's own (it names the input and the problem).

async function call(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error("the explorer server does not answer (stopped?)");
  }
  const data = await response.json().catch(() => ({ error: `${path}: ${response.status} ${response.statusText}` }));
  if (!response.ok || data.error) throw new Error(data.error || response.statusText);
  return data;
}

// GET `path`, or POST `body` as JSON (the server takes JSON POSTs only with this Content-Type)
export function api(path, body = null) {
  if (body === null) return call(path, {});
  return call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

// a picture file from the user's disk, sent as its own bytes (whatever the file claims to be: the server reads
// the format from the bytes); the answer holds its 28x28 pixels and the conversion's steps
export function upload(file, invert) {
  const query = `name=${encodeURIComponent(file.name)}&invert=${encodeURIComponent(invert)}`;
  return call(`/api/upload?${query}`, {
    method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
  });
}

// server-sent events of a run in progress (GET /api/live)
export function follow(source, index) {
  return new EventSource(`/api/live?source=${encodeURIComponent(source)}&index=${encodeURIComponent(index)}`);
}
