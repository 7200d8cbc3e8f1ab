"""The explorer's web server: Python's ThreadingHTTPServer serving one page (static/, shipped in the package)
and a small JSON API over engine.py; live training as server-sent events. Nothing outside the given sources and
the static folder can be reached: the page names networks by id and static files by a fixed list."""
import base64
import json
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from .. import pictures, rundir
from ..errors import CnnlabError
from ..signals import Interrupt
from . import engine
from ..trained import TrainedNetwork as Network
from .loader import Source, load_network

MAX_JSON_BYTES = engine.MAX_UPLOAD_BYTES * 4 // 3 + 65536  # a drawing as a data URL plus the request's fields
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
LIVE_POLL_S = 0.5  # how often a followed run directory is looked at
LIVE_PING_S = 5.0  # an SSE comment this often finds a closed page and ends its stream


class RequestError(CnnlabError):
    def __init__(self, message, status=HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


def static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of the package's static folder by name, read once: the only files the server hands out."""
    folder = resources.files("cnnlab.explore") / "static"
    return {f.name: (f.read_bytes(), TYPES.get(Path(f.name).suffix, "application/octet-stream"))
            for f in folder.iterdir() if f.is_file() and Path(f.name).suffix in TYPES}


class Explorer:
    """The state behind the page: the sources, their loaded networks (reloaded when a checkpoint file changes),
    test sets, and one lock so hooks of two requests never meet on the same model."""

    def __init__(self, sources: list[Source], log=None):
        self.sources = {s.id: s for s in sources}
        self.order = [s.id for s in sources]
        self.networks: dict[str, tuple] = {}
        self.datasets: dict = {}
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))

    # ------------------------------------------------------------ sources and data
    def source(self, sid) -> Source:
        if sid is None:
            sid = self.order[0]
        if str(sid) not in self.sources:
            raise RequestError(f"unknown source '{sid}': choose one of {', '.join(self.order)}", HTTPStatus.NOT_FOUND)
        return self.sources[str(sid)]

    def network(self, sid) -> Network:
        source = self.source(sid)
        with self.lock:
            stamp = source.stamp()
            cached = self.networks.get(source.id)
            if cached is None or cached[0] != stamp:
                self.networks[source.id] = (stamp, load_network(source))
            return self.networks[source.id][1]

    def test_set(self, net: Network):
        """The test split of the data set the network was trained on (untrained ones: Fashion-MNIST when it is
        installed, else the synthetic set)."""
        from ..data import load_dataset, locate

        name, data_dir = net.dataset_name, net.data_dir
        if name is None:
            name, data_dir = ("fashion-mnist" if locate("fashion-mnist") else "synthetic"), None
        key = (name, data_dir)
        with self.lock:
            if key not in self.datasets:
                self.datasets[key] = load_dataset(name, data_dir, download=False)
            return self.datasets[key]

    def test_image(self, net: Network, index=None, klass=None, nth=0) -> dict:
        data = self.test_set(net)
        labels = data.test.labels
        if klass is not None and klass != "":
            k = engine.as_int(klass, "class")
            mine = (labels == k).nonzero().flatten()
            if not 0 <= k < len(data.classes) or len(mine) == 0:
                raise RequestError(f"class {klass} does not exist in {data.name} (0-{len(data.classes) - 1})")
            index = int(mine[engine.as_int(nth, "n") % len(mine)])
        index = engine.as_int(0 if index is None or index == "" else index, "index")
        if not 0 <= index < len(labels):
            raise RequestError(f"test image {index} does not exist: {data.name} has 0-{len(labels) - 1}")
        pixels = data.test.images[index].numpy()
        label = int(labels[index])
        return {"index": index, "label": label, "class": data.classes[label], "dataset": data.name,
                "count": len(labels), "classes": list(data.classes), "pixels": pixels}

    def pixels(self, net: Network, spec) -> tuple[np.ndarray, list[str]]:
        """28x28 uint8 pixels for the page's input: a drawing, a test image or converted pixels (an upload)."""
        if not isinstance(spec, dict):
            raise RequestError("missing 'input': a drawing, a test image or pixels")
        kind = spec.get("kind")
        if kind == "drawing":
            return engine.drawing_pixels(spec.get("png"), spec.get("fit", "mnist"))
        if kind == "test":
            image = self.test_image(net, spec.get("index"))
            return image["pixels"], [f"{image['dataset']} test image {image['index']} ({image['class']})"]
        if kind == "pixels":
            try:
                raw = base64.b64decode(spec.get("raw", ""), validate=True)
            except ValueError:
                raise RequestError("pixels: not valid base64") from None
            steps = spec.get("steps") if isinstance(spec.get("steps"), list) else []
            return pictures.from_raw(raw, net).numpy(), [str(s)[:200] for s in steps]
        raise RequestError(f"unknown input kind {kind!r}: drawing, test or pixels")

    # ------------------------------------------------------------ API
    def info(self, sid) -> dict:
        source = self.source(sid)
        net = self.network(sid)
        from ..inspect import count_params

        return {"source": source.describe(), "model": net.name, "classes": list(net.classes),
                "input_size": net.input_size, "normalize": [net.mean, net.std], "dataset": net.dataset_name,
                "in_channels": net.in_channels,
                "trained": net.trained, "epoch": net.epoch, "parameters": count_params(net.model),
                "fit": "frame" if (net.dataset_name or "").startswith("fashion") else "mnist"}

    def forward(self, body) -> dict:
        net = self.network(body.get("source"))
        pixels, steps = self.pixels(net, body.get("input"))
        channels = engine.as_int(body.get("channels", engine.DEFAULT_CHANNELS), "channels")
        with self.lock:
            started = time.perf_counter()
            result = engine.forward_json(net, pixels, steps, max(1, channels), body.get("only"))
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return result

    def unit(self, body) -> dict:
        net = self.network(body.get("source"))
        pixels, _ = self.pixels(net, body.get("input"))
        with self.lock:
            return engine.unit_math(net, pixels, body.get("layer"), body.get("channel"), body.get("y"),
                                    body.get("x"))

    def explain(self, body) -> dict:
        net = self.network(body.get("source"))
        pixels, _ = self.pixels(net, body.get("input"))
        with self.lock:
            result = engine.explain_json(net, pixels, body.get("target"), body.get("layer") or None)
        result["classes"] = engine.class_names(net, np.zeros((1, len(net.classes))))
        return result

    def upload(self, data: bytes, name: str, invert: str, sid=None) -> dict:
        if invert not in ("auto", "yes", "no"):
            raise RequestError(f"invert must be auto, yes or no, not '{invert}'")
        pixels, steps = engine.upload_pixels(data, name, invert, self.network(sid))  # converted for that network
        return {"raw": base64.b64encode(pixels.tobytes()).decode(), "steps": [f"{name}: {steps[0]}", *steps[1:]]}

    def live_events(self, sid, index):
        """Server-sent events for a run in progress: one 'epoch' event whenever metrics.csv changes (the run's
        checkpoints are written before it), with the curves and the feature maps of test image `index`."""
        source = self.source(sid)
        if source.run_dir is None:
            raise RequestError(f"{source.label} is not in a run directory: nothing to follow")
        run_dir = source.run_dir
        last_pt = rundir.last_checkpoint(run_dir)
        last = Source(id=f"{source.id}-live", label=f"{run_dir.name}/{last_pt.name}", kind="checkpoint",
                      path=last_pt, run_dir=run_dir, model=source.model)
        planned = _planned_epochs(run_dir)
        seen, sent, pinged = None, set(), time.monotonic()
        yield "waiting", {"run": run_dir.name, "epochs": planned}
        while not self.stop.is_set():
            try:
                stamp = (run_dir / rundir.METRICS).stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp is not None and stamp != seen:
                seen = stamp
                try:
                    history = rundir.read_metrics(run_dir)
                    with self.lock:
                        stamp_pt = last.stamp()
                        cached = self.networks.get(last.id)
                        if cached is None or cached[0] != stamp_pt:
                            self.networks[last.id] = (stamp_pt, load_network(last))
                        net = self.networks[last.id][1]
                        image = self.test_image(net, index)
                        maps = engine.live_maps(net, image["pixels"])
                    planned = max(_planned_epochs(run_dir) or 0, len(history))
                    # One event per finished epoch; two epochs done between two looks share the later weights,
                    # so the earlier one comes with its curves only.
                    for row in history:
                        if row["epoch"] in sent:
                            continue
                        sent.add(row["epoch"])
                        seen_now = row["epoch"] == net.epoch
                        yield "epoch", {"run": run_dir.name, "epochs": planned, "history": history[:row["epoch"]],
                                        "epoch": row["epoch"], "image": image["index"], "class": image["class"],
                                        "raw": base64.b64encode(image["pixels"].tobytes()).decode(),
                                        "top": maps["top"] if seen_now else None,
                                        "maps": maps["maps"] if seen_now else []}
                except (CnnlabError, OSError, ValueError, KeyError) as error:  # mid-write or not yet there
                    yield "problem", {"error": str(error)}
            if time.monotonic() - pinged > LIVE_PING_S:
                pinged = time.monotonic()
                yield None, None
            time.sleep(LIVE_POLL_S)


def _planned_epochs(run_dir: Path) -> int | None:
    """The epochs a run was started for (config.json), None before cnnlab train has written it."""
    try:
        return int(json.loads((run_dir / rundir.CONFIG).read_text())["config"]["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Handler(BaseHTTPRequestHandler):
    server_version = "cnnlab-explore"
    explorer: Explorer
    static: dict
    allowed_hosts: set | None  # Host headers accepted (DNS rebinding), None: any

    def log_message(self, format, *args):  # one line per problem (see _error), not per request
        pass

    def _send(self, status, body: bytes, kind: str, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload, status=HTTPStatus.OK):
        self._send(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json")

    def _error(self, status, message):
        self.explorer.log(f"cnnlab explore: {self.command} {urlparse(self.path).path}: {message}")
        self._json({"error": message}, status)

    def _query(self) -> dict:
        return {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise RequestError("bad Content-Length") from None
        limit = engine.MAX_UPLOAD_BYTES if urlparse(self.path).path == "/api/upload" else MAX_JSON_BYTES
        if length > limit:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise RequestError(f"request of {length / 2**20:.1f} MiB is larger than the "
                               f"{engine.MAX_UPLOAD_BYTES // 2**20} MiB limit", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return self.rfile.read(length)

    def _handle(self, method):
        if self.allowed_hosts is not None and self.headers.get("Host", "") not in self.allowed_hosts:
            self._error(HTTPStatus.FORBIDDEN, f"refused Host '{self.headers.get('Host', '')}'")
            return
        path = urlparse(self.path).path
        try:
            if method == "GET":
                self._get(path)
            else:
                self._post(path)
        except RequestError as error:
            self._error(error.status, str(error))
        except CnnlabError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:  # a bug: say so on the page and in the terminal, keep serving
            traceback.print_exc()
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(error).__name__}: {error})")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _get(self, path):
        ex, q = self.explorer, self._query()
        if path in ("/", "/index.html"):
            body, kind = self.static["index.html"]
            self._send(HTTPStatus.OK, body, kind)
        elif path.startswith("/static/") and path[len("/static/"):] in self.static:
            body, kind = self.static[path[len("/static/"):]]
            self._send(HTTPStatus.OK, body, kind)
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        elif path == "/api/sources":
            self._json({"sources": [ex.sources[i].describe() for i in ex.order]})
        elif path == "/api/info":
            self._json(ex.info(q.get("source")))
        elif path == "/api/test":
            net = ex.network(q.get("source"))
            image = ex.test_image(net, q.get("index"), q.get("class"), q.get("nth", 0))
            image["raw"] = base64.b64encode(image.pop("pixels").tobytes()).decode()
            self._json(image)
        elif path == "/api/outsize":
            self._json({"size": engine.output_size(q.get("n"), q.get("k"), q.get("p", 0), q.get("s", 1))})
        elif path == "/api/live":
            self._live(q.get("source"), q.get("index", 0))
        else:
            raise RequestError(f"no such page: {path}", HTTPStatus.NOT_FOUND)

    def _post(self, path):
        ex = self.explorer
        if path == "/api/upload":
            q = self._query()
            self._json(ex.upload(self._body(), q.get("name", "upload"), q.get("invert", "auto"), q.get("source")))
            return
        routes = {"/api/forward": ex.forward, "/api/unit": ex.unit, "/api/explain": ex.explain}
        if path not in routes:
            raise RequestError(f"no such API: {path}", HTTPStatus.NOT_FOUND)
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            raise RequestError("the request is not valid JSON") from None
        if not isinstance(body, dict):
            raise RequestError("the request must be a JSON object")
        self._json(routes[path](body))

    def _live(self, sid, index):
        events = self.explorer.live_events(sid, index)
        first = next(events)  # errors (not a run) still answer as JSON
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            for name, data in _chain(first, events):
                if name is None:
                    self.wfile.write(b": ping\n\n")
                else:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        finally:
            events.close()


def _chain(first, rest):
    yield first
    yield from rest


class Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for open pages or live streams
    allow_reuse_address = True


def make_server(sources: list[Source], host: str = "127.0.0.1", port: int = 8000, log=None) -> Server:
    """A server for `sources` bound to host:port (port 0: a free one; see server.server_address)."""
    explorer = Explorer(sources, log)
    handler = type("ExploreHandler", (Handler,), {"explorer": explorer, "static": static_files(),
                                                  "allowed_hosts": None})
    try:
        server = Server((host, port), handler)
    except OSError as error:
        raise RequestError(f"cannot listen on {host}:{port} ({error.strerror or error}); try another --port") from None
    bound = server.server_address[1]
    if host not in ("0.0.0.0", "::", ""):
        handler.allowed_hosts = {f"[{h}]:{bound}" if ":" in h else f"{h}:{bound}"
                                 for h in (host, "127.0.0.1", "localhost")}
    server.explorer = explorer
    return server


def serve(sources: list[Source], host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, printing the URL (cnnlab.signals.Interrupt: also when started in
    the background with SIGINT ignored)."""
    server = make_server(sources, host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    with Interrupt():  # before the URL is out: a signal sent once it is seen must stop the server
        print(f"cnnlab explore: serving {len(sources)} network(s) at http://{shown}:{server.server_address[1]}/ "
              "(Ctrl-C stops)", flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            print("\ncnnlab explore: stopped", flush=True)
        finally:
            server.explorer.stop.set()
            server.server_close()
