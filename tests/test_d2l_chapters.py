"""Each d2l name in the call forms the book's chapters 2-7 use (d2l 2.0, PyTorch), at tiny sizes: arguments,
return types, printed lines and the figures written (into d2l-figures/ outside Jupyter)."""
import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cnnlab.d2l.data as d2l_data
from cnnlab import d2l
from cnnlab.data import Dataset, Split, load_dataset
from cnnlab.plots import subplots

SEEDS = Path(__file__).parent / "seeds"


@pytest.fixture
def figures(tmp_path, monkeypatch):
    """The working directory is tmp_path; yields the d2l-figures/ folder inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "d2l-figures"


@pytest.fixture
def small_fashion(monkeypatch):
    """load_data_fashion_mnist on the first `train` / `test` images of Fashion-MNIST only."""
    full = load_dataset("fashion-mnist", download=False)

    def use(train: int, test: int):
        subset = Dataset(full.name, Split(full.train.images[:train], full.train.labels[:train]),
                         Split(full.test.images[:test], full.test.labels[:test]),
                         full.classes, full.mean, full.std, full.source)
        monkeypatch.setattr(d2l_data, "load_dataset", lambda name, *args, **kwargs: subset)

    return use


def printed(fn, *args, **kwargs) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args, **kwargs)
    return out.getvalue().splitlines()


# ---------------------------------------------------------------- 2 preliminaries
def test_plot_draws_each_curve_like_the_calculus_chapter(figures):
    x = np.arange(0, 3, 0.1)
    _, ax = subplots(figsize=(3.5, 2.5))
    d2l.plot(x, [3 * x ** 2 - 4 * x, 2 * x - 3], "x", "f(x)", legend=["f(x)", "Tangent line (x=1)"], axes=ax)
    assert len(ax.lines) == 2 and ax.get_xlabel() == "x" and ax.get_ylabel() == "f(x)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["f(x)", "Tangent line (x=1)"]
    assert not figures.exists()  # axes given: the caller's figure, nothing written
    t = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    d2l.plot(t.detach(), torch.relu(t).detach(), "x", "relu(x)", figsize=(5, 2.5))  # 4.1's form
    d2l.plot(t, [torch.sigmoid(t), torch.tanh(t)], legend=["sigmoid", "tanh"])  # tensors needing grad work too
    d2l.plot([1.0, 4.0, 9.0])  # Y alone: against the index
    assert sorted(p.name for p in figures.iterdir()) == ["plot-2.png", "plot-3.png", "plot.png"]


def test_set_axes_configures_one_axes():
    _, ax = subplots(figsize=(3.5, 2.5))
    ax.plot([1, 10], [1, 100])
    d2l.set_axes(ax, "x", "y", [1, 10], [1, 100], "log", "log", ["a"])
    assert (ax.get_xscale(), ax.get_yscale(), ax.get_xlim(), ax.get_ylabel()) == ("log", "log", (1.0, 10.0), "y")


def test_set_figsize_pyplot_and_the_probability_chapters_cells(tmp_path):
    code = ("import sys, matplotlib\nfrom cnnlab import d2l\nd2l.use_svg_display()\n"
            "d2l.set_figsize((6, 4.5))\nassert list(matplotlib.rcParams['figure.figsize']) == [6, 4.5]\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported before d2l.plt was used'\n"
            "import torch\nestimates = torch.rand(50, 6)\n"
            "for i in range(6):\n    d2l.plt.plot(estimates[:, i].numpy(), label=('P(die=' + str(i + 1) + ')'))\n"
            "d2l.plt.axhline(y=0.167, color='black', linestyle='dashed')\n"
            "d2l.plt.gca().set_xlabel('Groups of experiments')\nd2l.plt.legend()\n"
            "import matplotlib.pyplot as plt\nassert d2l.plt is plt and len(plt.gca().lines) == 7\n"
            "assert list(plt.gcf().get_size_inches()) == [6, 4.5]\n")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True)


# ---------------------------------------------------------------- 3 linear networks
def test_linear_regression_from_scratch_recovers_w_and_b():
    torch.manual_seed(0)
    true_w, true_b = d2l.tensor([2, -3.4]), 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, 1000)
    assert features.shape == (1000, 2) and labels.shape == (1000, 1)
    assert (labels - (features @ true_w + true_b).reshape(-1, 1)).std() == pytest.approx(0.01, rel=0.2)  # the noise
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    lr, batch_size, net, loss = 0.03, 10, d2l.linreg, d2l.squared_loss
    for _ in range(3):
        for X, y in d2l.load_array((features, labels), batch_size):
            l = loss(net(X, w, b), y)
            assert l.shape == (len(y), 1)
            l.sum().backward()
            d2l.sgd([w, b], lr, batch_size)
            assert w.grad.abs().sum() == 0  # sgd zeroes the gradients for the next batch
    assert (true_w - w.reshape(true_w.shape)).abs().max() < 0.02 and abs(true_b - b.item()) < 0.02


def test_load_array_batches_like_a_dataloader_shuffled_only_for_training():
    features, labels = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    X, y = next(iter(d2l.load_array((features, labels), 4, is_train=False)))
    assert torch.equal(X, features[:4]) and torch.equal(y, labels[:4])
    torch.manual_seed(0)
    epochs = [torch.cat([y for _, y in d2l.load_array((features, labels), 4)]) for _ in range(2)]
    assert sorted(epochs[0].tolist()) == list(range(10)) and not torch.equal(epochs[0], labels)
    assert d2l.get_dataloader_workers() == 4


def test_accuracy_and_evaluate_accuracy_as_the_softmax_chapter_calls_them():
    y_hat, y = d2l.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), d2l.tensor([0, 2])
    assert d2l.accuracy(y_hat, y) / len(y) == 0.5
    assert isinstance(d2l.accuracy(y_hat, y), float)
    net = nn.Linear(3, 3)
    with torch.no_grad():
        net.weight.copy_(torch.eye(3))
        net.bias.zero_()
    assert d2l.evaluate_accuracy(net, [(y_hat, y), (y_hat[:1], d2l.tensor([2]))]) == pytest.approx(2 / 3)
    assert not net.training
    assert d2l.evaluate_accuracy(lambda X: X, [(y_hat, y)]) == 0.5  # a plain function as net, as in 3.6


def test_softmax_regression_from_scratch_with_train_ch3_and_predict_ch3(small_fashion, figures):
    small_fashion(train=1024, test=256)
    torch.manual_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(64)
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)

    def net(X):
        X_exp = torch.exp(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)
        return X_exp / X_exp.sum(1, keepdim=True)

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    lines = printed(d2l.train_ch3, net, train_iter, test_iter, cross_entropy, 3, lambda n: d2l.sgd([W, b], 0.1, n))
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 3 and epochs[0].startswith("epoch 1/3: loss ")
    values = [float(v.split()[-1]) for v in epochs[-1].split(":")[1].split(",")]  # loss, train acc, test acc
    assert values[0] < 1.0 and values[1] > 0.6 and values[2] > 0.55, values  # learned something in 48 steps
    assert lines[-1].startswith("note: ") and "outside the book's check" in lines[-1]  # too few images for 0.7
    printed(d2l.predict_ch3, net, test_iter)
    assert sorted(p.name for p in figures.iterdir()) == ["predict_ch3.png", "train_ch3.png"]


def test_concise_softmax_regression_with_a_torch_optimizer_and_either_loss_reduction(small_fashion, figures):
    """d2l 2.0 passes CrossEntropyLoss(reduction='none'), d2l-en's older text the default mean: the same epoch."""
    small_fashion(train=512, test=256)
    results = {}
    for reduction in ("none", "mean"):
        torch.manual_seed(0)
        train_iter, test_iter = d2l.load_data_fashion_mnist(64)
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        trainer = torch.optim.SGD(net.parameters(), lr=0.1)
        results[reduction] = d2l.train_epoch_ch3(net, train_iter, nn.CrossEntropyLoss(reduction=reduction), trainer)
    (loss, acc), (mean_loss, mean_acc) = results["none"], results["mean"]
    assert isinstance(loss, float) and loss < math.log(10) and 0.2 < acc <= 1  # better than chance in 8 steps
    assert mean_loss == pytest.approx(loss, rel=1e-6) and mean_acc == acc
    lines = printed(d2l.train_ch3, net, train_iter, test_iter, nn.CrossEntropyLoss(reduction="none"), 2, trainer)
    assert lines[-2].startswith("epoch 2/2: loss ") and (figures / "train_ch3.png").exists()


def test_train_epoch_ch3_reports_the_mean_loss_of_the_epoch():
    X, y = torch.randn(8, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    net = nn.Linear(3, 3)
    before, before_acc = nn.CrossEntropyLoss()(net(X), y).item(), d2l.accuracy(net(X), y) / 8
    loss, acc = d2l.train_epoch_ch3(net, [(X, y)], nn.CrossEntropyLoss(reduction="none"),
                                    torch.optim.SGD(net.parameters(), lr=0.1))
    assert loss == pytest.approx(before, rel=1e-6) and acc == before_acc  # both measured before the step


# ---------------------------------------------------------------- 4 multilayer perceptrons
def test_evaluate_loss_averages_a_per_example_loss_over_the_iterator():
    features, labels = torch.randn(30, 4), torch.randn(30)
    net = nn.Linear(4, 1)
    loss = nn.MSELoss(reduction="none")
    expected = ((net(features).squeeze(1) - labels) ** 2).mean().item()
    assert d2l.evaluate_loss(net, d2l.load_array((features, labels), 7, is_train=False), loss) == \
        pytest.approx(expected, rel=1e-5)


def test_the_polynomial_regression_of_the_overfitting_chapter(figures):
    """4.4's loop: train_epoch_ch3 on a regression with MSELoss(reduction='none'), evaluate_loss, a log-scale
    Animator; and 4.10's plot of two curves against a list of epochs."""
    torch.manual_seed(0)
    features = torch.randn(100, 4)
    labels = features @ torch.tensor([5.0, 1.2, -3.4, 5.6]) + 0.1 * torch.randn(100)
    loss = nn.MSELoss(reduction="none")
    net = nn.Sequential(nn.Linear(4, 1, bias=False))
    train_iter = d2l.load_array((features, labels.reshape(-1, 1)), 10)
    test_iter = d2l.load_array((features, labels.reshape(-1, 1)), 10, is_train=False)
    trainer = torch.optim.SGD(net.parameters(), lr=0.01)
    animator = d2l.Animator(xlabel="epoch", ylabel="loss", yscale="log", xlim=[1, 20], ylim=[1e-3, 1e2],
                            legend=["train", "test"])
    losses = []
    for epoch in range(20):
        d2l.train_epoch_ch3(net, train_iter, loss, trainer)
        losses.append(d2l.evaluate_loss(net, test_iter, loss))
        animator.add(epoch + 1, (d2l.evaluate_loss(net, train_iter, loss), losses[-1]))
    assert losses[-1] < losses[0] / 10 and animator.axes[0].get_yscale() == "log"
    d2l.plot(list(range(1, 21)), [losses, losses], xlabel="epoch", ylabel="rmse", xlim=[1, 20],
             legend=["train", "valid"], yscale="log")
    assert sorted(p.name for p in figures.iterdir()) == ["animator.png", "plot.png"]


# ---------------------------------------------------------------- 6 convolutional networks, with the aliases
def test_the_convolution_chapters_cells_written_with_the_framework_aliases():
    X = d2l.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = d2l.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert d2l.corr2d(X, K).tolist() == [[19.0, 25.0], [37.0, 43.0]]
    X = d2l.ones((6, 8))
    X[:, 2:6] = 0
    K = d2l.tensor([[1.0, -1.0]])
    Y = d2l.corr2d(X, K)
    assert Y[:, 1].eq(1).all() and Y[:, 5].eq(-1).all() and d2l.reduce_sum(d2l.abs(Y)) == 12
    assert d2l.reduce_sum(d2l.abs(d2l.corr2d(d2l.transpose(X), K))) == 0
    torch.manual_seed(0)
    conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
    X, Y = X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7))
    for _ in range(10):
        l = (conv2d(X) - Y) ** 2
        conv2d.zero_grad()
        l.sum().backward()
        conv2d.weight.data[:] -= 3e-2 * conv2d.weight.grad
    assert torch.allclose(d2l.reshape(conv2d.weight.data, (1, 2)), d2l.tensor([[1.0, -1.0]]), atol=0.25)
    # 6.4: several input and output channels
    X = d2l.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = d2l.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    assert sum(d2l.corr2d(x, k) for x, k in zip(X, K)).tolist() == [[56.0, 72.0], [104.0, 120.0]]
    assert d2l.stack((K, K + 1, K + 2), 0).shape == (3, 2, 2, 2)
    X, K = d2l.normal(0, 1, (3, 3, 3)), d2l.normal(0, 1, (2, 3, 1, 1))
    Y1 = d2l.reshape(d2l.matmul(d2l.reshape(K, (2, 3)), d2l.reshape(X, (3, 9))), (2, 3, 3))
    Y2 = d2l.stack([sum(d2l.corr2d(x, k) for x, k in zip(X, kk)) for kk in K], 0)
    assert float(d2l.reduce_sum(d2l.abs(Y1 - Y2))) < 1e-6
    # 6.5: pooling input
    X = d2l.arange(16, dtype=d2l.float32).reshape((1, 1, 4, 4))
    assert nn.MaxPool2d(3)(X).item() == 10.0 and d2l.concat((X, X + 1), 1).shape == (1, 2, 4, 4)


def test_train_ch6_prints_the_same_figures_as_the_books_own_loop(small_fashion, figures):
    """Seed 003's train_ch6, as printed from the book (one host sync per batch through Accumulator), and cnnlab's
    (sums kept on the device) from the same start: the same closing line to the last digit."""
    small_fashion(train=1280, test=256)
    text = (SEEDS / "seed003.py").read_text(encoding="utf-8")
    lenet = [c.partition("\n")[2].replace("from d2l import torch as d2l", "from cnnlab import d2l")
             for c in text.split("# %%")[1:] if "lenet" in c.partition("\n")[0]]
    lines = {}
    for name in ("book", "cnnlab"):
        namespace = {"__name__": "__main__"}
        torch.manual_seed(0)
        exec(lenet[0], namespace)  # builds the seed's LeNet afresh
        for cell in (c for c in lenet if "def " in c):  # the seed's evaluate_accuracy_gpu and train_ch6
            exec(cell, namespace)
        train_ch6 = namespace["train_ch6"] if name == "book" else d2l.train_ch6
        lines[name] = printed(train_ch6, namespace["net"], *d2l.load_data_fashion_mnist(256), 1, 0.9,
                              torch.device("cpu"))
    assert lines["cnnlab"][0] == "training on cpu" and lines["cnnlab"][-3].startswith("epoch 1/1: loss ")
    assert lines["cnnlab"][-2] == lines["book"][-2] and lines["cnnlab"][-2].startswith("loss ")
    assert lines["cnnlab"][-1].endswith(" examples/sec on cpu")


class ViewingNet(nn.Module):
    """A conv whose output the forward flattens with .view(), which channels-last tensors refuse."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 28 * 28, 10)

    def forward(self, x):
        return self.fc(self.conv2(torch.sigmoid(self.conv1(x))).view(x.shape[0], -1))


def test_train_ch6_holds_the_network_channels_last_on_the_cpu_when_its_code_allows(small_fashion, figures, capsys):
    small_fashion(train=512, test=128)
    loaders = d2l.load_data_fashion_mnist(256)
    lenet = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5),
                          nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    d2l.train_ch6(lenet, *loaders, 1, 0.9, torch.device("cpu"))
    weight = lenet[3].weight  # (16, 6, 5, 5): the two formats differ
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    viewing = ViewingNet()
    d2l.train_ch6(viewing, *loaders, 1, 0.9, torch.device("cpu"))  # trains as given, in the standard format
    assert viewing.conv2.weight.is_contiguous()
    assert capsys.readouterr().out.count("test acc") == 4  # two runs, each an epoch line and the closing line


# ---------------------------------------------------------------- 7 modern convolutional networks
def test_residual_keeps_or_halves_the_shape_as_in_the_chapter():
    X = torch.rand(4, 3, 6, 6)
    assert d2l.Residual(3, 3)(X).shape == (4, 3, 6, 6)
    blk = d2l.Residual(3, 6, use_1x1conv=True, strides=2)
    assert blk(X).shape == (4, 6, 3, 3) and isinstance(blk.conv3, nn.Conv2d)
    assert d2l.Residual(3, 3).conv3 is None and (d2l.Residual(3, 3)(X) >= 0).all()  # ends in a ReLU


def test_resnet18_is_the_books_small_image_resnet():
    net = d2l.resnet18(10)
    names = [name for name, _ in net.named_children()]
    assert names[3:] == ["resnet_block1", "resnet_block2", "resnet_block3", "resnet_block4", "global_avg_pool", "fc"]
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert d2l.resnet18(5, in_channels=3)(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    # torchvision's resnet18 (11,689,512) less its stem conv, stem BN and fc (9,408 + 128 + 513,000) and its
    # shortcut BNs (1,792), plus the book's conv biases (3,840 in 3x3 convs, 896 in 1x1 shortcuts), its 3x3
    # 1-channel stem with BN (768) and a 10-class fc (5,130)
    assert sum(p.numel() for p in net.parameters()) == 11_689_512 - 9_408 - 128 - 513_000 - 1_792 + 3_840 + 896 \
        + 768 + 5_130
    assert math.prod(net.resnet_block4[0].conv1.weight.shape) == 512 * 256 * 9


def test_a_working_directory_without_room_for_figures_is_one_clear_error(figures):
    from cnnlab.errors import ConfigError

    figures.write_text("a file where the folder would go")
    with pytest.raises(ConfigError, match=r"d2l-figures: cannot create the folder for d2l's figures \(.*\); work in a "
                                          r"writable directory \(os.chdir\) or pass path="):
        d2l.plot([1.0, 2.0])
