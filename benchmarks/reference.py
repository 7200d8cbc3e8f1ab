"""The seeds' data pipeline, written out (torchvision is not a dependency): what torchvision.datasets.MNIST with
Compose([Resize(S)?, ToTensor(), Normalize(mean, std)]) does for each item. The reference the benchmarks beat."""
import numpy as np
import torch
from PIL import Image


class PerSampleMNIST(torch.utils.data.Dataset):
    """uint8 array -> PIL image -> (optional bilinear resize) -> float tensor in [0, 1] -> normalised, per item.
    mean=None: no Normalize (d2l's load_data_fashion_mnist: Resize?, ToTensor)."""

    def __init__(self, split, mean: float | None, std: float | None, size: int | None = None):
        self.images, self.labels = split.images.numpy(), split.labels.numpy()
        self.mean, self.std, self.size = mean, std, size

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        image = Image.fromarray(self.images[i], mode="L")
        if self.size and self.size != image.width:
            image = image.resize((self.size, self.size), Image.BILINEAR)  # Resize on a PIL image
        # ToTensor: PIL -> (H, W, C) uint8 array -> (C, H, W) -> float / 255
        x = torch.from_numpy(np.array(image, np.uint8, copy=True))
        x = x.view(image.size[1], image.size[0], 1).permute(2, 0, 1).contiguous().float().div(255)
        if self.mean is not None:
            x = x.sub_(self.mean).div_(self.std)  # Normalize
        return x, int(self.labels[i])
