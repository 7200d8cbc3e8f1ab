"""Run files written atomically (temporary file in the same directory, fsync, rename) and checkpoints loaded
safely (`torch.load(weights_only=True)`: a checkpoint can hold tensors and plain data, never code)."""
import io
import os
import pickle
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError, ConfigError

CHECKPOINT_FORMAT = 1  # bump when the checkpoint layout changes


def atomic_write_bytes(path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash at any moment leaves either the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(directory, names) -> list[Path]:
    """Delete the temporary files atomic_write_bytes left in `directory` for the files `names` when its process
    was killed mid-write (SIGKILL, power loss): their writer no longer runs. Returns the paths removed."""
    removed = []
    for tmp in (tmp for name in names for tmp in Path(directory).glob(f".{name}.tmp-*")):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
            continue
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
        except PermissionError:  # alive, another user's
            continue
    return removed


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive; cnnlab never wrote the legacy raw-pickle format
PAYLOAD_KEYS = ("model", "config", "classes", "normalize", "input_size")  # what rebuilding a model needs


def _check_archive(path: Path) -> None:
    """Refuse a file that is not a complete, intact PyTorch zip archive before anything is unpickled: every member
    carries a CRC-32, and torch.load does not check them, so a flipped byte in the weights would load silently."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    if head != ZIP_MAGIC:
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (not a PyTorch zip archive); "
                              "give a last.pt / best.pt written by cnnlab train")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({error}); use the run's other checkpoint "
                              "(last.pt / best.pt) or train again") from None
    if bad is not None:
        raise CheckpointError(f"{path}: corrupt checkpoint ({bad} fails its CRC-32 check); use the run's other "
                              "checkpoint (last.pt / best.pt) or train again")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a cnnlab checkpoint (weights only); any problem raises CheckpointError naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses anything but tensors and plain data: a file that tries more is not ours
        first = str(error).strip().splitlines()[0][:120]
        raise CheckpointError(f"{path}: refused to load: it holds more than tensors and plain data, e.g. code that "
                              f"would run on loading ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as error:
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({first})") from None
    if not isinstance(payload, dict) or any(key not in payload for key in PAYLOAD_KEYS) \
            or not isinstance(payload["config"], dict) or not isinstance(payload["config"].get("model"), str):
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (no model weights, config and classes inside)")
    if payload.get("format", CHECKPOINT_FORMAT) > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {payload['format']} is newer than this cnnlab reads "
                              f"({CHECKPOINT_FORMAT}); upgrade cnnlab")
    return payload


def weights_mismatch(model, state: dict) -> str | None:
    """How `state` fails to fit `model` (the first missing, unexpected or differently shaped tensor), or None."""
    own = model.state_dict()
    if not isinstance(state, dict):
        return f"weights are a {type(state).__name__}, not a dict of tensors"
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    for key in own:
        if key in state and (not isinstance(state[key], torch.Tensor) or state[key].shape != own[key].shape):
            shape = list(state[key].shape) if isinstance(state[key], torch.Tensor) else type(state[key]).__name__
            return f"'{key}' is {shape} in the checkpoint but {list(own[key].shape)} in the model"
    if missing or unexpected:
        parts = [f"{len(missing)} missing (first '{missing[0]}')"] if missing else []
        parts += [f"{len(unexpected)} unexpected (first '{unexpected[0]}')"] if unexpected else []
        return "tensors " + ", ".join(parts)
    return None


def load_model(path, map_location="cpu"):
    """Rebuild the model a checkpoint was trained as, with its weights. Returns (model, checkpoint payload)."""
    from .models import create_model

    payload = load_checkpoint(path, map_location)
    name, classes = payload["config"]["model"], len(payload["classes"])
    try:
        model = create_model(name, num_classes=classes, in_channels=payload.get("in_channels", 1))
    except ConfigError as error:
        raise CheckpointError(f"{path}: trained as {error}") from None
    problem = weights_mismatch(model, payload["model"])
    if problem:
        raise CheckpointError(f"{path}: weights do not fit model '{name}' with {classes} classes: {problem} "
                              "(a checkpoint of another model or class count?)")
    model.load_state_dict(payload["model"])
    return model, payload
