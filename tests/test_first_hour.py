"""A learner's first hour (issue 16): naming a model trains it well, a run that is not learning says why, the
same idea has the same flag everywhere with a "did you mean" per command, what cnnlab prints as a command runs
as printed, one bad or unfinished run never blocks the others, and no picture is too big to look at. Each case
goes through the real command line or the Python API."""
import argparse
import json
import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

import cnnlab
from cnnlab.cli import build_parser, main
from cnnlab.config import FAMILIES, RECIPES, TrainConfig, resolve
from cnnlab.hints import likely_causes
from cnnlab.models import list_models, model_info

README = Path(__file__).resolve().parents[1] / "README.md"
FAST = dict(dataset="synthetic", threads=1, precision="fp32", progress=False)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    cnnlab.train("basic-cnn", epochs=1, train_limit=300, test_limit=1000, out=str(run), **FAST)
    return run


# ---------------------------------------------------------------- defaults per model family
def test_every_registered_model_names_a_family_whose_defaults_it_trains_with():
    for name in list_models():
        family = model_info(name).family
        assert family in FAMILIES, name
        config = resolve({"model": name})
        for key, value in FAMILIES[family].settings.items():
            assert getattr(config, key) == value, (name, key)


def test_recipes_keep_their_exact_settings_and_explicit_flags_win():
    for name, recipe in RECIPES.items():
        assert resolve({"recipe": name}) == TrainConfig(**recipe.settings, recipe=name).validate(), name
    assert resolve({"model": "basic-cnn", "lr": 0.1}).lr == 0.1  # explicit > family
    assert resolve({"model": "basic-cnn", "lr": 0.1}).optimizer == "adam"
    assert resolve({"recipe": "liuer", "lr": 0.1}).optimizer == "sgd"  # recipe > family: no family defaults at all
    chosen = resolve({"model": "basic-cnn", "lr": 0.05, "momentum": 0.9})  # choosing SGD's momentum chooses SGD
    assert (chosen.optimizer, chosen.lr, chosen.momentum) == ("sgd", 0.05, 0.9)
    assert resolve({"model": "basic-cnn", "optimizer": "sgd"}).lr == TrainConfig.lr  # not Adam's rate for SGD


def test_models_and_recipes_show_each_models_family_and_its_settings(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    assert re.search(r"^basic-cnn .* plain\b", out, re.M) and re.search(r"^lenet .* sigmoid\b", out, re.M)
    code, out, _ = run_cli(capsys, "recipes")
    assert code == 0
    for name, family in FAMILIES.items():
        assert name in out and cnnlab.config.as_flags(family.settings) in out


def test_a_model_named_alone_trains_with_its_family_defaults(tmp_path, capsys):
    code, _, _ = run_cli(capsys, "train", "lenet-relu", "--dataset", "synthetic", "--epochs", "1", "--train-limit",
                         "128", "--test-limit", "100", "--threads", "1", "--out", tmp_path / "r")
    config = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert code == 0 and (config["optimizer"], config["lr"]) == ("adam", 3e-3)


@pytest.mark.slow  # real data; a default run learning: test_train.py::test_training_on_synthetic_data_learns_*
def test_basic_cnn_by_name_reaches_80_percent_in_two_epochs_on_6000_images(tmp_path, fashion_mnist, capsys):
    code, out, _ = run_cli(capsys, "train", "basic-cnn", "--train-limit", "6000", "--epochs", "2",
                           "--data-dir", cnnlab.data.SPECS["fashion-mnist"].system_dirs[0], "--out", tmp_path / "r")
    accuracy = float(re.search(r"test accuracy (\S+)", out).group(1))
    assert code == 0 and accuracy >= 0.80, out


# ---------------------------------------------------------------- a run that is not learning says why
INFO = dict(config=dict(model="lenet", lr=0.01, optimizer="sgd", batch_size=64, recipe=None),
            classes=list("0123456789"),
            train_images=6000, test_images=10000)


def test_hints_name_likely_causes_only_when_a_run_looks_wrong():
    fine = dict(epoch=1, train_acc=0.8, test_acc=0.78)
    assert likely_causes(INFO, fine) is None
    stuck = likely_causes(INFO, dict(epoch=1, train_acc=0.1, test_acc=0.1))
    assert "at chance" in stuck and "--epochs" in stuck and "--recipe d2l-lenet" in stuck and "--lr 0.01" in stuck
    bn = dict(INFO, config=dict(INFO["config"], model="resnet18", recipe="d2l-resnet", batch_size=256),
              train_images=3000, test_images=1000)
    line = likely_causes(bn, dict(epoch=1, train_acc=0.432, test_acc=0.091))  # the d2l-resnet run
    assert "batch-norm statistics" in line and "12 steps" in line and "1,000 test images" in line
    apart = likely_causes(dict(INFO, config=dict(INFO["config"], model="basic-cnn")), dict(epoch=5, train_acc=0.99,
                                                                                          test_acc=0.6))
    assert "far apart" in apart and "memorises" in apart


def test_a_run_at_chance_prints_one_hint_line(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "train", "lenet", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "64",
                           "--test-limit", "100", "--optimizer", "sgd", "--lr", "1e-6", "--threads", "1",
                           "--out", tmp_path / "r")
    hints = [line for line in out.splitlines() if line.startswith("hint: ")]  # with the epoch lines, on stdout
    assert code == 0 and len(hints) == 1 and "at chance" in hints[0] and "sigmoid" in hints[0]


# ---------------------------------------------------------------- one flag per idea, "did you mean" per command
@pytest.mark.parametrize("argv, usage, suggestion", [
    (["tsne", "RUN", "--n", "100"], "tsne", "--limit"),
    (["predict", "RUN", "--n", "100"], "predict", "--limit"),
    (["confusion", "RUN", "--test-limit", "100"], "confusion", "--limit"),
    (["train", "basic-cnn", "--limit", "100"], "train", "--test-limit"),
    (["train", "basic-cnn", "--epohcs", "2"], "train", "--epochs"),
    (["conv", "filters", "--plt", "x.png"], "conv filters", "--plot"),
    (["train", "--optimizer", "adm"], "train", "adam"),
    (["conv", "filtres"], "conv", "filters"),
    (["trian"], "", "train"),
    (["train", "basic-cnn", "--batchsize", "32"], "train", "--batch-size"),  # issue 26, friction 13
])
def test_a_wrong_flag_is_one_line_naming_the_command_and_suggesting_its_option(capsys, argv, usage, suggestion):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    command = " ".join(["cnnlab", usage]).strip()
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith(f"{command}: error: ") and "usage:" not in err, err
    assert f"did you mean {suggestion}" in err and err.endswith(f"(see '{command} --help')\n"), err


def test_data_options_have_one_help_text_true_for_idx_sets_cifar_and_folders():
    from cnnlab.config import DATA_DIR_HELP

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    helps = {name: a.help for name, c in commands.items() for a in c._actions if "--data-dir" in a.option_strings}
    assert len(helps) == 11 and all(h.startswith(DATA_DIR_HELP) for h in helps.values()), helps  # train, lr-find too
    assert "IDX" in DATA_DIR_HELP and "CIFAR-10" in DATA_DIR_HELP and "folder:PATH" in DATA_DIR_HELP
    show = next(a.help for a in commands["show"]._actions if a.dest == "dataset")
    assert "cifar10" in show and "folder:PATH" in show and "mnist, fashion-mnist or synthetic" not in show


def test_every_view_that_takes_the_first_test_images_calls_it_limit():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in ("eval", "confusion", "tsne", "predict", "show"):
        options = {s for a in commands[name]._actions for s in a.option_strings}
        assert "--limit" in options and "--n" not in options, name


def test_help_shows_no_default_twice(capsys):
    parser = build_parser()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += list(action.choices.values())
            assert (action.help or "").count("(default:") <= 1, (p.prog, action.dest, action.help)


# ---------------------------------------------------------------- printed commands run as printed
def test_the_commands_recipes_print_run_as_printed(capsys):
    code, out, _ = run_cli(capsys, "recipes")
    lines = [line.split("same as: ", 1)[1] for line in out.splitlines() if "same as: " in line]
    assert code == 0 and len(lines) == len(RECIPES) and "True" not in out
    options = set(TrainConfig.__dataclass_fields__)
    for name, line in zip(RECIPES, lines):
        words = shlex.split(line)
        assert words[:2] == ["cnnlab", "train"]
        given = {k: v for k, v in vars(build_parser().parse_args(words[1:])).items() if k in options}
        assert resolve(given).to_dict() == {**resolve({"recipe": name}).to_dict(), "recipe": None}, name


def test_the_resume_hint_runs_as_printed_for_a_path_with_a_space(tmp_path, capsys):
    run = tmp_path / "my runs" / "a"
    cnnlab.train("basic-cnn", epochs=1, train_limit=128, test_limit=100, out=str(run), **FAST)
    code, _, err = run_cli(capsys, "train", "basic-cnn", "--dataset", "synthetic", "--out", run)
    hint = re.search(r"'(cnnlab train --resume .*?)'(,| or)", err).group(1)
    assert code == 2 and "--overwrite" in err
    code, _, _ = run_cli(capsys, *shlex.split(hint)[1:], "--epochs", "1")  # nothing left to do: it ends at once
    assert code == 0


# ---------------------------------------------------------------- --data-dir that does not hold the data
def test_an_explicit_data_dir_without_the_data_is_an_error_naming_what_it_lacks(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "basic-cnn", "--data-dir", tmp_path / "nonexistent", "--epochs", "1")
    assert code == 2 and f"{tmp_path / 'nonexistent'}: --data-dir: no such directory" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "show", "fashion-mnist", "--data-dir", tmp_path / "empty")
    assert code == 2 and "--data-dir does not hold data set 'fashion-mnist' (missing train-images-idx3-ubyte.gz" in err
    with pytest.raises(cnnlab.DatasetError, match="--data-dir: no such directory"):
        cnnlab.load_dataset("mnist", data_dir=tmp_path / "nonexistent")


# ---------------------------------------------------------------- --resume with the original options
def test_resume_accepts_the_original_options_and_names_the_ones_that_differ(tmp_path, capsys):
    run = tmp_path / "r"
    original = ["train", "basic-cnn", "--dataset", "synthetic", "--train-limit", "128", "--test-limit", "100",
                "--threads", "1", "--out", run]
    assert run_cli(capsys, *original, "--epochs", "1")[0] == 0
    code, _, err = run_cli(capsys, *original, "--epochs", "2", "--resume", run)
    assert code == 0, err
    assert len(cnnlab.rundir.read_metrics(run)) == 2
    code, _, err = run_cli(capsys, "train", "lenet", "--dataset", "synthetic", "--lr", "0.5", "--epochs", "3",
                           "--resume", run)
    assert code == 2
    assert "model lenet (the run has basic-cnn)" in err and "--lr 0.5 (the run has 0.003)" in err
    assert "--dataset" not in err  # equal to the saved value: not named


# ---------------------------------------------------------------- the Python API validates like the CLI
def test_the_python_api_checks_types_and_suggests_names_like_the_cli_naming_them_as_keywords(tmp_path):
    # issue 26, friction 15: an option is named as the caller wrote it, epochs=, not --epochs
    with pytest.raises(cnnlab.ConfigError, match=r"^epochs= must be an integer, got '2' \(str\)"):
        cnnlab.train("basic-cnn", epochs="2", **FAST)
    with pytest.raises(cnnlab.ConfigError, match=r"^batch_size= must be a positive integer, got 0"):
        cnnlab.train("basic-cnn", batch_size=0, **FAST)
    with pytest.raises(cnnlab.ConfigError, match="unknown training option 'epoch': did you mean epochs"):
        cnnlab.train("basic-cnn", epoch=1, **FAST)
    with pytest.raises(cnnlab.ConfigError,
                       match="^optimizer= must be one of sgd, adam, adamw, got 'adm': did you mean adam"):
        cnnlab.train("basic-cnn", optimizer="adm", **FAST)
    with pytest.raises(cnnlab.ConfigError, match="^tta= must be True or False"):
        cnnlab.train("basic-cnn", tta="yes", **FAST)
    with pytest.raises(cnnlab.ConfigError, match="unknown training option 'epoch': did you mean epochs"):
        cnnlab.train(resume_from=tmp_path, epoch=2, progress=False)


# ---------------------------------------------------------------- unfinished runs never block
def test_a_run_that_never_finished_an_epoch_is_replaced_and_a_finished_one_needs_overwrite(tmp_path, capsys):
    run = tmp_path / "r"
    argv = ["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "128",
            "--test-limit", "100", "--threads", "1", "--out", run]
    assert run_cli(capsys, *argv)[0] == 0
    (run / "best.pt").unlink()  # as a run that crashed in its first epoch leaves it: last.pt alone
    (run / "metrics.csv").unlink()
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "1 finished epoch" in err and "--overwrite" in err and "--resume" in err
    assert run_cli(capsys, *argv, "--overwrite", "--seed", "3")[0] == 0
    assert json.loads((run / "config.json").read_text())["config"]["seed"] == 3


def test_compare_skips_an_unfinished_run_and_shows_test_set_sizes(tmp_path, finished, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "last.pt").write_bytes(b"")
    other = tmp_path / "other"
    cnnlab.train("basic-cnn", epochs=1, train_limit=300, test_limit=200, out=str(other), **FAST)
    code, out, err = run_cli(capsys, "compare", finished, unfinished, other, "--out", tmp_path / "cmp")
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert code == 0 and len(warnings) == 1 and str(unfinished) in warnings[0]
    assert "test set (images)" in out and "| synthetic 1,000 |" in out and "| synthetic 200 |" in out
    assert "basic-cnn (run)" in out and "basic-cnn (other)" in out  # same model: the directory tells them apart
    with Image.open(tmp_path / "cmp" / "compare_params.png") as image:
        assert max(image.size) < 1500


# ---------------------------------------------------------------- no picture too big to look at
def test_predict_caps_its_picture_and_checks_the_count_against_the_test_set(tmp_path, finished, capsys):
    code, out, _ = run_cli(capsys, "predict", finished, "--limit", 1000, "--out", tmp_path / "p.png")
    assert code == 0 and "the picture shows the first 100 of 1,000" in out and out.count("test[") == 1000
    with Image.open(tmp_path / "p.png") as image:
        assert max(image.size) <= 2000, image.size
    code, out, err = run_cli(capsys, "predict", finished, "--limit", 100000)  # more than the set: all of it, said so
    assert code == 0 and out.count("test[") == 1000
    assert "--limit 100000 is more than the 1,000 test images of synthetic: using all 1,000" in err


def test_other_views_check_their_counts(tmp_path, finished, capsys):
    code, _, err = run_cli(capsys, "show", "synthetic", "--limit", 5000)
    assert code == 2 and "--limit must be in 1-100" in err
    code, _, err = run_cli(capsys, "tsne", finished, "--limit", 1)
    assert code == 2 and "--limit must be at least 5 for t-SNE, got 1" in err
    code, _, err = run_cli(capsys, "features", finished, "--max-layers", 500)
    assert code == 2 and "--max-layers must be in 2-24" in err


def test_conv_lesson_pictures_are_grids_with_numbers_that_fit(tmp_path, capsys):
    assert run_cli(capsys, "conv", "filters", "--plot", tmp_path / "f.png")[0] == 0
    with Image.open(tmp_path / "f.png") as image:
        width, height = image.size
    assert width <= 1200 and height <= 1200  # 10 panels as rows of 4, not one 2,574-pixel row
    import matplotlib.axes

    texts = []
    original = matplotlib.axes.Axes.text

    def record(self, x, y, s, *args, **kwargs):
        texts.append((s, kwargs.get("color")))
        return original(self, x, y, s, *args, **kwargs)

    matplotlib.axes.Axes.text = record
    try:
        assert run_cli(capsys, "conv", "learn", "--plot", tmp_path / "l.png")[0] == 0
    finally:
        matplotlib.axes.Axes.text = original
    assert texts and all(len(s) <= 4 for s, _ in texts), texts  # "1.0", "-1.0", "0": no 0.0043 overflowing a cell
    assert {color for _, color in texts} <= {"black", "white"}  # no red on black


# ---------------------------------------------------------------- sources a student knows
def test_models_recipes_and_readme_name_sources_not_seed_numbers(capsys):
    _, models, _ = run_cli(capsys, "models")
    _, recipes, _ = run_cli(capsys, "recipes")
    for text in (models, recipes, README.read_text()):
        assert not re.search(r"seed ?0\d\d", text, re.I)
    for source in ("Liu Er, lecture 10", "Liu Er, lecture 11", "Morvan's tutorial 401", "d2l 6.6", "d2l 7.1", "d2l 7.5",
                   "d2l 7.6", "d2l 7.7"):
        assert source in models, source


def test_many_image_files_or_a_full_show_still_make_a_picture_one_can_look_at(tmp_path, finished, capsys):
    files = []
    for i in range(60):
        path = tmp_path / f"digit{i}.png"
        Image.new("L", (28, 28), 255 if i % 2 else 0).save(path)
        files.append(path)
    code, out, _ = run_cli(capsys, "predict", finished, *files, "--out", tmp_path / "files.png")
    assert code == 0 and "the picture shows the first 50 of 60 files" in out
    code, _, _ = run_cli(capsys, "show", "synthetic", "--limit", 100, "--out", tmp_path / "show.png")
    assert code == 0
    for name in ("files.png", "show.png"):
        with Image.open(tmp_path / name) as image:
            assert max(image.size) <= 2000, (name, image.size)
