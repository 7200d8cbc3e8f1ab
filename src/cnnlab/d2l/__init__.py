"""The names d2l's PyTorch edition uses in its chapters up to modern CNNs, for `from cnnlab import d2l` in place of
`from d2l import torch as d2l`: the book's signatures and printed lines on cnnlab's pieces (in-memory data, pyplot-
free figures: live in Jupyter, PNGs in d2l-figures/ elsewhere). The list and every difference from d2l 2.0 are in
docs/d2l.md."""
from importlib import import_module

from ..ops import corr2d  # d2l 6.2's loop, the first rung of cnnlab's convolution ladder
from .aliases import (
    abs,
    arange,
    argmax,
    astype,
    concat,
    cos,
    cosh,
    exp,
    eye,
    float32,
    int32,
    linspace,
    log,
    matmul,
    meshgrid,
    nn_Module,
    normal,
    numpy,
    ones,
    rand,
    randn,
    reduce_mean,
    reduce_sum,
    reshape,
    sin,
    sinh,
    size,
    stack,
    tanh,
    tensor,
    to,
    transpose,
    zeros,
)
from .data import get_dataloader_workers, get_fashion_mnist_labels, load_array, load_data_fashion_mnist, synthetic_data
from .figures import Animator, plot, set_axes, set_figsize, show_images, use_svg_display
from .hub import DATA_HUB, DATA_URL, download, download_all, download_extract
from .metrics import (
    Accumulator,
    Timer,
    accuracy,
    evaluate_accuracy,
    evaluate_accuracy_gpu,
    evaluate_loss,
    try_all_gpus,
    try_gpu,
)
from .models import Residual, resnet18
from .scratch import linreg, sgd, squared_loss
from .train import predict_ch3, train_ch3, train_ch6, train_epoch_ch3

# By chapter of the book (d2l 2.0), then the framework aliases of its config (aliases.py).
__all__ = [
    "use_svg_display", "set_figsize", "set_axes", "plot", "plt",  # 2 preliminaries
    "Timer", "synthetic_data", "linreg", "squared_loss", "sgd", "load_array", "get_fashion_mnist_labels",
    "show_images", "get_dataloader_workers", "load_data_fashion_mnist", "accuracy", "evaluate_accuracy",
    "Accumulator", "train_epoch_ch3", "Animator", "train_ch3", "predict_ch3",  # 3 linear networks
    "evaluate_loss", "DATA_HUB", "DATA_URL", "download", "download_extract", "download_all",  # 4 MLPs
    "try_gpu", "try_all_gpus",  # 5 builders' guide
    "corr2d", "evaluate_accuracy_gpu", "train_ch6",  # 6 CNNs
    "Residual", "resnet18",  # 7 modern CNNs (resnet18: the book's 12.6 network, used by later chapters)
    "nn_Module", "ones", "zeros", "tensor", "arange", "meshgrid", "sin", "sinh", "cos", "cosh", "tanh", "linspace",
    "exp", "log", "normal", "rand", "randn", "matmul", "int32", "float32", "concat", "stack", "abs", "eye", "numpy",
    "size", "reshape", "to", "reduce_sum", "reduce_mean", "argmax", "astype", "transpose",
]


def __getattr__(name: str):
    """`d2l.plt` is pyplot, imported on first use only (so that cnnlab's own figures never touch pyplot or the
    backend); any other missing name says what this module covers, not just 'no attribute'."""
    if name == "plt":
        plt = import_module("matplotlib.pyplot")
        globals()["plt"] = plt
        return plt
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"cnnlab.d2l has no '{name}': it covers the names d2l's PyTorch edition uses up to its "
                         f"modern-CNN chapter ({len(__all__)} names, listed in docs/d2l.md)")


def __dir__():
    return sorted({*globals(), "plt"})
