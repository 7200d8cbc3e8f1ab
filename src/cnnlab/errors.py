"""cnnlab's exceptions: one type per domain, each message naming the input, the problem and the fix.

The command line turns any CnnlabError into one line on stderr and exit status 2.
"""
import difflib


class CnnlabError(Exception):
    """Base class: an error the user can act on (bad input, bad option), not a bug."""


class DatasetError(CnnlabError):
    """A data file is missing, truncated or malformed, or a data set cannot be found."""


class ConfigError(CnnlabError):
    """An unknown name or an invalid option value."""


class CheckpointError(CnnlabError):
    """A checkpoint file is unreadable, corrupt, or belongs to another model."""


class ImageError(CnnlabError):
    """An input image for prediction cannot be read."""


def unknown_name(kind: str, name: str, choices) -> ConfigError:
    """ConfigError for an unknown `name`, suggesting the closest of `choices`."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"choose from: {', '.join(choices)}"
    return ConfigError(f"unknown {kind} '{name}': {hint}")


class ExportError(CnnlabError):
    """An exported model cannot be written, or does not run or agree with PyTorch (see export.py)."""
