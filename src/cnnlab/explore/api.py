"""The explorer's JSON API behind the page: the sources and their loaded networks, test sets, and one function
per endpoint over engine.py. Every field a request carries is checked here for type and range before it is used,
so a wrong or hostile request gets a RequestError (400, a message) and never reaches engine.py malformed."""
import base64
import re
import sys
import threading
import time
from http import HTTPStatus
from pathlib import Path

import numpy as np

from .. import pictures, rundir
from ..errors import CheckpointError, CnnlabError
from ..trained import TrainedNetwork as Network
from . import engine
from .loader import Source, load_network

MAX_CHANNELS = 4096  # maps per layer the page may ask for (more than any zoo layer has)
MAX_COORDINATE = 2**31 - 1  # a unit's channel, row and column: beyond this no layer reaches
MAX_TEXT = 200  # characters of a name, layer or step the server keeps from a request
MAX_STEPS = 20  # preprocessing steps an upload's pixels come back with
LIVE_POLL_S = 0.5  # how often a followed run directory is looked at
LIVE_PING_S = 5.0  # an SSE comment this often finds a closed page and ends its stream


class RequestError(CnnlabError):
    """A request that cannot be served, with the HTTP status that says why (400 unless told)."""

    def __init__(self, message, status=HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- fields of a request
def _kind(value) -> str:
    """What a wrong value is, for a message: its JSON type, never its (maybe huge or nested) contents."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def whole(value, what: str, low: int, high: int, default=None) -> int:
    """A whole number from JSON (a number) or a query (digits), within [low, high]; `default` when absent."""
    if value is None or value == "":
        if default is None:
            raise RequestError(f"missing {what}: a whole number")
        return default
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = f"'{value[:20]}'" if isinstance(value, str) else _kind(value)
        raise RequestError(f"{what} must be a whole number, got {shown}")
    if not low <= value <= high:
        raise RequestError(f"{what} must be in {low}-{high}, got {value}")
    return value


def text(value, what: str, default=None) -> str | None:
    """A short string (at most MAX_TEXT characters); `default` when absent or empty."""
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise RequestError(f"{what} must be text, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise RequestError(f"{what} is longer than {MAX_TEXT} characters")
    return value


def choice(value, what: str, choices: tuple, default: str) -> str:
    value = text(value, what, default)
    if value not in choices:
        raise RequestError(f"{what} must be {' or '.join(choices)}, not '{value}'")
    return value


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
        if sid is None or sid == "":
            return self.sources[self.order[0]]
        if isinstance(sid, bool) or not isinstance(sid, str | int):
            raise RequestError(f"source must be a source id, got {_kind(sid)}")
        if str(sid) not in self.sources:
            raise RequestError(f"unknown source '{str(sid)[:40]}': choose one of {', '.join(self.order)}",
                               HTTPStatus.NOT_FOUND)
        return self.sources[str(sid)]

    def network(self, sid) -> Network:
        source = self.source(sid)
        with self.lock:
            return self._loaded(source)

    def _loaded(self, source: Source) -> Network:
        """`source`'s network, loaded again when its file changed (call with self.lock held)."""
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

    def test_image(self, net: Network, index=None, klass=None, nth=None) -> dict:
        data = self.test_set(net)
        labels = data.test.labels
        if klass is not None and klass != "":
            k = whole(klass, "class", 0, MAX_COORDINATE)
            mine = (labels == k).nonzero().flatten()
            if not 0 <= k < len(data.classes) or len(mine) == 0:
                raise RequestError(f"class {k} does not exist in {data.name} (0-{len(data.classes) - 1})")
            index = int(mine[whole(nth, "n", 0, MAX_COORDINATE, 0) % len(mine)])
        index = whole(index, "index", 0, MAX_COORDINATE, 0)
        if not index < len(labels):
            raise RequestError(f"test image {index} does not exist: {data.name} has 0-{len(labels) - 1}")
        pixels = data.test.images[index].numpy()
        label = int(labels[index])
        return {"index": index, "label": label, "class": data.classes[label], "dataset": data.name,
                "count": len(labels), "classes": list(data.classes), "pixels": pixels}

    def pixels(self, net: Network, spec) -> tuple[np.ndarray, list[str]]:
        """uint8 pixels for the page's input (28x28, or as the network's training images are stored): a drawing, a
        test image or converted pixels (an upload)."""
        if not isinstance(spec, dict):
            raise RequestError(f"'input' must be an object (a drawing, a test image or pixels), got {_kind(spec)}")
        kind = choice(spec.get("kind"), "input kind", ("drawing", "test", "pixels"), "")
        if kind == "drawing":
            png = spec.get("png")
            if not isinstance(png, str):
                raise RequestError(f"a drawing's 'png' must be a data: URL, got {_kind(png)}")
            return engine.drawing_pixels(png, choice(spec.get("fit"), "fit", ("mnist", "frame"), "mnist"))
        if kind == "test":
            image = self.test_image(net, spec.get("index"))
            return image["pixels"], [f"{image['dataset']} test image {image['index']} ({image['class']})"]
        raw, steps = spec.get("raw"), spec.get("steps", [])
        if not isinstance(raw, str):
            raise RequestError(f"pixels: 'raw' must be base64 text, got {_kind(raw)}")
        try:
            raw = base64.b64decode(raw, validate=True)
        except ValueError:
            raise RequestError("pixels: not valid base64") from None
        if not isinstance(steps, list) or len(steps) > MAX_STEPS:
            raise RequestError(f"pixels: 'steps' must be a list of at most {MAX_STEPS} texts")
        steps = [text(s, "a step", "") for s in steps]
        return pictures.from_raw(raw, net).numpy(), steps

    # ------------------------------------------------------------ the endpoints
    def sources_json(self) -> dict:
        return {"sources": [self.sources[i].describe() for i in self.order]}

    def info(self, query: dict) -> dict:
        source = self.source(query.get("source"))
        net = self.network(source.id)
        from ..inspect import count_params

        return {"source": source.describe(), "model": net.name, "classes": list(net.classes),
                "input_size": net.input_size, "in_channels": net.in_channels, "normalize": [net.mean, net.std],
                "dataset": net.dataset_name, "trained": net.trained, "epoch": net.epoch,
                "parameters": count_params(net.model),
                "fit": "frame" if (net.dataset_name or "").startswith("fashion") else "mnist"}

    def test(self, query: dict) -> dict:
        net = self.network(query.get("source"))
        image = self.test_image(net, query.get("index"), query.get("class"), query.get("nth"))
        image["raw"] = base64.b64encode(image.pop("pixels").tobytes()).decode()
        return image

    @staticmethod
    def outsize(query: dict) -> dict:
        n, k, p, s = (whole(query.get(key), what, 0, 10**6, default) for key, what, default in
                      (("n", "input size", None), ("k", "kernel", None), ("p", "padding", 0), ("s", "stride", 1)))
        return {"size": engine.output_size(n, k, p, s)}

    def forward(self, body: dict) -> dict:
        net = self.network(body.get("source"))
        pixels, steps = self.pixels(net, body.get("input"))
        channels = whole(body.get("channels"), "channels", 1, MAX_CHANNELS, engine.DEFAULT_CHANNELS)
        only = text(body.get("only"), "only")
        with self.lock:
            started = time.perf_counter()
            result = engine.forward_json(net, pixels, steps, channels, only)
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return result

    def unit(self, body: dict) -> dict:
        net = self.network(body.get("source"))
        pixels, _ = self.pixels(net, body.get("input"))
        layer = text(body.get("layer"), "layer")
        if layer is None:
            raise RequestError("missing 'layer': the name of a Conv2d layer")
        where = [whole(body.get(key), what, 0, MAX_COORDINATE) for key, what in
                 (("channel", "channel"), ("y", "row"), ("x", "column"))]
        with self.lock:
            return engine.unit_math(net, pixels, layer, *where)

    def explain(self, body: dict) -> dict:
        net = self.network(body.get("source"))
        pixels, _ = self.pixels(net, body.get("input"))
        target = body.get("target")
        target = None if target is None or target == "" else whole(target, "target class", 0, MAX_COORDINATE)
        layer = text(body.get("layer"), "layer")
        with self.lock:
            result = engine.explain_json(net, pixels, target, layer)
        result["classes"] = engine.class_names(net, np.zeros((1, len(net.classes))))
        return result

    def upload(self, query: dict, data: bytes) -> dict:
        """An uploaded picture converted for the network `source` (default: the first) as its training images
        were prepared; the page sends the pixels back with its next request."""
        name = text(query.get("name"), "name", "upload")
        invert = choice(query.get("invert"), "invert", ("auto", "yes", "no"), "auto")
        pixels, steps = engine.upload_pixels(data, name, invert, self.network(query.get("source")))
        return {"raw": base64.b64encode(pixels.tobytes()).decode(), "steps": [f"{name}: {steps[0]}", *steps[1:]]}

    def live(self, query: dict):
        """The live stream's events (see live_events), its arguments checked before the stream starts."""
        source = self.source(query.get("source"))
        index = whole(query.get("index"), "index", 0, MAX_COORDINATE, 0)
        if source.run_dir is None:
            raise RequestError(f"{source.label} is not in a run directory: nothing to follow")
        return self.live_events(source, index)

    def live_events(self, source: Source, index: int):
        """Server-sent events for a run in progress: one 'epoch' event whenever metrics.csv changes (the run's
        checkpoints are written before it), with the curves and the feature maps of test image `index`."""
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
                        net = self._loaded(last)
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
    try:  # read with bounds and checked: the followed directory may hold anything
        return int(rundir.read_config(run_dir)["config"]["epochs"])
    except (OSError, CheckpointError, KeyError, TypeError, ValueError):
        return None
