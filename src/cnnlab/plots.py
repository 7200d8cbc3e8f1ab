"""Pictures drawn from training histories and run directories (headless matplotlib, PNG)."""
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    return plt


def plot_curves(histories: dict, path) -> Path:
    """Loss and accuracy against epoch for one or more runs ({label: per-epoch rows}); returns the PNG path."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (label, rows) in enumerate(histories.items()):
        epochs = [r["epoch"] for r in rows]
        color = f"C{i % 10}"
        prefix = f"{label} " if len(histories) > 1 else ""
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], "-o", color=color, ms=3, label=f"{prefix}train")
        ax_loss.plot(epochs, [r["test_loss"] for r in rows], "--s", color=color, ms=3, label=f"{prefix}test")
        ax_acc.plot(epochs, [r["train_acc"] for r in rows], "-o", color=color, ms=3, label=f"{prefix}train")
        ax_acc.plot(epochs, [r["test_acc"] for r in rows], "--s", color=color, ms=3, label=f"{prefix}test")
    for ax, name in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    title = next(iter(histories)) if len(histories) == 1 else f"{len(histories)} runs"
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
