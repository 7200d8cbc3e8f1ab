"""What every view returns, and what every view needs first: the network to show (load), where its picture goes
(never the working directory unless asked), and how many test images a --limit means.

A view's result is a Figure: the path of the PNG it wrote (a pathlib.Path: os.fspath, open, .is_file() work), shown
as that picture when it is a notebook cell's last line (_repr_png_), and holding the view's data as attributes
(the confusion counts, the t-SNE points, the predictions)."""
import warnings
from pathlib import Path

from torch import nn

from ..errors import ConfigError, DatasetError
from ..trained import TrainedNetwork, from_module, load_trained

PICTURE_LIMIT = 100  # images one grid shows at most (10 rows of 10, about 1,500 pixels a side); tables list all
OUTPUTS = Path("runs")  # where a view with no run of its own writes (show, several runs' curves)


class Figure(type(Path())):
    """A view's PNG: a path to it that a notebook displays as the picture and that carries the view's data.

    >>> result = views.confusion("runs/lenet")   # the matrix is drawn in the notebook
    >>> result.matrix, result.accuracy, os.fspath(result)"""

    _legacy = None  # what the view returned before it returned a Figure: still unpacked, with a warning

    @classmethod
    def of(cls, file, /, *, legacy: tuple | None = None, **data) -> "Figure":
        figure = cls(file)
        figure.__dict__.update(data)
        figure._legacy = legacy
        return figure

    def _repr_png_(self) -> bytes:
        return self.read_bytes()

    def _old(self) -> tuple:
        if self._legacy is None:
            raise TypeError(f"'{type(self).__name__}' is a path to a picture; its data are attributes")
        warnings.warn("views now return a Figure (a path with the data as attributes; shown as the picture in a "
                      "notebook): unpacking it as a tuple goes away in the next release", DeprecationWarning,
                      stacklevel=3)
        return self._legacy

    def __iter__(self):
        return iter(self._old())

    def __getitem__(self, index):
        return self._old()[index]

    def data(self) -> dict:
        """The view's data by name (what a notebook or a test reads besides the picture)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def load(checkpoint, which: str = "best", model=None, dataset=None, data_dir=None,
         command: str = "eval") -> TrainedNetwork:
    """What a view shows: a TrainedNetwork as it is, a run directory or .pt file (of your own network: with
    `model`), the result of cnnlab.train, or an nn.Module with the `dataset` to show it on."""
    if isinstance(checkpoint, TrainedNetwork):
        return checkpoint
    if isinstance(checkpoint, nn.Module):
        return from_module(checkpoint, dataset, data_dir)
    if hasattr(checkpoint, "run_dir"):  # cnnlab.train's result (or its history)
        model = model if model is not None else getattr(checkpoint, "model", None)
        checkpoint = checkpoint.run_dir
    return load_trained(checkpoint, which, model=model, command=command)


def out_path(out, default: Path) -> Path:
    return Path(out) if out is not None else default


def safe_stem(name: str) -> str:
    """A file name's stem usable in an output's name: predict_cat.png for cat.png."""
    stem = Path(name).stem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60] or "picture"


def limit_of(limit, data, least: int = 1, purpose: str = "") -> tuple[int, str | None]:
    """How many of `data`'s test images --limit N (None: all) means, and a note when N was more than the set has:
    a limit larger than the set means the whole set. Below `least` is an error, and so is a set without test
    images (an accuracy of none is no figure)."""
    count = len(data.test)
    if count == 0:
        raise DatasetError(f"{data.source}: data set '{data.name}' has no test images: nothing to evaluate on")
    if limit is None:
        return count, None
    if limit < least:
        raise ConfigError(f"--limit must be at least {least}{purpose}, got {limit}")
    if count < least:
        raise ConfigError(f"{data.name} has only {count} test images: at least {least} are needed{purpose}")
    if limit > count:
        return count, f"--limit {limit} is more than the {count:,} test images of {data.name}: using all {count:,}"
    return limit, None


def check_limit(limit, data, least: int = 1) -> None:
    """Deprecated: a limit larger than the set now means the whole set (limit_of)."""
    warnings.warn("views.check_limit is now views.limit_of, which takes the whole set for a larger limit",
                  DeprecationWarning, stacklevel=2)
    limit_of(limit, data, least)
