"""Training configuration in one place: the TrainConfig dataclass (defaults, units and reasons) and the named
recipes that reproduce the seeds' and the d2l book's settings. The `cnnlab train` flags are derived from it."""
import math
from dataclasses import asdict, dataclass, field, fields

from .errors import ConfigError, unknown_name


def _opt(default, help, choices=None):
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    model: str = _opt("basic-cnn", "registered model name (see `cnnlab models`)")
    dataset: str = _opt("fashion-mnist", "mnist, fashion-mnist or synthetic")
    data_dir: str | None = _opt(None, "directory with the IDX files (default: $CNNLAB_DATA, cache, system)")
    epochs: int = _opt(10, "passes over the training set")
    batch_size: int = _opt(64, "images per optimizer step (global batch when distributed)")
    lr: float = _opt(0.01, "learning rate (peak rate for onecycle)")
    optimizer: str = _opt("sgd", "optimizer", ["sgd", "adam", "adamw"])
    momentum: float = _opt(0.0, "SGD momentum (seed 000: 0.5; d2l: none)")
    nesterov: bool = _opt(False, "Nesterov momentum for SGD")
    weight_decay: float = _opt(0.0, "L2 penalty (decoupled for adamw)")
    schedule: str = _opt("none", "learning-rate schedule", ["none", "step", "cosine", "onecycle"])
    init: str = _opt("default", "weight init: PyTorch's default, or d2l's Xavier-uniform", ["default", "xavier"])
    normalize: str = _opt("dataset", "pixel normalisation: the dataset's mean/std, MNIST's 0.1307/0.3081 (seed 000), "
                          "or none ([0, 1] pixels, as d2l)", ["dataset", "mnist", "none"])
    resize: int | None = _opt(None, "train and test at SxS (default: the model's input size)")
    augment: str = _opt("none", "per-batch augmentation: random horizontal flip, plus a random shift of up to 2 "
                        "pixels for crop-flip", ["none", "flip", "crop-flip"])
    label_smoothing: float = _opt(0.0, "cross-entropy label smoothing")
    tta: bool = _opt(False, "test-time augmentation in the final evaluation: average the logits of each image "
                     "and its mirror (use with --augment flip)")
    seed: int = _opt(0, "seeds weights, shuffling and dropout: same seed, same run")
    device: str = _opt("auto", "auto picks cuda when present", ["auto", "cpu", "cuda"])
    precision: str = _opt("auto", "autocast dtype; auto: bf16 on CPUs/GPUs with bf16 support, else fp16 on CUDA, "
                          "else fp32", ["auto", "fp32", "bf16", "fp16"])
    ops: str = _opt("native", "conv/pool layers: PyTorch's, or cnnlab.ops' from-scratch ones (slower; same results)",
                    ["native", "scratch"])
    channels_last: bool = _opt(True, "NHWC memory format (faster convolutions in oneDNN/cuDNN)")
    compile: bool = _opt(False, "torch.compile the model (costs seconds of compilation; no gain on tiny nets)")
    threads: int | None = _opt(None, "CPU threads (default: all cores, divided among local processes)")
    train_limit: int | None = _opt(None, "use only the first N training images")
    test_limit: int | None = _opt(None, "use only the first N test images")
    sync_bn: bool = _opt(False, "distributed: convert BatchNorm to SyncBatchNorm")
    out: str | None = _opt(None, "run directory (default: runs/<model>-<dataset>-<time>)")
    recipe: str | None = _opt(None, "preset settings (see `cnnlab recipes`); explicit flags override it")

    def validate(self) -> "TrainConfig":
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        if not 0 < self.lr < math.inf:
            raise ConfigError(f"--lr must be positive and finite, got {self.lr}")
        for name in ("momentum", "weight_decay"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(f"--{name.replace('_', '-')} must be zero or positive, got {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        for name in ("train_limit", "test_limit", "resize", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"--{f.name.replace('_', '-')} must be one of {', '.join(choices)}, got '{getattr(self, f.name)}'")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    description: str
    settings: dict  # TrainConfig fields it sets; explicit flags override them


# d2l's recipes (SPEC section 5): Xavier-uniform init, plain SGD, no normalisation, 10 epochs.
def _d2l(model, lr, batch, resize=None, **more):
    settings = dict(model=model, lr=lr, batch_size=batch, epochs=10, init="xavier", normalize="none",
                    optimizer="sgd", momentum=0.0, **more)
    if resize:
        settings["resize"] = resize
    size = f", resize {resize}" if resize else ""
    return Recipe(f"d2l book: {model}, SGD lr {lr}, batch {batch}{size}, Xavier init, 10 epochs", settings)


RECIPES = {
    "seed000": Recipe("seed 000: basic CNN, SGD lr 0.01 momentum 0.5, batch 64, MNIST normalisation, 10 epochs",
                      dict(model="basic-cnn", lr=0.01, momentum=0.5, batch_size=64, epochs=10, normalize="mnist",
                           optimizer="sgd", init="default")),
    "morvan": Recipe("seed 001: Morvan's CNN, Adam lr 1e-3, batch 50, 1 epoch, [0, 1] pixels",
                     dict(model="morvan-cnn", optimizer="adam", lr=1e-3, batch_size=50, epochs=1, normalize="none")),
    "speedrun": Recipe("Fashion-MNIST >= 93% in 7 epochs, about a minute on 2 CPU cores: speedrun-net, Nesterov SGD with a "
                       "one-cycle schedule, label smoothing, flip augmentation and flip test-time augmentation",
                       dict(model="speedrun-net", epochs=7, batch_size=256, optimizer="sgd", lr=0.2, momentum=0.9,
                            nesterov=True, weight_decay=5e-4, schedule="onecycle", label_smoothing=0.05,
                            augment="flip", tta=True, normalize="dataset")),
    "d2l-lenet": _d2l("lenet", 0.9, 256),
    "d2l-lenet-bn": _d2l("lenet-bn", 1.0, 256),
    "d2l-alexnet": _d2l("alexnet", 0.01, 128, 224),
    "d2l-vgg": _d2l("vgg11-small", 0.05, 128, 224),
    "d2l-nin": _d2l("nin", 0.1, 128, 224),
    "d2l-googlenet": _d2l("googlenet", 0.1, 128, 96),
    "d2l-resnet": _d2l("resnet18", 0.05, 256, 96),
    "d2l-densenet": _d2l("densenet", 0.1, 256, 96),
}


def resolve(explicit: dict) -> TrainConfig:
    """Defaults, then the recipe's settings, then the explicitly given options (None means not given)."""
    explicit = {k: v for k, v in explicit.items() if v is not None}
    settings = {}
    name = explicit.get("recipe")
    if name is not None:
        if name not in RECIPES:
            raise unknown_name("recipe", name, RECIPES)
        settings.update(RECIPES[name].settings)
    settings.update(explicit)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(settings) - known
    if unknown:
        raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return TrainConfig(**settings).validate()
