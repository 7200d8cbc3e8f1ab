"""How a training run shows itself: on a console a tqdm bar per epoch (running loss, accuracy, images/s), one
line per epoch and d2l's closing summary, all on standard output (Jupyter shows standard error in red, as if it
were an error); in Jupyter the same lines, a one-line progress display and one live figure of the curves, each
updated in place. The trainer calls these hooks; it never prints."""
import sys

from tqdm import tqdm

from .config import OWN_NETWORK_FAMILY, own_network_defaults
from .hints import likely_causes
from .notebook import LiveFigure, Progress, bar, in_notebook
from .rundir import last_tested


def openmp_note(threads: int) -> str | None:
    """A line for runs whose OpenMP threads keep libgomp's long spin-wait (torch imported before cnnlab, nothing
    set by the user, and the short spin could not be had after the fact; see cnnlab/openmp.py), else None."""
    from .openmp import spin_shortened, user_set_wait_policy

    if threads < 2 or user_set_wait_policy() or spin_shortened():
        return None
    return ("note: torch was imported before cnnlab, so OpenMP's threads spin-wait at full length, which makes "
            "training several times slower on a shared CPU; import cnnlab before torch (restart the kernel first "
            "in a notebook) or set GOMP_SPINCOUNT=10000 before importing torch")


def default_reporter():
    """NotebookReporter in a Jupyter kernel, else ConsoleReporter."""
    return NotebookReporter() if in_notebook() else ConsoleReporter()


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def optimizer_words(c: dict) -> str:
    """`sgd lr 0.01 momentum 0.5, no schedule`: what decides each step, as the run's header says it."""
    words = f"{c['optimizer']} lr {c['lr']:g}"
    if c["optimizer"] == "sgd" and c["momentum"]:
        words += f" momentum {c['momentum']:g}" + (" nesterov" if c["nesterov"] else "")
    if c["weight_decay"]:
        words += f" weight decay {c['weight_decay']:g}"
    return words + (", no schedule" if c["schedule"] == "none" else f", {c['schedule']} schedule")


def header(info: dict, run_dir, notes=()) -> list[str]:
    """The run's first lines: what trains on what, where it starts, on what arithmetic (device, threads,
    precision); the data; the optimizer; then notes. A resumed run says where it resumes."""
    c, start = info["config"], info.get("start", {})
    where = ""
    if start.get("resumed"):
        where = f", resuming at epoch {start['epoch']}, step {start['step']} of {start['steps']}"
    processes = f", {info['world_size']} processes" if info["world_size"] > 1 else ""
    threads = f", {plural(info['threads'], 'thread')}" if info["device"] == "cpu" else ""
    lines = [f"training {c['model']} on {c['dataset']}{where}: {info['device']}{threads}, {info['precision']}"
             f"{processes}",
             f"{info['train_images']:,} train / {info['test_images']:,} test images at {info['input_size']}x"
             f"{info['input_size']} (from {info['dataset_source']}); {info['parameters']:,} parameters",
             f"{optimizer_words(c)}, batch {c['batch_size']}, {plural(c['epochs'], 'epoch')}; run directory {run_dir}"]
    if "network" in info and c.get("recipe") is None and own_network_defaults(c):
        lines.append(f"note: your own network trains with the defaults of the '{OWN_NETWORK_FAMILY}' family "
                     f"({optimizer_words(c).split(',')[0]}); --optimizer, --lr and --momentum choose others")
    note = openmp_note(info["threads"]) if info["device"] == "cpu" else None
    more = [info["precision_note"]] if info.get("precision_note") else []
    lines += [f"note: {n}" for n in (*notes, *more, *([note] if note else []), *info.get("notices", ()))]
    return lines


class ConsoleReporter:
    """`notes`: lines the caller adds to the header (e.g. why fewer threads than cores were taken)."""

    def __init__(self, file=None, notes=()):
        self.file = file or sys.stdout
        self.bar = None
        self.notes = tuple(notes)

    def start(self, info: dict, run_dir) -> None:
        self.info, self.hinted = info, False
        for line in header(info, run_dir, self.notes):
            print(line, file=self.file)
        print(f"{'epoch':>5} {'train_loss':>10} {'train_acc':>9} {'test_loss':>9} {'test_acc':>8} {'img/s':>8} "
              f"{'sec':>6}",
              file=self.file)

    def epoch_start(self, epoch: int, steps: int, done: int) -> None:
        self.bar = tqdm(total=steps, initial=done, desc=f"epoch {epoch}", leave=False, file=self.file,
                        dynamic_ncols=True, unit="batch")

    def step(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", img_s=f"{images_per_s:,.0f}", refresh=False)

    def epoch_end(self, row: dict) -> None:
        self.bar.close()
        self.line(row)

    def line(self, row: dict) -> None:
        untested = row["test_acc"] is None  # --test-every: no test pass after this epoch
        test = f"{'-':>9} {'-':>8}" if untested else f"{row['test_loss']:>9.4f} {row['test_acc']:>8.4f}"
        print(f"{row['epoch']:>5} {row['train_loss']:>10.4f} {row['train_acc']:>9.4f} {test} "
              f"{row['images_per_s']:>8,.0f} {row['seconds']:>6.1f}", file=self.file)
        hint = None if self.hinted else likely_causes(self.info, row)
        if hint:  # once per run: the first epoch that looks wrong
            print(f"hint: {hint}", file=self.file)
            self.hinted = True

    def finish(self, history: list[dict], device: str) -> None:
        last, tested = history[-1], last_tested(history)  # the last epoch is always tested
        seen = sum(r["images_per_s"] * r["seconds"] for r in history)
        seconds = sum(r["seconds"] for r in history)
        # d2l's train_ch6 summary lines
        print(f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, test acc {tested['test_acc']:.3f}",
              file=self.file)
        print(f"{seen / seconds:.1f} examples/sec on {device}", file=self.file)


class NullReporter:
    """Shows nothing: what the trainer uses without a reporter, and on every rank but 0."""

    def start(self, info: dict, run_dir) -> None:
        pass

    def epoch_start(self, epoch: int, steps: int, done: int) -> None:
        pass

    def step(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        pass

    def epoch_end(self, row: dict) -> None:
        pass

    def finish(self, history: list[dict], device: str) -> None:
        pass


class NotebookReporter(ConsoleReporter):
    """Jupyter: the console's header, epoch lines and summary as text; instead of tqdm's bar one progress line,
    and one figure of loss and accuracy redrawn in place after each epoch (the cell's other output stays)."""

    def start(self, info: dict, run_dir) -> None:
        super().start(info, run_dir)
        self.epochs = info["config"]["epochs"]
        self.title = info["config"]["model"]
        self.progress, self.live, self.fig, self.history = Progress("starting"), None, None, []

    def epoch_start(self, epoch: int, steps: int, done: int) -> None:
        self.epoch, self.steps = epoch, steps
        self.progress.update(f"epoch {epoch}/{self.epochs} {bar(done, steps)}", force=True)

    def step(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        self.progress.update(f"epoch {self.epoch}/{self.epochs} {bar(step, self.steps)} loss {loss:.3f}, "
                             f"acc {acc:.3f}, {images_per_s:,.0f} img/s")

    def epoch_end(self, row: dict) -> None:
        self.line(row)
        test = "" if row["test_acc"] is None else f": test acc {row['test_acc']:.4f}"
        self.progress.update(f"epoch {row['epoch']}/{self.epochs} done{test}", force=True)
        self.history.append(row)
        self.draw()

    def draw(self) -> None:
        from .plots import draw_curves, figure

        if self.fig is None:
            self.fig = figure(figsize=(9, 3.4))
        self.fig.clear()
        draw_curves(self.fig, {self.title: self.history})
        if self.live is None:
            self.live = LiveFigure(self.fig)
        else:
            self.live.update()

    def finish(self, history: list[dict], device: str) -> None:
        self.progress.update(f"done: {len(history)} epochs, test acc {last_tested(history)['test_acc']:.4f}",
                             force=True)
        super().finish(history, device)
