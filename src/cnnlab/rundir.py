"""The run directory `cnnlab train` leaves, and the one home of everything about it: the file names, the
checkpoint payload (with its schema version), which checkpoint a directory means, metrics.csv and config.json,
and loading a trained run for inference. No other module knows a file name of the run directory.

    RUN_DIR/config.json   the settings and where things came from (data source, device, versions)
    RUN_DIR/metrics.csv   one row per finished epoch (METRIC_FIELDS)
    RUN_DIR/last.pt       the latest state: weights, optimizer, schedule, RNG, history (what --resume reads)
    RUN_DIR/best.pt       the same at the epoch with the best test accuracy so far
    RUN_DIR/curves.png    loss and accuracy per epoch

**Which checkpoint a directory means.** Wherever a checkpoint is read for inference (`cnnlab eval`, every view,
`cnnlab.trained.load_trained`), a run directory means its `best.pt`, falling back to `last.pt` while no epoch has
finished;
`--last` (`which="last"`) picks `last.pt`. Resuming always reads `last.pt`: it continues the run, it does not
evaluate it.

**How a checkpoint is evaluated.** Each checkpoint records how the trainer evaluated its epoch (`evaluation`:
autocast precision, test-time augmentation, batch size, memory format), and cnnlab.evaluate applies exactly that
everywhere, so a checkpoint's accuracy in metrics.csv is what `cnnlab eval` and the views report for it."""
import csv
import io
import json
import time
from pathlib import Path

from . import pretrained
from .checkpoint import atomic_write_text, read_torch_file, save_checkpoint, weights_mismatch
from .errors import CheckpointError, ConfigError, closest
from .evaluate import FLOAT32_EVALUATION, Evaluation
from .validate import check_payload, read_config_json, read_metrics_csv

CONFIG, METRICS, LAST, BEST, CURVES = "config.json", "metrics.csv", "last.pt", "best.pt", "curves.png"
RUN_FILES = (CONFIG, METRICS, LAST, BEST)  # written atomically (checkpoint.atomic_write_*)
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s")
CHECKPOINTS = {"best": BEST, "last": LAST}

# Schema of the checkpoint payload. 1: weights, config, classes, normalize, input_size and the training state;
# 2 adds `evaluation` (read as FLOAT32_EVALUATION from a schema-1 file).
SCHEMA = 2
PAYLOAD_KEYS = ("model", "config", "classes", "normalize", "input_size")  # what rebuilding a model needs
TRAINING_STATE = ("optimizer", "schedule", "scaler", "epoch", "step", "partial", "rng", "history",
                  "hard_examples")  # hard_examples: None unless --hard-fraction (cnnlab.hard_examples)
RESUME_KEYS = ("optimizer", "schedule", "epoch", "step", "partial", "rng", "history")  # what resuming needs


# ---------------------------------------------------------------- paths
def default_path(model: str, dataset: str) -> Path:
    return Path("runs") / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare(path) -> Path:
    """Create the run directory and check that it can be written; ConfigError naming it otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"cannot write run directory {path}: {error.strerror or error}; "
                          "choose another with --out") from None
    return path


def holds_run(path) -> bool:
    return (Path(path) / LAST).exists()


def finished_epochs(path) -> int:
    """How many epochs the run in `path` finished (best.pt exists from the first one on; metrics.csv counts)."""
    path = Path(path)
    try:
        done = len(read_metrics(path))
    except (OSError, CheckpointError):
        done = 0
    return max(done, int((path / BEST).exists()))


def clear(path) -> None:
    """Remove a run's files from `path` (before a run starts again there); anything else in it stays."""
    for name in (*RUN_FILES, CURVES):
        (Path(path) / name).unlink(missing_ok=True)


def last_checkpoint(run_dir) -> Path:
    """The checkpoint a run resumes from."""
    return Path(run_dir) / LAST


def curves_path(run_dir) -> Path:
    return Path(run_dir) / CURVES


def checkpoint_path(path, which: str = "best") -> Path:
    """The .pt file `path` means: a file is itself; a run directory means its best.pt (else last.pt), or with
    which="last" its last.pt; `pretrained` means the shipped network's best.pt."""
    path = pretrained.resolve(path)  # the name `pretrained`: the network cnnlab ships
    if which not in CHECKPOINTS:
        raise ConfigError(f"unknown checkpoint '{which}': choose best or last")
    if not path.exists() and path.suffix not in (".pt", ".pth"):  # meant as a run directory
        raise no_such_run(path)
    if not path.is_dir():
        return path
    chosen = path / CHECKPOINTS[which]
    return chosen if chosen.is_file() or which == "last" else path / LAST


def no_such_run(path) -> CheckpointError:
    """'PATH: no such run directory', suggesting the closest sibling directory that holds a run (a typo in
    runs/fahsion finds runs/fashion)."""
    path = Path(path)
    try:
        runs = [d.name for d in path.parent.iterdir() if d.is_dir() and (holds_run(d) or (d / BEST).exists())]
    except OSError:
        runs = []
    close = closest(path.name, runs, n=1, cutoff=0.6)
    hint = f"; did you mean {path.parent / close[0]}?" if close else ""
    return CheckpointError(f"{path}: no such run directory{hint}")


# ---------------------------------------------------------------- metrics.csv and config.json
def write_metrics(run_dir, history: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in METRIC_FIELDS} for row in history)
    atomic_write_text(Path(run_dir) / METRICS, text.getvalue())


def tested(history: list[dict]) -> list[dict]:
    """The epochs of `history` that ended with a test pass (every one, unless the run had --test-every)."""
    return [row for row in history if row["test_acc"] is not None]


def best_row(history: list[dict]) -> dict | None:
    """The tested epoch with the highest test accuracy (the first of equals: the one best.pt holds); None if no
    epoch was tested yet."""
    return max(tested(history), key=lambda row: row["test_acc"], default=None)


def last_tested(history: list[dict]) -> dict | None:
    """The last epoch with test figures; None if no epoch was tested yet."""
    return next((row for row in reversed(history) if row["test_acc"] is not None), None)


def accuracy_line(history: list[dict]) -> str:
    """'test accuracy 0.9123 (best 0.9150 at epoch 7)' of the last tested epoch, as a run's summary says it."""
    last, best = last_tested(history), best_row(history)
    if last is None:
        return "no epoch tested yet"
    return f"test accuracy {last['test_acc']:.4f} (best {best['test_acc']:.4f} at epoch {best['epoch']})"


def read_metrics(run_dir) -> list[dict]:
    """The finished epochs of metrics.csv, read with bounds and checked (validate.read_metrics_csv): CheckpointError
    naming the file and line for anything cnnlab did not write; FileNotFoundError before the first epoch."""
    return read_metrics_csv(Path(run_dir) / METRICS, METRIC_FIELDS)


def write_config(run_dir, info: dict) -> None:
    atomic_write_text(Path(run_dir) / CONFIG, json.dumps(info, indent=2) + "\n")


def read_config(run_dir) -> dict:
    """config.json of a run, read with bounds and checked (validate.read_config_json): CheckpointError naming the
    file and field for anything cnnlab did not write; FileNotFoundError before training has written it."""
    return read_config_json(Path(run_dir) / CONFIG)


def read_run(run_dir) -> tuple[dict, list[dict]]:
    """config.json and the per-epoch metrics of a run directory; CheckpointError if it is not one."""
    run_dir = Path(run_dir)
    try:
        info = read_config(run_dir)
        history = read_metrics(run_dir)
    except FileNotFoundError as error:
        raise CheckpointError(f"{run_dir}: not a run directory with finished epochs "
                              f"(no {Path(error.filename).name})") from None
    except CheckpointError as error:  # its message starts with the file's path: name it within the run directory
        raise CheckpointError(f"{run_dir}: unreadable run files ({str(error).replace(f'{run_dir}/', '', 1)})") from None
    except OSError as error:
        raise CheckpointError(f"{run_dir}: unreadable run files ({error.strerror or error})") from None
    if not history:
        raise CheckpointError(f"{run_dir}: no finished epoch in metrics.csv yet")
    return info, history


# ---------------------------------------------------------------- the checkpoint payload
def checkpoint_payload(*, weights: dict, config: dict, classes, normalize, input_size: int, evaluation: Evaluation,
                       training: dict, version: str, in_channels: int = 1, network: dict | None = None) -> dict:
    """What last.pt and best.pt hold: enough to rebuild and evaluate the model (weights, config, classes,
    normalisation, input size and channels, evaluation) and, in `training` (TRAINING_STATE), to resume the run
    exactly. `network`: for the user's own network, what it was (cnnlab.network.UserNetwork.record: its label and
    import reference, for messages only; rebuilding it needs the user to pass it again)."""
    missing = [key for key in TRAINING_STATE if key not in training]
    if missing:
        raise ValueError(f"training state lacks {missing}")
    return {"schema": SCHEMA, "model": weights, "config": config, "classes": list(classes),
            "normalize": list(normalize), "input_size": input_size, "in_channels": in_channels,
            "evaluation": evaluation.to_dict(),
            **{key: training[key] for key in TRAINING_STATE}, "version": version,
            **({"network": network} if network else {})}


def save(run_dir, which: str, payload: dict) -> None:
    """Write the payload as RUN_DIR/best.pt or RUN_DIR/last.pt (atomically)."""
    save_checkpoint(Path(run_dir) / CHECKPOINTS[which], payload)


def load_checkpoint(path, map_location="cpu") -> dict:
    """The payload of a cnnlab checkpoint (weights only; a run directory: see checkpoint_path); any problem
    raises CheckpointError naming the file."""
    path = checkpoint_path(path)
    payload = read_torch_file(path, map_location)
    if not isinstance(payload, dict) or any(key not in payload for key in PAYLOAD_KEYS) \
            or not isinstance(payload["config"], dict) or not isinstance(payload["config"].get("model"), str):
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (no model weights, config and classes inside)")
    return check_payload(path, payload, SCHEMA)  # every field's type and range, naming the field


def load_model(path, map_location="cpu", model=None):
    """Rebuild the model a checkpoint was trained as, with its weights. Returns (model, checkpoint payload).
    A checkpoint of the user's own network needs `model`: the network again (an nn.Module, copied; a class or
    factory; or an import reference the user gave), never imported from what the checkpoint names."""
    from .models import create_model
    from .network import NeedsModelError, check_weights_fit, resolve_model, stored_network

    path = checkpoint_path(path)
    payload = load_checkpoint(path, map_location)
    name, classes = payload["config"]["model"], len(payload["classes"])
    record = stored_network(payload)
    if record["kind"] != "registered" or not (model is None or model == name):
        if model is None:
            raise NeedsModelError(path.parent if path.name in CHECKPOINTS.values() else path, record)
        network = resolve_model(model, classes, payload.get("in_channels", 1))
        check_weights_fit(network, payload["model"], path, record.get("label", name) if isinstance(model, str) else
                          type(network).__name__)
        network.load_state_dict(payload["model"])
        return network, payload
    try:
        model = create_model(name, num_classes=classes, in_channels=payload.get("in_channels", 1))
    except ConfigError as error:
        raise CheckpointError(f"{path}: trained as {error}; if it is your own network, pass it "
                              "(--model FILE.py:CALLABLE, or model= from Python)") from None
    problem = weights_mismatch(model, payload["model"])
    if problem:
        raise CheckpointError(f"{path}: weights do not fit model '{name}' with {classes} classes: {problem} "
                              "(a checkpoint of another model or class count, or of an older cnnlab's version of "
                              "this model?)")
    model.load_state_dict(payload["model"])
    return model, payload


def evaluation_of(payload: dict) -> Evaluation:
    recorded = payload.get("evaluation")
    if not isinstance(recorded, dict):
        return FLOAT32_EVALUATION
    known = {k: recorded[k] for k in ("precision", "tta", "batch_size", "channels_last") if k in recorded}
    return Evaluation(**known)


def load_resume_state(run_dir, model=None) -> tuple[Path, dict]:
    """last.pt of `run_dir`, checked to hold a model that fits its weights (see require_training_state). A run of
    the user's own network needs `model` (the trainer checks the fit when it builds the network)."""
    from .network import NeedsModelError, stored_network

    if not Path(run_dir).exists():
        raise no_such_run(run_dir)
    path = last_checkpoint(run_dir)
    payload = load_checkpoint(path)
    record = stored_network(payload)
    if record["kind"] == "registered" or model is None or isinstance(model, str):
        if record["kind"] != "registered" and model is None:
            raise NeedsModelError(run_dir, record, "train")
        _, payload = load_model(path, model=model)  # refuses weights that do not fit their model, naming the file
    return path, payload


def require_training_state(path, payload: dict) -> None:
    """CheckpointError unless the checkpoint holds what resuming needs (weights-only exports do not)."""
    missing = [key for key in RESUME_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: cannot resume from it: no {', '.join(missing)} inside")


# ---------------------------------------------------------------- moved to cnnlab.trained
_MOVED = {"TrainedModel": "TrainedNetwork", "load_trained": "load_trained", "from_module": "from_module"}


def __getattr__(name):
    """The trained-network type and its loading live in cnnlab.trained; the old names here still work."""
    if name not in _MOVED:
        raise AttributeError(f"module 'cnnlab.rundir' has no attribute '{name}'")
    import importlib
    import warnings

    warnings.warn(f"cnnlab.rundir.{name} is now cnnlab.trained.{_MOVED[name]}", DeprecationWarning, stacklevel=2)
    # looked up by name: an alias for old callers, not a dependency (cnnlab.trained builds on this module)
    return getattr(importlib.import_module(f"{__package__}.trained"), _MOVED[name])


__all__ = ["BEST", "CONFIG", "CURVES", "LAST", "METRICS", "METRIC_FIELDS", "RUN_FILES", "SCHEMA", "Evaluation",
           "checkpoint_path", "checkpoint_payload", "load_checkpoint", "load_model", "read_config", "read_metrics",
           "read_run", "write_config", "write_metrics"]
