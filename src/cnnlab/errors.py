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


FIRST_LINE_LIMIT = 300  # characters of a quoted exception: a torch error can run to pages, a message is one line


def first_line(error: BaseException) -> str:
    """How a one-line message quotes an exception raised by torch, the user's code or the OS: the first line of
    its message (its type's name when the message is empty), cut to FIRST_LINE_LIMIT characters."""
    lines = str(error).strip().splitlines()
    text = lines[0].strip() if lines else type(error).__name__
    return text if len(text) <= FIRST_LINE_LIMIT else text[:FIRST_LINE_LIMIT - 3] + "..."


def closest(name: str, choices, n: int = 3, cutoff: float = 0.5) -> list[str]:
    """The entries of `choices` closest to `name` (difflib), best first: the one suggestion rule of cnnlab,
    for unknown names, unknown options of a command and unknown keywords of the Python API."""
    return difflib.get_close_matches(name, sorted(choices), n=n, cutoff=cutoff)


def unknown_name(kind: str, name: str, choices) -> ConfigError:
    """ConfigError for an unknown `name`, suggesting the closest of `choices`."""
    choices = sorted(choices)
    close = closest(name, choices)
    hint = f"did you mean {', '.join(close)}?" if close else f"choose from: {', '.join(choices)}"
    return ConfigError(f"unknown {kind} '{name}': {hint}")


class ExportError(CnnlabError):
    """An exported model cannot be written, or does not run or agree with PyTorch (see export.py)."""


def unknown_option(option: str, options, synonyms: dict | None = None) -> str:
    """'unknown option X: did you mean Y?' for a command's `options` (spelled as given, e.g. "--epochs" or
    "epochs"). `synonyms` maps names other commands or tools use for the same idea to this command's."""
    key = option.split("=", 1)[0]
    close = [synonyms[key]] if synonyms and key in synonyms else closest(key, options, n=2, cutoff=0.6)
    return f"unknown option {key}" + (f": did you mean {' or '.join(close)}?" if close else "")
