"""cnnlab: learn, build, train, inspect and compare convolutional neural networks with PyTorch."""
__version__ = "0.1.0"

import os  # noqa: E402

# OpenMP threads that spin while waiting slow PyTorch down ~10x when other programs share the cores (measured
# in benchmarks/bench_train.py); passive waiting costs nothing measurable on an idle machine. Only takes effect
# when cnnlab is imported before torch (always so for the `cnnlab` command); an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
