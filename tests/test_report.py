"""How training shows itself outside Jupyter (stdout, never pyplot), what a picture returns, and the OpenMP note."""
import os
import subprocess
import sys

import cnnlab
from cnnlab.plots import plot_curves
from cnnlab.report import ConsoleReporter, NotebookReporter, default_reporter


def test_console_lines_go_to_stdout(tmp_path, capsys):
    cnnlab.train("basic-cnn", dataset="synthetic", epochs=1, train_limit=128, test_limit=64, out=tmp_path / "run")
    captured = capsys.readouterr()
    assert "training basic-cnn on synthetic" in captured.out and "examples/sec on cpu" in captured.out
    assert "epoch" in captured.out and captured.err == ""


def test_outside_a_kernel_the_reporter_is_the_console_one():
    reporter = default_reporter()
    assert type(reporter) is ConsoleReporter and not isinstance(reporter, NotebookReporter)


def test_a_picture_returns_its_path_carrying_the_figure(tmp_path):
    history = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.1 / e, "train_acc": 0.5, "test_acc": 0.4}
               for e in (1, 2)]
    path = plot_curves({"net": history}, tmp_path / "curves.png")
    assert path == tmp_path / "curves.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert path._repr_png_()[:4] == b"\x89PNG"  # what a notebook shows for it
    assert len(path.figure.axes) == 2


def python(code: str, cwd, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**environment, **env})


# float32 pinned: --precision auto would time both precisions first in each of the three processes, which is not
# what this test is about
TRAIN = ("cnnlab.train('basic-cnn', dataset='synthetic', epochs=1, train_limit=64, test_limit=64, threads=2, "
         "precision='fp32', out='run-{}')\n")


def test_training_leaves_pyplot_and_the_backend_alone_and_notes_openmp_only_when_torch_came_first(tmp_path):
    # dict.__getitem__: reading rcParams['backend'] the usual way would itself pick a backend (importing pyplot)
    first = python("import sys, matplotlib\nbackend = dict.__getitem__(matplotlib.rcParams, 'backend')\n"
                   "import cnnlab, os\nprint(os.environ['GOMP_SPINCOUNT'])\n" + TRAIN.format(1) +
                   "assert 'matplotlib.pyplot' not in sys.modules\n"
                   "assert dict.__getitem__(matplotlib.rcParams, 'backend') == backend\n", tmp_path)
    assert first.stdout.startswith("10000\n") and "note: torch was imported before cnnlab" not in first.stdout
    late = python("import torch\nimport cnnlab, os\nfrom cnnlab import openmp\n"
                  "print(os.environ.get('GOMP_SPINCOUNT'), openmp.spin_shortened())\n" + TRAIN.format(2), tmp_path)
    assert late.stdout.startswith("None True\n")  # not set after libgomp has read it: config.json stays true
    # the short spin was had after the fact (cnnlab/openmp.py), so no OpenMP note (other notes may come: precision)
    assert "note: torch was imported before cnnlab" not in late.stdout
    mine = python("import torch\nimport cnnlab\n" + TRAIN.format(3), tmp_path, GOMP_SPINCOUNT="5000")
    assert "note: torch was imported before cnnlab" not in mine.stdout
