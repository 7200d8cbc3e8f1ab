"""Training configuration in one place: the TrainConfig dataclass (defaults, units and reasons), the defaults of
each model family, and the named recipes that reproduce the courses' and the d2l book's settings. The
`cnnlab train` flags are derived from it.

Which value a setting takes, first match wins: an explicit flag or keyword > the --recipe's settings > the
model family's defaults (FAMILIES; used only without a recipe, so a recipe runs exactly as it reads, and
without their optimizer settings when you choose the optimizer: CHOOSES_OPTIMIZER) > TrainConfig's defaults."""
import math
import os
import types
import typing
from dataclasses import asdict, dataclass, field, fields

from .errors import ConfigError, closest, unknown_name
from .families import FAMILIES, Family  # noqa: F401  (part of this module's interface)

# The help of --dataset and --data-dir, for every command that takes them (cnnlab.cli.options)
DATASET_HELP = ("a named data set (mnist, fashion-mnist, kmnist, emnist-SPLIT, cifar10, digits, synthetic: see "
                "`cnnlab datasets`) or folder:PATH, a folder with one sub-folder of images per class")
DATA_DIR_HELP = ("directory holding a named data set's files: its IDX files, or CIFAR-10's archive or extracted "
                 "folder; when given, the only place looked in (default: $CNNLAB_DATA, the cache, then system "
                 "locations). An image folder needs none: it is --dataset folder:PATH")


def flag(name: str) -> str:
    """An option as the command line spells it: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def keyword(name: str) -> str:
    """An option as the Python API spells it (cnnlab.train(batch_size=...)): batch_size -> batch_size=."""
    return name + "="


MAX_INPUT_SIZE = 1024  # pixels a side; an evaluation batch of 256 colour images at 1024x1024 is 3 GB of float32
MAX_SEED = 2**32 - 1  # seeds go to torch.Generator.manual_seed as seed * 100_003 + epoch, which must fit 64 bits


def _opt(default, help, choices=None, parse=None, metavar=None):
    return field(default=default, metadata={"help": help, "choices": choices, "parse": parse, "metavar": metavar})


def parse_lr(text: str):
    """--lr: a positive number, or 'find' (the LR range test picks it, see lr_find.py)."""
    if text == "find":
        return text
    try:
        return float(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a number or 'find', got '{text}'") from None


@dataclass
class TrainConfig:
    model: str = _opt("basic-cnn", "registered model name (see `cnnlab models`)")
    dataset: str = _opt("fashion-mnist", DATASET_HELP)
    data_dir: str | None = _opt(None, DATA_DIR_HELP)
    image_size: int | None = _opt(None, "folder:PATH: decode the images at SxS (default: the model's input size)")
    test_split: float | None = _opt(None, "folder:PATH without train/ and test/, and digits: fraction of each class "
                                    "held out for testing (default: 0.2)")
    skip_bad: bool = _opt(False, "folder:PATH: leave out files that cannot be read as images (default: stop and "
                          "list them)")
    epochs: int = _opt(10, "passes over the training set")
    batch_size: int = _opt(64, "images per optimizer step (global batch when distributed)")
    lr: float | str = _opt(0.01, "learning rate (peak rate for onecycle), or 'find': the suggestion of the LR range "
                           "test (cnnlab lr-find)", parse=parse_lr)
    optimizer: str = _opt("sgd", "optimizer", ["sgd", "adam", "adamw"])
    momentum: float = _opt(0.0, "SGD momentum (Liu Er's lecture 10: 0.5; d2l: none)")
    nesterov: bool = _opt(False, "Nesterov momentum for SGD")
    weight_decay: float = _opt(0.0, "L2 penalty (decoupled for adamw)")
    schedule: str = _opt("none", "learning-rate schedule", ["none", "step", "cosine", "onecycle"])
    init: str = _opt("default", "weight init: PyTorch's default, or d2l's Xavier-uniform", ["default", "xavier"])
    normalize: str = _opt("dataset",
                          "pixel normalisation: the dataset's mean/std, MNIST's 0.1307/0.3081 (as Liu Er's "
                          "lecture 10), or none ([0, 1] pixels, as d2l)", ["dataset", "mnist", "none"])
    resize: int | None = _opt(None, "train and test at SxS (default: the model's input size)")
    augment: str = _opt("none", "training augmentation: flip each image at random (horizontally); shift-flip also "
                        "moves each image by its own random offset of up to 1 pixel; crop-flip moves the whole "
                        "batch by one random offset of up to 2 pixels", ["none", "flip", "shift-flip", "crop-flip"])
    label_smoothing: float = _opt(0.0, "cross-entropy label smoothing")
    tta: bool = _opt(False, "test-time augmentation in the final evaluation: average the logits of each image "
                     "and its mirror (use with --augment flip)")
    test_every: int = _opt(1, "test after every Nth epoch and after the last; 0: after the last only (the epochs "
                           "between have no test figures, and best.pt is the best of the tested ones)", metavar="N")
    hard_fraction: float = _opt(1.0, "from epoch --hard-from on, train each epoch on only this fraction of the "
                                "training images: those with the highest loss when last seen (hard-example "
                                "mining; 1: every image, every epoch)")
    hard_from: int = _opt(3, "the first epoch of --hard-fraction; the epochs before it train on every image",
                          metavar="EPOCH")
    seed: int = _opt(0, "seeds weights, shuffling and dropout: same seed, same run")
    device: str = _opt("auto", "auto picks cuda when present", ["auto", "cpu", "cuda"])
    precision: str = _opt("auto", "autocast dtype; auto: on a CPU with bf16 instructions the faster of fp32 and bf16 "
                          "for this model, timed on its first run and cached; bf16 on GPUs that have it, else fp16 "
                          "on CUDA, else fp32", ["auto", "fp32", "bf16", "fp16"])
    ops: str = _opt("native", "conv/pool layers: PyTorch's, or cnnlab.ops' from-scratch ones (slower; same results)",
                    ["native", "scratch"])
    channels_last: bool = _opt(True, "NHWC memory format (faster convolutions in oneDNN/cuDNN)")
    compile: bool = _opt(False, "torch.compile the model (costs seconds of compilation; no gain on tiny nets)")
    threads: int | None = _opt(None, "CPU threads (default: one per core left idle by other programs when the run "
                               "starts, divided among local processes)")
    deterministic: bool = _opt(False, "fix everything that decides the arithmetic, so the same command on the same "
                               "machine and versions gives the same metrics.csv to the last digit: threads (--threads, "
                               "else every core, never chosen from the load), precision (auto means fp32, never "
                               "chosen by timing) and PyTorch's deterministic algorithms")
    train_limit: int | None = _opt(None, "use only the first N training images")
    test_limit: int | None = _opt(None, "use only the first N test images")
    sync_bn: bool = _opt(False, "distributed: convert BatchNorm to SyncBatchNorm")
    out: str | None = _opt(None, "run directory (default: runs/<model>-<dataset>-<time>)")
    save_minutes: float = _opt(10.0, "also save last.pt in the middle of an epoch once this many minutes have passed "
                               "since the last save, so a run killed without warning (SIGKILL, power loss) resumes "
                               "from there; 0: save only after each epoch and on a signal", metavar="MINUTES")
    overwrite: bool = _opt(False, "start again in an --out directory that holds a run with finished epochs (its "
                           "run files are replaced); one with no finished epoch is replaced anyway")
    recipe: str | None = _opt(None, "preset settings (see `cnnlab recipes`); explicit flags override it")
    tensorboard: bool = _opt(False, "also log to RUN/tensorboard: losses, accuracies, learning rate, a grid of test "
                             "predictions per epoch, the model graph (needs cnnlab[tensorboard])")

    def validate(self, spell=flag) -> "TrainConfig":
        """Check every value; an error names the option as the caller wrote it (`spell`: flag, or keyword for
        the Python API)."""
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{spell(name)} must be a positive integer, got {getattr(self, name)}")
        if self.lr != "find" and not (isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf):
            raise ConfigError(f"{spell('lr')} must be positive and finite, got {self.lr}")
        for name in ("momentum", "weight_decay"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(f"{spell(name)} must be zero or positive, got {getattr(self, name)}")
        if not 0 < self.hard_fraction <= 1:
            raise ConfigError(f"{spell('hard_fraction')} must be in (0, 1], a fraction of the training images, got "
                              f"{self.hard_fraction}")
        if self.hard_from < 1:
            raise ConfigError(f"{spell('hard_from')} must be a positive integer (an epoch), got {self.hard_from}")
        if self.test_every < 0:
            raise ConfigError(f"{spell('test_every')} must be 0 (the last epoch only) or a positive integer, got "
                              f"{self.test_every}")
        if not 0 <= self.save_minutes < math.inf:
            raise ConfigError(f"{spell('save_minutes')} must be zero or positive, got {self.save_minutes}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"{spell('label_smoothing')} must be in [0, 1), got {self.label_smoothing}")
        if self.test_split is not None and not 0 < self.test_split < 1:
            raise ConfigError(f"{spell('test_split')} must be between 0 and 1 (a fraction of each class), "
                              f"got {self.test_split}")
        for name in ("train_limit", "test_limit", "resize", "threads", "image_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{spell(name)} must be a positive integer, got {value}")
        if not 0 <= self.seed <= MAX_SEED:  # torch's generators take 64-bit seeds (MAX_SEED)
            raise ConfigError(f"{spell('seed')} must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        for name in ("resize", "image_size"):  # a checkpoint with a larger input size is refused at load
            if (getattr(self, name) or 0) > MAX_INPUT_SIZE:
                raise ConfigError(f"{spell(name)} must be at most {MAX_INPUT_SIZE} (pixels a side), got "
                                  f"{getattr(self, name)}")
        if self.dataset.startswith("folder:"):  # an absolute path: the run's views find the folder from anywhere
            self.dataset = "folder:" + os.path.abspath(os.path.expanduser(self.dataset[len("folder:"):]))
        if self.tensorboard:  # before anything is written: say at once how to get it
            from .tensorboard import summary_writer_class

            summary_writer_class()
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                close = closest(str(getattr(self, f.name)), choices, n=2, cutoff=0.6)
                hint = f": did you mean {' or '.join(close)}?" if close else ""
                raise ConfigError(f"{spell(f.name)} must be one of {', '.join(choices)}, got "
                                  f"'{getattr(self, f.name)}'{hint}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    description: str
    settings: dict  # TrainConfig fields it sets; explicit flags override them


# d2l's recipes (its train_ch6): Xavier-uniform init, plain SGD, no normalisation, 10 epochs.
def _d2l(model, lr, batch, resize=None, **more):
    settings = dict(model=model, lr=lr, batch_size=batch, epochs=10, init="xavier", normalize="none",
                    optimizer="sgd", momentum=0.0, **more)
    if resize:
        settings["resize"] = resize
    size = f", resize {resize}" if resize else ""
    return Recipe(f"d2l book: {model}, SGD lr {lr}, batch {batch}{size}, Xavier init, 10 epochs", settings)


RECIPES = {
    "liuer": Recipe("Liu Er's PyTorch course, lecture 10: basic CNN, SGD lr 0.01 momentum 0.5, batch 64, MNIST "
                    "normalisation, 10 epochs",
                    dict(model="basic-cnn", lr=0.01, momentum=0.5, batch_size=64, epochs=10, normalize="mnist",
                         optimizer="sgd", init="default")),
    "morvan": Recipe("Morvan's PyTorch CNN tutorial: Adam lr 1e-3, batch 50, 1 epoch, [0, 1] pixels",
                     dict(model="morvan-cnn", optimizer="adam", lr=1e-3, batch_size=50, epochs=1, normalize="none")),
    "speedrun": Recipe("Fashion-MNIST >= 93% in about 45 s on 2 CPU cores: speedrun-net, 8 epochs, the last 6 on the "
                       "40% hardest images, Nesterov SGD with a one-cycle schedule, label smoothing, flip augmentation "
                       "and flip test-time augmentation, tested after the last epoch only",
                       dict(model="speedrun-net", epochs=8, hard_fraction=0.4, hard_from=3, batch_size=256,
                            optimizer="sgd", lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4,
                            schedule="onecycle", label_smoothing=0.05, augment="flip", tta=True, normalize="dataset",
                            test_every=0)),
    "speedrun94": Recipe("Fashion-MNIST >= 94% on 2 CPU cores in less time than Liu Er's lecture-10 script takes, "
                         "run as printed (10 epochs): speedrun94-net, "
                         "20 epochs, the last 19 on the 40% hardest images, each image flipped and shifted by up to "
                         "1 pixel at random; otherwise the speedrun recipe",
                         dict(model="speedrun94-net", epochs=20, hard_fraction=0.4, hard_from=2, batch_size=256,
                              optimizer="sgd", lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4,
                              schedule="onecycle", label_smoothing=0.05, augment="shift-flip", tta=True,
                              normalize="dataset", test_every=0)),
    "d2l-lenet": _d2l("lenet", 0.9, 256),
    "d2l-lenet-bn": _d2l("lenet-bn", 1.0, 256),
    "d2l-alexnet": _d2l("alexnet", 0.01, 128, 224),
    "d2l-vgg": _d2l("vgg11-small", 0.05, 128, 224),
    "d2l-nin": _d2l("nin", 0.1, 128, 224),
    "d2l-googlenet": _d2l("googlenet", 0.1, 128, 96),
    "d2l-resnet": _d2l("resnet18", 0.05, 256, 96),
    "d2l-densenet": _d2l("densenet", 0.1, 256, 96),
}


# The family's optimizer settings go together: giving --optimizer, --momentum or --nesterov chooses the optimizer
# yourself, and the family's optimizer, rate, momentum and weight decay are left out (--lr alone keeps them).
CHOOSES_OPTIMIZER = ("optimizer", "momentum", "nesterov")
OPTIMIZER_SETTINGS = ("optimizer", "lr", "momentum", "nesterov", "weight_decay")


# The user's own network has no family of its own: it trains with the "plain" family's settings, which suit the
# small networks a learner writes (Liu Er's basic CNN: 0.56 after 2 epochs on 6,000 images with TrainConfig's
# plain SGD at 0.01, 0.78 with Adam at 3e-3). The run's header says so.
OWN_NETWORK_FAMILY = "plain"


def own_network_defaults(config: dict) -> bool:
    """Whether `config` (a TrainConfig as a dict) trains with the own-network family's optimizer settings."""
    return all(config.get(k) == v for k, v in FAMILIES[OWN_NETWORK_FAMILY].settings.items())


def family_defaults(model) -> dict:
    """The settings a registered model's family trains it with (empty for an unregistered network)."""
    from .models import list_models, model_info

    if not isinstance(model, str) or model not in list_models():  # the user's own network (or a name to refuse later)
        return {}
    family = model_info(model).family
    return dict(FAMILIES[family].settings) if family else {}


def as_flags(settings: dict) -> str:
    """Settings as `cnnlab train` flags that run as printed: `--nesterov`, `--no-tta`, `--lr 0.01`."""
    words = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


def _accepts(kind, value) -> bool:
    """Whether `value` fits a TrainConfig annotation (int | None, float, str, bool...), as the CLI parses it."""
    kinds = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if isinstance(value, bool):  # a bool is an int to Python, not to the command line
        return bool in kinds
    if isinstance(value, int) and float in kinds:  # --lr 1 is a number
        return True
    return any(k not in (type(None), bool) and isinstance(value, k) for k in kinds)


_KINDS = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}


def check_options(options: dict, spell=flag) -> None:
    """ConfigError for an option TrainConfig lacks (with the closest name) or a value of the wrong type, naming
    the option as the caller wrote it (`spell`: flag, or keyword for the Python API): the Python API validates
    what `cnnlab train` validates."""
    known = {f.name: f for f in fields(TrainConfig)}
    for name, value in options.items():
        if name not in known:
            close = closest(name, known, n=2, cutoff=0.6)
            hint = f": did you mean {' or '.join(close)}?" if close else " (see `cnnlab train --help`)"
            raise ConfigError(f"unknown training option '{name}'{hint}")
        kind = known[name].type
        # None means not given; a model is a registered name, checked when it is built
        if value is not None and name != "model" and not _accepts(kind, value):
            wanted = " or ".join(_KINDS.get(k, k.__name__) for k in (typing.get_args(kind) or (kind,))
                                 if k is not type(None))
            raise ConfigError(f"{spell(name)} must be {wanted}, got {value!r} ({type(value).__name__})")


def resolve(explicit: dict, own_network: bool = False, spell=flag) -> TrainConfig:
    """TrainConfig's defaults, then the model family's (without a recipe; OWN_NETWORK_FAMILY's for the user's
    `own_network`) or the recipe's settings, then the explicitly given options (None means not given). Errors
    name an option as `spell` writes it: flag (--batch-size) for the command line, keyword (batch_size=) for
    Python."""
    # None means not given; a path may be a pathlib.Path, kept as the string the command line would give
    explicit = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in explicit.items() if v is not None}
    check_options(explicit, spell)
    name = explicit.get("recipe")
    if name is not None:
        if name not in RECIPES:
            raise unknown_name("recipe", name, RECIPES)
        settings = dict(RECIPES[name].settings)
    else:
        settings = (dict(FAMILIES[OWN_NETWORK_FAMILY].settings) if own_network
                    else family_defaults(explicit.get("model", TrainConfig.model)))
        if any(k in explicit for k in CHOOSES_OPTIMIZER):  # your optimizer, not the family's with your momentum
            settings = {k: v for k, v in settings.items() if k not in OPTIMIZER_SETTINGS}
    settings.update(explicit)
    return TrainConfig(**settings).validate(spell)
