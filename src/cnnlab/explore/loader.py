"""What the explorer can show: the networks it was given (run directories, checkpoints, registered model names, a
model in a user's Python file), each named by an id the page uses; the page never sends a path.

`load_network` is the one place that turns a source into a network: a cnnlab.trained.TrainedNetwork, loaded
through cnnlab.trained.load_trained (weights_only=True) for a checkpoint; which files a run directory holds is
cnnlab.rundir's to say. A run of the user's own network is loaded with the `--model` reference bound to it."""
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .. import pretrained, rundir
from ..errors import CheckpointError, ConfigError
from ..network import import_reference, instantiate, is_reference, stored_network
from ..trained import UNTRAINED_CLASSES, TrainedNetwork, load_trained, untrained

RUN_CHECKPOINTS = (rundir.BEST, rundir.LAST)  # the checkpoints a run directory offers, best first
DEFAULT_CLASSES = UNTRAINED_CLASSES  # an untrained network: classes are only numbers


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
    model: str | None = None  # the import reference of the user's network: rebuilds a checkpoint's, or a 'file'

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


def find_sources(refs, runs_root="runs", input_size: int = 28, models=()) -> list[Source]:
    """Sources for the command line's references: a run directory (its best.pt and last.pt), a .pt file, a
    registered model name or FILE.py:NAME. Without one, every run directory under `runs_root`. `models`:
    the --model references; each is bound to the runs trained with it (see bind), and one bound to none is shown
    untrained. An unknown reference raises ConfigError (or CheckpointError for a missing file)."""
    from ..models import list_models, model_info

    refs, models = list(refs), list(models)
    user_models = [m for m in models if is_reference(m)]
    refs += [m for m in models if not is_reference(m)]  # a run, checkpoint or name given as --model: one more ref
    if not refs:  # every run under runs_root (with only --model given: those too, each bound to its network)
        root = Path(runs_root)
        runs = sorted(p for p in root.iterdir() if is_run_dir(p)) if root.is_dir() else []
        if not runs and not user_models:  # a first start: the trained network cnnlab ships
            print(f"no runs under {root}/ yet, so this opens {pretrained.describe()}")
            runs = [pretrained.directory()]
        refs = [str(p) for p in runs]
    sources: list[Source] = []
    bound: set = set()

    def add(**fields):
        if fields.get("kind") == "checkpoint" and user_models:
            fields["model"] = bind(_network_record(fields["path"], fields.get("run_dir")), user_models, bound)
        sources.append(Source(id=str(len(sources)), **fields))

    for ref in refs:
        path = pretrained.resolve(ref)
        file_ref = _file_ref(ref)
        if file_ref:
            if not file_ref[0].is_file():
                raise ConfigError(f"{file_ref[0]}: no such Python file")
            add(label=ref, kind="file", path=file_ref[0].resolve(), name=file_ref[1], input_size=input_size,
                model=f"{file_ref[0].resolve()}:{file_ref[1]}")
        elif path.is_dir():
            if not is_run_dir(path):
                raise CheckpointError(f"{path}: not a run directory (no config.json, best.pt or last.pt, and not "
                                      "empty)")
            for name in RUN_CHECKPOINTS:
                # last.pt is offered even before it exists: a run that is starting writes it within seconds
                if (path / name).is_file() or (name == rundir.LAST and not pretrained.is_shipped(path)):
                    shown = pretrained.NAME if pretrained.is_shipped(path) else path.name
                    add(label=f"{shown}/{name}", kind="checkpoint", path=(path / name).resolve(),
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
    for reference in user_models:  # a --model no run was trained with: shown untrained, as a FILE.py:NAME ref is
        if reference not in bound:
            file_ref = _file_ref(reference)
            if file_ref and not file_ref[0].is_file():
                raise ConfigError(f"{file_ref[0]}: no such Python file")
            sources.append(Source(id=str(len(sources)), label=f"{reference} (untrained)", kind="file",
                                  path=file_ref[0].resolve() if file_ref else None,
                                  name=file_ref[1] if file_ref else reference.rpartition(":")[2],
                                  input_size=input_size, model=reference))
    return sources


def _network_record(checkpoint: Path, run_dir: Path | None) -> dict:
    """The user's network a checkpoint was trained with ({"kind": "registered"} for a zoo model), from the run's
    config.json when there is one (no checkpoint is read), else from the checkpoint."""
    try:
        if run_dir is not None and (run_dir / rundir.CONFIG).is_file():
            return stored_network(json.loads((run_dir / rundir.CONFIG).read_text()))
        if checkpoint.is_file():
            return stored_network(rundir.load_checkpoint(checkpoint))
    except (OSError, ValueError, CheckpointError):
        pass  # loading the network later says what is wrong with the run
    return {"kind": "registered"}


def _callable_name(reference: str) -> str:
    return reference.rpartition(":")[2].rpartition(".")[2]


def bind(record: dict, references: list[str], bound: set) -> str | None:
    """The --model reference a run of the user's own network was trained with: the same reference (the same file
    and callable), else the same callable name, else the only one given. None for a zoo model's run."""
    if record.get("kind") not in ("reference", "module"):
        return None

    def same_file(a: str, b: str) -> bool:
        fa, fb = _file_ref(a), _file_ref(b)
        return bool(fa and fb) and fa[1] == fb[1] and fa[0].resolve() == fb[0].resolve()

    stored = record.get("reference") or ""
    label = _callable_name(record.get("label") or stored)
    for chosen in ([r for r in references if r == stored or same_file(r, stored)],
                   [r for r in references if _callable_name(r) == label],
                   references if len(references) == 1 else []):
        if chosen:
            bound.add(chosen[0])
            return chosen[0]
    return None


def load_network(source: Source) -> TrainedNetwork:
    """The network behind `source`, in eval mode. Checkpoints load with weights_only=True (cnnlab.rundir); one of
    the user's own network is rebuilt from the --model reference bound to it."""
    from ..models import create_model

    if source.kind == "checkpoint":
        if not source.path.is_file():
            raise CheckpointError(f"{source.label}: no checkpoint yet (the run has not written it)")
        return load_trained(source.path, model=source.model, command="explore")
    if source.kind == "model":
        model = create_model(source.name, num_classes=len(DEFAULT_CLASSES), in_channels=1)
        return untrained(model, source.name, source.input_size)
    # the user's own file, given on the command line: imported the one way cnnlab imports user code
    name = f"{source.path.name}:{source.name}" if source.path is not None else source.model
    model = instantiate(import_reference(source.model or f"{source.path}:{source.name}"), len(DEFAULT_CLASSES), name)
    return untrained(model, name, source.input_size)


def __getattr__(name):
    """Network, the explorer's own copy of the trained-network type, is now cnnlab.trained.TrainedNetwork."""
    if name == "Network":
        warnings.warn("cnnlab.explore.loader.Network is now cnnlab.trained.TrainedNetwork", DeprecationWarning,
                      stacklevel=2)
        return TrainedNetwork
    raise AttributeError(f"module 'cnnlab.explore.loader' has no attribute '{name}'")
