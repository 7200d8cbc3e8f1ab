"""Jupyter, detected in one place: a live figure and a one-line progress display, each one output of the cell
updated in place (IPython display handles), so the cell's other output stays. Nothing here touches pyplot or the
matplotlib backend: figures are matplotlib.figure.Figure objects rendered to PNG bytes by us."""
import io
import sys
import time


def in_notebook() -> bool:
    """True inside a Jupyter kernel (ipykernel), where rich output can be displayed and updated; False in a
    terminal, a script or plain IPython."""
    if "IPython" not in sys.modules:  # a kernel always has IPython loaded; never import it just to ask
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as PNG, drawn with Agg whatever the backend (savefig on a pyplot-free Figure)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class LiveFigure:
    """One figure output in the cell, replaced in place by each update()."""

    def __init__(self, fig):
        from IPython.display import Image, display

        self.fig = fig
        self.handle = display(Image(data=png_bytes(fig)), display_id=True)

    def update(self) -> None:
        from IPython.display import Image

        self.handle.update(Image(data=png_bytes(self.fig)))


class Progress:
    """One line of text in the cell, rewritten in place at most every `interval` seconds (a display update is
    a message to the browser: thousands per epoch would cost more than the training steps)."""

    def __init__(self, text: str = "", interval: float = 0.5):
        from IPython.display import Pretty, display

        self.interval, self.shown = interval, time.monotonic()
        self.handle = display(Pretty(text), display_id=True)

    def update(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.shown >= self.interval:
            from IPython.display import Pretty

            self.handle.update(Pretty(text))
            self.shown = now


def bar(done: int, total: int, width: int = 20) -> str:
    """A text progress bar: '[#########...........]  45/100'."""
    filled = round(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total}"
