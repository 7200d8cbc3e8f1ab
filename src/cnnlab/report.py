"""How a training run shows itself on the console: a tqdm bar per epoch (running loss, accuracy, images/s),
one line per epoch, and d2l's closing summary. The trainer calls these hooks; it never prints."""
import sys

from tqdm import tqdm


class ConsoleReporter:
    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.bar = None

    def start(self, info: dict, run_dir) -> None:
        c = info["config"]
        print(f"training {c['model']} on {c['dataset']} ({info['train_images']:,} train / {info['test_images']:,} test "
              f"images at {info['input_size']}x{info['input_size']}, from {info['dataset_source']})\n"
              f"{info['parameters']:,} parameters; {info['device']}, {info['precision']}, {info['threads']} threads"
              f"{', %d processes' % info['world_size'] if info['world_size'] > 1 else ''}; run directory {run_dir}",
              file=self.file)
        for notice in info.get("notices", ()):  # speed switches turned off for the user's own network
            print(f"note: {notice}", file=self.file)
        print(f"{'epoch':>5} {'train_loss':>10} {'train_acc':>9} {'test_loss':>9} {'test_acc':>8} {'img/s':>8} {'sec':>6}",
              file=self.file)

    def epoch_start(self, epoch: int, steps: int, done: int) -> None:
        self.bar = tqdm(total=steps, initial=done, desc=f"epoch {epoch}", leave=False, file=self.file,
                        dynamic_ncols=True, unit="batch")

    def step(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", img_s=f"{images_per_s:,.0f}", refresh=False)

    def epoch_end(self, row: dict) -> None:
        self.bar.close()
        print(f"{row['epoch']:>5} {row['train_loss']:>10.4f} {row['train_acc']:>9.4f} {row['test_loss']:>9.4f} "
              f"{row['test_acc']:>8.4f} {row['images_per_s']:>8,.0f} {row['seconds']:>6.1f}", file=self.file)

    def finish(self, history: list[dict], device: str) -> None:
        last = history[-1]
        seen = sum(r["images_per_s"] * r["seconds"] for r in history)
        seconds = sum(r["seconds"] for r in history)
        # d2l's train_ch6 summary lines
        print(f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, test acc {last['test_acc']:.3f}",
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
