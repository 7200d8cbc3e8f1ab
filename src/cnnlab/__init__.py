"""cnnlab: learn, build, train, inspect and compare convolutional neural networks with PyTorch."""
__version__ = "0.1.0"

import os  # noqa: E402
import sys  # noqa: E402

# OpenMP (libgomp) threads spin for ~300,000 iterations before sleeping. When other programs share the cores,
# that spinning collapsed training ~10x (basic-cnn: ~500 instead of ~5,000 images/s); never spinning
# (OMP_WAIT_POLICY=PASSIVE) cost ~40% on an idle machine. A short spin keeps both: measured idle 17-22k images/s
# (spinning: 18-21k), beside two busy processes ~4-5k (passive: ~4.8k). The user's own OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins.
# libgomp reads the variable once, when torch loads it: this is the one place it can be set, and only when cnnlab
# is imported before torch (always so for the `cnnlab` command). A notebook or script that imports torch first
# (as every d2l seed does) keeps the long spin: that, not the kernel, made notebook training slow (2 threads: a
# few times slower than the same notebook importing cnnlab first; benchmarks/bench_notebook.py). Setting the
# variable after the fact would only make config.json record a setting not in force, so cnnlab leaves it unset;
# the reporter's header then says how to get the speed back (report.openmp_note).
if "OMP_WAIT_POLICY" not in os.environ and "torch" not in sys.modules:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from .errors import CheckpointError, CnnlabError, ConfigError, DatasetError, ImageError  # noqa: E402
from .models import create_model, list_models, model_info, register_model  # noqa: E402
from .inspect import penultimate, summarize, summary, to_dot  # noqa: E402
from .config import RECIPES, TrainConfig  # noqa: E402
from .data import load_dataset  # noqa: E402
from .trainer import resume, train  # noqa: E402

__all__ = [
    "CheckpointError", "CnnlabError", "ConfigError", "DatasetError", "ImageError",
    "create_model", "list_models", "model_info", "register_model",
    "penultimate", "summarize", "summary", "to_dot",
    "RECIPES", "TrainConfig", "load_dataset", "resume", "train",
]
