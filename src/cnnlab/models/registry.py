"""The model registry: `register_model` adds a factory by name, `create_model` builds it, `list_models` finds it.
A family's module registers each named network on the function that builds it, named like it (`densenet` builds
"densenet", `resnet18_preact` builds "resnet18-preact"); a builder with free widths or depths is `make_FAMILY`.
The registry itself needs no torch (the families do)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from torch import nn

from ..errors import ConfigError, unknown_name
from ..families import FAMILIES


@dataclass(frozen=True)
class ModelInfo:
    name: str
    factory: Callable[..., nn.Module]  # factory(num_classes, in_channels, **options) -> nn.Module
    description: str  # one line, shown by `cnnlab models`
    input_size: int  # the side its source trains it at (images are resized to it)
    min_size: int | None  # smallest side accepted by a net ending in global pooling; None: input_size only
    source: str  # where it comes from: the course lecture, the d2l section, the paper
    family: str | None = None  # its training defaults without a recipe (cnnlab.families.FAMILIES); None: TrainConfig's

    def check_size(self, size: int) -> None:
        """Raise ConfigError unless the network accepts size x size images."""
        if self.min_size is None and size != self.input_size:
            raise ConfigError(f"model '{self.name}' takes {self.input_size}x{self.input_size} input only, not "
                              f"{size}x{size}")
        if self.min_size is not None and size < self.min_size:
            raise ConfigError(f"model '{self.name}' needs input of at least {self.min_size}x{self.min_size}, not "
                              f"{size}x{size}")


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, description: str, source: str, input_size: int = 28, min_size: int | None = None,
                   family: str | None = None):
    """Decorator: register `factory(num_classes=10, in_channels=1, **options)` under `name`. `family` names the
    settings it trains with when no recipe is given (a key of cnnlab.families.FAMILIES; None: TrainConfig's)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"model '{name}': unknown family '{family}' (choose from {', '.join(FAMILIES)})")

    def decorate(factory):
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is registered twice")
        _REGISTRY[name] = ModelInfo(name, factory, description, input_size, min_size, source, family)
        return factory

    return decorate


def model_info(name: str) -> ModelInfo:
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name]


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a glob pattern, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def create_model(name: str, num_classes: int = 10, in_channels: int = 1, ops: str = "native", **options) -> nn.Module:
    """Build model `name`; `ops="scratch"` swaps conv/pool layers for cnnlab.ops' from-scratch versions."""
    info = model_info(name)
    if num_classes < 1 or in_channels < 1:
        raise ConfigError(f"model '{name}': num_classes and in_channels must be positive")
    model = info.factory(num_classes=num_classes, in_channels=in_channels, **options)
    if ops == "scratch":
        from ..ops import to_scratch

        model = to_scratch(model)
    elif ops != "native":
        raise ConfigError(f"unknown ops '{ops}': choose native or scratch")
    return model
