"""cnnlab: learn, build, train, inspect and compare convolutional neural networks with PyTorch."""
__version__ = "0.1.0"

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
