"""Every value cnnlab reads back from a run's files, checked against its type and a sane range before it is used:
a checkpoint's payload, config.json and metrics.csv are input like any other (issue 25). A damaged or crafted
file gives one CheckpointError naming the file and the field, never a traceback, a call chosen by the file
(`getattr(torch, precision)`) or an allocation sized by it (`input_size=5000` would ask for 25 GB)."""
import csv
import io
import json
import math
import os
import stat
import types
import typing
from dataclasses import fields
from pathlib import Path

from .config import MAX_INPUT_SIZE, MAX_SEED
from .errors import CheckpointError

MAX_CLASSES = 10_000  # the classifier's last layer is built from the class count before any weight is checked
CHANNELS = (1, 3)  # images are grey or colour
MAX_EVAL_BATCH = 4096  # images per evaluation batch (cnnlab records 256)
MAX_COUNT = 10**9  # images, limits, steps: far beyond any data set cnnlab reads
MAX_EPOCHS = 10**6
MAX_TEXT = 4096  # characters in a name, a path or a class
MAX_CONFIG_BYTES = 1 << 20  # config.json is about 2 KB
MAX_METRICS_BYTES = 8 << 20  # metrics.csv: about 80 bytes per epoch, so 100,000 epochs fit
MAX_METRICS_LINE = 1024  # characters in one line of metrics.csv (a row is under 100)
UNTESTED = ("test_loss", "test_acc")  # empty in metrics.csv for an epoch without a test pass (--test-every)


def _shown(value) -> str:
    """A short description of a bad value: never a whole container (a crafted one can be huge or deep)."""
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value):,} items"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"a tensor of shape {list(value.shape)}"
    text = repr(value)
    return (text if len(text) <= 40 else text[:37] + "...") + f" ({type(value).__name__})"


def _fail(where, field: str, value, wanted: str):
    raise CheckpointError(f"{where}: {field} is {_shown(value)}, expected {wanted}: not as cnnlab writes it "
                          "(a damaged or crafted file)")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(where, field, value, low, high, optional=False):
    if optional and value is None:
        return value
    if not _is_int(value) or not low <= value <= high:
        _fail(where, field, value, f"an integer from {low:,} to {high:,}" + (" or null" if optional else ""))
    return value


def number(where, field, value, low=-math.inf, high=math.inf, optional=False, above_low=False, nan=False):
    """A finite int or float in [low, high] ((low, high] with above_low); `nan` admits NaN (a diverged loss)."""
    if optional and value is None:
        return value
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and ((nan and math.isnan(value)) or (math.isfinite(value) and low <= value <= high
                                               and not (above_low and value == low))))
    if not ok:
        bounds = f" {'above' if above_low else 'from'} {low:g}" if low > -math.inf else ""
        bounds += f" {'to' if bounds else 'up to'} {high:g}" if high < math.inf else ""
        _fail(where, field, value, f"a finite number{bounds}" + (" or null" if optional else ""))
    return value


def boolean(where, field, value):
    if not isinstance(value, bool):
        _fail(where, field, value, "true or false")
    return value


def text(where, field, value, choices=None, optional=False):
    if optional and value is None:
        return value
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT or "\0" in value:
        _fail(where, field, value, f"a string of 1 to {MAX_TEXT:,} characters" + (" or null" if optional else ""))
    if choices is not None and value not in choices:
        _fail(where, field, value, "one of " + ", ".join(choices))
    return value


def mapping(where, field, value, optional=False):
    if optional and value is None:
        return value
    if not isinstance(value, dict):
        _fail(where, field, value, "an object (a dict)" + (" or null" if optional else ""))
    return value


# ---------------------------------------------------------------- the training settings (TrainConfig)
RANGES = {  # TrainConfig's numeric fields: (low, high); TrainConfig.validate gives the same lower bounds
    "epochs": (1, MAX_EPOCHS), "batch_size": (1, MAX_COUNT), "hard_from": (1, MAX_EPOCHS), "seed": (0, MAX_SEED),
    "test_every": (0, MAX_EPOCHS),
    "threads": (1, 65_536), "train_limit": (1, MAX_COUNT), "test_limit": (1, MAX_COUNT),
    "resize": (1, MAX_INPUT_SIZE), "image_size": (1, MAX_INPUT_SIZE),
    "momentum": (0, math.inf), "weight_decay": (0, math.inf), "label_smoothing": (0, 1), "hard_fraction": (0, 1),
    "test_split": (0, 1), "save_minutes": (0, math.inf),
}
ABOVE_LOW = ("hard_fraction", "test_split")  # a fraction of the images: zero means none


def check_config(where, config, field="config") -> dict:
    """A run's settings as a checkpoint or config.json records them (TrainConfig.to_dict()): every field
    TrainConfig knows must have its type, choices and range; "model" (a registered name or the label of the
    user's own network) and "dataset" must be there. Fields from another cnnlab version are left to --resume."""
    from .config import TrainConfig

    mapping(where, field, config)
    for name in ("model", "dataset"):
        text(where, f"{field}.{name}", config.get(name))
    for f in fields(TrainConfig):
        if f.name not in config or f.name in ("model", "dataset"):
            continue
        value, name = config[f.name], f"{field}.{f.name}"
        kinds = typing.get_args(f.type) if isinstance(f.type, types.UnionType) else (f.type,)
        optional = type(None) in kinds
        if f.name == "lr":
            if value != "find":
                number(where, name, value, 0, math.inf, above_low=True)
        elif bool in kinds:
            boolean(where, name, value)
        elif int in kinds:  # a count unless RANGES says otherwise (a test checks each has an entry)
            integer(where, name, value, *RANGES.get(f.name, (0, MAX_COUNT)), optional=optional)
        elif float in kinds:
            low, high = RANGES.get(f.name, (-math.inf, math.inf))
            number(where, name, value, low, high, optional=optional, above_low=f.name in ABOVE_LOW)
        elif str in kinds:
            text(where, name, value, choices=f.metadata.get("choices"), optional=optional)
    if config.get("label_smoothing") == 1:
        _fail(where, f"{field}.label_smoothing", 1, "a number from 0 to below 1")
    return config


def check_classes(where, classes, field="classes") -> list:
    if not isinstance(classes, (list, tuple)) or not 2 <= len(classes) <= MAX_CLASSES:
        _fail(where, field, classes, f"a list of 2 to {MAX_CLASSES:,} class names")
    for k, name in enumerate(classes):
        text(where, f"{field}[{k}]", name)
    return classes


# ---------------------------------------------------------------- the checkpoint payload
def check_normalize(where, normalize, channels: int):
    """(mean, std) of the training transform: numbers, or one per channel; a std above zero."""
    if not isinstance(normalize, (list, tuple)) or len(normalize) != 2:
        _fail(where, "normalize", normalize, "[mean, std]")
    for name, value, low in (("mean", normalize[0], -math.inf), ("std", normalize[1], 0)):
        values = value if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and len(value) != channels:
            _fail(where, f"normalize {name}", value, f"a number or {channels} numbers (one per channel)")
        for v in values:
            number(where, f"normalize {name}", v, low, 1e6, above_low=low == 0)


def check_evaluation(where, evaluation):
    """The `evaluation` record (rundir.Evaluation): absent in schema 1."""
    from .evaluate import AUTOCAST  # the recorded precisions: an allow-list, never getattr(torch, name)

    if evaluation is None:
        return
    mapping(where, "evaluation", evaluation)
    if "precision" in evaluation:
        text(where, "evaluation.precision", evaluation["precision"], choices=tuple(AUTOCAST))
    for name in ("tta", "channels_last"):
        if name in evaluation:
            boolean(where, f"evaluation.{name}", evaluation[name])
    if "batch_size" in evaluation:
        integer(where, "evaluation.batch_size", evaluation["batch_size"], 1, MAX_EVAL_BATCH)


def check_history_row(where, field, row) -> dict:
    """One finished epoch, as metrics.csv and a checkpoint's history hold it (rundir.METRIC_FIELDS); an epoch
    without a test pass (--test-every) has neither test figure."""
    mapping(where, field, row)
    integer(where, f"{field} epoch", row.get("epoch"), 1, MAX_EPOCHS)
    untested = row.get("test_loss") is None and row.get("test_acc") is None
    number(where, f"{field} train_loss", row.get("train_loss"), 0, math.inf, nan=True)
    number(where, f"{field} test_loss", row.get("test_loss"), 0, math.inf, nan=True, optional=untested)
    number(where, f"{field} train_acc", row.get("train_acc"), 0, 1)
    number(where, f"{field} test_acc", row.get("test_acc"), 0, 1, optional=untested)
    number(where, f"{field} lr", row.get("lr"), 0, math.inf)
    for name in ("seconds", "images_per_s"):
        number(where, f"{field} {name}", row.get(name), 0, math.inf)
    return row


def check_training_state(where, payload: dict):
    """What resuming reads, where present (a weights-only export has none of it: rundir.require_training_state)."""
    import torch

    if "epoch" in payload:
        integer(where, "epoch", payload["epoch"], 1, MAX_EPOCHS + 1)  # the epoch in progress: epochs + 1 at the end
    if "step" in payload:
        integer(where, "step", payload["step"], 0, MAX_COUNT)
    for name in ("optimizer", "partial", "rng"):
        if name in payload:
            mapping(where, name, payload[name])
    for name in ("schedule", "scaler", "hard_examples"):
        if name in payload:
            mapping(where, name, payload[name], optional=True)
    if "rng" in payload:
        state = payload["rng"].get("torch")
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.dim() != 1:
            _fail(where, "rng.torch", state, "the uint8 tensor of torch.get_rng_state()")
    if "history" in payload:
        history = payload["history"]
        if not isinstance(history, list) or len(history) > MAX_EPOCHS:
            _fail(where, "history", history, "a list of finished epochs")
        for k, row in enumerate(history):
            check_history_row(where, f"history[{k}]", row)


def check_payload(path, payload: dict, newest_schema: int) -> dict:
    """Every field of a checkpoint payload (rundir.checkpoint_payload); CheckpointError naming `path` and the field."""
    import torch

    schema = payload.get("schema", payload.get("format", 1))  # schema 1 called it "format"
    integer(path, "schema", schema, 1, 10**6)
    if schema > newest_schema:
        raise CheckpointError(f"{path}: checkpoint schema {schema} is newer than this cnnlab reads ({newest_schema}); "
                              "upgrade cnnlab")
    weights = payload["model"]
    mapping(path, "model (the weights)", weights)
    for key, value in weights.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            _fail(path, f"weight {str(key)[:40]!r}", value, "a tensor named by a string")
    check_config(path, payload["config"])
    check_classes(path, payload["classes"])
    channels = payload.get("in_channels", 1)
    if not _is_int(channels) or channels not in CHANNELS:
        _fail(path, "in_channels", channels, "1 (grey) or 3 (colour)")
    check_normalize(path, payload["normalize"], channels)
    integer(path, "input_size", payload["input_size"], 1, MAX_INPUT_SIZE)
    check_evaluation(path, payload.get("evaluation"))
    check_training_state(path, payload)
    if "version" in payload:
        text(path, "version", payload["version"])
    if "network" in payload:
        mapping(path, "network", payload["network"])
        for name in ("kind", "label", "reference"):
            if payload["network"].get(name) is not None:
                text(path, f"network.{name}", payload["network"][name])
    return payload


# ---------------------------------------------------------------- config.json and metrics.csv
def _open_regular(path: Path, limit: int):
    """`path` opened for reading after checking that it is a regular file of at most `limit` bytes: a link to
    /dev/zero or a FIFO would be read without end. FileNotFoundError when it is absent."""
    f = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")  # a FIFO would block a plain open until written
    try:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file (a device, pipe or the like); a run's files are "
                                  "plain files written by cnnlab train")
        if info.st_size > limit:
            raise CheckpointError(f"{path}: {info.st_size:,} bytes, more than a run's {path.name} ever holds "
                                  f"({limit:,}): not a file cnnlab wrote")
    except BaseException:
        f.close()
        raise
    return f


def read_config_json(path) -> dict:
    """config.json of a run, checked (see check_info); FileNotFoundError when it is absent."""
    path = Path(path)
    with _open_regular(path, MAX_CONFIG_BYTES) as f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    try:
        info = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise CheckpointError(f"{path}: JSON nested too deeply: not a config.json cnnlab wrote") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({str(error)[:100]})") from None
    return check_info(path, info)


def check_info(path, info) -> dict:
    """What config.json records (trainer.run_info): the settings, the classes and the counts the views read."""
    if not isinstance(info, dict):
        _fail(path, "the top level", info, "an object (a dict)")
    check_config(path, info.get("config"))
    check_classes(path, info.get("classes"))
    integer(path, "input_size", info.get("input_size"), 1, MAX_INPUT_SIZE)
    channels = info.get("in_channels", 1)
    if not _is_int(channels) or channels not in CHANNELS:
        _fail(path, "in_channels", channels, "1 (grey) or 3 (colour)")
    for name in ("train_images", "test_images", "parameters"):
        integer(path, name, info.get(name), 0, MAX_COUNT)
    if "mult_adds" in info:
        integer(path, "mult_adds", info["mult_adds"], 0, 10**18, optional=True)
    return info


def read_metrics_csv(path, metric_fields: tuple) -> list[dict]:
    """The rows of metrics.csv, bounded (a regular file, at most MAX_METRICS_BYTES, lines of at most
    MAX_METRICS_LINE characters) and checked: the header is `metric_fields` and every row has each of them, in
    range. FileNotFoundError when it is absent; CheckpointError naming the line otherwise."""
    path = Path(path)
    with _open_regular(path, MAX_METRICS_BYTES) as f:
        data = f.read(MAX_METRICS_BYTES + 1)
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not text (UTF-8): not a metrics.csv cnnlab wrote") from None
    long = next((k for k, line in enumerate(lines, 1) if len(line) > MAX_METRICS_LINE), None)
    if long is not None:
        raise CheckpointError(f"{path}: line {long} has {len(lines[long - 1]):,} characters, more than a row of "
                              f"metrics ever holds ({MAX_METRICS_LINE:,})")
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if not rows:
        raise CheckpointError(f"{path}: empty file: no header ({','.join(metric_fields)})")
    if tuple(rows[0]) != tuple(metric_fields):
        raise CheckpointError(f"{path}: line 1: the header is {','.join(rows[0])[:80]!r}, expected "
                              f"{','.join(metric_fields)!r}")
    history = []
    for number_, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != len(metric_fields):
            raise CheckpointError(f"{path}: line {number_} has {len(row)} fields, expected {len(metric_fields)} "
                                  f"({','.join(metric_fields)})")
        fields = dict(zip(metric_fields, row))
        untested = all(fields.get(k) == "" for k in UNTESTED)  # both empty: an epoch without a test pass
        try:
            values = {k: (int(v) if k == "epoch" else None if untested and k in UNTESTED else float(v))
                      for k, v in fields.items()}
        except ValueError:
            bad = next(k for k, v in fields.items()
                       if not (untested and k in UNTESTED) and not _parses(v, k == "epoch"))
            raise CheckpointError(f"{path}: line {number_}: {bad} is {fields[bad][:40]!r}, "
                                  f"expected {'an integer' if bad == 'epoch' else 'a number'}") from None
        history.append(check_history_row(path, f"line {number_}:", values))
    return history


def _parses(value: str, whole: bool) -> bool:
    try:
        int(value) if whole else float(value)
        return True
    except ValueError:
        return False
