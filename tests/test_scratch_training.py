"""LeNet trained with the from-scratch ops learns exactly as with PyTorch's layers (same seed, same data)."""
import time

import torch
from torch import nn

from cnnlab import create_model
from cnnlab.data import Batches
from cnnlab.ops import ScratchConv2d


def train_and_test(ops, data, epochs=2):
    """Two epochs on the first 2,000 training images; accuracy on the first 1,000 test images. Adam (seed 001's
    optimiser), because the sigmoid LeNet under plain SGD stays at chance for hundreds of steps."""
    torch.manual_seed(0)
    net = create_model("lenet", ops=ops)
    for m in net.modules():  # d2l's Xavier-uniform init
        if isinstance(m, (nn.Linear, nn.Conv2d, ScratchConv2d)):
            nn.init.xavier_uniform_(m.weight)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    train = Batches(data.train, 32, shuffle=True, seed=0, mean=data.mean, std=data.std, limit=2000)
    for epoch in range(epochs):
        train.set_epoch(epoch)
        for x, y in train:  # the seeds' loop: zero_grad, forward, loss, backward, step
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
    test = Batches(data.test, 500, mean=data.mean, std=data.std, limit=1000)
    with torch.no_grad():
        correct = sum((net(x).argmax(1) == y).sum().item() for x, y in test)
    return net, correct / 1000


def test_lenet_with_scratch_ops_reaches_the_native_accuracy(fashion_mnist):
    start, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is fastest and immune to a busy machine
    try:
        native, native_acc = train_and_test("native", fashion_mnist)
        scratch, scratch_acc = train_and_test("scratch", fashion_mnist)
    finally:
        torch.set_num_threads(threads)
    assert native_acc > 0.5, f"native LeNet did not learn ({native_acc:.3f}): the comparison would be vacuous"
    assert abs(native_acc - scratch_acc) <= 0.01, (native_acc, scratch_acc)
    batches = Batches(fashion_mnist.test, 64, mean=fashion_mnist.mean, std=fashion_mnist.std)
    x = batches.transform(fashion_mnist.test.images[:64])
    scratch.load_state_dict(native.state_dict())  # same weights: the forward passes agree to float32 rounding
    with torch.no_grad():
        torch.testing.assert_close(scratch(x), native(x), rtol=1e-5, atol=1e-5)
    assert time.perf_counter() - start < 30
