"""The run directory has one owner (cnnlab.rundir) and a checkpoint one evaluation (cnnlab.evaluate): the
accuracy metrics.csv records for an epoch is what `cnnlab eval` and the views report for its checkpoint, also
for a run with test-time augmentation under bf16/fp32 autocast."""
import subprocess
import sys

import pytest

from cnnlab import rundir, views
from cnnlab.cli import main
from cnnlab.rundir import load_checkpoint, read_metrics
from cnnlab.trained import load_trained


@pytest.fixture(scope="module")
def tta_run(tmp_path_factory):
    """The issue's example: `cnnlab train basic-cnn --dataset synthetic --epochs 2 --augment flip --tta --out r`
    (made smaller with limits)."""
    run = tmp_path_factory.mktemp("tta") / "r"
    assert main(["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "2", "--augment", "flip", "--tta",
                 "--train-limit", "1500", "--test-limit", "500", "--threads", "1", "--out", str(run)]) == 0
    return run


def reported_accuracy(capsys, *argv) -> float:
    assert main(list(argv)) == 0
    out = capsys.readouterr().out
    return float(out.split("accuracy ")[1].split()[0])


def test_eval_of_a_tta_run_equals_the_accuracy_metrics_csv_recorded_for_that_checkpoint(tta_run, capsys):
    history = read_metrics(tta_run)
    last = load_checkpoint(tta_run / "last.pt")
    assert last["evaluation"]["tta"] is True  # the final epoch was evaluated with TTA, and says so
    assert reported_accuracy(capsys, "eval", str(tta_run), "--last") == pytest.approx(history[-1]["test_acc"], abs=5e-5)
    best = load_checkpoint(tta_run / "best.pt")
    best_row = history[len(best["history"]) - 1]
    assert best["evaluation"]["tta"] == (best_row["epoch"] == 2)
    assert reported_accuracy(capsys, "eval", str(tta_run)) == pytest.approx(best_row["test_acc"], abs=5e-5)


def test_the_confusion_view_reports_the_same_accuracy_as_eval(tta_run, capsys):
    from_eval = reported_accuracy(capsys, "eval", str(tta_run), "--last")
    result = views.confusion(tta_run, out=tta_run / "c.png", which="last")
    assert result.accuracy == pytest.approx(from_eval, abs=5e-5)


def test_a_run_directory_means_best_pt_and_last_picks_the_other(tta_run):
    assert rundir.checkpoint_path(tta_run) == tta_run / "best.pt"
    assert rundir.checkpoint_path(tta_run, "last") == tta_run / "last.pt"
    assert rundir.checkpoint_path(tta_run / "last.pt") == tta_run / "last.pt"


def test_load_trained_gives_an_eval_mode_model_with_what_inference_needs(tta_run):
    trained = load_trained(tta_run)
    assert not trained.model.training
    assert trained.classes == tuple(load_checkpoint(tta_run / "best.pt")["classes"])
    assert trained.input_size == 28 and len(trained.normalize) == 2
    assert trained.evaluation.precision in ("float32", "bfloat16")


def test_checkpoints_carry_the_schema_version_and_a_newer_one_is_refused(tta_run, tmp_path):
    import torch

    payload = load_checkpoint(tta_run / "last.pt")
    assert payload["schema"] == rundir.SCHEMA
    torch.save({**payload, "schema": rundir.SCHEMA + 1}, tmp_path / "new.pt")
    with pytest.raises(rundir.CheckpointError, match="newer than this cnnlab reads"):
        load_checkpoint(tmp_path / "new.pt")


def test_reading_a_run_does_not_import_the_trainer(tta_run):
    code = (f"import sys, cnnlab.views as v; v.read_run({str(tta_run)!r}); "
            "assert 'cnnlab.trainer' not in sys.modules, 'views imported the trainer'")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
