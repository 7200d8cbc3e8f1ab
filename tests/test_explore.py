"""`cnnlab explore` without a browser: MNIST preprocessing, every layer recorded, a conv unit's multiply-add equal
to the module's output, and the HTTP API (bad requests answered with a message, nothing outside the sources
reachable, a malicious checkpoint refused, Ctrl-C stopping the server). Browser tests: test_explore_browser.py."""
import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.explore import engine, find_sources, load_network, make_server
from test_untrusted import malicious


# ---------------------------------------------------------------- preprocessing
def test_mnist_fit_puts_the_longer_side_at_20_and_the_centre_of_mass_at_the_centre():
    gray = np.zeros((280, 280), np.uint8)
    gray[30:200, 200:240] = 255  # a tall bar far off centre
    pixels, steps = engine.mnist_fit(gray)
    ink = np.argwhere(pixels > 0)
    height = ink[:, 0].max() - ink[:, 0].min() + 1
    assert height in (20, 21)  # 20 plus at most one row of anti-aliasing
    ys, xs = np.indices(pixels.shape)
    total = pixels.astype(float).sum()
    cy, cx = (ys * pixels).sum() / total, (xs * pixels).sum() / total
    assert abs(cy - 13.5) <= 0.6 and abs(cx - 13.5) <= 0.6
    assert "centre of mass" in steps[-1]


def test_an_empty_drawing_stays_black():
    pixels, steps = engine.mnist_fit(np.zeros((50, 50), np.uint8))
    assert pixels.max() == 0 and steps == ["empty drawing"]


def _png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_drawing_pixels_read_a_canvas_data_url():
    canvas = np.zeros((280, 280), np.uint8)
    canvas[100:180, 130:150] = 255
    url = "data:image/png;base64," + base64.b64encode(_png(canvas)).decode()
    pixels, steps = engine.drawing_pixels(url, "mnist")
    assert pixels.shape == (28, 28) and pixels.max() > 200 and steps[0] == "drawing 280x280"


def test_uploads_that_are_no_image_or_too_large_are_refused_with_a_message():
    from cnnlab.errors import ImageError

    with pytest.raises(ImageError, match="not an image"):
        engine.upload_pixels(b"hello, not a picture", "notes.txt")
    with pytest.raises(ImageError, match="more than the limit"):
        engine.upload_pixels(_png(np.zeros((4100, 4100))), "huge.png")
    with pytest.raises(ImageError, match="larger than"):
        engine.decode_image(b"x" * (engine.MAX_UPLOAD_BYTES + 1))


def test_encode_keeps_each_map_within_its_own_range():
    t = torch.randn(3, 5, 7) * torch.tensor([1.0, 10.0, 0.01])[:, None, None]
    enc = engine.encode(t)
    q = np.frombuffer(base64.b64decode(enc["data"]), np.uint8).reshape(3, 35).astype(float)
    lo, hi = np.array(enc["lo"]), np.array(enc["hi"])
    back = lo[:, None] + q / 255 * (hi - lo)[:, None]
    assert np.allclose(back, t.reshape(3, -1).numpy(), atol=float((hi - lo).max()) / 255 * 0.51 + 1e-6)


# ---------------------------------------------------------------- every layer, kernel math
def _net(name):
    return load_network(find_sources([name])[0])


def _pixels(seed=0):
    g = np.random.default_rng(seed)
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 8:20] = g.integers(80, 255, (16, 12))
    return pixels


def test_forward_records_every_module_including_residual_sums_and_inception_branches():
    for name, block in (("residual-cnn", "ResidualBlock"), ("inception-cnn", "InceptionA")):
        net = _net(name)
        logits, records = engine.forward_all(net.model, engine.model_input(net, _pixels()))
        modules = [n for n, _ in net.model.named_modules() if n]
        # every module recorded; one called twice (inception-cnn's shared max pool) once per call, as name#2
        assert {r.name.split("#")[0] for r in records} == set(modules)
        assert all(r.name.split("#")[0] in modules and r.name.count("#") <= 1 for r in records)
        blocks = [r for r in records if r.kind == block]
        assert blocks and not blocks[0].leaf
        with torch.no_grad():
            assert torch.allclose(blocks[0].output, dict(net.model.named_modules())[blocks[0].name](blocks[0].input))
        assert torch.allclose(logits, records[-1].output) or logits.shape[1] == 10


@pytest.mark.parametrize("name", ["lenet", "basic-cnn", "residual-cnn", "inception-cnn", "speedrun-net"])
def test_every_conv_units_multiply_add_equals_the_modules_output(name):
    net = _net(name)
    pixels = _pixels()
    _, records = engine.forward_all(net.model, engine.model_input(net, pixels))
    convs = [r for r in records if r.kind == "Conv2d"]
    assert convs
    g = np.random.default_rng(1)
    for r in convs:
        c, h, w = r.output.shape[1:]
        for y, x in ((0, 0), (h - 1, w - 1), (int(g.integers(h)), int(g.integers(w)))):
            u = engine.unit_math(net, pixels, r.name, c - 1, y, x)
            assert u["module_value"] == pytest.approx(float(r.output[0, c - 1, y, x]), abs=1e-6)
            assert u["sum"] == pytest.approx(u["module_value"], abs=1e-4, rel=1e-4)
            assert u["ops_value"] == pytest.approx(u["module_value"], abs=1e-4, rel=1e-4)
            assert len(u["window"]) == min(u["in_channels"], engine.MAX_WINDOW_CHANNELS)


def test_the_window_starts_in_the_padding_and_the_effective_field_covers_the_kernel():
    net = _net("lenet")  # first conv: 5x5, padding 2
    pixels = np.full((28, 28), 128, np.uint8)
    u = engine.unit_math(net, pixels, "0", 0, 0, 0)
    assert u["window_origin"] == [-2, -2]
    assert u["window"][0][0] == [0.0] * 5  # the top row of the window is padding
    assert u["effective"]["box"] == [0, 0, 3, 3]  # rows/columns 0-2 of the input: the unpadded part


@pytest.mark.parametrize("layer,unit,message", [
    ("nope", (0, 0, 0), "no layer 'nope'"),
    ("1", (0, 0, 0), "not a Conv2d"),
    ("0", (6, 0, 0), "outside layer '0'"),
    ("0", (0, 28, 0), "outside layer '0'"),
    ("0", ("a", 0, 0), "whole number"),
])
def test_bad_layer_or_unit_requests_name_the_problem(layer, unit, message):
    with pytest.raises(ConfigError, match=message):
        engine.unit_math(_net("lenet"), _pixels(), layer, *unit)


def test_a_model_in_a_users_file_is_explored(tmp_path):
    (tmp_path / "mynet.py").write_text(
        "from torch import nn\n"
        "def Tiny():\n"
        "    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(3, 4))\n")
    sources = find_sources([f"{tmp_path / 'mynet.py'}:Tiny"])
    net = load_network(sources[0])
    result = engine.forward_json(net, _pixels(), [])
    assert [layer["kind"] for layer in result["layers"]] == ["Conv2d", "ReLU", "AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert [t["class"] for t in result["top"]] == ["0", "1", "2", "3"]  # 4 outputs: classes by number


def test_without_references_every_run_under_runs_is_offered(good_run, tmp_path):
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(good_run, root / "one")
    (root / "two").mkdir()  # empty: a run about to start
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not a run")
    labels = [s.label for s in find_sources([], runs_root=root)]
    assert labels == ["one/best.pt", "one/last.pt", "two/last.pt"]


def test_unknown_references_are_refused_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match="did you mean lenet"):
        find_sources(["lenett"])
    # no runs yet is not an error: the shipped network opens (tests/test_pretrained.py)
    assert [s.label for s in find_sources([], runs_root=tmp_path / "runs")] == ["pretrained/best.pt"]
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match="not a run directory"):
        find_sources([str(tmp_path / "stuff")])


# ---------------------------------------------------------------- the HTTP API
@pytest.fixture
def served(good_run, tmp_path):
    """The explorer on a free port with the good run, an untrained lenet and a malicious checkpoint."""
    evil = malicious("shell", tmp_path / "evil.pt", tmp_path / "marker", good_run)
    lines = []
    server = make_server(find_sources([str(good_run), "lenet", str(evil)]), port=0, log=lines.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", lines, tmp_path / "marker"
    server.explorer.stop.set()
    server.shutdown()
    server.server_close()


def call(url, body=None, headers=None, data=None):
    """A request as the page makes it: a POST body as Content-Type application/json (an upload as bytes)."""
    if body is not None:
        data = json.dumps(body).encode()
    kind = "application/octet-stream" if "/api/upload" in url else "application/json"
    request = urllib.request.Request(url, data=data, headers={"Content-Type": kind, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_api_serves_the_page_sources_and_a_forward_pass(served):
    base, _, _ = served
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert b"cnnlab explore" in response.read()
    status, sources = call(base + "/api/sources")
    labels = [s["label"] for s in sources["sources"]]
    assert status == 200 and labels[:2] == ["run/best.pt", "run/last.pt"] and labels[2] == "lenet (untrained)"
    status, result = call(base + "/api/forward", {"source": "0", "input": {"kind": "test", "index": 3}})
    assert status == 200 and abs(sum(t["p"] for t in result["top"]) - 1) < 1e-4
    assert result["layers"][0]["maps"]["shown"] == min(8, result["layers"][0]["shape"][0])


def test_bad_requests_get_a_message_on_the_page_and_in_the_terminal_and_the_server_keeps_serving(served):
    base, lines, _ = served
    test0 = {"kind": "test", "index": 0}
    cases = [
        (call(base + "/api/unit", {"source": "0", "input": test0, "layer": "nope", "channel": 0, "y": 0, "x": 0}),
         400, "no layer 'nope'"),
        (call(base + "/api/forward", {"source": "9", "input": test0}), 404, "unknown source '9'"),
        (call(base + "/api/forward", {"source": "0", "input": {"kind": "test", "index": 10**6}}), 400,
         "does not exist"),
        (call(base + "/api/forward", data=b"{not json"), 400, "not valid JSON"),
        (call(base + "/api/upload?name=a.txt", data=b"plain text"), 400, "not an image"),
        (call(base + "/api/forward", {"source": "3", "input": test0}), 400, "refused to load"),
    ]
    for (status, payload), expected_status, message in cases:
        assert status == expected_status and message in payload["error"], payload
    assert len(lines) == len(cases) and all(line.startswith("cnnlab explore: ") for line in lines)
    status, _ = call(base + "/api/forward", {"source": "0", "input": test0})
    assert status == 200


def test_a_malicious_checkpoint_runs_no_code(served):
    base, _, marker = served
    status, payload = call(base + "/api/info?source=3")
    assert status == 400 and "refused to load" in payload["error"]
    assert not marker.exists()


def test_no_file_outside_the_sources_is_reachable(served):
    base, _, _ = served
    for path in ("/static/../loader.py", "/static/%2e%2e/server.py", "/etc/passwd", "/static/", "/api/../../x"):
        status, _ = call(base + path)
        assert status == 404, path
    status, payload = call(base + "/api/forward", {"source": "../../etc/passwd", "input": {"kind": "test"}})
    assert status == 404


def test_a_foreign_host_header_and_an_oversized_upload_are_refused(served):
    base, _, _ = served
    status, payload = call(base + "/api/sources", headers={"Host": "evil.example:80"})
    assert status == 403 and "refused Host" in payload["error"]
    request = urllib.request.Request(base + "/api/upload", data=b"x" * 10,
                                     headers={"Content-Length": str(engine.MAX_UPLOAD_BYTES + 1),
                                              "Content-Type": "application/octet-stream"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 413


def test_explain_and_outsize_endpoints(served):
    base, _, _ = served
    status, result = call(base + "/api/explain", {"source": "0", "input": {"kind": "test", "index": 0}, "target": 2})
    assert status == 200 and result["target"] == 2 and result["layer"] in result["layers"]
    assert call(base + "/api/outsize?n=28&k=5&p=2&s=1") == (200, {"size": 28})
    status, payload = call(base + "/api/outsize?n=3&k=5&p=0&s=1")
    assert status == 400 and "larger than the padded input" in payload["error"]


def test_interrupt_turns_sigterm_into_keyboardinterrupt_and_leaves_other_threads_alone():
    from cnnlab.signals import Interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), Interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at the next bytecode; never reached
    assert signal.getsignal(signal.SIGTERM) is before
    errors = []

    def in_a_thread():  # a server started from a thread (a notebook): signals stay the main thread's
        try:
            with Interrupt():
                pass
        except Exception as error:  # noqa: BLE001  (the test reports whatever it was)
            errors.append(error)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert errors == []


def _ignore_sigint():  # as a script's background job starts: SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig, start", [(signal.SIGINT, None), (signal.SIGINT, _ignore_sigint),
                                        (signal.SIGTERM, None)], ids=["sigint", "sigint-ignored-at-start", "sigterm"])
def test_cli_explore_prints_the_url_and_stops_cleanly_on_ctrl_c(good_run, sig, start):
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "explore", str(good_run), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=start)
    try:
        url = None
        for _ in range(50):
            line = process.stdout.readline()
            if "http://127.0.0.1:" in line:
                url = line[line.index("http://"):].split()[0]
                break
        assert url, "no URL printed"
        with urllib.request.urlopen(url + "api/sources", timeout=20) as response:
            assert json.loads(response.read())["sources"]
        process.send_signal(sig)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0 and "stopped" in out and "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()


def test_cli_explore_refuses_an_unknown_run_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cnnlab", "explore", str(tmp_path / "nothing.pt")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no such checkpoint" in result.stderr


@pytest.mark.parametrize("name", __import__("cnnlab.models", fromlist=["list_models"]).list_models())
def test_every_model_of_the_zoo_is_explored(name):
    """Every registered network: all layers with maps, the first conv unit's sum equal to the module, Grad-CAM."""
    net = _net(name)
    pixels = _pixels()
    result = engine.forward_json(net, pixels, [], channels=2)
    assert result["input"]["shape"] == [1, net.input_size, net.input_size]
    assert all(layer["maps"]["shown"] >= 1 for layer in result["layers"] if len(layer["shape"]) in (1, 3))
    conv = next(layer for layer in result["layers"] if layer["kind"] == "Conv2d")
    u = engine.unit_math(net, pixels, conv["name"], 0, conv["shape"][1] // 2, conv["shape"][2] // 2)
    assert u["sum"] == pytest.approx(u["module_value"], abs=1e-4, rel=1e-4)
    why = engine.explain_json(net, pixels)
    assert why["layer"] in why["layers"] and 0 <= why["target"] < 10


def test_the_page_fetches_nothing_from_elsewhere():
    """No CDN, no web font, no remote script: every URL in the shipped page is one of the server's own."""
    import re

    from cnnlab.explore.server import static_files

    files = static_files()
    assert {"index.html", "main.js", "style.css"} <= set(files)
    for name, (body, _) in files.items():
        text = body.decode()
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import", text, re.I), name
    html = files["index.html"][0].decode()
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/static/") and url.removeprefix("/static/") in files


def test_the_page_is_small_es_modules_that_import_only_shipped_files():
    """One module per panel plus a store and an API module (issue 24): each loaded as an ES module from
    index.html's one entry point, importing only files the server ships, none of them over 200 lines."""
    import re

    from cnnlab.explore.server import static_files

    files = static_files()
    html = files["index.html"][0].decode()
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/static/main.js">']
    reached, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        reached.add(name)
        text = files[name][0].decode()
        assert len(text.splitlines()) <= 200, name
        for target in re.findall(r"""^import\s(?:[^"']*\sfrom\s)?["']([^"']+)["'];""", text, re.M):
            assert target.startswith("./") and target[2:] in files, f"{name} imports {target}"
            if target[2:] not in reached:
                todo.append(target[2:])
    assert reached == {name for name in files if name.endswith(".js")}  # every module shipped is used


# ---------------------------------------------------------------- one picture pipeline, one network type
def _png_of(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(40000, 400), (400, 40000), (120000, 133)])
def test_a_picture_padded_to_a_huge_square_is_refused_from_its_header_before_decoding(size, monkeypatch):
    from cnnlab.errors import ImageError

    data = _png_of(Image.new("1", size))  # a few kB: w*h is under the limit or near it, max(w,h)^2 is far over
    assert len(data) < 20_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size))
    with pytest.raises(ImageError, match=r"more than the limit of 16,000,000 pixels \(padded square"):
        engine.upload_pixels(data, "wide.png")
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    with pytest.raises(ImageError, match="padded square"):
        engine.drawing_pixels(url, "frame")
    assert decoded == []  # refused from the header: nothing was decoded, no canvas allocated


def test_an_upload_is_converted_in_memory_for_the_network_it_is_for(tmp_path, monkeypatch):
    import tempfile

    from cnnlab.trained import untrained

    def no_files(*args, **kwargs):
        raise AssertionError("an upload went through a temporary file")

    monkeypatch.setattr(tempfile, "mkstemp", no_files)
    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_files)
    photo = _png_of(Image.new("RGB", (50, 40), (200, 30, 30)))
    grey, steps = engine.upload_pixels(photo, "red.png")
    assert grey.shape == (28, 28) and "grayscale" in steps
    colour_net = untrained(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.LazyLinear(10)), "tiny", 32, 3)
    colour_net.config["dataset"], colour_net.dataset_name = "folder:x", "folder:x"
    pixels, steps = engine.upload_pixels(photo, "red.png", net=colour_net)
    assert pixels.shape == (3, 32, 32) and pixels[0].mean() > 150 > pixels[1].mean()
    x = engine.model_input(colour_net, pixels)
    assert x.shape == (1, 3, 32, 32)


def test_a_colour_run_is_served_info_and_forward(tmp_path):
    import cnnlab
    from cnnlab.trained import TrainedNetwork

    folder = tmp_path / "colours"
    for name, colour in {"red": (200, 30, 30), "blue": (30, 30, 200)}.items():
        (folder / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (30 + i, 30), colour).save(folder / name / f"{i}.png")
    run = tmp_path / "run"
    cnnlab.train("basic-cnn", dataset=f"folder:{folder}", epochs=1, threads=1, progress=False, out=str(run))
    net = load_network(find_sources([str(run)])[0])
    assert isinstance(net, TrainedNetwork) and net.in_channels == 3 and len(net.mean) == 3
    server = make_server(find_sources([str(run)]), port=0, log=lambda line: None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        status, info = call(base + "/api/info?source=0")
        assert status == 200 and info["in_channels"] == 3 and len(info["normalize"][0]) == 3
        status, result = call(base + "/api/forward", {"source": "0", "input": {"kind": "test", "index": 0}})
        assert status == 200 and result["shape"] == [3, 28, 28] and len(result["top"]) == 2
        status, upload = call(base + "/api/upload?name=red.png&source=0", data=_png_of(Image.new("RGB", (9, 7), "red")))
        assert status == 200 and len(base64.b64decode(upload["raw"])) == 3 * 28 * 28
        status, result = call(base + "/api/forward", {"source": "0", "input": {"kind": "pixels", "raw": upload["raw"]}})
        assert status == 200 and result["top"][0]["class"] in ("red", "blue")
    finally:
        server.explorer.stop.set()
        server.shutdown()
        server.server_close()


MYNET = ("from torch import nn\n"
         "class Tiny(nn.Module):\n"
         "    def __init__(self):\n"
         "        super().__init__()\n"
         "        self.conv = nn.Conv2d(1, 3, 3, padding=1)\n"
         "        self.fc = nn.Linear(3 * 28 * 28, 10)\n"
         "    def forward(self, x):\n"
         "        return self.fc(self.conv(x).view(x.size(0), -1))\n")


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    from cnnlab.cli import main

    root = tmp_path_factory.mktemp("own")
    (root / "mynet.py").write_text(MYNET)
    assert main(["train", "--model", f"{root / 'mynet.py'}:Tiny", "--dataset", "synthetic", "--train-limit", "100",
                 "--test-limit", "50", "--epochs", "1", "--threads", "1", "--out", str(root / "mine")]) == 0
    return root


def test_explore_binds_each_model_to_the_runs_trained_with_it_in_any_order(own_run, good_run):
    from cnnlab.cli import build_parser

    ref = f"{own_run / 'mynet.py'}:Tiny"
    args = build_parser().parse_args(["explore", str(own_run / "mine"), "--model", ref, str(good_run), "--port", "0"])
    sources = find_sources(args.refs, models=args.model)
    assert [(s.label, s.model) for s in sources] == [("mine/best.pt", ref), ("mine/last.pt", ref),
                                                     ("run/best.pt", None), ("run/last.pt", None)]
    net = load_network(sources[0])
    assert net.trained and net.epoch == 1 and net.name.endswith("mynet.py:Tiny")
    # the same file named another way, and a reference no run was trained with (shown untrained)
    other = own_run / "other.py"
    other.write_text(MYNET.replace("Tiny", "Other"))
    sources = find_sources([str(own_run / "mine")], models=[f"{other}:Other", ref])
    assert sources[0].model == ref and sources[-1].label == f"{other}:Other (untrained)"
    assert not load_network(sources[-1]).trained
    # only --model: every run under --runs, the user's bound to it
    assert [(s.label, s.model) for s in find_sources([], runs_root=own_run, models=[ref])][0] == ("mine/best.pt", ref)


def test_a_run_of_the_users_network_without_its_model_names_the_explore_command(own_run):
    sources = find_sources([str(own_run / "mine")])
    with pytest.raises(CheckpointError, match=r"cnnlab explore \S+mine --model \S+mynet.py:Tiny"):
        load_network(sources[0])
