"""`cnnlab train --tensorboard`: the run logged through torch.utils.tensorboard into RUN/tensorboard: losses,
accuracies and the learning rate per epoch, a grid of test predictions per epoch, and the model graph.
View it with `tensorboard --logdir RUN/tensorboard`. Needs the optional extra cnnlab[tensorboard]."""
import math
import warnings

import torch

from .errors import ConfigError

GRID = 16  # test images in the prediction grid
INSTALL = "--tensorboard needs the tensorboard package: pip install 'cnnlab[tensorboard]'"


def summary_writer_class():
    """torch.utils.tensorboard.SummaryWriter, or ConfigError saying how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard imports the tensorboard package
        raise ConfigError(INSTALL) from None
    return SummaryWriter


class Board:
    """Writes one run's TensorBoard events; the trainer calls epoch_end after each epoch."""

    def __init__(self, log_dir, net, example: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
                 pixels: torch.Tensor, classes, start_epoch: int = 1):
        self.writer = summary_writer_class()(log_dir=str(log_dir), purge_step=start_epoch)
        self.images, self.labels, self.pixels, self.classes = images, labels, pixels, tuple(classes)
        if start_epoch == 1:
            self._graph(net, example)
        self.writer.flush()

    def _graph(self, net, example):
        was_training = net.training
        try:
            net.eval()
            with warnings.catch_warnings():  # add_graph traces with torch.jit, which warns of its deprecation
                warnings.simplefilter("ignore")
                self.writer.add_graph(net, example)
        except Exception as error:  # tracing is best effort: some models cannot be traced; the scalars still are
            self.writer.add_text("graph", f"model graph not traced: {type(error).__name__}: {error}")
        finally:
            net.train(was_training)

    def epoch_end(self, run, row: dict) -> None:
        epoch = row["epoch"]
        for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
            if row[key] is not None:  # --test-every: no test figures for this epoch
                what, part = key.split("_")
                self.writer.add_scalar(f"{'accuracy' if part == 'acc' else 'loss'}/{what}", row[key], epoch)
        self.writer.add_scalar("lr", row["lr"], epoch)
        self.writer.add_scalar("images_per_s", row["images_per_s"], epoch)
        self.writer.add_figure("predictions", self._predictions(run.net), epoch)
        self.writer.flush()

    def _predictions(self, net):
        """A matplotlib Figure (no pyplot: the user's backend is left alone) of the grid images, each titled
        with its predicted class and probability, green when right and red when wrong."""
        from matplotlib.figure import Figure

        was_training = net.training
        net.eval()
        with torch.no_grad():
            probs = net(self.images).float().softmax(1).cpu()
        net.train(was_training)
        n = len(self.labels)
        cols = min(8, n)
        fig = Figure(figsize=(1.4 * cols, 1.6 * math.ceil(n / cols)))
        for i in range(n):
            ax = fig.add_subplot(math.ceil(n / cols), cols, i + 1)
            image = self.pixels[i]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
            k = int(probs[i].argmax())
            ax.set_title(f"{self.classes[k][:10]} {probs[i, k]:.0%}", fontsize=7,
                         color="green" if k == int(self.labels[i]) else "red")
            ax.axis("off")
        fig.tight_layout()
        return fig

    def close(self) -> None:
        self.writer.close()


def open_board(run) -> Board:
    """A Board for a trainer.Run, logging into RUN/tensorboard; the grid shows the first GRID test images."""
    from .data import display_images

    batches = run.test_batches
    count = min(GRID, batches.n)
    images = batches.transform(batches.images[:count])
    pixels = display_images(batches.images[:count])
    return Board(run.run_dir / "tensorboard", run.net, images[:1], images, batches.labels[:count].cpu(), pixels,
                 run.classes, start_epoch=run.epoch)
