"""Errors are part of the interface (docs/errors.md): every bad input below ends in one line on stderr,
`cnnlab: error: ...`, naming the input and the problem, with exit status 2 and no traceback; the Python API
raises a CnnlabError with the same message. Cases already tested elsewhere are only listed in docs/errors.md."""
import gzip
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.cli import main
from cnnlab.data import FILES, load_dataset, make_synthetic, write_idx
from cnnlab.errors import FIRST_LINE_LIMIT, CheckpointError, ConfigError, DatasetError, ImageError, first_line
from cnnlab.rundir import load_model

DOCS = Path(__file__).parents[1] / "docs" / "errors.md"
TRAIN_IMAGES, TRAIN_LABELS = FILES["train"]


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def offline(no_user_data, monkeypatch):
    """No user data and every download mirror refusing connections: a missing data set cannot be fetched."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CNNLAB_MIRRORS", f"http://127.0.0.1:{port}/")


@pytest.fixture
def image(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(path)
    return path


def run_cli(capsys, argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    assert code == 2, err
    assert err.startswith("cnnlab: error: ") and err.count("\n") == 1, err
    assert re.search(pattern, err), f"{pattern!r} not in {err!r}"
    return err[len("cnnlab: error: "):].strip()


def fill(argv, **places):
    return [str(a).format(**places) for a in argv]


# ---------------------------------------------------------------- data files
def data_dir_with(tmp_path, defect) -> Path:
    """The four gzipped IDX files of a tiny MNIST-like set, then `defect` applied to the directory."""
    directory = tmp_path / "data"
    directory.mkdir()
    train, test = make_synthetic(train_size=50, test_size=20)
    for split, (images, labels) in zip((train, test), FILES.values()):
        write_idx(directory / images, split.images.numpy())
        write_idx(directory / labels, split.labels.numpy())
    defect(directory)
    return directory


def _cut(path: Path, keep: int):
    path.write_bytes(path.read_bytes()[:keep])


DATA_DEFECTS = {  # case id: (what is done to the directory, message pattern)
    "data-missing-file": (lambda d: (d / TRAIN_IMAGES).unlink(),
                          rf"\S+/data: --data-dir does not hold data set 'mnist' \(missing {TRAIN_IMAGES}\); "
                          r"to get it:"),
    "data-truncated-gzip": (lambda d: _cut(d / TRAIN_IMAGES, 100),
                            rf"/data/{TRAIN_IMAGES}: corrupt gzip file: truncated gzip stream"),
    "data-corrupt-gzip": (lambda d: (d / TRAIN_IMAGES).write_bytes((d / TRAIN_IMAGES).read_bytes()[:-8] + bytes(8)),
                          rf"/data/{TRAIN_IMAGES}: corrupt gzip file: CRC check failed"),
    "data-wrong-magic": (lambda d: (d / TRAIN_IMAGES).write_bytes(gzip.compress(b"\0\0\x08\x05" + bytes(20))),
                         rf"/data/{TRAIN_IMAGES}: not an IDX image or label file: magic number 2053, expected 2051"),
    "data-count-mismatch": (lambda d: write_idx(d / TRAIN_LABELS, make_synthetic(50, 20)[0].labels.numpy()[:40]),
                            rf"/data/{TRAIN_LABELS}: 40 labels for 50 images in {TRAIN_IMAGES}"),
    "data-label-out-of-range": (lambda d: write_idx(d / TRAIN_LABELS, make_synthetic(50, 20)[0].labels.numpy() + 10),
                                rf"/data/{TRAIN_LABELS}: 50 labels out of range 0-9 \(first: \d+ at index 0\)"),
    "data-empty-file": (lambda d: (d / TRAIN_IMAGES).write_bytes(gzip.compress(b"")),
                        rf"/data/{TRAIN_IMAGES}: empty file"),
}
DATA_COMMANDS = {
    "train": ["train", "basic-cnn", "--dataset", "mnist", "--data-dir", "{data}", "--threads", "1", "--out",
              "{tmp}/run"],
    "show": ["show", "mnist", "--data-dir", "{data}", "--out", "{tmp}/show.png"],
    "eval": ["eval", "{run}", "--dataset", "mnist", "--data-dir", "{data}"],
}


@pytest.mark.parametrize("command", DATA_COMMANDS)
@pytest.mark.parametrize("case", DATA_DEFECTS)
def test_bad_data_files_are_one_line_naming_the_file_and_problem(case, command, good_run, tmp_path, offline, capsys):
    defect, pattern = DATA_DEFECTS[case]
    data = data_dir_with(tmp_path, defect)
    code, out, err = run_cli(capsys, fill(DATA_COMMANDS[command], data=data, tmp=tmp_path, run=good_run))
    message = assert_one_line_error(code, err, pattern)
    with pytest.raises(DatasetError) as raised:  # the Python API says the same
        load_dataset("mnist", data)
    assert str(raised.value) == message
    assert not (tmp_path / "run").exists() and not (tmp_path / "show.png").exists()


# ---------------------------------------------------------------- checkpoints
def _state(model="basic-cnn", classes=10):
    return cnnlab.create_model(model, num_classes=classes).state_dict()


def _edited(good: Path, target: Path, edit):
    payload = torch.load(good, weights_only=True)
    edit(payload)
    torch.save(payload, target)


def _flip_weight_bytes(good: Path, target: Path):
    data = bytearray(good.read_bytes())
    start = data.index(b"archive/data/0") + 200  # inside the first tensor's stored bytes
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    target.write_bytes(bytes(data))


CHECKPOINT_DEFECTS = {  # case id: (how the bad file is made from a good last.pt, message pattern)
    "ckpt-truncated": (lambda good, t: t.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2]),
                       r"bad\.pt: truncated or corrupt checkpoint \(File is not a zip file\); use the run's other "
                       r"checkpoint"),
    "ckpt-corrupt": (_flip_weight_bytes, r"bad\.pt: corrupt checkpoint \(archive/data/\d+ fails its CRC-32 check\)"),
    "ckpt-empty": (lambda good, t: t.write_bytes(b""), r"bad\.pt: empty file, not a checkpoint"),
    "ckpt-not-a-checkpoint": (lambda good, t: t.write_text("model weights, honest"),
                              r"bad\.pt: not a cnnlab checkpoint \(not a PyTorch zip archive\)"),
    "ckpt-bare-state-dict": (lambda good, t: torch.save(_state(), t),
                             r"bad\.pt: not a cnnlab checkpoint \(no model weights, config and classes inside\)"),
    "ckpt-other-model": (lambda good, t: _edited(good, t, lambda p: p["config"].update(model="lenet")),
                         r"bad\.pt: weights do not fit model 'lenet' with 10 classes: '0\.weight' is \[10, 1, 5, 5\] "
                         r"in the checkpoint but \[6, 1, 5, 5\] in the model \(a checkpoint of another model"),
    "ckpt-other-class-count": (lambda good, t: _edited(good, t, lambda p: p.update(model=_state(classes=3))),
                               r"bad\.pt: weights do not fit model 'basic-cnn' with 10 classes: '7\.weight' is "
                               r"\[3, 320\] in the checkpoint but \[10, 320\]"),
    "ckpt-unknown-model": (lambda good, t: _edited(good, t, lambda p: p["config"].update(model="lenett")),
                           r"bad\.pt: trained as unknown model 'lenett': did you mean lenet"),
}
CHECKPOINT_COMMANDS = {  # every command that reads a checkpoint
    "eval": ["eval", "{ckpt}"],
    "predict": ["predict", "{ckpt}", "--out", "{tmp}/p.png"],
    "predict-image": ["predict", "{ckpt}", "{image}", "--out", "{tmp}/p.png"],
    "confusion": ["confusion", "{ckpt}", "--out", "{tmp}/c.png"],
    "tsne": ["tsne", "{ckpt}", "--out", "{tmp}/t.png"],
    "features": ["features", "{ckpt}", "--out", "{tmp}/f.png"],
    "kernels": ["kernels", "{ckpt}", "--out", "{tmp}/k.png"],
    "resume": ["train", "--resume", "{ckpt_dir}"],
}


@pytest.mark.parametrize("command", CHECKPOINT_COMMANDS)
@pytest.mark.parametrize("case", CHECKPOINT_DEFECTS)
def test_bad_checkpoints_are_one_line_naming_the_file_and_problem(case, command, good_run, tmp_path, image, capsys):
    make, pattern = CHECKPOINT_DEFECTS[case]
    bad = tmp_path / "bad.pt"
    make(good_run / "last.pt", bad)
    run_dir = tmp_path / "run"  # for --resume: a run directory whose last.pt is the bad file
    run_dir.mkdir()
    (run_dir / "last.pt").symlink_to(bad)
    argv = fill(CHECKPOINT_COMMANDS[command], ckpt=bad, ckpt_dir=run_dir, tmp=tmp_path, image=image)
    code, out, err = run_cli(capsys, argv)
    if command == "resume":
        pattern = pattern.replace(r"bad\.pt", r"last\.pt")
    message = assert_one_line_error(code, err, pattern)
    assert not list(tmp_path.glob("[pctfk].png"))  # no picture written
    if command == "eval":  # the Python API says the same
        with pytest.raises(CheckpointError) as raised:
            load_model(bad)
        assert str(raised.value) == message


def test_resuming_from_a_checkpoint_without_training_state_names_what_is_missing(good_run, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    _edited(good_run / "last.pt", tmp_path / "run" / "last.pt", lambda p: p.pop("optimizer"))
    code, _, err = run_cli(capsys, ["train", "--resume", tmp_path / "run"])
    assert_one_line_error(code, err, r"/run/last\.pt: cannot resume from it: no optimizer inside")


def test_resuming_a_checkpoint_with_settings_from_another_version_names_them(good_run, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    _edited(good_run / "last.pt", tmp_path / "run" / "last.pt", lambda p: p["config"].update(warp_drive=True))
    code, _, err = run_cli(capsys, ["train", "--resume", tmp_path / "run"])
    assert_one_line_error(code, err, r"/run/last\.pt: cannot resume from it: settings unknown to this cnnlab "
                                     r"\(warp_drive\)")


@pytest.mark.parametrize("command", ["eval", "confusion"])
def test_a_checkpoint_whose_class_count_differs_from_its_data_set_says_both(command, good_run, tmp_path, capsys):
    bad = tmp_path / "three.pt"
    _edited(good_run / "last.pt", bad, lambda p: p.update(model=_state(classes=3), classes=["a", "b", "c"]))
    code, _, err = run_cli(capsys, [command, bad, *(["--out", tmp_path / "c.png"] if command == "confusion" else [])])
    assert_one_line_error(code, err, r"data set 'synthetic' has 10 classes but \S+three\.pt predicts 3; choose a "
                                     r"data set like 'synthetic'")


@pytest.mark.parametrize("command", ["plot", "compare"])
def test_a_run_directory_with_corrupt_metrics_is_one_line(command, good_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    (run / "metrics.csv").write_text("epoch,train_loss\n1,not-a-number\n")
    code, _, err = run_cli(capsys, [command, run, "--out", tmp_path / ("x.png" if command == "plot" else "cmp")])
    assert_one_line_error(code, err, r"/run: unreadable run files \(")


# ---------------------------------------------------------------- names and options
SYNTHETIC = ["--dataset", "synthetic", "--threads", "1", "--train-limit", "64", "--test-limit", "32", "--epochs", "1"]
OPTION_CASES = {  # case id: (command line, message pattern, exception the Python API raises)
    "unknown-model-train": (["train", "basic-cn", *SYNTHETIC], r"unknown model 'basic-cn': did you mean basic-cnn"),
    "unknown-model-summary": (["summary", "lenett"], r"unknown model 'lenett': did you mean lenet"),
    "unknown-model-pattern": (["models", "zzz*"], r"unknown model 'zzz\*': choose from: alexnet, basic-cnn"),
    "unknown-dataset-train": (["train", "basic-cnn", "--dataset", "mnits"],
                              r"unknown dataset 'mnits': did you mean mnist"),
    "unknown-dataset-show": (["show", "fashion-mnits"], r"unknown dataset 'fashion-mnits': did you mean fashion-mnist"),
    "unknown-dataset-predict": (["predict", "{run}", "--dataset", "mnits"],
                                r"unknown dataset 'mnits': did you mean mnist"),
    "resize-below-minimum": (["train", "densenet", "--resize", "16", *SYNTHETIC],
                             r"model 'densenet' needs input of at least 29x29, not 16x16"),
    "epochs-negative": (["train", "basic-cnn", *SYNTHETIC, "--epochs", "-2"],
                        r"--epochs must be a positive integer, got -2"),
    "batch-size-negative": (["train", "basic-cnn", *SYNTHETIC, "--batch-size", "-1"],
                            r"--batch-size must be a positive integer, got -1"),
    "lr-zero": (["train", "basic-cnn", *SYNTHETIC, "--lr", "0"], r"--lr must be positive and finite, got 0\.0"),
    "lr-infinite": (["train", "basic-cnn", *SYNTHETIC, "--lr", "inf"], r"--lr must be positive and finite, got inf"),
    "lr-nan": (["train", "basic-cnn", *SYNTHETIC, "--lr", "nan"], r"--lr must be positive and finite, got nan"),
    "momentum-negative": (["train", "basic-cnn", *SYNTHETIC, "--momentum", "-0.5"],
                          r"--momentum must be zero or positive, got -0\.5"),
    "label-smoothing-range": (["train", "basic-cnn", *SYNTHETIC, "--label-smoothing", "1"],
                              r"--label-smoothing must be in \[0, 1\), got 1\.0"),
    "train-limit-zero": (["train", "basic-cnn", *SYNTHETIC, "--train-limit", "0"],
                         r"--train-limit must be a positive integer, got 0"),
    "resume-with-settings": (["train", "--resume", "{run}", "--lr", "0.1"],
                             r"--resume keeps the run's saved settings, and these differ from them: --lr 0\.1 \(the "
                             r"run has \S+\); only --epochs, --device, --threads, --save-minutes may change"),
    "resume-without-run": (["train", "--resume", "{tmp}/nothing"], r"/nothing: no such run directory"),
    "new-run-in-a-file": (["train", "basic-cnn", *SYNTHETIC, "--out", "{file}"],
                          r"cannot write run directory \S+/a-file: File exists; choose another with --out"),
    "out-under-a-file": (["train", "basic-cnn", *SYNTHETIC, "--out", "{file}/run"],
                         r"cannot write run directory \S+/a-file/run: Not a directory; choose another with --out"),
    "out-in-proc": (["train", "basic-cnn", *SYNTHETIC, "--out", "/proc/cnnlab-run"],
                    r"cannot write run directory /proc/cnnlab-run: No such file or directory; "
                    r"choose another with --out"),
    "picture-under-a-file": (["kernels", "{run}", "--out", "{file}/k.png"],
                             r"cannot write \S+/a-file/k\.png \(\[Errno 17\] File exists: '\S+/a-file'\); choose "
                             r"another --out"),
    "picture-unknown-format": (["show", "synthetic", "--out", "{tmp}/grid.xyz"],
                               r"cannot write \S+/grid\.xyz \(Format 'xyz' is not supported.*\); choose another --out"),
    "compare-out-under-a-file": (["compare", "{run}", "--out", "{file}/cmp"],
                                 r"cannot write \S+/a-file/cmp/compare\.csv \(\[Errno 20\] Not a directory"),
    "graph-under-a-file": (["summary", "lenet", "--graph", "{file}/g.dot"],
                           r"cannot write \S+/a-file/g\.dot \(\[Errno 20\] Not a directory.*\); "
                           r"choose another --graph"),
    "download-dest-under-a-file": (["download", "mnist", "--dest", "{file}/d"],
                                   r"\S+/a-file/d: cannot create the download directory: Not a directory"),
    "eval-batch-size-zero": (["eval", "{run}", "--batch-size", "0"], r"--batch-size must be a positive integer, got 0"),
    "confusion-limit-zero": (["confusion", "{run}", "--limit", "0"], r"--limit must be at least 1, got 0"),
    "show-n-zero": (["show", "synthetic", "--limit", "0"],
                    r"--limit must be in 1-100 \(images one picture shows\), got 0"),
    "predict-n-zero": (["predict", "{run}", "--limit", "0"], r"--limit must be at least 1, got 0"),
    "tsne-n-too-small": (["tsne", "{run}", "--limit", "2"], r"--limit must be at least 5 for t-SNE, got 2"),
    "features-index-out-of-range": (["features", "{run}", "--index", "1000"], r"--index must be in 0-999, got 1000"),
    "cuda-without-gpu-train": (["train", "basic-cnn", *SYNTHETIC, "--device", "cuda"],
                               r"--device cuda: no CUDA GPU is available here; use --device cpu or auto"),
    "cuda-without-gpu-eval": (["eval", "{run}", "--device", "cuda"],
                              r"--device cuda: no CUDA GPU is available here; use --device cpu or auto"),
    "features-image-not-an-image": (["features", "{run}", "{tmp}/notes.png"],
                                    r"/notes\.png: not an image PIL can read \(use PNG, JPEG"),
    "features-image-missing": (["features", "{run}", "{tmp}/absent.png"], r"/absent\.png: no such file"),
}


@pytest.mark.parametrize("case", OPTION_CASES)
def test_bad_names_and_options_are_one_line_errors(case, good_run, tmp_path, monkeypatch, capsys):
    argv, pattern = OPTION_CASES[case]
    if "cuda" in case and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    monkeypatch.chdir(tmp_path)  # nothing lands in the repository if a case wrongly goes ahead
    (tmp_path / "a-file").write_text("a regular file, not a directory")
    (tmp_path / "notes.png").write_text("not a picture")
    code, out, err = run_cli(capsys, fill(argv, run=good_run, tmp=tmp_path, file=tmp_path / "a-file"))
    assert_one_line_error(code, err, pattern)


@pytest.mark.parametrize("call, error_type, argv, spelled", [
    (lambda: cnnlab.train("basic-cn", dataset="synthetic", progress=False), ConfigError, ["train", "basic-cn"], None),
    (lambda: cnnlab.train("basic-cnn", dataset="synthetic", lr=float("inf"), progress=False), ConfigError,
     ["train", "basic-cnn", "--dataset", "synthetic", "--lr", "inf"], ("lr=", "--lr")),
    (lambda: cnnlab.train("densenet", dataset="synthetic", resize=16, progress=False), ConfigError,
     ["train", "densenet", "--dataset", "synthetic", "--resize", "16"], None),
], ids=["unknown-model", "lr-infinite", "resize-below-minimum"])
def test_python_api_raises_the_cnnlab_error_the_command_prints(call, error_type, argv, spelled, capsys):
    """The same error, with an option named as each caller writes it (`spelled`: the keyword, then the flag)."""
    with pytest.raises(error_type) as raised:
        call()
    code, _, err = run_cli(capsys, argv)
    message = str(raised.value)
    if spelled:
        assert message.startswith(spelled[0]), message
        message = message.replace(spelled[0], spelled[1], 1)
    assert code == 2 and err == f"cnnlab: error: {message}\n"


def test_python_api_raises_image_error_for_an_unreadable_picture(tmp_path):
    from cnnlab.pictures import read_file

    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match="notes.png: not an image PIL can read"):
        read_file(tmp_path / "notes.png")


# ---------------------------------------------------------------- the real command, as a user runs it
def cnnlab_process(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnnlab", *map(str, argv)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)


def test_real_command_prints_one_line_without_traceback_and_exits_2(good_run, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes((good_run / "last.pt").read_bytes()[:1000])
    result = cnnlab_process("eval", bad)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"cnnlab: error: {bad}: truncated or corrupt checkpoint (File is not a zip file); "
                             "use the run's other checkpoint (last.pt / best.pt) or train again\n")


def test_real_command_with_bad_data_is_one_line_and_debug_shows_the_traceback(tmp_path):
    data = data_dir_with(tmp_path, lambda d: _cut(d / TRAIN_IMAGES, 100))
    argv = ["train", "basic-cnn", "--dataset", "mnist", "--data-dir", data, "--out", tmp_path / "run"]
    plain = cnnlab_process(*argv)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.count("\n") == 1 and "corrupt gzip file: truncated gzip stream" in plain.stderr
    debug = cnnlab_process(*argv, "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "cnnlab.errors.DatasetError" in debug.stderr


def test_a_quoted_exception_is_its_first_line_or_its_type_cut_to_one_length():
    assert first_line(RuntimeError("\n  shape mismatch  \nTraceback lines\n")) == "shape mismatch"
    assert first_line(KeyError()) == "KeyError"
    long = first_line(ValueError("x" * 1000))
    assert len(long) == FIRST_LINE_LIMIT and long.endswith("...")


# ---------------------------------------------------------------- the table
def test_every_case_here_is_a_row_of_docs_errors_md():
    table = DOCS.read_text()
    cases = [*DATA_DEFECTS, *CHECKPOINT_DEFECTS, *OPTION_CASES]
    missing = [case for case in cases if f"`{case}`" not in table]
    assert not missing, f"add these cases to {DOCS}: {missing}"
