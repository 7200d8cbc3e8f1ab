"""Data made without files: the generated synthetic set (ten stroke patterns) and scikit-learn's 8x8 digits."""
import numpy as np
import torch

from .catalog import SPECS
from .split import DEFAULT_TEST_SPLIT, Split, stratified_split


def _synthetic_templates() -> torch.Tensor:
    """Ten 20x20 stroke patterns, one per class (bars, diagonals, box, block, cross, plus, corner, dots)."""
    t = torch.zeros(10, 20, 20)
    r = torch.arange(20)
    t[0, 9:12, 2:18] = 1  # horizontal bar
    t[1, 2:18, 9:12] = 1  # vertical bar
    t[2, r, r] = 1  # diagonal
    t[3, r, 19 - r] = 1  # anti-diagonal
    t[4, 3:17, 3:17] = 1
    t[4, 5:15, 5:15] = 0  # box outline
    t[5, 6:14, 6:14] = 1  # filled block
    t[6, r, r] = 1
    t[6, r, 19 - r] = 1  # X
    t[7, 9:11, 2:18] = 1
    t[7, 2:18, 9:11] = 1  # plus
    t[8, 2:18, 2:5] = 1
    t[8, 15:18, 2:18] = 1  # L corner
    t[9, 3:17:4, 3:17:4] = 1  # grid of dots
    return t


def make_synthetic(train_size=None, test_size=None, seed: int = 0) -> tuple[Split, Split]:
    """A learnable 10-class 28x28 set: each class's template at a random offset and brightness, plus noise."""
    spec = SPECS["synthetic"]
    sizes = (train_size or spec.sizes[0], test_size or spec.sizes[1])
    g = torch.Generator().manual_seed(seed)
    templates = _synthetic_templates()
    splits = []
    for n in sizes:
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.zeros(n, 28, 28)
        dy, dx = torch.randint(0, 9, (2, n), generator=g)
        for y in range(9):  # place each template at its offset (9x9 possible positions, vectorised per row)
            for x in range(9):
                sel = ((dy == y) & (dx == x)).nonzero().flatten()
                images[sel, y:y + 20, x:x + 20] = templates[labels[sel]]
        brightness = 0.5 + 0.5 * torch.rand(n, 1, 1, generator=g)
        noise = 0.25 * torch.rand(n, 28, 28, generator=g)
        pixels = (images * brightness + noise).clamp_(0, 1)
        splits.append(Split((pixels * 255).round().to(torch.uint8), labels))
    return splits[0], splits[1]



def load_digits(test_split: float | None = None) -> tuple[Split, Split]:
    """scikit-learn's 1,797 8x8 digits (values 0-16, scaled to 0-255), split per class (DEFAULT_TEST_SPLIT)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, test_split or DEFAULT_TEST_SPLIT)
    return (Split(torch.from_numpy(images[train]), torch.from_numpy(labels[train])),
            Split(torch.from_numpy(images[test]), torch.from_numpy(labels[test])))
