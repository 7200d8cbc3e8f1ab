"""Bad input to the data sets of issue 17 and to the tools (docs/errors.md, "Image folders, CIFAR-10, EMNIST"
and "Tools"): one line on stderr naming the file and the problem, exit status 2, the same message from the
Python API, and nothing half-written: no run directory, no exported file, no downloaded file."""
import dataclasses
import functools
import re
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from cnnlab.cli import main
from cnnlab.data import SPECS, cache_dir, cifar, load_dataset
from cnnlab.errors import DatasetError
from test_folder import make_folder
from test_named_sets import emnist_zip, tiny_cifar

DOCS = Path(__file__).parents[1] / "docs" / "errors.md"
TRAIN = ["train", "lenet-relu", "--epochs", "1", "--threads", "1"]


def one_line(capsys, argv, pattern):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("cnnlab: error: ") and err.count("\n") == 1, err
    assert re.search(pattern, err), f"{pattern!r} not in {err!r}"
    return err[len("cnnlab: error: "):].strip()


# ---------------------------------------------------------------- image folders
def _cut_jpeg(root):
    path = root / "red" / "1.jpg"
    path.write_bytes(path.read_bytes()[:60])


def _text_as_images(root):
    for f in root.rglob("*.*"):
        f.write_text("not an image")


def _grey_among_colour(root):
    Image.new("L", (30, 30), 90).save(root / "red" / "grey.png")


def _only_text(root):
    for f in (root / "green").iterdir():
        f.unlink()
    (root / "green" / "notes.txt").write_text("nothing to see")


def _test_class_unknown(root):
    make_folder(root.parent / "tt" / "train", per_class=2)
    make_folder(root.parent / "tt" / "test", per_class=1, classes={"purple": (120, 0, 120)})


FOLDER_CASES = {  # case id: (what is done to a good folder of three classes, folder to use, message pattern)
    "folder-missing": (None, "absent", r"/absent: no such folder \(--dataset folder:PATH needs a folder of class"),
    "folder-empty": (lambda r: [f.unlink() for f in r.rglob("*.*")] and [d.rmdir() for d in r.iterdir()], ".",
                     r"/photos: empty folder: expected one sub-folder of images per class"),
    "folder-loose-images": (lambda r: Image.new("RGB", (8, 8)).save(r / "loose.png") or
                            [__import__("shutil").rmtree(d) for d in r.iterdir() if d.is_dir()], ".",
                            r"/photos: 1 images but no class sub-folders: put each class's images in a sub-folder"),
    "folder-single-class": (lambda r: [__import__("shutil").rmtree(r / c) for c in ("green", "blue")], ".",
                            r"/photos: only one class sub-folder \(red\): a classifier needs at least two"),
    "folder-empty-class": (lambda r: (r / "purple").mkdir(), ".", r"/photos/purple: class 'purple' has no images "
                           r"\(PNG, JPEG, BMP or WebP files\)"),
    "folder-class-of-non-images": (_only_text, ".", r"/photos/green: class 'green' has no images \(PNG, JPEG, BMP or "
                                   r"WebP files\) \(it holds 1 other file, e.g. notes.txt\)"),
    "folder-unreadable-files": (_cut_jpeg, ".", r"/photos: 1 of 30 image files cannot be read: red/1.jpg \(.+\); "
                                r"remove them or pass --skip-bad to leave them out"),
    "folder-all-non-images": (_text_as_images, ".", r"/photos: none of the 30 image files can be read: blue/0.png "
                              r"\(not an image\), .* and 25 more"),
    "folder-mixed-grey-colour": (_grey_among_colour, ".",
                                 r"/photos: mixed grey and colour images \(1 grey, 30 colour\); "
                                 r"the grey ones: red/grey.png; convert them all to one kind"),
    "folder-test-class-unknown": (_test_class_unknown, "../tt", r"/tt/test/purple: class 'purple' is not among the "
                                  r"training classes \(blue, green, red\)"),
}


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_bad_image_folders_are_one_line_naming_the_folder_or_file(case, tmp_path, no_user_data, capsys):
    defect, where, pattern = FOLDER_CASES[case]
    root = make_folder(tmp_path / "photos")
    if defect:
        defect(root)
    target = (root / where) if where != "absent" else tmp_path / "absent"
    message = one_line(capsys, [*TRAIN, "--dataset", f"folder:{target}", "--out", tmp_path / "run"], pattern)
    with pytest.raises(DatasetError) as raised:
        load_dataset(f"folder:{target}", progress=False)
    assert str(raised.value) == message
    assert not (tmp_path / "run").exists()
    assert not (no_user_data / "cnnlab" / "folders").exists() or case in (
        "folder-unreadable-files", "folder-all-non-images", "folder-mixed-grey-colour")  # decoded, then refused


def test_an_unreadable_file_is_refused_again_from_the_cache(tmp_path, no_user_data):
    root = make_folder(tmp_path / "photos")
    _cut_jpeg(root)
    for _ in range(2):  # the second time from the cache: the same error, not a silently smaller set
        with pytest.raises(DatasetError, match="1 of 30 image files cannot be read"):
            load_dataset(f"folder:{root}", progress=False)


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_test_split_outside_zero_one_is_an_error(value, tmp_path, capsys):
    one_line(capsys, [*TRAIN, "--dataset", "digits", "--test-split", value],
             rf"--test-split must be between 0 and 1 \(a fraction of each class\), got {float(value)}")


# ---------------------------------------------------------------- CIFAR-10
def _archive(tmp_path, members=None, folder=cifar.FOLDER):
    """A CIFAR-10 binary archive; `members` replaces some files' bytes."""
    train, test = tiny_cifar()
    path = tmp_path / "c" / cifar.ARCHIVE
    path.parent.mkdir(exist_ok=True)
    cifar.write_archive(path, train, test)
    if members is not None or folder != cifar.FOLDER:
        with tarfile.open(path) as tar:
            contents = {m.name.split("/")[-1]: tar.extractfile(m).read() for m in tar if m.isfile()}
        contents.update(members or {})
        with tarfile.open(path, "w:gz") as tar:
            for name, data in contents.items():
                if data is None:
                    continue
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(data)
                tar.addfile(info, __import__("io").BytesIO(data))
    return path


def _record_bytes(label=3, n=4):
    return (bytes([label]) + bytes(3072)) * n


CIFAR_CASES = {  # case id: (make the data directory or file, message pattern)
    "cifar-truncated-archive": (lambda t: (p := _archive(t)).write_bytes(p.read_bytes()[:5000]) and p.parent,
                                rf"/c/{cifar.ARCHIVE}: truncated or corrupt archive \("),
    "cifar-corrupt-archive": (lambda t: (p := _archive(t)).write_bytes(p.read_bytes()[:-8] + bytes(8)) and p.parent,
                              rf"/c/{cifar.ARCHIVE}: truncated or corrupt archive \(.*CRC"),
    "cifar-not-gzip": (lambda t: (t / "c").mkdir() or (t / "c" / cifar.ARCHIVE).write_text("hello") and t / "c",
                       rf"/c/{cifar.ARCHIVE}: truncated or corrupt archive \(not a gzip file\)"),
    "cifar-record-size": (lambda t: _archive(t, {"data_batch_2.bin": _record_bytes() + b"12345"}).parent,
                          rf"/c/{cifar.ARCHIVE}:{cifar.FOLDER}/data_batch_2.bin: 12,297 bytes is not a whole number of "
                          r"3,073-byte records \(4 records and 5 bytes left over\): truncated, or not a CIFAR-10 "
                          r"binary file"),
    "cifar-label-out-of-range": (lambda t: _archive(t, {"test_batch.bin": _record_bytes(label=12)}).parent,
                                 rf"{cifar.FOLDER}/test_batch.bin: 4 labels out of range 0-9 "
                                 r"\(first: 12 in record 0\)"),
    "cifar-missing-member": (lambda t: _archive(t, {"data_batch_4.bin": None}).parent,
                             rf"/c/{cifar.ARCHIVE}: {cifar.FOLDER}/data_batch_4.bin not inside: not the CIFAR-10 "
                             rf"binary archive"),
    "cifar-extracted-truncated": (lambda t: _extracted_cut(t),
                                  r"/cifar-10-batches-bin/data_batch_1.bin: \d[\d,]* bytes "
                                  r"is not a whole number of 3,073-byte records"),
    "cifar-pickle-archive": (lambda t: (t / "c").mkdir() or (t / "c" / "cifar-10-python.tar.gz").write_bytes(b"x")
                             and t / "c",
                             r"/c/cifar-10-python.tar.gz: the python \(pickle\) version of CIFAR-10, which "
                             r"cnnlab does not read: unpickling a downloaded file can run any code in it; fetch the "
                             r"binary version cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"),
    "cifar-pickle-folder": (lambda t: (t / "c" / "cifar-10-batches-py").mkdir(parents=True) or t / "c",
                            r"/c/cifar-10-batches-py: the python \(pickle\) version of CIFAR-10"),
    "cifar-pickle-inside-binary-name": (lambda t: _archive(t, folder="cifar-10-batches-py").parent,
                                        rf"/c/{cifar.ARCHIVE}: the python \(pickle\) version of CIFAR-10"),
}


def _extracted_cut(tmp_path):
    path = _archive(tmp_path)
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    member = tmp_path / "x" / cifar.FOLDER / "data_batch_1.bin"
    member.write_bytes(member.read_bytes()[:-100])
    return tmp_path / "x"


@pytest.mark.parametrize("case", CIFAR_CASES)
def test_bad_cifar_files_are_one_line_naming_the_file_and_problem(case, tmp_path, no_user_data, capsys):
    make, pattern = CIFAR_CASES[case]
    place = make(tmp_path)
    message = one_line(capsys, [*TRAIN, "--dataset", "cifar10", "--data-dir", place, "--out", tmp_path / "run"],
                       pattern)
    with pytest.raises(DatasetError) as raised:
        load_dataset("cifar10", place)
    assert str(raised.value) == message
    assert not (tmp_path / "run").exists()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.mark.parametrize("case", ["cifar-wrong-checksum", "emnist-wrong-checksum"])
def test_a_download_with_the_wrong_checksum_is_refused_and_leaves_no_file(case, server, no_user_data, monkeypatch,
                                                                          tmp_path, capsys):
    root, url = server
    name, file = ("cifar10", cifar.ARCHIVE) if case.startswith("cifar") else ("emnist-digits", "gzip.zip")
    (root / file).write_bytes(b"these are not the bytes you are looking for")
    monkeypatch.setitem(SPECS, name, dataclasses.replace(SPECS[name], mirrors=(url,)))  # the real, published MD5
    one_line(capsys, ["download", name], rf"could not download {file} \({url}{file}: checksum mismatch: MD5 "
                                         rf"[0-9a-f]{{32}}, expected {SPECS[name].md5[file]}\); to get it:")
    assert list(cache_dir(name).iterdir()) == []


# ---------------------------------------------------------------- EMNIST
EMNIST_CASES = {
    "emnist-corrupt-zip": (lambda d: (d / "gzip.zip").write_bytes(b"PK\x03\x04 not really"),
                           r"/gzip.zip: corrupt or truncated zip archive \("),
    "emnist-zip-missing-split": (lambda d: emnist_zip(d / "gzip.zip", split="digits", offset=0, classes=10),
                                 r"/gzip.zip: emnist-letters-train-images-idx3-ubyte.gz, .* not inside: not the "
                                 r"archive this data set comes in"),
    "emnist-label-out-of-range": (lambda d: emnist_zip(d / "gzip.zip", offset=0, classes=1),
                                  r"emnist-letters-train-labels-idx1-ubyte.gz: \d+ labels out of range 1-26 "
                                  r"\(first: 0"),
}


@pytest.mark.parametrize("case", EMNIST_CASES)
def test_bad_emnist_archives_are_one_line(case, tmp_path, no_user_data, capsys):
    make, pattern = EMNIST_CASES[case]
    (tmp_path / "e").mkdir()
    make(tmp_path / "e")
    message = one_line(capsys, [*TRAIN, "--dataset", "emnist-letters", "--data-dir", tmp_path / "e", "--out",
                                tmp_path / "run"], pattern)
    with pytest.raises(DatasetError) as raised:
        load_dataset("emnist-letters", tmp_path / "e")
    assert str(raised.value) == message
    assert not (tmp_path / "run").exists()
    assert not [p for p in cache_dir("emnist-letters").glob("*.part")] if cache_dir("emnist-letters").exists() else True


# ---------------------------------------------------------------- tools
class Mystery(torch.autograd.Function):
    """Doubles its input; exported to ONNX as an operator of a made-up domain that onnxruntime cannot run."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def symbolic(g, x):
        return g.op("cnnlab.test::Mystery", x)


class MysteryNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.fc = nn.Linear(in_channels * 28 * 28, num_classes)

    def forward(self, x):
        return self.fc(Mystery.apply(x).flatten(1))


@pytest.fixture
def mystery_run(tmp_path_factory, monkeypatch):
    from cnnlab.models import registry

    monkeypatch.setitem(registry._REGISTRY, "mystery-net", registry.ModelInfo(
        "mystery-net", MysteryNet, "test: an operator onnxruntime lacks", 28, None, "tests"))
    run = tmp_path_factory.mktemp("mystery") / "run"
    assert main(["train", "mystery-net", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "64",
                 "--test-limit", "32", "--threads", "1", "--out", str(run)]) == 0
    return run


def _hide(monkeypatch, *modules):
    import sys

    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError


TOOL_CASES = {  # case id: (command line, message pattern, what must not exist afterwards)
    "export-onnxruntime-cannot-run": (["export", "{mystery}", "--out", "{tmp}/m.onnx"],
                                      r"/m.onnx: onnxruntime cannot run the exported model \(.*Mystery.*\); "
                                      r"nothing written",
                                      "m.onnx"),
    "export-onnx-not-installed": (["export", "{run}", "--out", "{tmp}/m.onnx"],
                                  r"--format onnx needs the onnx and onnxruntime packages: "
                                  r"pip install 'cnnlab\[onnx\]'",
                                  "m.onnx"),
    "export-out-under-a-file": (["export", "{run}", "--format", "pt2", "--out", "{tmp}/a-file/m.pt2"],
                                r"/a-file/m.pt2: cannot write \(.*\); choose another --out", None),
    "export-images-zero": (["export", "{run}", "--images", "0"], r"--images must be at least 1, got 0", None),
    "tensorboard-not-installed": (["train", "basic-cnn", "--dataset", "synthetic", "--tensorboard", "--out",
                                   "{tmp}/run"],
                                  r"--tensorboard needs the tensorboard package: pip install 'cnnlab\[tensorboard\]'",
                                  "run"),
    "lr-find-bad-range": (["lr-find", "basic-cnn", "--dataset", "synthetic", "--start", "1", "--end", "0.1"],
                          r"the range test needs 0 < start < end and at least 2 steps, got 1.0, 0.1, 200", None),
    "lr-find-diverges-at-once": (["lr-find", "basic-cnn", "--dataset", "synthetic", "--train-limit", "256", "--start",
                                  "1e30", "--end", "1e32", "--steps", "20", "--plot", "{tmp}/lr.png"],
                                 r"the range test diverged at once \(loss nan at lr [\d.]+e\+30\); start it at a "
                                 r"lower rate",
                                 "lr.png"),
    "lr-not-a-number": (["train", "basic-cnn", "--lr", "fast"], None, None),
}


@pytest.mark.parametrize("case", TOOL_CASES)
def test_bad_tool_input_is_one_line_and_leaves_nothing_behind(case, good_run, tmp_path, monkeypatch, capsys, request):
    argv, pattern, absent = TOOL_CASES[case]
    if case == "lr-not-a-number":  # argparse's own error for a value it cannot parse
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        assert "argument --lr: expected a number or 'find', got 'fast'" in capsys.readouterr().err
        return
    places = {"run": good_run, "tmp": tmp_path}
    if "{mystery}" in argv:
        places["mystery"] = request.getfixturevalue("mystery_run")
        capsys.readouterr()  # its training's output
    if case == "export-onnx-not-installed":
        _hide(monkeypatch, "onnx", "onnxruntime")
    if case == "tensorboard-not-installed":
        _hide(monkeypatch, "torch.utils.tensorboard", "tensorboard")
    (tmp_path / "a-file").write_text("a regular file")
    one_line(capsys, [a.format(**places) for a in argv], pattern)
    if absent:
        assert not (tmp_path / absent).exists()
    assert not list(tmp_path.glob("*.part*")) and not list(good_run.glob("*.part*"))


# ---------------------------------------------------------------- the table
def test_every_case_here_is_a_row_of_docs_errors_md():
    table = DOCS.read_text()
    cases = [*FOLDER_CASES, *CIFAR_CASES, *EMNIST_CASES, *TOOL_CASES, "cifar-wrong-checksum", "emnist-wrong-checksum"]
    missing = [case for case in cases if f"`{case}`" not in table]
    assert not missing, f"add these cases to {DOCS}: {missing}"
