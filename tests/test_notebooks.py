"""The example notebooks run headless in a Jupyter kernel (nbclient + ipykernel) at small settings
(CNNLAB_EXAMPLES_SMALL=1): no cell errs, each shows its figures, and live figures are updated in place (one
output per figure) without wiping the cell's other output."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def execute(name: str, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_EXAMPLES_SMALL", "1")
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()  # raises CellExecutionError, naming the cell, if any cell errs
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def images(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.outputs)


def text(cell, stream: str = "stdout") -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == stream)


def find(cells, snippet: str):
    return next(cell for cell in cells if snippet in cell.source)


@pytest.mark.slow  # the example notebooks are slow tests; a kernel in the default suite: the live-figure test
def test_convolution_by_hand(tmp_path, monkeypatch):
    cells = execute("01-convolution-by-hand.ipynb", tmp_path, monkeypatch)
    assert "tensor([[19., 25.]," in find(cells, "d2l.corr2d(X, K)  #").outputs[0]["data"]["text/plain"]
    assert text(find(cells, "ops.conv2d")).split() == ["True", "True"]
    assert images(find(cells, "titles=['image', 'edges'")) == 1
    learning = find(cells, "animator.add(i + 1")
    assert images(learning) == 1  # 20 points, one figure redrawn in place
    assert "learned kernel: tensor([[ 1.0" in text(learning) or "learned kernel: tensor([[ 0.9" in text(learning)
    assert images(find(cells, "vertical edges")) == 1
    assert not any(text(cell, "stderr") for cell in cells)
    assert not list(tmp_path.glob("*.png"))  # in Jupyter nothing is written to disk


@pytest.mark.slow  # 10 s; a kernel in the default suite: the live-figure test below
def test_lenet_with_your_own_network(tmp_path, monkeypatch):
    cells = execute("02-lenet-your-own-network.ipynb", tmp_path, monkeypatch)
    training = find(cells, "d2l.train_ch6(")
    assert images(training) == 1  # the live curves: one output, updated at every point
    progress = [o for o in training.outputs
                if "text/plain" in o.get("data", {}) and "epoch 1/1" in o["data"]["text/plain"]]
    assert len(progress) == 1 and "test acc" in progress[0]["data"]["text/plain"]
    out = text(training).splitlines()
    assert out[0] == "training on cpu" and out[-2].startswith("loss ") and out[-1].endswith("examples/sec on cpu")
    assert images(find(cells, "titles=titles[:8]")) == 1
    assert not any(text(cell, "stderr") for cell in cells)


def test_cnnlab_train_in_a_kernel_shows_one_live_figure_and_leaves_pyplot_working(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import cnnlab\nprint('before')\n"
                                  "net, history = cnnlab.train('basic-cnn', dataset='synthetic', epochs=2, "
                                  "train_limit=256, test_limit=128, out='run')\nprint('after')"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    training, user_plot = nb.cells
    assert images(training) == 1  # two epochs, one figure redrawn in place
    progress = [o["data"]["text/plain"] for o in training.outputs if list(o.get("data", {})) == ["text/plain"]]
    assert progress == ["done: 2 epochs, test acc " + progress[0].rsplit(" ", 1)[1]]
    out = text(training)
    assert out.startswith("before\ntraining basic-cnn on synthetic") and out.endswith("examples/sec on cpu\nafter\n")
    assert "    2 " in out and not text(training, "stderr")  # the epoch lines on stdout, no tqdm bar
    assert (tmp_path / "run" / "curves.png").is_file()
    assert images(user_plot) == 1  # the user's backend was left alone


@pytest.mark.slow  # five nets: about a minute on 2 idle cores
def test_classic_nets_compared(tmp_path, monkeypatch):
    cells = execute("03-classic-nets-compared.ipynb", tmp_path, monkeypatch)
    training = find(cells, "cnnlab.train(")
    # cnnlab.train in a kernel: one live figure and one progress line per run, epoch lines on stdout
    assert images(training) == 5
    assert text(training).count("examples/sec on cpu") == 5
    assert not text(training, "stderr")
    compared = find(cells, "views.compare(")
    assert images(compared) == 2 and "best test acc" in text(compared)
