"""The trainer: it learns, it is deterministic, its run directory is complete, and it resumes exactly."""
import csv
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.cli import main
from cnnlab.config import RECIPES, resolve
from cnnlab.rundir import load_checkpoint, load_model, read_metrics

FASHION = Path("/usr/share/datasets/fashion-mnist")
TIMING = ("seconds", "images_per_s")  # wall-clock columns: the only ones allowed to differ between runs
FAST = dict(dataset="synthetic", threads=1, progress=False)


def deterministic_columns(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(run_dir)]


def weights(run_dir, name="last.pt"):
    return load_checkpoint(Path(run_dir) / name)["model"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def cli(*args, env=None):
    """Run `python -m cnnlab ARGS` in a subprocess, as a user would."""
    return subprocess.Popen([sys.executable, "-m", "cnnlab", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def test_training_on_synthetic_data_learns_far_above_chance(tmp_path):
    net, history = cnnlab.train("basic-cnn", epochs=2, out=str(tmp_path), **FAST)
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[-1]["test_acc"] > 0.8  # chance is 0.1
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert isinstance(net, torch.nn.Module)


def test_run_directory_holds_config_metrics_checkpoints_and_curves(tmp_path):
    cnnlab.train("basic-cnn", epochs=1, train_limit=1000, out=str(tmp_path), **FAST)
    assert {"config.json", "metrics.csv", "last.pt", "best.pt", "curves.png"} <= {p.name for p in tmp_path.iterdir()}
    info = json.loads((tmp_path / "config.json").read_text())
    assert info["config"]["model"] == "basic-cnn" and info["dataset_source"] == "generated"
    assert info["versions"]["torch"] == torch.__version__ and info["device"] == "cpu" and info["threads"] == 1
    with open(tmp_path / "metrics.csv") as f:
        assert csv.DictReader(f).fieldnames == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                                                "seconds", "images_per_s"]
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path):
    net, _ = cnnlab.train("lenet", epochs=1, train_limit=500, out=str(tmp_path), precision="fp32", **FAST)
    loaded, payload = load_model(tmp_path / "last.pt")
    assert same_weights(net.state_dict(), loaded.state_dict())
    x = torch.randn(4, 1, 28, 28)
    net.eval(), loaded.eval()
    # the trained copy keeps channels_last weights, whose kernels round differently in the last bits
    torch.testing.assert_close(net(x), loaded(x), rtol=1e-5, atol=1e-5)
    assert payload["epoch"] == 2 and payload["step"] == 0 and len(payload["history"]) == 1


def test_same_seed_same_settings_give_identical_metrics_and_weights(tmp_path):
    for name in ("a", "b"):
        cnnlab.train("basic-cnn", epochs=2, train_limit=1500, out=str(tmp_path / name), **FAST)
    assert deterministic_columns(tmp_path / "a") == deterministic_columns(tmp_path / "b")
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_test_every_tests_every_nth_epoch_and_the_last_and_changes_nothing_else(tmp_path, capsys):
    cnnlab.train("basic-cnn", epochs=5, train_limit=600, test_limit=200, out=str(tmp_path / "all"), **FAST)
    result = cnnlab.train("basic-cnn", epochs=5, train_limit=600, test_limit=200, test_every=2,
                          out=str(tmp_path / "some"), **FAST)
    every, some = read_metrics(tmp_path / "all"), read_metrics(tmp_path / "some")
    assert [r["epoch"] for r in some if r["test_acc"] is not None] == [2, 4, 5]
    assert all(r["test_loss"] is None for r in some if r["epoch"] in (1, 3))
    with open(tmp_path / "some" / "metrics.csv") as f:
        assert next(row for row in csv.DictReader(f) if row["epoch"] == "1")["test_acc"] == ""
    # a test pass changes nothing in training: the same training figures and weights, the same tested figures
    train_part = ("epoch", "train_loss", "train_acc", "lr")
    assert [{k: r[k] for k in train_part} for r in some] == [{k: r[k] for k in train_part} for r in every]
    assert [r for r in deterministic_columns(tmp_path / "some") if r["test_acc"] is not None] == [
        r for r in deterministic_columns(tmp_path / "all") if r["epoch"] in (2, 4, 5)]
    assert same_weights(weights(tmp_path / "some"), weights(tmp_path / "all"))
    # best.pt holds the best tested epoch
    best = max((r for r in some if r["test_acc"] is not None), key=lambda r: r["test_acc"])
    assert load_checkpoint(tmp_path / "some" / "best.pt")["history"][-1] == best
    assert f"(best {best['test_acc']:.4f} at epoch {best['epoch']})" in repr(result)
    # only the last epoch, resumed further: the untested rows come back from the checkpoint as they were
    cnnlab.train("basic-cnn", epochs=2, train_limit=600, test_limit=200, test_every=0, out=str(tmp_path / "last"),
                 **FAST)
    assert [r["test_acc"] is None for r in read_metrics(tmp_path / "last")] == [True, False]
    assert main(["train", "--resume", str(tmp_path / "last"), "--epochs", "3"]) == 0
    assert [r["test_acc"] is None for r in read_metrics(tmp_path / "last")] == [True, False, False]
    assert main(["plot", str(tmp_path / "some"), "--out", str(tmp_path / "curves.png")]) == 0
    assert main(["compare", str(tmp_path / "some"), str(tmp_path / "last"), "--out", str(tmp_path / "cmp")]) == 0
    with open(tmp_path / "cmp" / "compare.csv") as f:
        assert [float(row["best_test_acc"]) for row in csv.DictReader(f)][0] == best["test_acc"]


def test_the_console_shows_an_untested_epoch_with_dashes_and_the_epoch_line_without_a_test(tmp_path, capsys):
    assert main(["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "2", "--train-limit", "300",
                 "--test-limit", "100", "--threads", "1", "--test-every", "0", "--out", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = next(line for line in lines if line.split()[:1] == ["1"])
    assert first.split()[3:5] == ["-", "-"]
    second = next(line for line in lines if line.split()[:1] == ["2"])
    assert float(second.split()[4]) == read_metrics(tmp_path / "r")[1]["test_acc"]


def test_test_every_below_zero_is_an_error_naming_it(capsys):
    assert main(["train", "basic-cnn", "--dataset", "synthetic", "--test-every", "-1"]) == 2
    assert "--test-every must be 0 (the last epoch only) or a positive integer, got -1" in capsys.readouterr().err


def test_different_seeds_give_different_runs(tmp_path):
    cnnlab.train("basic-cnn", epochs=1, train_limit=1000, out=str(tmp_path / "a"), seed=1, **FAST)
    cnnlab.train("basic-cnn", epochs=1, train_limit=1000, out=str(tmp_path / "b"), seed=2, **FAST)
    assert deterministic_columns(tmp_path / "a") != deterministic_columns(tmp_path / "b")


def test_explicit_options_override_the_recipe_which_overrides_defaults():
    config = resolve({"recipe": "liuer", "lr": 0.1, "model": None})
    assert config.model == "basic-cnn" and config.lr == 0.1  # explicit beats recipe
    assert config.momentum == 0.5 and config.batch_size == 64 and config.normalize == "mnist"  # from the recipe
    assert config.schedule == "none"  # from the defaults
    lenet = resolve({"recipe": "d2l-lenet"})
    assert (lenet.lr, lenet.batch_size, lenet.init, lenet.epochs) == (0.9, 256, "xavier", 10)
    assert resolve({"recipe": "d2l-resnet", "model": "resnet18-preact"}).model == "resnet18-preact"


def test_every_recipe_names_a_registered_model():
    for name, recipe in RECIPES.items():
        assert recipe.settings["model"] in cnnlab.list_models(), name


@pytest.mark.parametrize("args, message", [
    (["--recipe", "liuer0"], "unknown recipe 'liuer0': did you mean liuer"),
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--lr", "-1"], "--lr must be positive"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["basic-cnn", "--resize", "96"], "takes 28x28 input only"),
])
def test_bad_training_options_are_one_line_errors(args, message, capsys):
    assert main(["train", *args, "--dataset", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.fixture
def nan_after_15_steps():
    """A registered model whose training forward returns NaN from its 16th call on."""
    from cnnlab.models import registry

    @registry.register_model("test-nan-after-15", description="test only", source="test")
    def factory(num_classes=10, in_channels=1):
        net = cnnlab.create_model("basic-cnn", num_classes, in_channels)
        calls = [0]

        def poison(module, inputs, output):
            calls[0] += module.training
            return output * float("nan") if calls[0] > 15 else output

        net.register_forward_hook(poison)
        return net

    yield "test-nan-after-15"
    registry._REGISTRY.pop("test-nan-after-15")


def test_a_diverging_loss_stops_the_run_keeping_the_last_good_checkpoint(tmp_path, capsys, nan_after_15_steps):
    # 640 images at batch 64: 10 steps per epoch, so the loss turns NaN in epoch 2
    # float32 pinned: --precision auto may time a few training steps of a copy of the model first, and the copy
    # shares this hook's counter
    code = main(["train", nan_after_15_steps, "--dataset", "synthetic", "--train-limit", "640", "--epochs", "3",
                 "--out", str(tmp_path), "--threads", "1", "--precision", "fp32"])
    err = capsys.readouterr().err
    assert code == 2 and "loss became nan in epoch 2" in err and f"last good checkpoint: {tmp_path / 'last.pt'}" in err
    payload = load_checkpoint(tmp_path / "last.pt")
    assert (payload["epoch"], payload["step"]) == (2, 0)  # the state after epoch 1
    assert all(torch.isfinite(w).all() for w in payload["model"].values())
    assert len(read_metrics(tmp_path)) == 1


def test_a_new_run_refuses_a_directory_that_holds_a_run(tmp_path, capsys):
    cnnlab.train("basic-cnn", epochs=1, train_limit=200, out=str(tmp_path), **FAST)
    assert main(["train", "basic-cnn", "--dataset", "synthetic", "--out", str(tmp_path)]) == 2
    assert f"cnnlab train --resume {tmp_path}" in capsys.readouterr().err


@pytest.mark.slow  # 15 s, three processes; resuming exactly is in the default suite: the SIGINT test below
def test_killed_run_resumed_matches_the_uninterrupted_run(tmp_path):
    args = ["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "3", "--threads", "1", "--train-limit", "3000"]
    reference = cli(*args, "--out", str(tmp_path / "ref"))
    killed_dir = tmp_path / "killed"
    victim = cli(*args, "--out", str(killed_dir))
    deadline = time.time() + 120
    while not (killed_dir / "metrics.csv").exists() and time.time() < deadline:  # wait for epoch 1 to finish
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert reference.wait() == 0
    assert len(read_metrics(killed_dir)) < 3
    resumed = cli("train", "--resume", str(killed_dir))
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert deterministic_columns(killed_dir) == deterministic_columns(tmp_path / "ref")
    assert same_weights(weights(killed_dir), weights(tmp_path / "ref"))


# The run the interruption tests stop and resume: 2 epochs, hard-example mining from epoch 2, which chooses its
# images from epoch 1's losses, so the losses recorded before a stop must come back with the checkpoint.
INTERRUPTED = ["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "2", "--threads", "1", "--train-limit",
               "3000", "--hard-fraction", "0.5", "--hard-from", "2"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The INTERRUPTED run left alone, trained once for the module in a process started beside the first test's
    own; the fixture's value waits for it and returns its run directory."""
    out = tmp_path_factory.mktemp("uninterrupted")
    process = cli(*INTERRUPTED, "--out", str(out))

    @functools.cache
    def finished():
        _, err = process.communicate()
        assert process.returncode == 0, err
        return out

    yield finished
    process.kill()


def test_a_run_killed_mid_epoch_resumes_from_its_periodic_save_and_matches_the_uninterrupted_run(tmp_path, capsys,
                                                                                                 uninterrupted):
    run = tmp_path / "run"
    victim = cli(*INTERRUPTED, "--save-minutes", "0.001", "--out", str(run))  # last.pt every 60 ms
    deadline, saved = time.time() + 120, None
    while victim.poll() is None and time.time() < deadline:  # until a save from inside epoch 1
        if (run / "last.pt").exists():
            saved = load_checkpoint(run / "last.pt")
            if (saved["epoch"], saved["step"]) > (1, 0):
                break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    reference = uninterrupted()
    assert saved is not None and saved["epoch"] == 1 and saved["step"] > 0 and saved["partial"]["count"] > 0
    if (run / "metrics.csv").exists():
        pytest.skip("epoch 1 finished before the kill landed")
    assert main(["train", "--resume", str(run)]) == 0  # in this process: no second start-up to wait for
    out = capsys.readouterr().out
    assert "resuming at epoch 1, step " in out and "resuming at epoch 1, step 0 " not in out
    assert deterministic_columns(run) == deterministic_columns(reference)
    assert same_weights(weights(run), weights(reference))


# SIGTERM (slow, as is test_distributed.py::test_signal_stops_every_rank_*) goes through the same handler as SIGINT
@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_interrupt_saves_a_checkpoint_prints_the_resume_command_and_resumes_exactly(tmp_path, uninterrupted, sig):
    # the resumed run trains in this process (no second start-up) and must end as the separate process did
    run = tmp_path / "run"
    victim = cli(*INTERRUPTED, "--out", str(run))
    deadline = time.time() + 120
    while not (run / "config.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # somewhere inside training
    victim.send_signal(sig)
    out, err = victim.communicate()
    reference = uninterrupted()
    if victim.returncode == 0:  # the run finished before the signal landed: nothing to resume
        pytest.skip("training finished before the signal arrived")
    assert victim.returncode == 130, err
    assert f"cnnlab train --resume {run}" in err and "Traceback" not in err
    assert load_checkpoint(run / "last.pt")["config"]["epochs"] == 2
    assert main(["train", "--resume", str(run)]) == 0
    assert deterministic_columns(run) == deterministic_columns(reference)
    assert same_weights(weights(run), weights(reference))


def test_eval_reports_loss_accuracy_and_per_class_table(tmp_path, capsys):
    cnnlab.train("basic-cnn", epochs=1, out=str(tmp_path), **FAST)
    assert main(["eval", str(tmp_path / "best.pt"), "--per-class"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "hbar" in out and "dots" in out
    reported = float(out.split("accuracy ")[1].split()[0])
    best = max(r["test_acc"] for r in read_metrics(tmp_path))
    assert abs(reported - best) < 0.02  # eval runs in float32, training evaluated under bf16 autocast


def test_recipes_command_lists_every_recipe(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in RECIPES:
        assert name in out


@pytest.mark.skipif(not FASHION.exists(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_one_epoch_on_a_fashion_mnist_subset_clearly_beats_chance(tmp_path):
    _, history = cnnlab.train("basic-cnn", dataset="fashion-mnist", epochs=1, train_limit=2000, test_limit=1000,
                              lr=0.05, momentum=0.9, out=str(tmp_path), progress=False)
    assert history[-1]["test_acc"] > 0.6


def test_float16_training_scales_the_loss_and_checkpoints_the_scaler(tmp_path):
    _, history = cnnlab.train("basic-cnn", epochs=2, train_limit=600, test_limit=300, precision="fp16",
                              out=str(tmp_path), **FAST)
    scaler = load_checkpoint(tmp_path / "last.pt")["scaler"]
    assert scaler is not None and scaler["scale"] > 1  # a loss scale is in use and saved for resuming
    assert history[-1]["test_acc"] > 0.5  # and it still learns
    assert load_checkpoint(tmp_path / "last.pt")["config"]["precision"] == "fp16"
