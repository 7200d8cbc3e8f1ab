"""cnnlab: learn, build, train, inspect and compare convolutional neural networks with PyTorch.

The public names below are imported on first use (PEP 562), so `import cnnlab` and the `cnnlab --help`
command stay fast: torch loads only when something needs it."""
import os
import sys
from importlib import import_module

from .version import __version__

# OpenMP (libgomp) threads spin for ~300,000 iterations before sleeping. When other programs share the cores, that
# spinning slows training about 10x; never spinning (OMP_WAIT_POLICY=PASSIVE) costs about 40% on idle cores. A
# short spin keeps the speed of both (README "Performance" has the figures). The user's own OMP_WAIT_POLICY or
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
_SUBMODULES = ("checkpoint", "cli", "config", "d2l", "data", "device", "distributed", "errors", "evaluate", "explain",
               "explore", "export", "families", "hints", "inspect", "kernels", "lessons", "lr_find", "models",
               "network", "notebook", "openmp", "ops", "pictures", "plots", "precision", "prepare", "pretrained",
               "report", "resume_policy", "rundir", "runstate", "signals", "steps", "tensorboard", "trained",
               "trainer", "validate", "views")

# old module name -> where it lives now; kept for a release with a DeprecationWarning
_MOVED = {"cifar": "data.cifar", "folder": "data.folder"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = import_module(f".{name}", __name__)
    elif name in _MOVED:
        import warnings

        warnings.warn(f"cnnlab.{name} moved to cnnlab.{_MOVED[name]}", DeprecationWarning, stacklevel=2)
        return import_module(f".{_MOVED[name]}", __name__)  # not cached: every use of the old name warns
    else:
        raise AttributeError(f"module 'cnnlab' has no attribute '{name}'")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
