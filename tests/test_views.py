"""The views: every command writes a PNG with real content (sane size, not blank, several colours), prints its
path and exits 0; the numbers behind the pictures agree with plain recomputation; bad image input is one line
and exit 2. Two tiny synthetic runs, trained once for the module, feed them all."""
import csv

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab import views
from cnnlab.cli import main
from cnnlab.evaluate import confident_mistakes, confusion_matrix, most_confused, predict_split, top_k
from cnnlab.plots import plot_curves


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished runs on 1,000 synthetic images: basic-cnn (2 epochs) and lenet-relu (1 epoch)."""
    root = tmp_path_factory.mktemp("runs")
    common = dict(dataset="synthetic", train_limit=1000, test_limit=200, optimizer="adam", lr=3e-3, progress=False,
                  precision="fp32", threads=2)
    cnnlab.train("basic-cnn", epochs=2, out=str(root / "basic"), **common)
    cnnlab.train("lenet-relu", epochs=1, out=str(root / "lenet"), **common)
    return root / "basic", root / "lenet"


def assert_picture(path, min_side=150, max_side=3000, min_colors=8):
    """A real picture: a PNG of plausible size whose pixels vary (not blank) in several colours."""
    assert path.is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min_side <= min(image.size) and max(image.size) <= max_side, image.size
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 20, f"{path} looks blank (pixel std {pixels.std():.1f})"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= min_colors


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_drawing(path, size=(90, 60), mode="RGB"):
    """A dark box drawn on light paper, as a phone photo of a sketch would be."""
    image = Image.new(mode, size, "white")
    from PIL import ImageDraw

    box = [size[0] // 3, size[1] // 5, 2 * size[0] // 3, 4 * size[1] // 5]
    ImageDraw.Draw(image).rectangle(box, outline="black", width=4)
    image.save(path)
    return path


# ---------------------------------------------------------------- pictures of every command
def test_show_draws_the_dataset_grid_in_the_current_directory(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "show", "synthetic", "--limit", 12)
    assert code == 0 and out.strip() == "wrote synthetic-test.png"
    assert_picture(tmp_path / "synthetic-test.png")


def test_plot_overlays_several_runs_with_a_legend(runs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "plot", *runs, "--out", tmp_path / "both.png")
    assert code == 0 and str(tmp_path / "both.png") in out
    assert_picture(tmp_path / "both.png", min_side=300)


def test_plot_curves_still_takes_the_trainers_history_dict(tmp_path):
    history = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e, "train_acc": 1 - 0.5 / e,
                "test_acc": 1 - 0.6 / e}
               for e in (1, 2, 3)]
    assert_picture(plot_curves({"net": history}, tmp_path / "c.png"))


def test_predict_from_the_dataset_prints_predictions_beside_true_labels(runs, capsys):
    code, out, _ = run_cli(capsys, "predict", runs[0], "--limit", 10)
    lines = out.strip().splitlines()
    assert code == 0
    assert sum(line.startswith("test[") for line in lines) == 10
    assert lines[-1] == f"wrote {runs[0] / 'predict.png'}"  # default: beside the checkpoint
    assert_picture(runs[0] / "predict.png")


def test_predict_converts_an_image_file_as_in_training_and_says_so(runs, tmp_path, capsys):
    photo = write_drawing(tmp_path / "photo.jpg", size=(120, 80))
    sketch = write_drawing(tmp_path / "sketch.png", size=(40, 40), mode="RGBA")
    code, out, _ = run_cli(capsys, "predict", runs[0], photo, sketch, "--out", tmp_path / "p.png")
    assert code == 0
    assert "photo.jpg: 120x80 RGB, grayscale, inverted because its border is light" in out
    assert "padded to 120x120, resized to 28x28" in out and "normalised with mean 0.1718" in out
    assert "sketch.png: 40x40 RGBA, transparency onto white" in out
    top3 = [line for line in out.splitlines() if line.startswith(("photo.jpg ", "sketch.png "))]
    assert len(top3) == 2 and all(line.count("%") == 3 for line in top3)
    assert_picture(tmp_path / "p.png")


def test_confusion_draws_matrix_and_mistakes_and_prints_confused_pairs(runs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "confusion", runs[0], "--limit", 300, "--out", tmp_path / "cm.png")
    assert code == 0
    assert "accuracy" in out and "most confused (true -> predicted: images):" in out and "hbar" in out
    assert_picture(tmp_path / "cm.png", min_side=400)
    assert_picture(tmp_path / "cm_mistakes.png")


def test_tsne_draws_the_last_hidden_layer_coloured_by_class(runs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "tsne", runs[0], "--limit", 150, "--out", tmp_path / "t.png")
    assert code == 0 and out.strip() == f"wrote {tmp_path / 't.png'}"
    assert_picture(tmp_path / "t.png", min_side=400, min_colors=30)


def test_features_lists_every_conv_layer_with_its_shape(runs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "features", runs[0], "--index", 5, "--out", tmp_path / "f.png")
    assert code == 0
    assert "[1, 10, 24, 24]" in out and "[1, 20, 8, 8]" in out  # basic-cnn's two convolutions
    assert_picture(tmp_path / "f.png", min_side=300)
    code, out, _ = run_cli(capsys, "features", runs[1], write_drawing(tmp_path / "d.png"), "--out", tmp_path / "g.png")
    assert code == 0 and "d.png: 90x60 RGB" in out
    assert_picture(tmp_path / "g.png")


def test_kernels_draws_the_first_layers_weights(runs, capsys):
    code, out, _ = run_cli(capsys, "kernels", runs[1])
    assert code == 0 and "weights [6, 1, 5, 5]" in out
    assert_picture(runs[1] / "kernels.png", min_side=100)


def test_compare_prints_markdown_and_writes_csv_and_two_plots(runs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "compare", *runs, "--out", tmp_path)
    assert code == 0
    assert out.splitlines()[0].startswith("| run | parameters | mult-adds |")
    with open(tmp_path / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["basic-cnn", "lenet-relu"]
    assert int(rows[0]["parameters"]) == 8490 and int(rows[0]["mult_adds"]) > 0
    assert [int(r["epochs"]) for r in rows] == [2, 1]
    for name in ("compare_time.png", "compare_params.png"):
        assert_picture(tmp_path / name)


# ---------------------------------------------------------------- the numbers behind the pictures
def test_confusion_matrix_rows_are_true_classes_and_diagonal_counts_correct_answers():
    logits = torch.randn(300, 4)
    labels = torch.randint(0, 4, (300,))
    matrix = confusion_matrix(logits, labels, 4)
    predicted = logits.argmax(1)
    assert matrix.sum() == 300 and matrix.diagonal().sum() == (predicted == labels).sum()
    assert matrix[2, 3] == ((labels == 2) & (predicted == 3)).sum()


def test_most_confused_and_confident_mistakes_are_ranked():
    matrix = torch.tensor([[5, 3, 0], [7, 4, 1], [0, 0, 9]])
    assert most_confused(matrix, ["a", "b", "c"], k=5) == [("b", "a", 7), ("a", "b", 3), ("b", "c", 1)]
    logits = torch.tensor([[0.0, 5.0], [0.0, 1.0], [3.0, 0.0], [0.0, 9.0]])
    labels = torch.tensor([0, 0, 0, 1])  # images 0 and 1 are wrong, 0 more confidently
    assert [i for i, _, _ in confident_mistakes(logits, labels)] == [0, 1]
    assert top_k(logits[:1], ["a", "b"], k=2)[0][0][0] == "b"


def test_views_match_the_eval_path_of_the_same_checkpoint(runs):
    result = views.confusion(runs[0], out=runs[0] / "cm.png", limit=200)
    model, payload = cnnlab.rundir.load_model(runs[0] / "best.pt")
    data = cnnlab.load_dataset("synthetic")
    mean, std = payload["normalize"]
    logits, labels = predict_split(model, cnnlab.data.Batches(data.test, 100, mean=mean, std=std, limit=200))
    assert result.accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())


def test_a_run_directory_means_its_best_checkpoint(runs):
    assert views.checkpoint_file(runs[0]) == runs[0] / "best.pt"
    assert views.checkpoint_file(runs[0] / "last.pt") == runs[0] / "last.pt"


def test_auto_invert_flips_only_light_backgrounds(tmp_path):
    light = views.read_picture(write_drawing(tmp_path / "light.png"))
    assert any(s.startswith("inverted") for s in light.steps)
    assert light.pixels[0, 0] < 50 and light.pixels.shape == (28, 28)  # paper became the dark background
    dark = Image.new("L", (28, 28), 0)
    dark.paste(255, (10, 4, 18, 24))
    dark.save(tmp_path / "dark.png")
    assert not any(s.startswith("inverted") for s in views.read_picture(tmp_path / "dark.png").steps)
    assert any(s.startswith("inverted") for s in views.read_picture(tmp_path / "dark.png", invert="yes").steps)


# ---------------------------------------------------------------- errors and help
@pytest.mark.parametrize("kind", ["text", "missing", "directory", "truncated"])
def test_bad_image_input_is_one_line_naming_the_file_and_exit_2(runs, tmp_path, capsys, kind):
    bad = tmp_path / {"text": "notes.png", "missing": "absent.png", "directory": "folder", "truncated": "cut.jpg"}[kind]
    if kind == "text":
        bad.write_text("not a picture")
    elif kind == "directory":
        bad.mkdir()
    elif kind == "truncated":
        write_drawing(tmp_path / "whole.jpg")
        bad.write_bytes((tmp_path / "whole.jpg").read_bytes()[:200])
    code, out, err = run_cli(capsys, "predict", runs[0], bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("cnnlab: error: ") and str(bad) in err


def test_predict_refuses_image_files_and_a_dataset_together(runs, tmp_path, capsys):
    code, _, err = run_cli(capsys, "predict", runs[0], write_drawing(tmp_path / "x.png"), "--dataset", "synthetic")
    assert code == 2 and "not both" in err


def test_compare_of_a_directory_that_is_not_a_run_is_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "compare", tmp_path)
    assert code == 2 and "not a run directory" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["show", "plot", "predict", "confusion", "tsne", "features", "kernels", "compare"])
def test_every_view_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "--out" in capsys.readouterr().out
