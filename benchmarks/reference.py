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


def seed000(seed: int = 0, epochs: int = 10, data_dir=None, log=print) -> float:
    """Seed 000's script verbatim on Fashion-MNIST: its Net (cnnlab's basic-cnn is the same layers), the
    per-sample DataLoader (batch 64, shuffled), SGD lr 0.01 momentum 0.5, float32, default memory format, the
    running loss every 300 batches and the test accuracy after every epoch. Returns the final test accuracy."""
    from torch.utils.data import DataLoader

    from cnnlab.data import load_dataset
    from cnnlab.models import create_model

    torch.manual_seed(seed)
    data = load_dataset("fashion-mnist", data_dir)
    train_loader = DataLoader(PerSampleMNIST(data.train, 0.1307, 0.3081), shuffle=True, batch_size=64)
    test_loader = DataLoader(PerSampleMNIST(data.test, 0.1307, 0.3081), shuffle=False, batch_size=64)
    model = create_model("basic-cnn")
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    for epoch in range(epochs):
        running_loss = 0.0
        for batch_idx, (inputs, target) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = criterion(model(inputs), target)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if batch_idx % 300 == 299:
                log("[%d, %5d] loss: %.3f" % (epoch + 1, batch_idx + 1, running_loss / 300))
                running_loss = 0.0
        correct = total = 0
        with torch.no_grad():
            for images, labels in test_loader:
                predicted = model(images).argmax(1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        log(f"Accuracy on test set: {100 * correct / total:.2f} %")
    return correct / total


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Liu Er's lecture 10 training script verbatim on Fashion-MNIST (the "
                                     "reference the speed-run is timed against)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    print(f"test accuracy {seed000(args.seed, args.epochs, args.data_dir):.4f}")
