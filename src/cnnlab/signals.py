"""SIGINT and SIGTERM as a request to stop: a flag the trainer reads at its safe points (between steps, after
an epoch's files are written, after the final outputs), never an exception in the middle of an update or a
file write. A second Ctrl-C (SIGINT) aborts at once. No torch here: the command line installs the flag before
it imports anything heavy, so a signal during start-up is seen too. A server's loop, which has no such safe
points, uses Interrupt instead: both signals raise KeyboardInterrupt there."""
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Handled:
    """Installs `_handle` for SIGINT and SIGTERM inside a `with` block, whatever the process inherited (a
    script's background job starts with SIGINT ignored), and restores the previous handlers after."""

    def __enter__(self):
        try:
            self.previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        except ValueError:  # not the main thread: leave signals alone
            self.previous = {}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


class Interrupt(_Handled):
    """`with Interrupt():` ... SIGINT (Ctrl-C) and SIGTERM (`kill`) raise KeyboardInterrupt."""

    def _handle(self, signum, frame):
        raise KeyboardInterrupt


class StopFlag(_Handled):
    """`with StopFlag() as stop:` ... `stop.signame` is None until a signal arrives, then its name."""

    def __init__(self):
        self.signame = None

    def _handle(self, signum, frame):
        if self.signame is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signame = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signame is not None


def signal_number(signame: str | None) -> int:
    return signal.Signals[signame].value if signame else 0


def signal_name(number: int) -> str:
    return signal.Signals(number).name
