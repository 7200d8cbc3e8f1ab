"""The convolution lessons behind `cnnlab conv`: the worked examples and exercises of d2l (Dive into Deep
Learning) sections 6.2-6.5 (cross-correlation, padding and stride, channels, pooling), as the course notes on
those sections run them, here on cnnlab.ops' from-scratch operations.

Each lesson returns what it shows, as data: `steps`, lines of text or (label, tensor) pairs in order, and
`panels`, the (title, 2-D tensor) images of its picture. Printing is the command line's job; the picture is
drawn by cnnlab.plots.plot_panels. torch is imported inside the lessons: `cnnlab conv --help` reads the LESSONS
table without it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, NamedTuple

from .errors import ConfigError

if TYPE_CHECKING:
    import torch


@dataclass
class Shown:
    """What a lesson shows: steps are str (a line) or (label, tensor); panels and title make its picture."""

    steps: list = field(default_factory=list)
    panels: list = field(default_factory=list)  # [(title, 2-D tensor)]
    title: str = ""

    def line(self, text: str = "") -> None:
        self.steps.append(text)

    def show(self, label: str, tensor) -> None:
        self.steps.append((label, tensor))


# ---------------------------------------------------------------- the examples' inputs
def worked_example() -> tuple[torch.Tensor, torch.Tensor]:
    """d2l 6.2's X = [[0,1,2],[3,4,5],[6,7,8]] and K = [[0,1],[2,3]]."""
    import torch

    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    return X, K


def edge_image() -> torch.Tensor:
    """d2l 6.2's 6x8 image: ones, with zeros in columns 2-5."""
    import torch

    X = torch.ones((6, 8))
    X[:, 2:6] = 0
    return X


def filter_test_image() -> torch.Tensor:
    """A 32x32 test image for the hand-designed filters: a bar, a disk and a diagonal edge."""
    import torch

    image = torch.zeros(32, 32)
    image[6:26, 4:11] = 1
    r = torch.arange(32.0)
    image[((r[:, None] - 10) ** 2 + (r[None, :] - 22) ** 2) <= 25] = 1
    image[torch.triu(torch.ones(32, 32), diagonal=18).flip(0).bool()] = 0.5
    return image


# ---------------------------------------------------------------- lessons
def example() -> Shown:
    from . import ops

    X, K = worked_example()
    s = Shown(title="2-D cross-correlation")
    s.show("X", X)
    s.show("K", K)
    Y = ops.corr2d(X, K)
    s.show("corr2d(X, K)", Y)
    s.line(f"conv2d (vectorised) gives the same: {bool((ops.conv2d(X[None, None], K[None, None])[0, 0] == Y).all())}")
    s.panels = [("input X", X), ("kernel K", K), ("output corr2d(X, K)", Y)]
    return s


def channels() -> Shown:
    import torch

    from . import ops

    X, K = worked_example()
    X = torch.stack((X, X + 1))
    K = torch.stack((K, K + 1))
    s = Shown()
    s.show("X (2 channels)", X)
    s.show("K (2 channels)", K)
    s.show("corr2d_multi_in(X, K)", ops.corr2d_multi_in(X, K))
    K3 = torch.stack((K, K + 1, K + 2))
    s.line(f"\nthree output channels: K = stack(K, K + 1, K + 2) has shape {tuple(K3.shape)}")
    s.show("corr2d_multi_in_out(X, K)", ops.corr2d_multi_in_out(X, K3))
    g = torch.Generator().manual_seed(0)
    X1, K1 = torch.normal(0, 1, (3, 3, 3), generator=g), torch.normal(0, 1, (2, 3, 1, 1), generator=g)
    gap = (ops.corr2d_multi_in_out_1x1(X1, K1) - ops.corr2d_multi_in_out(X1, K1)).abs().max().item()
    s.line(f"\n1x1 convolution as a matrix product (O, C) @ (C, H*W): largest difference {gap:.1e}")
    return s


def pool() -> Shown:
    import torch

    from . import ops

    X, _ = worked_example()
    s = Shown()
    s.show("X", X)
    s.show("max_pool2d(X, 2, stride=1)", ops.max_pool2d(X, 2, stride=1))
    s.show("avg_pool2d(X, 2, stride=1)", ops.avg_pool2d(X, 2, stride=1))
    X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    s.line()
    s.show("X", X)
    s.show("max_pool2d(X, 3) (stride defaults to the window)", ops.max_pool2d(X, 3))
    s.show("max_pool2d(X, 3, padding=1, stride=2)", ops.max_pool2d(X, 3, stride=2, padding=1))
    s.show("max_pool2d(X, (2, 3), stride=(2, 3), padding=(0, 1))",
           ops.max_pool2d(X, (2, 3), stride=(2, 3), padding=(0, 1)))
    s.show("avg_pool2d(X, 3, padding=1, stride=2) (zero padding counted)", ops.avg_pool2d(X, 3, stride=2, padding=1))
    X = torch.cat((X, X + 1), 1)
    s.show("two channels, max_pool2d(X, 3, padding=1, stride=2): one output channel per input channel",
           ops.max_pool2d(X, 3, stride=2, padding=1))
    return s


def edges() -> Shown:
    from . import kernels, ops

    X = edge_image()
    K = kernels.vertical_edge()
    s = Shown(title="edge detection")
    s.show("X", X)
    s.show("K", K)
    Y = ops.corr2d(X, K)
    s.show("Y = corr2d(X, K)  (1: white->black edge, -1: black->white)", Y)
    YT = ops.corr2d(X.t(), K)
    s.show("corr2d(X.t(), K)  (the kernel only sees vertical edges)", YT)
    s.panels = [("X", X), ("K = [[1, -1]]", K), ("corr2d(X, K)", Y), ("X.t()", X.t()), ("corr2d(X.t(), K)", YT)]
    return s


def learn(steps: int = 10, lr: float = 3e-2, seed: int = 0) -> Shown:
    """Recover the edge kernel from (X, Y) by gradient descent, as d2l 6.2 does with nn.Conv2d."""
    import torch

    from . import kernels, ops

    if steps < 1 or lr <= 0:
        raise ConfigError(f"need --steps >= 1 and --lr > 0, got {steps} and {lr}")
    torch.manual_seed(seed)
    X = edge_image()
    Y = ops.corr2d(X, kernels.vertical_edge())
    # d2l's nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False), here the scratch twin: 1 output channel, 1x2 kernel
    conv2d = ops.ScratchConv2d(1, 1, kernel_size=(1, 2), bias=False)
    X, Y = X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7))  # (batch, channel, height, width)
    s = Shown(title="learning the edge kernel")
    for i in range(steps):
        Y_hat = conv2d(X)
        loss = (Y_hat - Y) ** 2
        conv2d.zero_grad()
        loss.sum().backward()
        with torch.no_grad():
            conv2d.weight -= lr * conv2d.weight.grad
        if (i + 1) % 2 == 0:
            s.line(f"epoch {i + 1}, loss {loss.sum():.3f}")
    learned = conv2d.weight.detach().reshape((1, 2))
    s.show("learned kernel", learned)
    with torch.no_grad():
        s.panels = [("X", X[0, 0]), ("learned K", learned), ("conv(X) with learned K", conv2d(X)[0, 0]),
                    ("target Y", Y[0, 0])]
    return s


def diagonal() -> Shown:
    import torch

    from . import kernels, ops

    X = torch.ones((5, 5))
    X.fill_diagonal_(0)
    K = kernels.vertical_edge()
    s = Shown(title="a diagonal line with K = [[1, -1]] and its transpose")
    s.show("X", X)
    s.show("corr2d(X, K)  (K = [[1, -1]]: -1 above the diagonal, 1 below)", ops.corr2d(X, K))
    s.show("corr2d(X.t(), K)  (X is symmetric: unchanged)", ops.corr2d(X.t(), K))
    s.show("corr2d(X, K.t())  (shape 4x5: 1 left of the diagonal, -1 right)", ops.corr2d(X, K.t()))
    s.panels = [("X", X), ("corr2d(X, K)", ops.corr2d(X, K)), ("corr2d(X, K.t())", ops.corr2d(X, K.t()))]
    return s


def matmul() -> Shown:
    from . import ops

    X, K = worked_example()
    cols = ops.im2col(X, K.shape)
    s = Shown()
    s.show("im2col(X, (2, 2))  (one row per window)", cols)
    s.show("K.reshape(-1)", K.reshape(-1))
    s.show("(im2col(X) @ K.reshape(-1)).reshape(2, 2)", (cols @ K.reshape(-1)).reshape(2, 2))
    s.show("corr2d(X, K)", ops.corr2d(X, K))
    return s


def convolve() -> Shown:
    from . import ops

    X, K = worked_example()
    s = Shown(title="cross-correlation vs convolution")
    s.show("K", K)
    s.show("K flipped on both axes", K.flip(0, 1))
    s.show("cross-correlation corr2d(X, K)", ops.corr2d(X, K))
    s.show("convolution convolve2d(X, K) = corr2d(X, flipped K)", ops.convolve2d(X, K))
    s.show("convolve2d(X, flipped K) = corr2d(X, K)", ops.convolve2d(X, K.flip(0, 1)))
    s.panels = [("X", X), ("K", K), ("corr2d(X, K)", ops.corr2d(X, K)), ("convolve2d(X, K)", ops.convolve2d(X, K))]
    return s


def filters() -> Shown:
    """Every hand-designed filter of cnnlab.kernels with its formula and values; the picture shows what each
    does to a test image."""
    from . import kernels, ops

    s = Shown(title="hand-designed filters (cross-correlation, no padding)")
    image = filter_test_image()
    s.panels = [("image", image)]
    for name, make in kernels.KERNELS.items():
        k = make()
        s.line(f"{name}: {' '.join(make.__doc__.split())}")
        s.line(str(k))
        s.line()
        s.panels.append((name, ops.conv2d(image[None, None], k[None, None])[0, 0]))
    return s


class Lesson(NamedTuple):
    name: str
    summary: str  # one line, for `cnnlab conv --help`
    description: str
    run: Callable[..., Shown]
    has_picture: bool


LESSONS = [
    Lesson("example", "the worked 3x3 example: corr2d(X, K) = [[19, 25], [37, 43]]",
           "Cross-correlate X = [[0,1,2],[3,4,5],[6,7,8]] with K = [[0,1],[2,3]] using d2l's 6-line loop (corr2d)\n"
           "and the vectorised conv2d; both give [[19, 25], [37, 43]] (0*0 + 1*1 + 3*2 + 4*3 = 19, ...).",
           example, True),
    Lesson("channels", "several input channels (the 56 example), several output channels, 1x1 convolution",
           "Two input channels: cross-correlate each channel and add, (1*1+2*2+4*3+5*4) + (0*0+1*1+3*2+4*3) = 56.\n"
           "Three output channels: one two-channel kernel per output. A 1x1 convolution is a per-pixel\n"
           "fully-connected layer: the same result as a matrix product (d2l 6.4).", channels, False),
    Lesson("pool", "max and average pooling: window, padding, stride (no parameters)",
           "Pooling on the 3x3 example and on a 4x4 one with padding and stride (d2l 6.5); average pooling counts\n"
           "the zero padding, max pooling pads with -inf.", pool, False),
    Lesson("edges", "edge detection on the 6x8 image with K = [[1, -1]]",
           "A 6x8 image, ones outside and zeros in columns 2-5: K = [[1, -1]] marks 1 at white->black and -1 at\n"
           "black->white edges; on the transposed image it sees nothing (it only detects vertical edges).", edges,
           True),
    Lesson("learn", "learn the edge kernel from (X, Y) by gradient descent",
           "Recover K from the edge example's input X and output Y alone: a 1x2 convolution without bias, squared\n"
           "error, plain gradient descent; the loss is printed every 2 steps and the kernel ends near [1, -1].",
           learn, True),
    Lesson("diagonal", "exercise: an image with a diagonal edge, with K, on the transposed image and with K^T",
           "d2l 6.2 exercise 1: X = ones(5, 5) with zeros on the diagonal. K = [[1, -1]] responds next to the\n"
           "diagonal; the transposed image gives the same result; the transposed kernel K^T gives a 4x5 output.",
           diagonal, True),
    Lesson("matmul", "exercise: cross-correlation as one matrix product (im2col)",
           "d2l 6.2 exercise 3: flatten every window of X into a row (im2col), multiply by the flattened kernel,\n"
           "reshape: the same [[19, 25], [37, 43]]. Batched, this is conv2d_im2col.", matmul, False),
    Lesson("convolve", "cross-correlation versus true convolution (flipped kernel)",
           "True convolution flips the kernel on both axes before sliding it. For a learned kernel the difference\n"
           "is immaterial: the layer would learn the flipped kernel instead (d2l 6.2).", convolve, True),
    Lesson("filters", "the hand-designed filters (edges, derivatives, Laplacian, box, Gaussian)",
           "Print each hand-designed filter of cnnlab.kernels (d2l 6.2's exercises) with its formula and values;\n"
           "--plot shows what each does to a test image. (`cnnlab kernels` shows a trained model's learned ones.)",
           filters, True),
]
