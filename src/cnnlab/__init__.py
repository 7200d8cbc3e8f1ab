"""cnnlab: learn, build, train, inspect and compare convolutional neural networks with PyTorch.

The public names below are imported on first use (PEP 562), so `import cnnlab` and the `cnnlab --help`
command stay fast: torch loads only when something needs it."""
import os
import sys
from importlib import import_module

from .version import __version__

# OpenMP (libgomp) threads spin for ~300,000 iterations before sleeping. When other programs share the cores,
# that spinning collapsed training ~10x (basic-cnn: ~500 instead of ~5,000 images/s); never spinning
# (OMP_WAIT_POLICY=PASSIVE) cost ~40% on an idle machine. A short spin keeps both: measured idle 17-22k images/s
# (spinning: 18-21k), beside two busy processes ~4-5k (passive: ~4.8k). The user's own OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins.
# libgomp reads the variable once, when torch loads it: set here when cnnlab is imported before torch (always so
# for the `cnnlab` command). A notebook or script that imports torch first (as every d2l seed and the book do)
# would keep the long spin, which made such notebooks a few times slower (benchmarks/bench_notebook.py); for
# them openmp.shorten_spin() gets libgomp's own short spin after the fact (how: cnnlab/openmp.py; figures:
# benchmarks/bench_openmp.py and docs/d2l.md). torch is then loaded already, so this costs no import time.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    if "torch" not in sys.modules:
        os.environ["GOMP_SPINCOUNT"] = "10000"
    else:
        from .openmp import shorten_spin

        shorten_spin()

# public name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(["CheckpointError", "CnnlabError", "ConfigError", "DatasetError", "ImageError"], "errors"),
    **dict.fromkeys(["create_model", "list_models", "model_info", "register_model"], "models"),
    **dict.fromkeys(["penultimate", "summarize", "summary", "to_dot"], "inspect"),
    **dict.fromkeys(["RECIPES", "TrainConfig"], "config"),
    "load_dataset": "data",
    **dict.fromkeys(["resume", "train"], "trainer"),
    **dict.fromkeys(["load_trained", "TrainedModel", "TrainedNetwork"], "trained"),
}
_SUBMODULES = ("checkpoint", "cifar", "cli", "config", "d2l", "data", "distributed", "errors", "evaluate", "explain",
               "explore", "export", "folder", "hints", "inspect", "kernels", "lessons", "lr_find", "models", "network", "notebook", "ops",
               "pictures", "plots", "report", "rundir", "signals", "tensorboard", "trained", "trainer", "views")

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'cnnlab' has no attribute '{name}'")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
