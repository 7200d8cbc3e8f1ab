"""What the explorer can show: the networks it was given (run directories, checkpoints, registered model names, a
model in a user's Python file), each named by an id the page uses; the page never sends a path.

`load_network` is the one place that turns a source into a model: it goes through cnnlab.rundir.load_model
(weights_only=True); which files a run directory holds is cnnlab.rundir's to say."""
import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from .. import rundir
from ..errors import CheckpointError, ConfigError
from ..network import import_reference, instantiate

RUN_CHECKPOINTS = (rundir.BEST, rundir.LAST)  # the checkpoints a run directory offers, best first
DEFAULT_CLASSES = tuple(str(k) for k in range(10))  # an untrained network: classes are only numbers
UNTRAINED_NORMALIZE = (0.0, 1.0)  # pixels in [0, 1], as d2l feeds them


@dataclass(frozen=True)
class Source:
    """A network the page may show. kind: 'checkpoint' (a .pt file, maybe inside a run), 'model' (a registered
    name, untrained) or 'file' (FILE.py:NAME, untrained)."""

    id: str
    label: str
    kind: str
    path: Path | None = None  # the .pt file, or the user's .py file
    run_dir: Path | None = None  # the run the checkpoint belongs to, when it does
    name: str | None = None  # registered model name, or the factory in the user's file
    input_size: int | None = None  # for 'file' sources

    def stamp(self):
        """Changes whenever the checkpoint on disk is replaced (a run in progress rewrites last.pt)."""
        if self.kind != "checkpoint":
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def describe(self) -> dict:
        return {"id": self.id, "label": self.label, "kind": self.kind,
                "run": self.run_dir.name if self.run_dir else None,
                "live": self.run_dir is not None and self.path.name == rundir.LAST}


@dataclass
class Network:
    """A model ready for the page: on the CPU, in eval mode, with how its inputs were prepared in training."""

    model: nn.Module
    name: str  # the architecture, e.g. "lenet"
    classes: tuple
    mean: float
    std: float
    input_size: int  # the side the 28x28 pictures are resized to
    dataset: str | None  # the data set it was trained on (test images come from it)
    data_dir: str | None
    epoch: int | None  # epochs finished when the checkpoint was written
    trained: bool


def is_run_dir(path: Path) -> bool:
    """A directory cnnlab train wrote, or an empty one it is about to write (`cnnlab train --out` it)."""
    return path.is_dir() and (any((path / name).exists() for name in rundir.RUN_FILES)
                              or next(path.iterdir(), None) is None)


def _file_ref(ref: str):
    """'path/to/net.py:Name' -> (Path, 'Name'), or None when `ref` is not of that form."""
    if ":" not in ref:
        return None
    file, _, name = ref.rpartition(":")
    return (Path(file), name) if file.endswith(".py") and name.isidentifier() else None


def find_sources(refs, runs_root="runs", input_size: int = 28) -> list[Source]:
    """Sources for the command line's references: a run directory (its best.pt and last.pt), a .pt file, a
    registered model name or FILE.py:NAME. With no reference, every run directory under `runs_root`.
    An unknown reference raises ConfigError (or CheckpointError for a missing file)."""
    from ..models import list_models, model_info

    refs = list(refs)
    if not refs:
        root = Path(runs_root)
        runs = sorted(p for p in root.iterdir() if is_run_dir(p)) if root.is_dir() else []
        if not runs:
            raise ConfigError(f"no run directories under {root}/: give a RUN_DIR, a checkpoint, a model name "
                              "(see `cnnlab models`) or FILE.py:NAME")
        refs = [str(p) for p in runs]
    sources: list[Source] = []

    def add(**fields):
        sources.append(Source(id=str(len(sources)), **fields))

    for ref in refs:
        path = Path(ref)
        file_ref = _file_ref(ref)
        if file_ref:
            if not file_ref[0].is_file():
                raise ConfigError(f"{file_ref[0]}: no such Python file")
            add(label=ref, kind="file", path=file_ref[0].resolve(), name=file_ref[1], input_size=input_size)
        elif path.is_dir():
            if not is_run_dir(path):
                raise CheckpointError(f"{path}: not a run directory (no config.json, best.pt or last.pt, and not empty)")
            for name in RUN_CHECKPOINTS:
                # last.pt is offered even before it exists: a run that is starting writes it within seconds
                if (path / name).is_file() or name == rundir.LAST:
                    add(label=f"{path.name}/{name}", kind="checkpoint", path=(path / name).resolve(),
                        run_dir=path.resolve())
        elif path.suffix == ".pt" or path.exists():
            if not path.is_file():
                raise CheckpointError(f"{path}: no such checkpoint file")
            run = path.parent.resolve() if is_run_dir(path.parent) else None
            add(label=str(path), kind="checkpoint", path=path.resolve(), run_dir=run)
        elif ref in list_models():
            add(label=f"{ref} (untrained)", kind="model", name=ref, input_size=model_info(ref).input_size)
        else:
            from ..errors import unknown_name

            raise ConfigError(f"'{ref}' is no run directory, checkpoint or FILE.py:NAME, and "
                              f"{str(unknown_name('model', ref, list_models())).removeprefix('unknown ')}")
    return sources


def load_network(source: Source) -> Network:
    """The model behind `source`, in eval mode. Checkpoints load with weights_only=True (cnnlab.rundir)."""
    from ..models import create_model

    if source.kind == "checkpoint":
        if not source.path.is_file():
            raise CheckpointError(f"{source.label}: no checkpoint yet (the run has not written it)")
        model, payload = rundir.load_model(source.path)
        config = payload["config"]
        mean, std = payload["normalize"]
        history = payload.get("history") or []
        return Network(model.eval(), config["model"], tuple(payload["classes"]), float(mean), float(std),
                       int(payload["input_size"]), config.get("dataset"), config.get("data_dir"),
                       len(history) if isinstance(history, list) else None, True)
    if source.kind == "model":
        model = create_model(source.name, num_classes=len(DEFAULT_CLASSES), in_channels=1)
        name = source.name
    else:
        # the user's own file, given on the command line: imported the one way cnnlab imports user code
        name = f"{source.path.name}:{source.name}"
        model = instantiate(import_reference(f"{source.path}:{source.name}"), len(DEFAULT_CLASSES), name)
    return Network(model.eval(), name, DEFAULT_CLASSES, *UNTRAINED_NORMALIZE, source.input_size, None, None,
                   None, False)
