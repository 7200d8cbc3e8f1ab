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
from cnnlab.pictures import read_file
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
def test_show_draws_the_dataset_grid_under_runs_not_in_the_current_directory(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "show", "synthetic", "--limit", 12)
    assert code == 0 and out.strip() == "wrote runs/show/synthetic-test.png"
    assert_picture(tmp_path / "runs" / "show" / "synthetic-test.png")
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]


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
    assert out.splitlines()[0].startswith("| run | optimizer | lr | batch | train images | parameters | mult-adds |")
    assert "| basic-cnn | adam | 0.003 | 64 | 1,000 | 8,490 |" in out
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
    light = read_file(write_drawing(tmp_path / "light.png"))
    assert any(s.startswith("inverted") for s in light.steps)
    assert light.pixels[0, 0] < 50 and light.pixels.shape == (28, 28)  # paper became the dark background
    dark = Image.new("L", (28, 28), 0)
    dark.paste(255, (10, 4, 18, 24))
    dark.save(tmp_path / "dark.png")
    assert not any(s.startswith("inverted") for s in read_file(tmp_path / "dark.png").steps)
    assert any(s.startswith("inverted") for s in read_file(tmp_path / "dark.png", invert="yes").steps)


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


# ---------------------------------------------------------------- views from Python: pictures that keep their data
def test_every_view_returns_a_path_a_notebook_shows_as_its_png_with_the_data_kept(runs, tmp_path):
    import os

    confusion = views.confusion(runs[0], out=tmp_path / "c.png", limit=100)
    tsne = views.tsne(runs[0], limit=30, out=tmp_path / "t.png")
    predicted = views.predict(runs[0], limit=4, out=tmp_path / "p.png")
    features = views.features(runs[0], out=tmp_path / "f.png")
    kernels = views.kernels(runs[0], out=tmp_path / "k.png")
    compared = views.compare(runs, out_dir=tmp_path / "cmp")
    for figure in (confusion, tsne, predicted, features, kernels, compared, views.plot(*runs, out=tmp_path / "cu.png"),
                   views.show("synthetic", 4, out=tmp_path / "s.png")):
        assert figure._repr_png_().startswith(b"\x89PNG") and figure.is_file()
        assert os.fspath(figure) == str(figure) and str(figure).endswith(".png")
    assert int(confusion.matrix.sum()) == 100 and confusion.classes[0] == "hbar"
    assert tsne.points.shape == (30, 2) and len(tsne.labels) == 30
    assert [p.name for p in predicted.predictions] == ["test[0]", "test[1]", "test[2]", "test[3]"]
    assert features.layers == [("0", (1, 10, 24, 24)), ("3", (1, 20, 8, 8))] and features.left_out == []
    assert kernels.layer == "0" and kernels.shape == (10, 1, 5, 5)
    assert [r["model"] for r in compared.rows] == ["basic-cnn", "lenet-relu"] and "best test acc" in compared.table


def test_the_old_tuples_still_unpack_with_a_deprecation_warning(runs, tmp_path):
    with pytest.warns(DeprecationWarning, match="Figure"):
        predictions, path = views.predict(runs[0], limit=3, out=tmp_path / "p.png")
    assert len(predictions) == 3 and path == tmp_path / "p.png"
    with pytest.warns(DeprecationWarning):
        name, shape, path = views.kernels(runs[0], out=tmp_path / "k.png")
    assert (name, shape) == ("0", (10, 1, 5, 5))


# ---------------------------------------------------------------- a limit larger than the set; names and places
def test_a_limit_larger_than_the_test_set_means_all_of_it_with_a_note(runs, capsys):
    code, out, err = run_cli(capsys, "predict", runs[0], "--limit", 5000)
    assert code == 0 and out.count("test[") == 1000
    assert "note: --limit 5000 is more than the 1,000 test images of synthetic: using all 1,000" in err
    code, out, err = run_cli(capsys, "eval", runs[0], "--limit", 5000)
    assert code == 0 and "(1,000 images" in out and "using all 1,000" in err
    code, _, err = run_cli(capsys, "confusion", runs[1], "--limit", 1001)
    assert code == 0 and "using all 1,000" in err


@pytest.mark.slow  # 9 s: t-SNE of 1,000 points; a smaller one in the default suite: test_tsne_draws_the_last_hidden_*
def test_a_tsne_limit_larger_than_the_test_set_means_all_of_it(runs):
    assert views.tsne(runs[1], limit=10**6).points.shape == (1000, 2)


def test_predict_names_its_picture_after_the_image_so_a_second_never_overwrites_the_first(runs, tmp_path, capsys):
    a, b = write_drawing(tmp_path / "a.png"), write_drawing(tmp_path / "b b.jpg", size=(50, 70))
    for image in (a, b):
        code, out, _ = run_cli(capsys, "predict", runs[0], image)
        assert code == 0
    assert_picture(runs[0] / "predict_a.png")
    assert_picture(runs[0] / "predict_b_b.png")
    assert out.strip().endswith(f"wrote {runs[0] / 'predict_b_b.png'}")


def test_features_says_which_conv_layers_it_left_out_in_terminal_and_figure(tmp_path, capsys, monkeypatch):
    from torch import nn

    class Deep(nn.Sequential):  # 16 convolutions, more than the default 12 grids
        def __init__(self):
            super().__init__(*[nn.Sequential(nn.Conv2d(1 if i == 0 else 4, 4, 3, padding=1), nn.ReLU())
                               for i in range(16)], nn.Flatten(), nn.Linear(4 * 28 * 28, 10))

    drawn = {}
    real = cnnlab.plots.plot_activations
    def plot_activations(image, grids, path, **kw):
        drawn.update(kw, grids=len(grids))
        return real(image, grids, path, **kw)

    monkeypatch.setattr(cnnlab.plots, "plot_activations", plot_activations)
    figure = views.features(Deep(), dataset="synthetic", out=tmp_path / "f.png")
    assert len(figure.layers) == 16 and len(figure.drawn) == 12 and drawn["grids"] == 12
    assert len(figure.left_out) == 4 and "left out: '" in drawn["title"] and figure.left_out[0] in drawn["title"]
    assert "12 of 16 conv layers drawn" in drawn["title"]


def test_compare_writes_beside_the_runs_never_in_the_current_directory(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "compare", *runs)
    assert code == 0 and f"wrote {runs[0].parent / 'compare' / 'compare.csv'}" in out
    assert list(tmp_path.iterdir()) == []


def test_compare_shows_only_the_settings_that_differ_when_there_are_many_runs():
    from cnnlab.views.runs import markdown_table

    row = dict(run="a", dataset="synthetic", test_images=100, optimizer="sgd", lr=0.01, batch_size=64,
               train_images=1000, parameters=10, mult_adds=1e6, epochs=1, best_test_acc=0.5, images_per_s=10,
               train_seconds=1.0)
    rows = [row, {**row, "run": "b", "lr": 0.1}, {**row, "run": "c", "lr": 0.003}]
    table = markdown_table(rows)
    assert table.splitlines()[0].startswith("| run | lr | parameters |") and "| b | 0.1 |" in table
    assert "all runs: optimizer sgd, batch 64, train images 1,000" in table
    assert markdown_table(rows[:2]).splitlines()[0].startswith("| run | optimizer | lr | batch | train images |")


def test_show_takes_the_whole_split_when_the_limit_is_larger(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for k, name in enumerate(("dark", "light")):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (20, 20), 40 + 150 * k + i).save(tmp_path / "pics" / name / f"{i}.png")
    code, out, err = run_cli(capsys, "show", f"folder:{tmp_path / 'pics'}", "--limit", 50, "--out", tmp_path / "s.png")
    assert code == 0 and "--limit 50 is more than the 2 test images of" in err and "showing all 2" in err
    assert (tmp_path / "s.png").is_file()


def test_the_old_names_of_the_trained_network_type_and_the_picture_code_still_work_with_a_warning(runs, tmp_path):
    from cnnlab.explore import loader
    from cnnlab.trained import TrainedNetwork

    with pytest.warns(DeprecationWarning, match="cnnlab.trained.TrainedNetwork"):
        assert cnnlab.rundir.TrainedModel is TrainedNetwork
    with pytest.warns(DeprecationWarning, match="TrainedNetwork"):
        assert loader.Network is TrainedNetwork
    with pytest.warns(DeprecationWarning, match="cnnlab.trained.load_trained"):
        net = cnnlab.rundir.load_trained(runs[0])
    assert isinstance(net, TrainedNetwork) and net.mean == (0.1718,) and net.normalize == (0.1718, 0.1948)
    with pytest.warns(DeprecationWarning, match="cnnlab.pictures.read_file"):
        picture = views.read_picture(write_drawing(tmp_path / "d.png"))
    assert picture.pixels.shape == (28, 28)
