"""A network written as Liu Er's PyTorch course writes it (lecture 10, basic CNN), to train with cnnlab unchanged:

    cnnlab train --model examples/my_net.py:Net --dataset fashion-mnist --epochs 2 --out runs/mine
    cnnlab predict runs/mine --model examples/my_net.py:Net

or from Python: `from my_net import Net; cnnlab.train(Net(), dataset="fashion-mnist", epochs=2)`."""
import torch
import torch.nn.functional as F


class Net(torch.nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = torch.nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = torch.nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(320, 10)

    def forward(self, x):
        # Flatten data from (n, 1, 28, 28) to (n, 320): view() needs a contiguous tensor, so this forward cannot
        # run on channels-last tensors; cnnlab notices and trains it in the standard memory format.
        batch_size = x.size(0)
        x = self.pooling(F.relu(self.conv1(x)))  # (n, 10, 12, 12)
        x = self.pooling(F.relu(self.conv2(x)))  # (n, 20, 4, 4)
        x = x.view(batch_size, -1)  # flatten
        x = self.fc(x)
        return x
