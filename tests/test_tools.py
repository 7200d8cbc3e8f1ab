"""The practitioner's tools: the learning-rate range test (lr-find, train --lr find), export (ONNX checked in
onnxruntime, TorchScript, torch.export) and TensorBoard logging."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.cli import main
from cnnlab.config import resolve
from cnnlab.data import Batches, load_dataset
from cnnlab.export import TOLERANCE, export_model, export_run
from cnnlab.lr_find import find_lr_for, range_test

TINY = ["--dataset", "synthetic", "--train-limit", "512", "--test-limit", "128", "--threads", "1", "--precision",
        "fp32"]


# ---------------------------------------------------------------- lr-find
@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def test_range_test_leaves_model_optimizer_and_rng_as_it_found_them(synthetic):
    torch.manual_seed(0)
    model = cnnlab.create_model("lenet-bn")  # batch norm: buffers change too
    optimizer = torch.optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    model(torch.zeros(2, 1, 28, 28)).sum().backward()
    optimizer.step()  # some momentum state to keep
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_before = json.dumps(optimizer.state_dict()["param_groups"])
    momentum = [optimizer.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    batches = Batches(synthetic.train, 64, shuffle=True, limit=1024, mean=synthetic.mean, std=synthetic.std)
    finding = range_test(model, batches, optimizer, steps=60)
    assert len(finding.lrs) > 20 and finding.lrs[0] == pytest.approx(1e-6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert json.dumps(optimizer.state_dict()["param_groups"]) == opt_before
    assert all(torch.equal(m, optimizer.state[p]["momentum_buffer"]) for m, p in zip(momentum, model.parameters()))
    assert torch.equal(rng, torch.get_rng_state()) and not model.training


def test_range_test_rises_exponentially_stops_on_divergence_and_suggests_a_tenth_of_the_minimum(synthetic):
    torch.manual_seed(0)
    model = cnnlab.create_model("basic-cnn")
    batches = Batches(synthetic.train, 64, shuffle=True, mean=synthetic.mean, std=synthetic.std)
    finding = range_test(model, batches, torch.optim.SGD(model.parameters(), lr=1.0), start=1e-4, end=1e3, steps=100)
    ratios = np.diff(np.log(finding.lrs))
    assert np.allclose(ratios, ratios[0])  # a constant factor per step
    assert finding.diverged and len(finding.lrs) < 100  # SGD at lr 1e3 diverges long before the end
    finite = [s for s in finding.smoothed if math.isfinite(s)]
    best = int(np.argmin(finite))
    assert finding.minimum == finding.lrs[best] and finding.suggestion == pytest.approx(finding.minimum / 10)
    assert finding.rule == "minimum / 10" and "suggested lr" in finding.describe()
    assert finding.smoothed[best] < finding.smoothed[0] - 0.05  # the loss did fall on the way


def test_lr_find_command_prints_the_suggestion_and_writes_the_plot(tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert main(["lr-find", "basic-cnn", *TINY, "--steps", "80", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("suggested lr ") and "(rule: minimum / 10;" in out and f"plot: {plot}" in out
    assert plot.stat().st_size > 10_000
    assert not (tmp_path / "runs").exists()


def test_train_with_lr_find_trains_at_the_suggested_rate(tmp_path, capsys):
    config = resolve({"model": "basic-cnn", "dataset": "synthetic", "train_limit": 512, "threads": 1,
                      "precision": "fp32", "lr": "find"})
    expected = find_lr_for(config, progress=False, report=False).suggestion
    run = tmp_path / "run"
    assert main(["train", "basic-cnn", *TINY, "--epochs", "1", "--lr", "find", "--out", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["lr"] == pytest.approx(expected)
    assert "lr-find: suggested lr" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0  # the found rate is a plain number on resume


def test_train_with_lr_find_sets_the_run_up_once_loading_the_data_and_building_the_model_once(tmp_path,
                                                                                              monkeypatch):
    import cnnlab.prepare as prepare

    loads, builds = [], []
    load, create = prepare.load_dataset, prepare.create_model
    monkeypatch.setattr(prepare, "load_dataset", lambda name, *a, **k: loads.append(name) or load(name, *a, **k))
    monkeypatch.setattr(prepare, "create_model", lambda name, *a, **k: builds.append(name) or create(name, *a, **k))
    cnnlab.train("basic-cnn", dataset="synthetic", lr="find", epochs=1, train_limit=256, test_limit=64, threads=1,
                 precision="fp32", out=str(tmp_path / "run"), progress=False)
    assert loads == ["synthetic"] and builds == ["basic-cnn"]  # the range test ran on the run's own setup


def test_lr_find_tunes_your_own_network_as_its_run_would_train_it(tmp_path, capsys):
    class Small(nn.Module):  # the user's own network, not a registered one; returns (logits, features)
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
            self.fc = nn.Linear(4 * 26 * 26, 10)

        def forward(self, x):
            features = self.body(x)
            return self.fc(features), features

    options = dict(dataset="synthetic", train_limit=512, test_limit=128, threads=1, precision="fp32", epochs=1)
    from cnnlab.network import UserNetwork

    network = UserNetwork.of(Small)
    config = resolve({**options, "model": network.label, "lr": "find"}, own_network=True)  # as cnnlab.train resolves it
    expected = find_lr_for(config, network=network, progress=False, report=False).suggestion
    net, history = cnnlab.train(Small, lr="find", out=str(tmp_path / "run"), progress=False, **options)
    saved = json.loads((history.run_dir / "config.json").read_text())["config"]
    assert saved["lr"] == pytest.approx(expected) and saved["lr"] != 1.0
    assert "lr-find: suggested lr" in capsys.readouterr().err


# ---------------------------------------------------------------- export
def test_onnx_export_matches_pytorch_in_onnxruntime_with_a_dynamic_batch(good_run, tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    assert main(["export", str(good_run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (onnx, dynamic batch)" in printed
    diff = float(printed.split("largest difference from PyTorch ")[1].split(",")[0])
    assert diff <= TOLERANCE
    model = onnx.load(str(out))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)  # self-contained
    # independently of export's own check: real test images, several batch sizes
    loaded = cnnlab.views.load(good_run)
    data = loaded.dataset()
    x, _ = next(iter(loaded.batches(data.test, limit=37, batch_size=37)))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = loaded.model(x).numpy()
    for n in (1, 5, 37):
        got = session.run(None, {"images": x[:n].numpy()})[0]
        assert np.abs(got - expected[:n]).max() <= TOLERANCE
    assert (session.run(None, {"images": x.numpy()})[0].argmax(1) == expected.argmax(1)).all()


@pytest.mark.parametrize("fmt, suffix", [("torchscript", ".ts.pt"), ("pt2", ".pt2")])
def test_torchscript_and_pt2_exports_load_back_and_match(good_run, fmt, suffix):
    result = export_run(good_run, fmt, images=16)
    assert result.path == good_run / f"model{suffix}" and result.max_diff <= TOLERANCE
    x = torch.randn(3, 1, 28, 28)
    loaded = torch.jit.load(str(result.path)) if fmt == "torchscript" else torch.export.load(str(result.path)).module()
    with torch.no_grad():
        assert torch.allclose(loaded(x), cnnlab.views.load(good_run).model(x), atol=TOLERANCE)
    result.path.unlink()


def test_export_of_a_colour_model_checks_three_channel_images(tmp_path):
    net = cnnlab.create_model("resnet18", num_classes=4, in_channels=3).eval()
    result = export_model(net, torch.rand(4, 3, 40, 40), tmp_path / "r.onnx")
    assert result.max_diff <= TOLERANCE and result.same_predictions == 4


# ---------------------------------------------------------------- TensorBoard
def test_tensorboard_logs_scalars_a_prediction_grid_per_epoch_and_the_graph(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(["train", "basic-cnn", *TINY, "--epochs", "2", "--tensorboard", "--out", str(run)]) == 0
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    tags = events.Tags()
    assert {"loss/train", "loss/test", "accuracy/train", "accuracy/test", "lr"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("accuracy/test")] == [1, 2]
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert events.Scalars("accuracy/test")[-1].value == pytest.approx(float(metrics[-1].split(",")[4]))
    assert "predictions" in tags["images"] and len(events.Images("predictions")) == 2
    assert tags["graph"]


def test_tensorboard_continues_on_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(["train", "basic-cnn", *TINY, "--epochs", "1", "--tensorboard", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2]


class BatchTwoOnly(nn.Module):
    """Right only at batch size 2, the size the exporter traces with: the exported graph keeps that branch."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        return logits if x.shape[0] == 2 else logits + 1


class Spectral(nn.Module):
    """An FFT, which the ONNX exporter has no operator for."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 15, 10)

    def forward(self, x):
        return self.fc(torch.fft.rfft2(x).abs().flatten(1))


def test_an_export_that_disagrees_with_pytorch_is_refused_and_leaves_no_file(tmp_path):
    with pytest.raises(cnnlab.errors.ExportError, match=r"/m.onnx: the exported model's logits differ from PyTorch's "
                                                        r"by up to 1 on 6 test images \(allowed: 0.0001\); "
                                                        r"nothing written"):
        export_model(BatchTwoOnly(), torch.rand(6, 1, 28, 28), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_model_the_exporter_refuses_is_one_error_naming_the_file(tmp_path):
    with pytest.raises(cnnlab.errors.ExportError, match=r"/m.onnx: PyTorch cannot export this model to onnx \(.*fft"):
        export_model(Spectral(), torch.rand(4, 1, 28, 28), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
