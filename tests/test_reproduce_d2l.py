"""benchmarks/reproduce_d2l.py: rows judged against the book's band, partial and diverged rows marked, and a
reproduction that continues where it stopped."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import reproduce_d2l  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")


def fake_run(root, recipe, accuracies, state=None):
    run = root / recipe
    run.mkdir(parents=True)
    with open(run / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s"])
        for epoch, acc in enumerate(accuracies, 1):
            writer.writerow([epoch, 0.5, 0.8, 0.6, acc, 0.9, 10.0, 6000.0])
    (run / "config.json").write_text(json.dumps({"device": "cpu", "threads": 2, "precision": "bfloat16"}))
    (run / "reproduce.json").write_text(json.dumps(state or {"wall_s": 130.0, "outcome": "done"}))


@pytest.mark.parametrize("acc, status", [(0.80, "in the band"), (0.77, "**below** the band"), (0.83, "above the band")])
def test_a_finished_row_is_judged_against_the_band(tmp_path, acc, status):
    fake_run(tmp_path, "d2l-lenet", [0.7] * 9 + [acc])  # LeNet band: 0.781 / 0.807 / 0.821
    cells = reproduce_d2l.row_cells("d2l-lenet", tmp_path)
    assert cells["status"].startswith(status)
    assert cells["cnnlab"] == f"0.500 / 0.800 / {acc:.3f}" and cells["ex_s"] == "6,000" and cells["wall"] == "2.2 min"
    assert cells["band"] == "0.781 / 0.807 / 0.821" and cells["book"] == "0.469 / 0.823 / 0.779"


def test_partial_and_diverged_rows_are_not_judged(tmp_path):
    fake_run(tmp_path, "d2l-alexnet", [0.85, 0.86], {"wall_s": 7200.0, "outcome": "partial"})
    fake_run(tmp_path, "d2l-nin", [0.1], {"wall_s": 60.0, "outcome": "diverged", "message": "loss became nan"})
    assert reproduce_d2l.row_cells("d2l-alexnet", tmp_path)["status"] == "partial: 2/10 epochs"
    assert reproduce_d2l.row_cells("d2l-nin", tmp_path)["status"].startswith("NaN stop in epoch 2")
    assert reproduce_d2l.row_cells("d2l-vgg", tmp_path)["status"] == "not run"
    table = reproduce_d2l.table(tmp_path, reproduce_d2l.ORDER)
    assert table.count("\n| ") == len(reproduce_d2l.ORDER)  # one line per d2l recipe below the header


def test_every_d2l_recipe_has_a_row_cheapest_first():
    from cnnlab.config import RECIPES

    assert set(reproduce_d2l.ORDER) == {name for name in RECIPES if name.startswith("d2l-")}
    sizes = [RECIPES[r].settings.get("resize") or 28 for r in reproduce_d2l.ORDER]
    assert sizes == sorted(sizes)


@pytest.mark.slow  # 11 s: three benchmark processes, each evaluating on the 10,000 real test images
@pytest.mark.skipif(not FASHION.exists(), reason="Fashion-MNIST not installed")
def test_a_second_invocation_continues_the_run(tmp_path):
    def reproduce(epochs):
        return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reproduce_d2l.py"), "--root", str(tmp_path),
                               "--table", str(tmp_path / "table.md"), "--recipes", "d2l-lenet", "--epochs",
                               f"d2l-lenet={epochs}", "--train-limit", "512"], capture_output=True, text=True,
                              check=True).stdout

    reproduce(1)
    out = reproduce(2)
    assert "--resume" in out and "from epoch 2 of 2" in out and "partial: 2/10 epochs" in out
    state = json.loads((tmp_path / "d2l-lenet" / "reproduce.json").read_text())
    assert state["invocations"] == 2 and state["outcome"] == "partial"
    assert [row["epoch"] for row in csv.DictReader(open(tmp_path / "d2l-lenet" / "metrics.csv"))] == ["1", "2"]
    assert "d2l-lenet: 2 epochs done" in reproduce(2)  # nothing left to do
    assert "partial: 2/10 epochs" in (tmp_path / "table.md").read_text()


@pytest.mark.slow  # as is test_a_second_invocation_continues_the_run, which stops and continues a row
@pytest.mark.skipif(not FASHION.exists(), reason="Fashion-MNIST not installed")
def test_sigterm_saves_the_row_and_says_the_same_command_continues(tmp_path):
    import signal
    import time

    job = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "reproduce_d2l.py"), "--root", str(tmp_path),
                            "--table", str(tmp_path / "table.md"), "--recipes", "d2l-lenet", "--train-limit", "512"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "d2l-lenet" / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)
    out, err = job.communicate(timeout=120)
    if job.returncode == 0:
        pytest.skip("the row finished before the signal arrived")
    assert job.returncode == 130, err
    assert "interrupted during d2l-lenet; the same command continues" in err and "Traceback" not in err
    assert json.loads((tmp_path / "d2l-lenet" / "reproduce.json").read_text())["outcome"] == "interrupted"
    assert "LeNet" in (tmp_path / "table.md").read_text()
