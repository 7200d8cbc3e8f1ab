"""Run files written atomically (temporary file in the same directory, fsync, rename) and checkpoints loaded
safely (`torch.load(weights_only=True)`: a checkpoint can hold tensors and plain data, never code)."""
import io
import os
import pickle
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError

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


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a cnnlab checkpoint (weights only); any problem raises CheckpointError naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses anything but tensors and plain data: a file that tries more is not ours
        first = str(error).strip().splitlines()[0][:200]
        raise CheckpointError(f"{path}: refused to load: not a plain-data checkpoint ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({first})") from None
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (no model weights and config inside)")
    return payload


def load_model(path, map_location="cpu"):
    """Rebuild the model a checkpoint was trained as, with its weights. Returns (model, checkpoint payload)."""
    from .models import create_model

    payload = load_checkpoint(path, map_location)
    config = payload["config"]
    model = create_model(config["model"], num_classes=len(payload["classes"]), in_channels=1)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit model '{config['model']}' with "
                              f"{len(payload['classes'])} classes ({first})") from None
    return model, payload
