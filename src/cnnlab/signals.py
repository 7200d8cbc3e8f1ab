"""SIGINT and SIGTERM as a request to stop: a flag the trainer reads at its safe points (between steps, after
an epoch's files are written, after the final outputs), never an exception in the middle of an update or a
file write. A second Ctrl-C (SIGINT) aborts at once. No torch here: the command line installs the flag before
it imports anything heavy, so a signal during start-up is seen too."""
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """`with StopFlag() as stop:` ... `stop.signame` is None until a signal arrives, then its name."""

    def __init__(self):
        self.signame = None
        self.previous = {}

    def __enter__(self):
        try:
            self.previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        except ValueError:  # not the main thread: leave signals alone
            self.previous = {}
        return self

    def _handle(self, signum, frame):
        if self.signame is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signame = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signame is not None

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def signal_number(signame: str | None) -> int:
    return signal.Signals[signame].value if signame else 0


def signal_name(number: int) -> str:
    return signal.Signals(number).name
