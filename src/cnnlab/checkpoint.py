"""Files written atomically (temporary file in the same directory, fsync, rename) and PyTorch files read
safely (`torch.load(weights_only=True)`: a checkpoint can hold tensors and plain data, never code). What a
checkpoint holds, and the run directory around it, belong to cnnlab.rundir."""
import errno
import io
import os
import pickle
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError, first_line


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
    except OSError as error:  # the old file, if any, is untouched: only the temporary file was written
        raise _write_error(path, error) from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _write_error(path: Path, error: OSError) -> CheckpointError:
    """One line for a file that could not be written: where, why, and that the earlier version is intact."""
    kept = f"; the earlier {path.name} there is intact" if path.exists() else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return CheckpointError(f"{path}: cannot save it: the disk is full (no space left in {path.parent}){kept}; "
                               f"free some space, then resume (cnnlab train --resume {path.parent})")
    return CheckpointError(f"{path}: cannot save it: {error.strerror or error}{kept}")


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
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive; cnnlab never wrote the legacy raw-pickle format


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


def read_torch_file(path, map_location="cpu"):
    """The contents of a file torch.save wrote, refusing code; any problem raises CheckpointError naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _check_archive(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses anything but tensors and plain data: a file that tries more is not ours
        first = first_line(error)
        raise CheckpointError(f"{path}: refused to load: it holds more than tensors and plain data, e.g. code that "
                              f"would run on loading ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as error:
        first = first_line(error)
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({first})") from None


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
