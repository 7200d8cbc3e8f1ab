"""cnnlab.d2l runs the course notes' d2l code (tests/seeds/seed00N.py: seeds 002-004's code blocks as printed)
unchanged but for the import line, on a subset of Fashion-MNIST; and each name behaves as d2l's does."""
import ast
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnnlab.d2l as d2l
import cnnlab.d2l.data as d2l_data
from cnnlab.data import Dataset, Split, load_dataset

SEEDS = Path(__file__).parent / "seeds"
D2L_IMPORT = "from d2l import torch as d2l"


def seed_cells(name: str, tag: str | None = None) -> list[str]:
    """The seed's cells (split at '# %%' lines), optionally only those whose marker line names `tag`."""
    text = (SEEDS / f"{name}.py").read_text(encoding="utf-8")
    cells = []
    for chunk in text.split("# %%")[1:]:
        marker, _, code = chunk.partition("\n")
        if tag is None or tag in marker:
            cells.append(code)
    return cells


def run_cell(code: str, namespace: dict):
    """Run one cell as Jupyter would, the one import swapped: returns the value of a final expression."""
    assert code.count(D2L_IMPORT) <= 1
    tree = ast.parse(code.replace(D2L_IMPORT, "from cnnlab import d2l"))
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is not None:
        return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)


def run_cells(cells: list[str]) -> tuple[list, str]:
    """Run the cells in one namespace; returns each cell's value and everything printed."""
    namespace, values, out = {"__name__": "__main__"}, [], io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in cells:
            values.append(run_cell(code, namespace))
    return values, out.getvalue()


@pytest.fixture
def small_fashion(monkeypatch, tmp_path):
    """load_data_fashion_mnist on the first `train` / `test` images only; pictures land in tmp_path."""
    full = load_dataset("fashion-mnist", download=False)

    def use(train: int, test: int):
        def subset(name, *args, **kwargs):
            assert name == "fashion-mnist"
            return Dataset(full.name, Split(full.train.images[:train], full.train.labels[:train]),
                           Split(full.test.images[:test], full.test.labels[:test]),
                           full.classes, full.mean, full.std, full.source)

        monkeypatch.setattr(d2l_data, "load_dataset", subset)

    monkeypatch.chdir(tmp_path)
    return use


def test_seed_002_runs_unchanged_corr2d_and_lenet_shapes():
    values, out = run_cells(seed_cells("seed002"))
    assert values[0].tolist() == [[19.0, 25.0], [37.0, 43.0]]
    shapes = [line.split("\t")[-1].strip() for line in out.splitlines()]
    assert shapes[0] == "torch.Size([1, 6, 28, 28])" and shapes[5] == "torch.Size([1, 16, 5, 5])"
    assert shapes[-1] == "torch.Size([1, 10])" and len(shapes) == 12


def test_seed_004_runs_unchanged_edges_learned_kernel_and_exercises():
    torch.manual_seed(0)
    cells = seed_cells("seed004")
    failing = next(i for i, c in enumerate(cells) if "conv2d = Conv2D((1,2))" in c)
    values, out = run_cells(cells[:failing])
    assert values[1].tolist() == [[19.0, 25.0], [37.0, 43.0]]
    edges = values[5]
    assert edges[:, 1].eq(1).all() and edges[:, 5].eq(-1).all() and edges.abs().sum() == 12
    assert values[6].abs().sum() == 0  # the transposed image has no vertical edges
    assert "epoch 10, loss" in out
    learned = values[8]
    assert torch.allclose(learned, torch.tensor([[1.0, -1.0]]), atol=0.25)
    assert values[10].shape == (5, 4) and values[12].shape == (4, 5)
    # the exercise the seed shows failing fails the same way
    namespace = {"__name__": "__main__"}
    for code in cells[:failing]:
        with contextlib.redirect_stdout(io.StringIO()):
            run_cell(code, namespace)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(4\) must match the size of tensor b \(7\)"):
        run_cell(cells[failing], namespace)
    values, _ = run_cells(cells[:1] + cells[failing + 1:])
    assert values[-1].tolist() == [[19.0, 25.0], [37.0, 43.0]]


def test_seed_003_lenet_runs_unchanged_with_its_own_train_ch6(small_fashion, tmp_path):
    small_fashion(train=1280, test=256)  # its loop needs at least 5 batches of 256 (num_batches // 5)
    torch.manual_seed(0)
    _, out = run_cells(seed_cells("seed003", "lenet"))
    lines = out.splitlines()
    assert "Reshape output shape: \t torch.Size([1, 1, 28, 28])" in lines
    assert "training on cpu" in lines
    assert lines[-2].startswith("loss ") and ", train acc " in lines[-2] and ", test acc " in lines[-2]
    assert lines[-1].endswith(" examples/sec on cpu")
    assert (tmp_path / "d2l-figures" / "animator.png").stat().st_size > 0  # d2l's Animator shows nothing here


@pytest.mark.slow  # train_ch6 on a seed-003 net in the default suite: test_seed_003_lenet_*
def test_seed_003_alexnet_vgg_nin_run_unchanged_with_d2l_train_ch6(small_fashion, monkeypatch, tmp_path):
    small_fashion(train=16, test=16)
    one_epoch = d2l.train_ch6
    monkeypatch.setattr(d2l, "train_ch6", lambda *args: one_epoch(*args[:3], 1, *args[4:]))
    for net_name in ("alexnet", "vgg", "nin"):
        torch.manual_seed(0)
        _, out = run_cells(seed_cells("seed003", net_name))
        lines = out.splitlines()
        assert "training on cpu" in lines, net_name
        assert lines[-2].startswith("loss ") and lines[-1].endswith("examples/sec on cpu"), net_name
        assert any(line.endswith("torch.Size([1, 10])") for line in lines), net_name
    assert (tmp_path / "d2l-figures" / "train_ch6.png").stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["d2l-figures"]  # no loose PNGs in the working directory


def test_load_data_fashion_mnist_yields_float_images_in_0_1_like_d2l():
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    assert (len(train_iter), len(test_iter)) == (235, 40)
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert X.min() >= 0 and X.max() <= 1 and X.max() > 0.9
    first_test = next(iter(test_iter))[1]
    assert torch.equal(first_test, load_dataset("fashion-mnist", download=False).test.labels[:256])  # in order
    assert sum(len(y) for _, y in test_iter) == 10_000
    X224, _ = next(iter(d2l.load_data_fashion_mnist(8, resize=224)[1]))
    assert X224.shape == (8, 1, 224, 224) and 0 <= X224.min() and X224.max() <= 1


def test_training_order_changes_every_pass_and_follows_torch_manual_seed():
    train_iter, _ = d2l.load_data_fashion_mnist(64)
    torch.manual_seed(1)
    a, b = next(iter(train_iter))[1], next(iter(train_iter))[1]
    torch.manual_seed(1)
    assert not torch.equal(a, b) and torch.equal(next(iter(train_iter))[1], a)


def test_accuracy_counts_and_evaluate_accuracy_gpu_divides():
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    y = torch.tensor([1, 1, 1])
    assert d2l.accuracy(y_hat, y) == 2.0
    assert d2l.accuracy(torch.tensor([1, 0]), torch.tensor([1, 1])) == 1.0
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
        net.bias.zero_()
    data = [(y_hat[:2], y[:2]), (y_hat[2:], y[2:])]
    assert d2l.evaluate_accuracy_gpu(net, data) == pytest.approx(2 / 3)
    assert not net.training  # d2l puts the net in eval mode


def test_accumulator_timer_devices_and_labels():
    metric = d2l.Accumulator(2)
    metric.add(1, torch.tensor(2.5))
    metric.add(2, 0.5)
    assert (metric[0], metric[1]) == (3.0, 3.0)
    metric.reset()
    assert metric[0] == 0
    timer = d2l.Timer()
    timer.stop()
    timer.start()
    timer.stop()
    assert len(timer.times) == 2 and timer.sum() >= 0 and timer.avg() == timer.sum() / 2
    assert len(timer.cumsum()) == 2
    assert d2l.try_gpu().type in ("cpu", "cuda") and d2l.try_gpu(99) == torch.device("cpu")
    assert len(d2l.try_all_gpus()) >= 1
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9, 6])) == ["t-shirt", "ankle boot", "shirt"]
    assert d2l.corr2d(torch.arange(9.0).reshape(3, 3), torch.tensor([[0.0, 1.0], [2.0, 3.0]])).tolist() == \
        [[19.0, 25.0], [37.0, 43.0]]


def test_show_images_and_animator_write_pngs_outside_jupyter(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X, y = next(iter(d2l.load_data_fashion_mnist(18)[1]))
    axes = d2l.show_images(X.reshape(18, 28, 28), 2, 9, titles=d2l.get_fashion_mnist_labels(y))
    assert len(axes) == 18 and axes[0].get_title() == "ankle boot"
    animator = d2l.Animator(xlabel="epoch", xlim=[1, 3], legend=["a", "b"])
    for epoch in (1, 2, 3):
        animator.add(epoch, (1 / epoch, None if epoch == 2 else epoch / 3))
    assert animator.X == [[1, 2, 3], [1, 3]] and animator.Y[1] == [1 / 3, 1.0]
    figures = tmp_path / "d2l-figures"
    assert (figures / "show_images.png").stat().st_size > 0 and (figures / "animator.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d2l-figures"]
    out = capsys.readouterr().out
    assert out.count("d2l-figures") == 1 and out.count("\n") == 1  # said once, not at every figure or point


def test_d2l_leaves_pyplot_and_the_backend_alone(tmp_path):
    # dict.__getitem__: reading rcParams['backend'] the usual way would itself pick a backend (importing pyplot)
    code = ("import matplotlib, sys; backend = dict.__getitem__(matplotlib.rcParams, 'backend')\n"
            "from cnnlab import d2l\n"
            "a = d2l.Animator(legend=['x']); a.add(1, 2.0); d2l.show_images([[[0, 1]]], 1, 1)\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
            "assert dict.__getitem__(matplotlib.rcParams, 'backend') == backend\n")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True)


def test_a_d2l_name_it_does_not_cover_says_what_it_covers():
    with pytest.raises(AttributeError, match="cnnlab.d2l has no 'Vocab': it covers the names .* up to its modern-CNN "
                                             "chapter .*docs/d2l.md"):
        d2l.Vocab()
