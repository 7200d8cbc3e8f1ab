"""The network zoo: importing this package registers every model family."""
from . import alexnet, basic, densenet, googlenet, lenet, nin, resnet, speedrun, vgg  # noqa: F401  (registers models)
from .registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]
