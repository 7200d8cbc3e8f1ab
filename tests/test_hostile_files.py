"""Every file cnnlab reads is hostile input (issue 25, items 7-9): a checkpoint, config.json or metrics.csv with a
field of the wrong type or out of range, a corrupt or unbounded run file, a full disk, a huge seed, an oversized
or altered CIFAR-10 archive, an empty test set, a class without test images and an unreadable class folder each
give one line and exit 2 (or a clear n/a), never a traceback, a silent wrong figure or an unbounded read."""
import errno
import json
import math
import os
import shutil
import tarfile
import threading

import pytest
import torch

import cnnlab
from cnnlab import rundir
from cnnlab.checkpoint import save_checkpoint
from cnnlab.cli import main
from cnnlab.data import FILES, cifar, folder, load_dataset, make_synthetic, write_idx
from cnnlab.errors import CheckpointError, ConfigError, DatasetError
from cnnlab.evaluate import evaluate
from cnnlab.trained import load_trained
from test_named_sets import tiny_cifar


def one_line(capsys, argv, *needles) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("cnnlab: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


# ---------------------------------------------------------------- item 7: every checkpoint field
def _set(*keys, value):
    """A mutation: payload[keys[0]][keys[1]]... = value."""
    def mutate(payload):
        target = payload
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return mutate


def _drop(*keys):
    def mutate(payload):
        target = payload
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
    return mutate


CHECKPOINT_MUTATIONS = {  # case id: (mutation, the field the message names)
    "schema-string": (_set("schema", value="2"), "schema is '2' (str)"),
    "schema-newer": (_set("schema", value=3), "schema 3 is newer"),
    "schema-zero": (_set("schema", value=0), "schema is 0"),
    "schema-bool": (_set("schema", value=True), "schema is True"),
    "input-size-huge": (_set("input_size", value=5000), "input_size is 5000"),
    "input-size-zero": (_set("input_size", value=0), "input_size is 0"),
    "input-size-string": (_set("input_size", value="28"), "input_size is '28'"),
    "input-size-float": (_set("input_size", value=28.0), "input_size is 28.0"),
    "in-channels-two": (_set("in_channels", value=2), "in_channels is 2"),
    "in-channels-huge": (_set("in_channels", value=10**6), "in_channels is 1000000"),
    "in-channels-string": (_set("in_channels", value="1"), "in_channels is '1'"),
    "classes-string": (_set("classes", value="0123456789"), "classes is '0123456789'"),
    "classes-one": (_set("classes", value=["only"]), "classes is a list of 1 items"),
    "classes-huge": (_set("classes", value=[f"c{k}" for k in range(10**5)]), "classes is a list of 100,000 items"),
    "classes-numbers": (_set("classes", value=list(range(10))), "classes[0] is 0"),
    "classes-empty-name": (_set("classes", value=[""] * 10), "classes[0] is ''"),
    "normalize-string": (_set("normalize", value="dataset"), "normalize is 'dataset'"),
    "normalize-one": (_set("normalize", value=[0.1]), "normalize is a list of 1 items"),
    "normalize-zero-std": (_set("normalize", value=[0.1, 0.0]), "normalize std is 0.0"),
    "normalize-negative-std": (_set("normalize", value=[0.1, -1.0]), "normalize std is -1.0"),
    "normalize-nan": (_set("normalize", value=[math.nan, 0.3]), "normalize mean is nan"),
    "normalize-channels": (_set("normalize", value=[[0.1, 0.2], [0.3, 0.4]]), "normalize mean is a list of 2 items"),
    "normalize-text": (_set("normalize", value=[0.1, "x"]), "normalize std is 'x'"),
    "evaluation-string": (_set("evaluation", value="fast"), "evaluation is 'fast'"),
    "precision-getattr": (_set("evaluation", "precision", value="Tensor"), "evaluation.precision is 'Tensor'"),
    "precision-float64": (_set("evaluation", "precision", value="float64"), "evaluation.precision is 'float64'"),
    "precision-number": (_set("evaluation", "precision", value=5), "evaluation.precision is 5"),
    "eval-batch-zero": (_set("evaluation", "batch_size", value=0), "evaluation.batch_size is 0"),
    "eval-batch-huge": (_set("evaluation", "batch_size", value=10**9), "evaluation.batch_size is 1000000000"),
    "eval-batch-string": (_set("evaluation", "batch_size", value="256"), "evaluation.batch_size is '256'"),
    "eval-tta-string": (_set("evaluation", "tta", value="yes"), "evaluation.tta is 'yes'"),
    "eval-channels-last-int": (_set("evaluation", "channels_last", value=1), "evaluation.channels_last is 1"),
    "config-list": (_set("config", value=[]), "not a cnnlab checkpoint"),
    "config-model-number": (_set("config", "model", value=5), "not a cnnlab checkpoint"),
    "config-no-dataset": (_drop("config", "dataset"), "config.dataset is None"),
    "config-dataset-number": (_set("config", "dataset", value=7), "config.dataset is 7"),
    "config-dataset-huge": (_set("config", "dataset", value="x" * 10_000), "config.dataset is 'xxx"),
    "config-test-limit-negative": (_set("config", "test_limit", value=-1), "config.test_limit is -1"),
    "config-test-limit-string": (_set("config", "test_limit", value="100"), "config.test_limit is '100'"),
    "config-test-limit-huge": (_set("config", "test_limit", value=10**12), "config.test_limit is 1000000000000"),
    "config-image-size-huge": (_set("config", "image_size", value=100_000), "config.image_size is 100000"),
    "config-normalize-unknown": (_set("config", "normalize", value="zscore"), "config.normalize is 'zscore'"),
    "config-batch-zero": (_set("config", "batch_size", value=0), "config.batch_size is 0"),
    "config-epochs-string": (_set("config", "epochs", value="10"), "config.epochs is '10'"),
    "config-seed-huge": (_set("config", "seed", value=2**70), "config.seed is 1180591620717411303424"),
    "config-lr-negative": (_set("config", "lr", value=-1.0), "config.lr is -1.0"),
    "config-lr-nan": (_set("config", "lr", value=math.nan), "config.lr is nan"),
    "config-test-split": (_set("config", "test_split", value=1.5), "config.test_split is 1.5"),
    "config-skip-bad-string": (_set("config", "skip_bad", value="no"), "config.skip_bad is 'no'"),
    "config-data-dir-number": (_set("config", "data_dir", value=5), "config.data_dir is 5"),
    "config-device-unknown": (_set("config", "device", value="tpu"), "config.device is 'tpu'"),
    "weights-list": (_set("model", value=[]), "model (the weights) is a list"),
    "weights-number": (lambda p: p["model"].update(extra=5), "weight 'extra' is 5"),
    "epoch-string": (_set("epoch", value="2"), "epoch is '2'"),
    "step-negative": (_set("step", value=-1), "step is -1"),
    "history-string": (_set("history", value="x"), "history is 'x'"),
    "history-short-row": (_set("history", value=[{"epoch": 1}]), "history[0] train_loss is None"),
    "history-accuracy": (_set("history", 0, "test_acc", value=7.0), "history[0] test_acc is 7.0"),
    "rng-empty": (_set("rng", value={}), "rng.torch is None"),
    "optimizer-list": (_set("optimizer", value=[]), "optimizer is a list"),
    "partial-number": (_set("partial", value=5), "partial is 5"),
    "version-number": (_set("version", value=5), "version is 5"),
    "network-string": (_set("network", value="x"), "network is 'x'"),
    "network-kind-number": (_set("network", value={"kind": 5}), "network.kind is 5"),
}
READERS = {  # every command that reads a trained run, and the Python API
    "eval": ["eval", "{run}"],
    "predict": ["predict", "{run}", "--out", "{tmp}/p.png"],
    "confusion": ["confusion", "{run}", "--out", "{tmp}/c.png"],
    "resume": ["train", "--resume", "{run}", "--epochs", "2"],
}


@pytest.fixture(scope="module")
def good_payload(good_run):
    return torch.load(good_run / "last.pt", weights_only=True)


def crafted_run(good_run, payload, mutation, place):
    """A copy of good_run whose best.pt and last.pt hold `payload` changed by `mutation`."""
    import copy

    run = place / "run"
    shutil.copytree(good_run, run)
    crafted = copy.deepcopy(payload)
    mutation(crafted)
    for name in ("best.pt", "last.pt"):
        torch.save(crafted, run / name)
    return run


@pytest.mark.parametrize("case", CHECKPOINT_MUTATIONS)
def test_every_checkpoint_field_of_a_wrong_type_or_range_is_one_line_naming_it(case, good_run, good_payload, tmp_path,
                                                                               capsys):
    mutation, needle = CHECKPOINT_MUTATIONS[case]
    run = crafted_run(good_run, good_payload, mutation, tmp_path)
    for argv in READERS.values():
        one_line(capsys, [a.format(run=run, tmp=tmp_path) for a in argv], "run/", needle)
    for load in (load_trained, rundir.load_checkpoint, lambda p: load_trained(p, which="last")):
        with pytest.raises(CheckpointError) as raised:
            load(run)
        assert needle in str(raised.value)
    assert not list(tmp_path.glob("*.png"))


def test_a_checkpoint_as_cnnlab_writes_it_passes_every_check(good_run):
    trained = load_trained(good_run)
    assert trained.input_size == 28 and trained.evaluation.precision == "float32"


# ---------------------------------------------------------------- item 8: corrupt and unbounded run files
HEADER = "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_s\n"
ROW = "1,2.24607,0.21,1.94913,0.4,0.003,0.061,3265.6\n"


def _fifo(path):
    path.unlink()
    os.mkfifo(path)


def _huge(path):  # a sparse file: 64 MB that take no disk space
    with open(path, "r+b") as f:
        f.truncate(64 << 20)


RUN_FILE_DEFECTS = {  # case id: (what is done to the run directory, message part)
    "metrics-short-row": (lambda r: (r / "metrics.csv").write_text(HEADER + "1,2.2,0.2\n"),
                          "metrics.csv: line 2 has 3 fields, expected 8"),
    "metrics-extra-field": (lambda r: (r / "metrics.csv").write_text(HEADER + ROW.strip() + ",9\n"),
                            "metrics.csv: line 2 has 9 fields, expected 8"),
    "metrics-wrong-header": (lambda r: (r / "metrics.csv").write_text("epoch,loss\n" + ROW),
                             "metrics.csv: line 1: the header is 'epoch,loss'"),
    "metrics-200kb-field": (lambda r: (r / "metrics.csv").write_text(HEADER + "1," + "9" * 200_000 + ",0,0,0,0,0,0\n"),
                            "metrics.csv: line 2 has 200,014 characters"),
    "metrics-not-a-number": (lambda r: (r / "metrics.csv").write_text(HEADER + ROW.replace("0.21", "x")),
                             "metrics.csv: line 2: train_acc is 'x', expected a number"),
    "metrics-accuracy-range": (lambda r: (r / "metrics.csv").write_text(HEADER + ROW.replace("0.21", "21")),
                               "metrics.csv: line 2: train_acc is 21.0"),
    # an epoch without a test pass (--test-every) leaves both test figures empty; one of them alone, or a training
    # figure, empty is not what cnnlab writes
    "metrics-one-test-figure-empty": (lambda r: (r / "metrics.csv").write_text(HEADER + ROW.replace(",0.4,", ",,")),
                                      "metrics.csv: line 2: test_acc is '', expected a number"),
    "metrics-train-figure-empty": (lambda r: (r / "metrics.csv").write_text(HEADER + ROW.replace(",0.21,", ",,")),
                                   "metrics.csv: line 2: train_acc is '', expected a number"),
    "metrics-dev-zero": (lambda r: (r / "metrics.csv").unlink() or (r / "metrics.csv").symlink_to("/dev/zero"),
                         "metrics.csv: not a regular file"),
    "metrics-fifo": (lambda r: _fifo(r / "metrics.csv"), "metrics.csv: not a regular file"),
    "metrics-huge": (lambda r: _huge(r / "metrics.csv"), "metrics.csv: 67,108,864 bytes, more than"),
    "config-list": (lambda r: (r / "config.json").write_text("[1, 2]"), "config.json: the top level is a list"),
    "config-deeply-nested": (lambda r: (r / "config.json").write_text("[" * 100_000 + "]" * 100_000),
                             "config.json: JSON nested too deeply"),
    "config-not-json": (lambda r: (r / "config.json").write_text("{"), "config.json: not valid JSON"),
    "config-input-size": (lambda r: _edit_info(r, input_size="28"), "config.json: input_size is '28'"),
    "config-classes": (lambda r: _edit_info(r, classes=5), "config.json: classes is 5"),
    "config-parameters": (lambda r: _edit_info(r, parameters=-1), "config.json: parameters is -1"),
    "config-settings": (lambda r: _edit_info(r, config={"model": "basic-cnn", "dataset": "synthetic", "epochs": 0}),
                        "config.json: config.epochs is 0"),
    "config-dev-zero": (lambda r: (r / "config.json").unlink() or (r / "config.json").symlink_to("/dev/zero"),
                        "config.json: not a regular file"),
}


def _edit_info(run, **changes):
    info = json.loads((run / "config.json").read_text())
    info.update(changes)
    (run / "config.json").write_text(json.dumps(info))


def defective_run(good_run, tmp_path, case):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    RUN_FILE_DEFECTS[case][0](run)
    return run


def _within(seconds, function, *args):
    """function(*args) in a thread, failing the test if it takes longer (an unbounded read or a blocked open)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.parametrize("case", RUN_FILE_DEFECTS)
def test_corrupt_or_unbounded_run_files_are_one_line_for_plot_and_compare(case, good_run, tmp_path, capsys):
    run = defective_run(good_run, tmp_path, case)
    needle = RUN_FILE_DEFECTS[case][1]
    _within(20, one_line, capsys, ["plot", run, "--out", tmp_path / "curves.png"], "/run: unreadable run files (",
            needle)
    _within(20, one_line, capsys, ["compare", run, "--out", tmp_path / "cmp"], needle)
    with pytest.raises(CheckpointError, match="unreadable run files"):
        _within(20, rundir.read_run, run)
    if case.startswith("metrics"):
        with pytest.raises(CheckpointError, match="metrics.csv: "):
            _within(20, rundir.read_metrics, run)


@pytest.mark.parametrize("case", ["metrics-dev-zero", "metrics-huge", "metrics-fifo"])
def test_train_out_on_an_unbounded_metrics_file_neither_hangs_nor_reads_it_whole(case, good_run, tmp_path, capsys):
    run = defective_run(good_run, tmp_path, case)
    assert _within(20, rundir.finished_epochs, run) == 1  # best.pt is there; metrics.csv is refused, not read
    one_line(capsys, ["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "64",
                      "--threads", "1", "--out", run], "already holds a run with 1 finished epoch")


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_earlier_checkpoints(good_run, tmp_path, monkeypatch,
                                                                                capsys):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    before = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt", "metrics.csv")}

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("cnnlab.checkpoint.os.fsync", full)
    err = one_line(capsys, ["train", "--resume", run, "--epochs", "2"], "the disk is full", f"no space left in {run}")
    assert "is intact" in err
    assert {name: (run / name).read_bytes() for name in before} == before
    assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]
    with pytest.raises(CheckpointError, match=r"x\.pt: cannot save it: the disk is full"):
        save_checkpoint(tmp_path / "x.pt", {"schema": 2})
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("seed", [2**70, 2**32, -1])
def test_a_seed_out_of_range_is_one_line_from_the_cli_and_a_config_error_from_python(seed, tmp_path, capsys):
    one_line(capsys, ["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "64",
                      "--threads", "1", "--seed", seed, "--out", tmp_path / "a"],
             f"--seed must be an integer from 0 to 4294967295, got {seed}")
    with pytest.raises(ConfigError, match="seed= must be an integer from 0 to 4294967295"):
        cnnlab.train("basic-cnn", dataset="synthetic", epochs=1, train_limit=64, threads=1, seed=seed, progress=False,
                     out=str(tmp_path / "b"))
    assert not list(tmp_path.iterdir())


def test_the_largest_seed_trains(tmp_path):
    net, history = cnnlab.train("basic-cnn", dataset="synthetic", epochs=1, train_limit=64, test_limit=32, threads=1,
                                seed=2**32 - 1, progress=False, out=str(tmp_path / "r"))
    assert len(history) == 1


# ---------------------------------------------------------------- item 8: CIFAR-10 member sizes
def _oversized_archive(place, size):
    """A .tar.gz whose first member, data_batch_1.bin, claims `size` bytes: only its header is written."""
    import gzip

    place.mkdir(parents=True, exist_ok=True)
    info = tarfile.TarInfo(f"{cifar.FOLDER}/data_batch_1.bin")
    info.size = size
    with gzip.open(place / cifar.ARCHIVE, "wb") as f:
        f.write(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096))
    return place


def test_a_3gb_cifar_member_is_refused_before_it_is_read(tmp_path, no_user_data, monkeypatch, capsys):
    place = _oversized_archive(tmp_path / "c", 3 * 10**9)
    read = []
    real = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, m: read.append(m.name) or real(self, m))
    one_line(capsys, ["train", "lenet-relu", "--dataset", "cifar10", "--data-dir", place, "--out", tmp_path / "run"],
             "data_batch_1.bin: 3,000,000,000 bytes, more than a CIFAR-10 batch file holds (30,730,000)")
    with pytest.raises(DatasetError, match="more than a CIFAR-10 batch file holds"):
        load_dataset("cifar10", place)
    assert read == [] and not (tmp_path / "run").exists()


def test_an_oversized_extracted_cifar_file_is_refused_before_it_is_read(tmp_path, no_user_data, monkeypatch):
    train, test = tiny_cifar()
    cifar.write_archive(tmp_path / cifar.ARCHIVE, train, test)
    with tarfile.open(tmp_path / cifar.ARCHIVE) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    bins = tmp_path / "x" / cifar.FOLDER
    with open(bins / "data_batch_3.bin", "r+b") as f:  # 20,000 zero records, sparse: no disk space
        f.truncate(cifar.RECORD * 20_000)
    with pytest.raises(DatasetError, match=r"data_batch_3\.bin: 61,460,000 bytes, more than a CIFAR-10 batch file"):
        load_dataset("cifar10", tmp_path / "x")


# ---------------------------------------------------------------- item 9: silent wrong results
def test_a_cifar_archive_with_a_wrong_md5_is_refused_unless_asked_for(tmp_path, no_user_data, monkeypatch, capsys):
    monkeypatch.delenv(cifar.UNVERIFIED, raising=False)
    train, test = tiny_cifar()
    place = tmp_path / "c"
    place.mkdir()
    cifar.write_archive(place / cifar.ARCHIVE, train, test)
    one_line(capsys, ["train", "lenet-relu", "--dataset", "cifar10", "--data-dir", place, "--out", tmp_path / "run"],
             f"/c/{cifar.ARCHIVE}: MD5 ", "is not the official CIFAR-10 archive's (c32a1d4ab5d03f1284b67883e8d87530)",
             "CNNLAB_UNVERIFIED_DATA=1")
    with pytest.raises(DatasetError, match="not the official CIFAR-10 archive"):
        load_dataset("cifar10", place)
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv(cifar.UNVERIFIED, "1")
    data = load_dataset("cifar10", place)
    assert len(data.train) == 50
    assert "warning: " in capsys.readouterr().err


def test_an_empty_test_set_is_an_error_not_accuracy_zero(good_run, tmp_path, capsys):
    directory = tmp_path / "idx"
    directory.mkdir()
    train, test = make_synthetic(train_size=50, test_size=20)
    for split, keep, (images, labels) in zip((train, test), (len(train), 0), FILES.values()):  # no test image
        write_idx(directory / images, split.images.numpy()[:keep])
        write_idx(directory / labels, split.labels.numpy()[:keep])
    one_line(capsys, ["eval", good_run, "--dataset", "mnist", "--data-dir", directory],
             "data set 'mnist' has no test images")
    trained = load_trained(good_run)
    empty = trained.batches(load_dataset("mnist", directory).test)
    with pytest.raises(DatasetError, match="no test images to evaluate"):
        evaluate(trained.model, empty)


def test_a_class_without_test_images_shows_n_a_and_a_warning(tmp_path, capsys):
    directory = tmp_path / "idx"
    directory.mkdir()
    train, test = make_synthetic(train_size=200, test_size=100)
    for split, (images, labels) in zip((train, test), FILES.values()):
        keep = (split.labels != 9).numpy() if split is test else slice(None)  # no test image of class 9
        write_idx(directory / images, split.images.numpy()[keep])
        write_idx(directory / labels, split.labels.numpy()[keep])
    run = tmp_path / "run"
    assert main(["train", "basic-cnn", "--dataset", "mnist", "--data-dir", str(directory), "--epochs", "1",
                 "--threads", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--per-class"]) == 0
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1].split()
    assert last[1:] == ["n/a", "0"], out
    assert "warning: 1 of 10 classes have no test image (9): their accuracy is n/a" in err
    assert main(["confusion", str(run), "--out", str(tmp_path / "c.png")]) == 0
    out, err = capsys.readouterr()
    assert any(line.split()[1:] == ["n/a", "0"] for line in out.splitlines()), out
    assert "have no test image" in err and "nan" not in out


def _shapes(root, counts=(("circle", 14), ("square", 2), ("triangle", 3))):
    from PIL import Image

    for name, n in counts:
        (root / name).mkdir(parents=True)
        for k in range(n):
            Image.new("L", (8, 8), 40 * k % 256).save(root / name / f"{k}.png")
    return root


def test_an_unreadable_class_folder_is_reported_as_unreadable(tmp_path, no_user_data, monkeypatch, capsys):
    root = _shapes(tmp_path / "shapes")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(root / "square"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DatasetError, match=r"/square: cannot read the folder of class 'square' \(Permission denied\)"):
        folder.load_folder(str(root))
    one_line(capsys, ["show", f"folder:{root}", "--out", tmp_path / "s.png"],
             "cannot read the folder of class 'square'")


def test_show_takes_the_classes_in_turn(tmp_path, no_user_data, monkeypatch):
    from cnnlab import plots, views

    root = _shapes(tmp_path / "shapes", (("circle", 70), ("square", 10), ("triangle", 15)))
    shown = {}
    monkeypatch.setattr(plots, "image_grid", lambda images, titles, path, **kw: shown.update(titles=titles) or path)
    views.show(f"folder:{root}", split="train")
    assert shown["titles"][:6] == ["circle", "square", "triangle"] * 2
    assert len(shown["titles"]) == 16 and set(shown["titles"]) == {"circle", "square", "triangle"}
    order = views.classes_in_turn(torch.tensor([0] * 14 + [1] * 2 + [2] * 3), 9)
    assert order.tolist() == [0, 14, 16, 1, 15, 17, 2, 18, 3]  # a class that runs out is skipped


def test_the_chance_hint_uses_the_real_chance_level_and_names_a_small_held_out_split():
    from cnnlab.hints import likely_causes

    config = dict(model="lenet-relu", lr=0.003, optimizer="adam", batch_size=64, recipe=None,
                  dataset="folder:/data/shapes", test_limit=None, test_split=None)
    info = dict(config=config, classes=["circle", "square", "triangle"], train_images=168, test_images=42)
    line = likely_causes(info, dict(epoch=3, train_acc=0.6, test_acc=0.429))
    assert "0.429 is not clearly above chance (0.333 for 3 classes, ±0.145 on 42 test images)" in line
    assert "--test-limit" not in line and "20% of each class held out" in line
    assert likely_causes(info, dict(epoch=3, train_acc=0.7, test_acc=0.55)) is None  # above chance's noise
    limited = dict(info, config=dict(config, dataset="fashion-mnist", test_limit=42))
    assert "(--test-limit 42)" in likely_causes(limited, dict(epoch=3, train_acc=0.3, test_acc=0.3))


def test_a_mistyped_run_directory_says_so_and_suggests_the_nearest_run(good_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(good_run, runs / "fashion")
    (runs / "fashion-notes").mkdir()  # no run inside: never suggested
    one_line(capsys, ["predict", runs / "fahsion", tmp_path / "shoe.png"],
             f"{runs / 'fahsion'}: no such run directory; did you mean {runs / 'fashion'}?")
    one_line(capsys, ["eval", runs / "zzz"], f"{runs / 'zzz'}: no such run directory")
    with pytest.raises(CheckpointError, match="no such run directory; did you mean"):
        load_trained(runs / "fashon")
    one_line(capsys, ["eval", runs / "gone.pt"], "gone.pt: no such checkpoint file")


def test_every_run_file_case_here_is_a_row_of_docs_errors_md():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    assert [case for case in RUN_FILE_DEFECTS if f"| `{case}` |" not in text] == []


def test_every_numeric_training_setting_has_a_range_checked_at_load():
    """A new TrainConfig field gets a range in cnnlab.validate.RANGES, so a checkpoint's value is checked too."""
    import dataclasses
    import types
    import typing

    from cnnlab.config import TrainConfig
    from cnnlab.validate import RANGES

    numeric = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "lr"
               and {int, float} & set(typing.get_args(f.type) if isinstance(f.type, types.UnionType) else (f.type,))]
    assert sorted(numeric) == sorted(RANGES)
