"""The composition matrix (issue 24): five kinds of trained network x every command that reads a run. Each cell
runs the command as a user would and checks that it succeeds and that its output is right.

Kinds: a zoo model on grey data; the user's own network by file reference (Liu Er's Net, with `x.view`); a zoo
model on a colour image folder; the user's own network on that folder; a module trained from Python with
`cnnlab.train(Net())`. The five runs are trained once for the module, on tiny data."""
import io
import json
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab import views
from cnnlab.cli import build_parser, main
from cnnlab.network import import_reference

KINDS = ["zoo-grey", "own-grey", "zoo-colour", "own-colour", "python"]

MYNET = '''
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """Liu Er's lecture 10 network as the course writes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(320, 10)

    def forward(self, x):
        batch_size = x.size(0)
        x = self.pooling(F.relu(self.conv1(x)))
        x = self.pooling(F.relu(self.conv2(x)))
        x = x.view(batch_size, -1)
        return self.fc(x)


class ColourNet(Net):
    """The same on colour pictures of three classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=5)
        self.fc = nn.Linear(320, 3)
'''

COLOURS = {"red": (200, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 210)}
TINY = ["--train-limit", "200", "--test-limit", "60", "--epochs", "1", "--threads", "1", "--precision", "fp32"]


class Run:
    def __init__(self, kind, path, model, data, result=None):
        self.kind, self.path, self.model, self.data, self.result = kind, path, model, data, result

    @property
    def model_args(self) -> list:
        return ["--model", self.model] if self.model else []


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The five runs, a grey and a colour picture file, and the user's mynet.py; the folder cache in tmp."""
    root = tmp_path_factory.mktemp("matrix")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(root / "cache"))
        (root / "mynet.py").write_text(MYNET)
        folder = root / "shapes"
        rng = np.random.default_rng(0)
        for name, colour in COLOURS.items():
            (folder / name).mkdir(parents=True)
            for i in range(8):
                pixels = np.array(colour) + rng.integers(-30, 30, (24 + i, 30, 3))
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / name / f"{i}.png")
        grey = root / "grey.png"  # a dark sketch on light paper
        Image.fromarray(np.pad(np.zeros((30, 12), np.uint8), ((15, 15), (14, 14)), constant_values=255)).save(grey)
        colour = root / "colour.png"
        Image.new("RGB", (40, 30), COLOURS["red"]).save(colour)
        net, colour_net = f"{root / 'mynet.py'}:Net", f"{root / 'mynet.py'}:ColourNet"
        shapes = f"folder:{folder}"
        runs = {}
        for kind, model, dataset in (("zoo-grey", None, "synthetic"), ("own-grey", net, "synthetic"),
                                     ("zoo-colour", None, shapes), ("own-colour", colour_net, shapes)):
            out = root / "runs" / kind
            named = ["basic-cnn"] if model is None else ["--model", model]
            assert main(["train", *named, "--dataset", dataset, *TINY, "--out", str(out)]) == 0
            runs[kind] = Run(kind, out, model, dataset)
        result = cnnlab.train(import_reference(net)(), dataset="synthetic", train_limit=200, test_limit=60, epochs=1,
                              threads=1, precision="fp32", progress=False, out=str(root / "runs" / "python"))
        runs["python"] = Run("python", root / "runs" / "python", net, "synthetic", result)
        yield {"runs": runs, "grey": grey, "colour": colour, "root": root}


def cli(capsys, *argv) -> tuple[str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def is_png(path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and min(image.size) > 50


def trained(run):
    return cnnlab.load_trained(run.path, model=run.model)


def picture_for(lab, run) -> Path:
    return lab["grey"] if run.data == "synthetic" else lab["colour"]


# ---------------------------------------------------------------- the cells
@pytest.mark.parametrize("kind", KINDS)
def test_eval_gives_the_accuracy_the_run_recorded(lab, capsys, kind):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "eval", run.path, *run.model_args)
    recorded = cnnlab.rundir.read_metrics(run.path)[-1]["test_acc"]
    assert f"accuracy {recorded:.4f}" in out


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_test_images_takes_the_whole_set_for_a_larger_limit(lab, capsys, kind):
    run = lab["runs"][kind]
    net = trained(run)
    count = len(net.dataset().test)
    if count > 100:  # the grey set's 1,000 images: a few (a grid of 100 takes long to draw)
        out, err = cli(capsys, "predict", run.path, "--limit", 12, *run.model_args)
        assert out.count("test[") == 12 and err == ""
    else:
        out, err = cli(capsys, "predict", run.path, "--limit", count + 50, *run.model_args)
        assert out.count("test[") == count and f"using all {count:,}" in err
    assert is_png(run.path / "predict.png")


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_a_file_converts_it_as_training_did(lab, capsys, kind):
    run = lab["runs"][kind]
    picture = picture_for(lab, run)
    out, _ = cli(capsys, "predict", run.path, picture, *run.model_args)
    colour = run.data != "synthetic"
    assert ("centre square at 28x28" if colour else "inverted because its border is light") in out
    assert ("" if colour else "padded to 60x60, resized to 28x28") in out
    assert out.strip().endswith(f"wrote {run.path / f'predict_{picture.stem}.png'}")
    assert is_png(run.path / f"predict_{picture.stem}.png")


@pytest.mark.parametrize("kind", KINDS)
def test_confusion_counts_the_run_test_images(lab, capsys, kind):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "confusion", run.path, *run.model_args, "--out", run.path / "cm.png")
    recorded = json.loads((run.path / "config.json").read_text())["test_images"]
    accuracy = cnnlab.rundir.read_metrics(run.path)[-1]["test_acc"]
    assert f"accuracy {accuracy:.4f} on {recorded:,} test images" in out and is_png(run.path / "cm.png")


@pytest.mark.parametrize("kind", KINDS)
def test_tsne_embeds_the_test_images(lab, capsys, kind):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "tsne", run.path, "--limit", 30, *run.model_args)
    assert out.strip().endswith("tsne.png") and is_png(run.path / "tsne.png")


@pytest.mark.parametrize("kind", KINDS)
def test_features_lists_every_conv_layer(lab, capsys, kind):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "features", run.path, picture_for(lab, run), *run.model_args)
    convs = [m for m in trained(run).model.modules() if isinstance(m, torch.nn.Conv2d)]
    listed = [line for line in out.splitlines() if line.startswith("  ")]
    assert out.count(", 24, 24]") == 1 and len(listed) == len(convs)
    assert is_png(run.path / "features.png")


@pytest.mark.parametrize("kind", KINDS)
def test_kernels_draws_the_first_conv(lab, capsys, kind):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "kernels", run.path, *run.model_args)
    channels = 1 if run.data == "synthetic" else 3
    assert f"weights [10, {channels}, 5, 5]" in out and is_png(run.path / "kernels.png")


@pytest.mark.parametrize("kind", KINDS)
def test_explain_draws_grad_cam_of_a_test_image_and_a_file(lab, capsys, kind):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "explain", run.path, *run.model_args)
    assert "Grad-CAM at layer" in out and is_png(run.path / "explain.png")
    out, _ = cli(capsys, "explain", run.path, picture_for(lab, run), *run.model_args, "--out", run.path / "e2.png")
    assert is_png(run.path / "e2.png")


DOCS = Path(__file__).resolve().parents[1] / "docs" / "views.md"


def onnx_client(model_file, png_file) -> str:
    """Run docs/views.md's onnxruntime client as printed there (its model and picture file names replaced) and
    return what it prints: the class it gives the picture."""
    import contextlib
    import re

    code = re.search(r"```python\n(import json, numpy as np, onnxruntime.*?)```", DOCS.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 6
    code = code.replace('"model.onnx"', repr(str(model_file))).replace('"shoe.png"', repr(str(png_file)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(DOCS), "exec"), {})
    return printed.getvalue().strip()


@pytest.mark.parametrize("kind", KINDS)
def test_export_writes_the_preprocessing_that_a_six_line_client_needs(lab, capsys, kind, tmp_path):
    run = lab["runs"][kind]
    out, _ = cli(capsys, "export", run.path, *run.model_args, "--images", 8)
    net = trained(run)
    assert "preprocessing, written into the file (metadata_props):" in out and "classes (" in out
    meta = cnnlab.export.read_metadata(run.path / "model.onnx")
    assert meta["input_shape"] == [net.in_channels, 28, 28] and meta["classes"] == list(net.classes)
    assert meta["mean"] == list(net.mean) and len(meta["std"]) == net.in_channels
    assert meta["run"] == str(run.path.resolve())
    data = net.dataset()
    for index in range(4):  # a test image saved as a PNG is classified as cnnlab classifies it
        image = data.test.images[index]
        png = tmp_path / f"{index}.png"
        Image.fromarray((image if image.ndim == 2 else image.permute(1, 2, 0)).numpy()).save(png)
        x, _ = cnnlab.pictures.model_input([image], net)
        assert onnx_client(run.path / "model.onnx", png) == net.classes[int(net.logits(x).argmax())]


def test_compare_and_plot_take_every_kind_of_run(lab, capsys):
    runs = [lab["runs"][k].path for k in KINDS]
    out, _ = cli(capsys, "compare", *runs)
    assert out.count("| basic-cnn") == 2 and "Net" in out and "ColourNet" in out
    assert is_png(runs[0].parent / "compare" / "compare_params.png")
    out, _ = cli(capsys, "plot", *runs)
    assert is_png(runs[0].parent / "compare" / "curves.png")
    for run in runs:
        out, _ = cli(capsys, "plot", run)
        assert is_png(run / "curves.png")


@pytest.fixture(scope="module")
def explorer(lab):
    """`cnnlab explore` on the five runs, each --model between the runs it belongs to, in any order."""
    from cnnlab.explore import find_sources, make_server

    runs = lab["runs"]
    argv = ["explore", str(runs["zoo-grey"].path), "--model", runs["own-grey"].model, str(runs["own-grey"].path),
            str(runs["zoo-colour"].path), "--port", "0", str(runs["own-colour"].path), "--model",
            runs["own-colour"].model, str(runs["python"].path)]
    args = build_parser().parse_args(argv)
    sources = find_sources(args.refs, models=args.model)
    server = make_server(sources, port=0, log=lambda line: None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", {s.label: s for s in sources}
    server.explorer.stop.set()
    server.shutdown()
    server.server_close()


def post(url, body) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("kind", KINDS)
def test_explore_serves_the_trained_weights_and_a_forward_pass(lab, explorer, kind):
    base, sources = explorer
    run = lab["runs"][kind]
    source = sources[f"{kind}/best.pt"]
    assert source.model == run.model  # bound to the runs trained with it
    with urllib.request.urlopen(f"{base}/api/info?source={source.id}", timeout=60) as response:
        info = json.loads(response.read())
    net = trained(run)
    assert info["trained"] and info["classes"] == list(net.classes) and info["in_channels"] == net.in_channels
    result = post(f"{base}/api/forward", {"source": source.id, "input": {"kind": "test", "index": 1}})
    x, _ = cnnlab.pictures.model_input([net.dataset().test.images[1]], net)
    expected = net.logits(x).softmax(1)[0]
    served = torch.tensor([t["p"] for t in sorted(result["top"], key=lambda t: t["index"])])
    assert torch.allclose(served, expected, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_the_python_views_show_as_pngs(lab, kind):
    run = lab["runs"][kind]
    given = run.result if run.result is not None else run.path  # cnnlab.train's result, or the run directory
    model = None if run.result is not None else run.model
    out = run.path / "py"
    confusion = views.confusion(given, model=model, mistakes=4, out=out / "c.png")
    recorded = json.loads((run.path / "config.json").read_text())["test_images"]
    assert int(confusion.matrix.sum()) == recorded and len(confusion.classes) == len(trained(run).classes)
    for figure in (confusion, views.tsne(given, model=model, limit=20, out=out / "t.png"),
                   views.predict(given, model=model, limit=3, out=out / "p.png"),
                   views.kernels(given, model=model, out=out / "k.png")):
        png = figure._repr_png_()
        assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).size[0] > 50


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_torchscript_and_pt2_exports_carry_the_same_preprocessing(lab, capsys, fmt):
    run = lab["runs"]["own-colour"]
    out, _ = cli(capsys, "export", run.path, *run.model_args, "--format", fmt, "--images", 4)
    path = run.path / ("model.ts.pt" if fmt == "torchscript" else "model.pt2")
    assert "preprocessing, written into the file (extra file cnnlab.json):" in out
    meta = cnnlab.export.read_metadata(path)
    net = trained(run)
    assert meta["input_shape"] == [3, 28, 28] and meta["mean"] == list(net.mean)
    assert meta["classes"] == list(net.classes)
