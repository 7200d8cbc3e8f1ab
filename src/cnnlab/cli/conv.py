"""`cnnlab conv ...`: the experiments of seeds 002 and 004 (d2l 6.2-6.5) run on cnnlab.ops, printing what
the seeds print; output sizes, receptive fields and the hand-designed kernels."""
import argparse

from ..errors import ConfigError

EXPERIMENTS = [  # name, one-line help, longer description
    ("example", "the worked 3x3 example: corr2d(X, K) = [[19, 25], [37, 43]]",
     "Cross-correlate X = [[0,1,2],[3,4,5],[6,7,8]] with K = [[0,1],[2,3]] using d2l's 6-line loop (corr2d)\n"
     "and the vectorised conv2d; both give [[19, 25], [37, 43]] (0*0 + 1*1 + 3*2 + 4*3 = 19, ...)."),
    ("channels", "several input channels (the 56 example), several output channels, 1x1 convolution",
     "Two input channels: cross-correlate each channel and add, (1*1+2*2+4*3+5*4) + (0*0+1*1+3*2+4*3) = 56.\n"
     "Three output channels: one two-channel kernel per output. A 1x1 convolution is a per-pixel\n"
     "fully-connected layer: the same result as a matrix product (d2l 6.4)."),
    ("pool", "max and average pooling: window, padding, stride (no parameters)",
     "Pooling on the 3x3 example and on a 4x4 one with padding and stride (d2l 6.5); average pooling counts\n"
     "the zero padding, max pooling pads with -inf."),
    ("edges", "edge detection on the 6x8 image with K = [[1, -1]]",
     "A 6x8 image, ones outside and zeros in columns 2-5: K = [[1, -1]] marks 1 at white->black and -1 at\n"
     "black->white edges; on the transposed image it sees nothing (it only detects vertical edges)."),
    ("learn", "learn the edge kernel from (X, Y) by gradient descent",
     "Recover K from the edge example's input X and output Y alone: a 1x2 convolution without bias, squared\n"
     "error, plain gradient descent; the loss is printed every 2 steps and the kernel ends near [1, -1]."),
    ("diagonal", "exercise: an image with a diagonal edge, with K, on the transposed image and with K^T",
     "d2l 6.2 exercise 1: X = ones(5, 5) with zeros on the diagonal. K = [[1, -1]] responds next to the\n"
     "diagonal; the transposed image gives the same result; the transposed kernel K^T gives a 4x5 output."),
    ("matmul", "exercise: cross-correlation as one matrix product (im2col)",
     "d2l 6.2 exercise 3: flatten every window of X into a row (im2col), multiply by the flattened kernel,\n"
     "reshape: the same [[19, 25], [37, 43]]. Batched, this is conv2d_im2col."),
    ("convolve", "cross-correlation versus true convolution (flipped kernel)",
     "True convolution flips the kernel on both axes before sliding it. For a learned kernel the difference\n"
     "is immaterial: the layer would learn the flipped kernel instead (d2l 6.2)."),
]


def register(commands):
    conv = commands.add_parser(
        "conv", help="convolution from scratch: the seeds' experiments, output sizes, receptive fields, kernels",
        description="Convolution from scratch (cnnlab.ops): run the experiments of the d2l chapter 6 notes, "
                    "compute output sizes and receptive fields, show hand-designed kernels.",
        epilog="Run 'cnnlab conv SUBCOMMAND --help' for details.")
    sub = conv.add_subparsers(dest="experiment", metavar="SUBCOMMAND", required=True)
    for name, short, long in EXPERIMENTS:
        p = sub.add_parser(name, help=short, description=long, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name in ("example", "edges", "learn", "diagonal", "convolve"):
            p.add_argument("--plot", metavar="FILE", help="also save the input, kernel and output images as a PNG")
        if name == "learn":
            p.add_argument("--steps", type=int, default=10, help="gradient steps (default: 10, as in the seed)")
            p.add_argument("--lr", type=float, default=3e-2, help="learning rate (default: 3e-2, as in the seed)")
            p.add_argument("--seed", type=int, default=0, help="seed of the random initial kernel (default: 0)")
        p.set_defaults(func=globals()[f"run_{name}"])

    p = sub.add_parser("size", help="output size of a convolution or pooling: floor((n - k + 2p) / s) + 1",
                       description="Output size along one axis for input size N, kernel K, padding P and stride S: "
                                   "floor((N - K + 2P) / S) + 1. Use --padding same for P = (K - 1) / 2 (odd K).")
    p.add_argument("n", type=int, help="input size along the axis (e.g. 28)")
    p.add_argument("k", type=int, help="kernel (window) size along the axis (e.g. 5)")
    p.add_argument("--padding", default="0", help="zero padding on each side, or 'same' (default: 0)")
    p.add_argument("--stride", type=int, default=1, help="stride (default: 1)")
    p.set_defaults(func=run_size)

    p = sub.add_parser("receptive-field", help="receptive field after each conv/pool layer of a model or a stack",
                       description="How large a patch of the input one element sees after each convolution or pooling "
                                   "layer: r += (k - 1) * jump; jump *= stride. Give a registered MODEL (see "
                                   "'cnnlab models') or a stack with --layers.",
                       epilog="examples: cnnlab conv receptive-field lenet; cnnlab conv receptive-field --layers 3 3 2:2 3")
    p.add_argument("model", nargs="?", help="registered model name, e.g. lenet")
    p.add_argument("--layers", nargs="+", metavar="K[:S]",
                   help="a stack of layers instead of a model: kernel K (int or HxW) and optional stride S, e.g. 5 2:2")
    p.set_defaults(func=run_receptive_field)

    p = sub.add_parser("kernels", help="the hand-designed kernels (edges, derivatives, Laplacian, box, Gaussian)",
                       description="Print each named kernel of cnnlab.kernels with its formula and values; --plot "
                                   "shows what each does to a test image.")
    p.add_argument("--plot", metavar="FILE", help="save a PNG of a test image filtered by every kernel")
    p.set_defaults(func=run_kernels)


# ---------------------------------------------------------------- helpers
def _show(label, tensor):
    print(f"{label} =")
    print(tensor)


def _panels(path, panels, title):
    """Save (title, 2-D tensor) panels side by side as one PNG; small arrays get their values written in."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), squeeze=False)
    for ax, (name, tensor) in zip(axes[0], panels):
        a = tensor.detach().float().numpy()
        limit = max(abs(a).max(), 1e-8)  # symmetric range: 0 is always mid-grey, negatives dark
        ax.imshow(a, cmap="gray", vmin=-limit, vmax=limit, interpolation="nearest")
        if a.size <= 100:
            for (i, j), v in np.ndenumerate(a):
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7, color="tab:red")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}")


def _seed_tensors():
    import torch

    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    return X, K


def _edge_image():
    import torch

    X = torch.ones((6, 8))
    X[:, 2:6] = 0
    return X


# ---------------------------------------------------------------- experiments
def run_example(args):
    from .. import ops

    X, K = _seed_tensors()
    _show("X", X)
    _show("K", K)
    Y = ops.corr2d(X, K)
    _show("corr2d(X, K)", Y)
    print("conv2d (vectorised) gives the same:", bool((ops.conv2d(X[None, None], K[None, None])[0, 0] == Y).all()))
    if args.plot:
        _panels(args.plot, [("input X", X), ("kernel K", K), ("output corr2d(X, K)", Y)], "2-D cross-correlation")


def run_channels(args):
    import torch

    from .. import ops

    X, K = _seed_tensors()
    X = torch.stack((X, X + 1))
    K = torch.stack((K, K + 1))
    _show("X (2 channels)", X)
    _show("K (2 channels)", K)
    _show("corr2d_multi_in(X, K)", ops.corr2d_multi_in(X, K))
    K3 = torch.stack((K, K + 1, K + 2))
    print(f"\nthree output channels: K = stack(K, K + 1, K + 2) has shape {tuple(K3.shape)}")
    _show("corr2d_multi_in_out(X, K)", ops.corr2d_multi_in_out(X, K3))
    g = torch.Generator().manual_seed(0)
    X1, K1 = torch.normal(0, 1, (3, 3, 3), generator=g), torch.normal(0, 1, (2, 3, 1, 1), generator=g)
    gap = (ops.corr2d_multi_in_out_1x1(X1, K1) - ops.corr2d_multi_in_out(X1, K1)).abs().max().item()
    print(f"\n1x1 convolution as a matrix product (O, C) @ (C, H*W): largest difference {gap:.1e}")


def run_pool(args):
    import torch

    from .. import ops

    X, _ = _seed_tensors()
    _show("X", X)
    _show("max_pool2d(X, 2, stride=1)", ops.max_pool2d(X, 2, stride=1))
    _show("avg_pool2d(X, 2, stride=1)", ops.avg_pool2d(X, 2, stride=1))
    X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    print()
    _show("X", X)
    _show("max_pool2d(X, 3) (stride defaults to the window)", ops.max_pool2d(X, 3))
    _show("max_pool2d(X, 3, padding=1, stride=2)", ops.max_pool2d(X, 3, stride=2, padding=1))
    _show("max_pool2d(X, (2, 3), stride=(2, 3), padding=(0, 1))", ops.max_pool2d(X, (2, 3), stride=(2, 3), padding=(0, 1)))
    _show("avg_pool2d(X, 3, padding=1, stride=2) (zero padding counted)", ops.avg_pool2d(X, 3, stride=2, padding=1))
    X = torch.cat((X, X + 1), 1)
    _show("two channels, max_pool2d(X, 3, padding=1, stride=2): one output channel per input channel",
          ops.max_pool2d(X, 3, stride=2, padding=1))


def run_edges(args):
    from .. import kernels, ops

    X = _edge_image()
    K = kernels.vertical_edge()
    _show("X", X)
    _show("K", K)
    Y = ops.corr2d(X, K)
    _show("Y = corr2d(X, K)  (1: white->black edge, -1: black->white)", Y)
    YT = ops.corr2d(X.t(), K)
    _show("corr2d(X.t(), K)  (the kernel only sees vertical edges)", YT)
    if args.plot:
        _panels(args.plot, [("X", X), ("K = [[1, -1]]", K), ("corr2d(X, K)", Y), ("X.t()", X.t()),
                            ("corr2d(X.t(), K)", YT)], "edge detection")


def run_learn(args):
    import torch

    from .. import kernels, ops

    if args.steps < 1 or args.lr <= 0:
        raise ConfigError(f"need --steps >= 1 and --lr > 0, got {args.steps} and {args.lr}")
    torch.manual_seed(args.seed)
    X = _edge_image()
    Y = ops.corr2d(X, kernels.vertical_edge())
    # The seed's nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False), here the scratch twin: 1 output channel, 1x2 kernel
    conv2d = ops.ScratchConv2d(1, 1, kernel_size=(1, 2), bias=False)
    X, Y = X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7))  # (batch, channel, height, width)
    for i in range(args.steps):
        Y_hat = conv2d(X)
        loss = (Y_hat - Y) ** 2
        conv2d.zero_grad()
        loss.sum().backward()
        with torch.no_grad():
            conv2d.weight -= args.lr * conv2d.weight.grad
        if (i + 1) % 2 == 0:
            print(f"epoch {i + 1}, loss {loss.sum():.3f}")
    learned = conv2d.weight.detach().reshape((1, 2))
    _show("learned kernel", learned)
    if args.plot:
        _panels(args.plot, [("X", X[0, 0]), ("learned K", learned), ("conv(X) with learned K", conv2d(X)[0, 0]),
                            ("target Y", Y[0, 0])], "learning the edge kernel")


def run_diagonal(args):
    import torch

    from .. import kernels, ops

    X = torch.ones((5, 5))
    X.fill_diagonal_(0)
    K = kernels.vertical_edge()
    _show("X", X)
    _show("corr2d(X, K)  (K = [[1, -1]]: -1 above the diagonal, 1 below)", ops.corr2d(X, K))
    _show("corr2d(X.t(), K)  (X is symmetric: unchanged)", ops.corr2d(X.t(), K))
    _show("corr2d(X, K.t())  (shape 4x5: 1 left of the diagonal, -1 right)", ops.corr2d(X, K.t()))
    if args.plot:
        _panels(args.plot, [("X", X), ("corr2d(X, K)", ops.corr2d(X, K)), ("corr2d(X, K.t())", ops.corr2d(X, K.t()))],
                "a diagonal line with K = [[1, -1]] and its transpose")


def run_matmul(args):
    from .. import ops

    X, K = _seed_tensors()
    cols = ops.im2col(X, K.shape)
    _show("im2col(X, (2, 2))  (one row per window)", cols)
    _show("K.reshape(-1)", K.reshape(-1))
    _show("(im2col(X) @ K.reshape(-1)).reshape(2, 2)", (cols @ K.reshape(-1)).reshape(2, 2))
    _show("corr2d(X, K)", ops.corr2d(X, K))


def run_convolve(args):
    from .. import ops

    X, K = _seed_tensors()
    _show("K", K)
    _show("K flipped on both axes", K.flip(0, 1))
    _show("cross-correlation corr2d(X, K)", ops.corr2d(X, K))
    _show("convolution convolve2d(X, K) = corr2d(X, flipped K)", ops.convolve2d(X, K))
    _show("convolve2d(X, flipped K) = corr2d(X, K)", ops.convolve2d(X, K.flip(0, 1)))
    if args.plot:
        _panels(args.plot, [("X", X), ("K", K), ("corr2d(X, K)", ops.corr2d(X, K)), ("convolve2d(X, K)", ops.convolve2d(X, K))],
                "cross-correlation vs convolution")


# ---------------------------------------------------------------- sizes, receptive fields, kernels
def run_size(args):
    from .. import ops

    if args.padding == "same":
        p = ops.same_padding(args.k)
    elif args.padding.isdigit():
        p = int(args.padding)
    else:
        raise ConfigError(f"--padding must be a non-negative integer or 'same', not {args.padding!r}")
    out = ops.conv_output_size(args.n, args.k, p, args.stride)
    print(f"output size = floor((n - k + 2p) / s) + 1 = floor(({args.n} - {args.k} + 2*{p}) / {args.stride}) + 1 = {out}")


def _parse_layer(token: str):
    def pair(text):
        parts = text.lower().split("x")
        if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ConfigError(f"--layers: bad layer {token!r}: use K or K:S with positive integers (K may be HxW)")
        values = [int(p) for p in parts]
        return (values[0], values[-1])

    kernel, _, stride = token.partition(":")
    return pair(kernel), pair(stride or "1")


def run_receptive_field(args):
    from .. import ops

    if (args.model is None) == (args.layers is None):
        raise ConfigError("give either a MODEL name or --layers K[:S] ..., not both or neither")
    if args.model:
        from ..models import create_model

        source = create_model(args.model)
        what = args.model
    else:
        source = [_parse_layer(t) for t in args.layers]
        what = "the stack"
    rows = ops.receptive_fields(source)
    if not rows:
        raise ConfigError(f"model '{args.model}' has no convolution or pooling layers")
    hw = lambda pair: f"{pair[0]}x{pair[1]}"  # noqa: E731
    print(f"{'layer':<28} {'type':<12} {'kernel':>7} {'stride':>7} {'jump':>7} {'receptive field':>16}")
    for r in rows:
        print(f"{r['name']:<28} {r['kind']:<12} {hw(r['kernel']):>7} {hw(r['stride']):>7} {hw(r['jump']):>7} {hw(r['size']):>16}")
    print(f"{what}: one element after the last layer sees a {hw(rows[-1]['size'])} patch of the input")
    if args.model and not ops.is_plain_stack(source):
        print(f"note: {args.model} is not a plain nn.Sequential stack; layers on parallel branches (Inception, "
              f"shortcuts) are counted as if stacked, so the figure is an upper bound")


def run_kernels(args):
    import torch

    from .. import kernels, ops

    for name, make in kernels.KERNELS.items():
        doc = " ".join(make.__doc__.split())
        print(f"{name}: {doc}")
        print(make())
        print()
    if args.plot:
        image = torch.zeros(32, 32)  # a test image: a bar, a disk and a diagonal edge
        image[6:26, 4:11] = 1
        r = torch.arange(32.0)
        image[((r[:, None] - 10) ** 2 + (r[None, :] - 22) ** 2) <= 25] = 1
        image[torch.triu(torch.ones(32, 32), diagonal=18).flip(0).bool()] = 0.5
        panels = [("image", image)]
        for name, make in kernels.KERNELS.items():
            k = make()
            panels.append((name, ops.conv2d(image[None, None], k[None, None])[0, 0]))
        _panels(args.plot, panels, "hand-designed kernels (cross-correlation, no padding)")
