"""`cnnlab explore` in a real browser: Debian's chromium driven by Playwright (no browser download). Draw a
stroke and see the prediction update, click a conv unit and see the module's own activation as the sum, upload a
bad file and see the error, Grad-CAM's layers by name and kind, the playground's formula, and follow a training run
that starts in an empty directory (its banner, top panels, layer names and Stop button as the run fills it).

Screenshots: CNNLAB_EXPLORE_SHOTS=DIR saves one PNG per panel there (docs/explore.md's pictures), and
CNNLAB_EXPLORE_RUN=RUN_DIR[:RUN_DIR2] explores those runs instead of the tiny synthetic one."""
import base64
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.explore import engine, find_sources, load_network, make_server
from cnnlab.rundir import load_model, read_metrics

CHROMIUM = os.environ.get("CNNLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SHOTS = os.environ.get("CNNLAB_EXPLORE_SHOTS")

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="Python playwright not installed "
                       "(pip install 'cnnlab[browser]'; no browser download needed)"),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _serve(refs):
    server = make_server(find_sources(refs), port=0, log=lambda line: print(line))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _stop(server):
    server.explorer.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def runs(good_run):
    """The runs to explore: the first is the one the tests check; more (CNNLAB_EXPLORE_RUN=RUN1:RUN2) for Compare."""
    given = os.environ.get("CNNLAB_EXPLORE_RUN")
    return [Path(p) for p in given.split(os.pathsep)] if given else [good_run]


@pytest.fixture(scope="module")
def site(runs):
    run_dir = runs[0]
    server, url = _serve([str(r) for r in runs])
    yield url, run_dir
    _stop(server)


@pytest.fixture
def page(browser, site):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site[0])
    page.wait_for_selector("#prob-list .prob")
    yield page
    page.close()
    assert not errors, errors  # no JavaScript exception on the way


def shot(page, name, selector=None):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        target = page.locator(selector) if selector else page
        target.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _model_and_input(run_dir, pixels):
    """The oracle: the checkpoint loaded on its own, and the input built as in training."""
    from cnnlab.views import checkpoint_file

    model, payload = load_model(checkpoint_file(run_dir))
    net = load_network(find_sources([str(checkpoint_file(run_dir))])[0])
    return model.eval(), engine.model_input(net, pixels), payload


def _test_pixels(run_dir, index):
    from cnnlab.data import load_dataset
    from cnnlab.views import checkpoint_file

    config = load_model(checkpoint_file(run_dir))[1]["config"]
    return load_dataset(config["dataset"], config.get("data_dir")).test.images[index].numpy()


def test_drawing_a_stroke_updates_the_prediction(page, site):
    page.click("nav[data-group=input] button[data-tab=draw]")
    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 21):  # a vertical stroke, then a hook to the left
        page.mouse.move(box["x"] + 140, box["y"] + 40 + step * 10)
    for step in range(1, 8):
        page.mouse.move(box["x"] + 140 - step * 10, box["y"] + 240)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#steps li') && "
                           "document.querySelector('#steps li').textContent.startsWith('drawing 280x280')")
    page.wait_for_timeout(300)
    shot(page, "input", "section.top")
    # the page's answer is the model's answer for the same drawing, preprocessed the same way
    url = page.evaluate("document.getElementById('draw-canvas').toDataURL('image/png')")
    fit = page.eval_on_selector("#fit", "e => e.value")
    pixels, _ = engine.drawing_pixels(url, fit)
    model, x, payload = _model_and_input(site[1], pixels)
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    expected = payload["classes"][int(probs.argmax())]
    page.wait_for_function(f"document.getElementById('prediction-top').dataset.index === '{int(probs.argmax())}'",
                           timeout=10_000)
    assert page.inner_text("#prediction-top").startswith(expected)
    shot(page, "overview")
    rows = page.locator("#prob-list .prob")
    assert rows.count() == len(payload["classes"])
    assert page.locator("#error").is_hidden()


def test_clicking_a_conv_unit_shows_the_modules_activation_as_the_sum(page, site):
    page.wait_for_function("document.getElementById('test-label').textContent.includes('test image 0')")
    shot(page, "layers", "#layers-panel")
    layer = page.locator("#layers .layer").filter(has=page.locator(".map.conv")).first
    name = layer.get_attribute("data-layer")
    canvas = layer.locator("canvas[data-channel='1']")
    shape = layer.locator(".shape").inner_text()
    c, h, w = [int(v) for v in shape.strip("[]").split(",")]
    box = canvas.bounding_box()
    y, x = h // 2, w // 3
    canvas.click(position={"x": (x + 0.5) * box["width"] / w, "y": (y + 0.5) * box["height"] / h})
    page.wait_for_selector("#unit-module")
    shot(page, "kernel", "#kernel-panel")
    # the oracle: the same checkpoint, the same test image, a hook on the same module
    model, inp, _ = _model_and_input(site[1], _test_pixels(site[1], 0))
    captured = {}
    hook = dict(model.named_modules())[name].register_forward_hook(lambda m, a, out: captured.setdefault("out", out))
    with torch.no_grad():
        model(inp)
    hook.remove()
    expected = float(captured["out"][0, 1, y, x])
    assert page.inner_text("#unit-title").startswith(f"{name}: output channel 1, row {y}, column {x}")
    shown_module = float(page.get_attribute("#unit-module", "data-value"))
    shown_sum = float(page.get_attribute("#unit-sum", "data-value"))
    assert shown_module == pytest.approx(expected, abs=1e-6)
    assert shown_sum == pytest.approx(expected, abs=1e-4, rel=1e-4)
    assert "✓ equal" in page.inner_text("#unit-equation")


def test_uploading_a_bad_file_shows_the_error_and_the_page_keeps_working(page, tmp_path):
    page.click("nav[data-group=input] button[data-tab=upload]")
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    page.set_input_files("#upload-file", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error-text")
    shot(page, "upload-error")
    good = tmp_path / "bar.png"
    from PIL import Image

    image = np.full((60, 40), 255, np.uint8)
    image[10:50, 17:23] = 0  # a dark bar on white paper: inverted on the way in
    Image.fromarray(image).save(good)
    page.set_input_files("#upload-file", str(good))
    page.wait_for_function("document.querySelector('#steps li').textContent.startsWith('bar.png')")
    assert page.locator("#error").is_hidden()
    assert "inverted" in page.inner_text("#steps")


def test_why_this_class_and_compare_panels(page, site):
    page.click("nav[data-group=panel] button[data-tab=why]")
    page.wait_for_function("document.getElementById('why-cam').dataset.target !== undefined")
    predicted = page.get_attribute("#prediction-top", "data-index")
    assert page.get_attribute("#why-cam", "data-target") == predicted
    assert "Grad-CAM at" in page.inner_text("#why-cam-caption")
    shot(page, "why", "#why-panel")
    page.select_option("#why-class", "2")
    page.wait_for_function("document.getElementById('why-cam').dataset.target === '2'")
    page.click("nav[data-group=panel] button[data-tab=compare]")
    page.wait_for_selector("#compare-right .compare-top")  # the two sides load independently: wait for each
    page.wait_for_selector("#compare-left .compare-top")
    assert page.locator("#compare-left .compare-top").count() == 1
    left, right = page.inner_text("#compare-left h3"), page.inner_text("#compare-right h3")
    assert left.startswith(f"{site[1].name}/best.pt") and right != left
    shot(page, "compare", "#compare-panel")


def test_the_playground_gives_the_output_size_of_cnnlab_ops(page):
    from cnnlab.ops import conv_output_size

    page.click("nav[data-group=panel] button[data-tab=playground]")
    for n, k, p, s in ((7, 3, 1, 2), (28, 5, 2, 1), (10, 4, 0, 3)):
        for name, value in zip("nkps", (n, k, p, s)):
            page.fill(f"#pg-{name}", str(value))
            page.dispatch_event(f"#pg-{name}", "input")
        page.wait_for_function("document.getElementById('pg-formula').dataset.size === "
                               f"'{conv_output_size(n, k, p, s)}'")
    page.fill("#pg-n", "7"), page.fill("#pg-k", "3"), page.fill("#pg-p", "1"), page.fill("#pg-s", "2")
    page.dispatch_event("#pg-s", "input")
    page.wait_for_timeout(400)
    shot(page, "playground", "#playground-panel")
    page.fill("#pg-n", "2"), page.fill("#pg-k", "5"), page.fill("#pg-p", "0")
    page.dispatch_event("#pg-p", "input")
    page.wait_for_selector("#pg-formula .bad")
    assert "larger than the padded input" in page.inner_text("#pg-formula")


def test_grad_cam_layer_selector_names_each_layer_and_its_kind(page, site):
    page.click("nav[data-group=panel] button[data-tab=why]")
    page.wait_for_function("document.getElementById('why-cam').dataset.target !== undefined")
    model, _, _ = _model_and_input(site[1], _test_pixels(site[1], 0))
    modules = dict(model.named_modules())
    options = page.eval_on_selector_all("#why-layer option", "os => os.map(o => [o.value, o.textContent])")
    assert options, "no Grad-CAM layer offered"
    for name, text in options:  # the value stays the module's name; the text adds its class
        assert text == f"{name} · {type(modules[name]).__name__}"
    chosen = page.eval_on_selector("#why-layer", "e => e.value")
    caption = page.inner_text("#why-cam-caption")
    assert caption.startswith(f"Grad-CAM at {chosen} · {type(modules[chosen]).__name__} for")


def test_the_page_draws_pixels_grey_or_in_colour_as_training_images_are_stored(page):
    """(H, W) grey and (C, H, W) colour planes, with or without their shape, land on the canvas value for value."""
    grey, colour = [0, 85, 170, 255], [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
    drawn = page.evaluate("""async ([grey, colour]) => {
        const m = await import("/static/paint.js");
        const draw = (bytes, shape) => {
            const cv = document.createElement("canvas");
            cv.width = 2; cv.height = 2;
            m.paintPixels(cv, m.pixelsOf(btoa(String.fromCharCode(...bytes)), shape));
            return Array.from(cv.getContext("2d").getImageData(0, 0, 2, 2).data);
        };
        return [draw(grey, null), draw(grey, [2, 2]), draw(colour, null), draw(colour, [3, 2, 2])];
    }""", [grey, colour])
    as_grey = [c for v in grey for c in (v, v, v, 255)]
    as_colour = [c for i in range(4) for c in (colour[i], colour[4 + i], colour[8 + i], 255)]
    assert drawn == [as_grey, as_grey, as_colour, as_colour]


def test_the_page_draws_a_colour_model_input_in_colour_on_one_scale(page):
    """A (3, H, W) model input as the server encodes it (uint8 per map between its lo and hi): the three planes
    share one scale, so a channel's normalised value keeps its place against the others."""
    planes = {"data": base64.b64encode(bytes([0, 255, 255, 0, 255, 0])).decode(), "shown": 3,
              "lo": [0.0, -1.0, 0.0], "hi": [1.0, 1.0, 0.5], "shape": [3, 1, 2]}
    drawn = page.evaluate("""async (input) => {
        const m = await import("/static/paint.js");
        const cv = document.createElement("canvas");
        cv.width = 2; cv.height = 1;
        const scale = m.paintInput(cv, input);
        return [Array.from(cv.getContext("2d").getImageData(0, 0, 2, 1).data), scale.lo, scale.hi];
    }""", planes)
    # values (0, 1, 0.5) and (1, -1, 0) on the common scale -1 ... 1
    assert drawn == [[128, 255, 191, 255, 255, 0, 128, 255], -1, 1]


@pytest.fixture(scope="module")
def followed(browser, tmp_path_factory):
    """The live tab following a run directory that is empty when the page opens, while `cnnlab train` fills it
    with two epochs. Yields the page once the run has ended, what it showed before the first checkpoint, and the
    run directory."""
    run = tmp_path_factory.mktemp("live") / "live"
    run.mkdir()  # an empty directory: the run is about to start
    server, url = _serve([str(run)])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    trainer = None
    try:
        page.goto(url)
        page.wait_for_selector("#error:not([hidden])")
        before = {"banner": page.inner_text("#error-text"), "prediction": page.inner_text("#prediction-top")}
        page.click("nav[data-group=panel] button[data-tab=live]")
        page.click("#live-start")
        page.wait_for_function("document.getElementById('live-status').textContent.includes('waiting')")
        trainer = subprocess.Popen([sys.executable, "-m", "cnnlab", "train", "basic-cnn", "--dataset", "synthetic",
                                    "--epochs", "2", "--train-limit", "1500", "--test-limit", "200", "--threads", "1",
                                    "--precision", "fp32", "--test-every", "2", "--out", str(run)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        page.wait_for_function("document.querySelectorAll('#live-epochs .epoch-row').length === 2", timeout=180_000)
        assert trainer.wait(timeout=120) == 0, trainer.stderr.read()
        yield page, before, run, errors
    finally:
        if trainer and trainer.poll() is None:
            trainer.kill()
        page.close()
        _stop(server)


def test_following_a_training_run_shows_two_epochs(followed):
    page, _, run_dir, errors = followed
    assert page.get_attribute("#live-status", "data-epoch") == "2"
    assert "epoch 2 of 2" in page.inner_text("#live-status")
    newest = page.locator("#live-epochs .epoch-row").first
    assert newest.get_attribute("data-epoch") == "2"
    assert newest.locator(".map canvas").count() > 0  # the feature maps of the epoch-2 weights
    # --test-every 2: epoch 1 had no test pass, epoch 2 (the last) had one
    accuracy = read_metrics(run_dir)[1]["test_acc"]
    assert f"test accuracy {100 * accuracy:.1f}%" in page.inner_text("#live-status")
    assert "not tested this epoch" in page.locator("#live-epochs .epoch-row[data-epoch='1']").inner_text()
    shot(page, "live", "#live-panel")
    assert not errors, errors  # no JavaScript exception on the way


def test_live_banner_about_the_missing_checkpoint_goes_once_the_run_writes_one(followed):
    page, before, _, _ = followed
    assert "live/last.pt: no checkpoint yet" in before["banner"]
    page.wait_for_selector("#error", state="hidden", timeout=10_000)


def test_live_fills_the_top_panels_with_the_runs_newest_checkpoint(followed):
    page, before, run, _ = followed
    assert before["prediction"] == "—"  # blank while the run had written nothing
    page.wait_for_function("document.getElementById('model-info').textContent.includes('2 epoch(s)')",
                           timeout=10_000)
    assert "trained on synthetic" in page.inner_text("#model-info")
    # the prediction shown is last.pt's own for the test image the input panel picked
    model, payload = load_model(run / "last.pt")
    net = load_network(find_sources([str(run / "last.pt")])[0])
    index = int(page.eval_on_selector("#test-index", "e => e.value"))
    with torch.no_grad():
        probs = model.eval()(engine.model_input(net, _test_pixels(run, index))).softmax(1)[0]
    page.wait_for_function(f"document.getElementById('prediction-top').dataset.index === '{int(probs.argmax())}'",
                           timeout=10_000)
    assert page.locator("#prob-list .prob").count() == len(payload["classes"])
    assert page.locator("#layers .layer").count() > 1


def test_live_stop_is_disabled_once_the_last_planned_epoch_is_in(followed):
    page = followed[0]
    page.wait_for_selector("#live-stop:disabled", timeout=10_000)
    assert page.locator("#live-start").is_enabled()  # following again is possible
    assert "finished" in page.inner_text("#live-status")


def test_live_map_rows_are_labelled_with_layer_names_and_kinds(followed):
    page, _, run, _ = followed
    model, _ = load_model(run / "last.pt")
    convs = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)][:2]
    newest = page.locator("#live-epochs .epoch-row").first
    assert newest.locator(".live-layer .name").all_inner_texts() == [f"{name} · Conv2d" for name in convs]
    captions = newest.locator(".map .cap").all_inner_texts()
    assert captions and all(c.startswith("ch ") for c in captions)  # not "0:3", "3:5"
