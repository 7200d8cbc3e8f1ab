"""What leaves the explorer's server: lines for the terminal without control characters, and messages for the
page without absolute paths (a request must learn nothing of the machine's layout, nor drive the terminal)."""
import os
import re
from pathlib import Path

from .loader import Source

_ROOTS = {entry for entry in os.listdir("/") if os.path.isdir("/" + entry)} if os.name == "posix" else set()
_ABSOLUTE = re.compile(r"(?<![\w.~-])/([^\s/'\":,()]+)((?:/[^\s/'\":,()]*)+)")


def printable(text: str) -> str:
    """`text` for the terminal: control and format characters (ESC, BEL, CR, bidi overrides, ...) written as
    Python's repr writes them, so nothing a request carries can retitle the window, move the cursor or clear
    the screen."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def public(message: str, sources: list[Source]) -> str:
    """`message` for a response: a source's files named as the user named them, the current directory and home
    left out, any other absolute path cut to its file name, so a page learns nothing of the machine's layout."""
    pairs = [(str(place) + os.sep, prefix) for place, prefix in ((Path.cwd(), ""), (Path.home(), "~/"))
             if place.parent != place]  # not when either is the root itself
    for s in sources:
        if s.kind == "checkpoint":
            pairs += [(str(s.path), s.label)] + ([(str(s.run_dir), s.run_dir.name)] if s.run_dir else [])
        elif s.kind == "file":
            pairs.append((str(s.path), s.label.rpartition(":")[0]))
    for path, name in sorted(pairs, key=lambda pair: -len(pair[0])):
        message = message.replace(path, name)
    return _ABSOLUTE.sub(lambda m: "…/" + m.group(2).rsplit("/", 1)[-1] if m.group(1) in _ROOTS else m.group(0),
                         message)
