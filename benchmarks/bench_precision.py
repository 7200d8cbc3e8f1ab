"""How much bf16 can buy on this CPU, and the ceiling it puts on a training step's speed-up.

Prints (1) matrix-product throughput in float32 and bf16 and their ratio: what the hardware gives for
lower precision; (2) for one model's training step (default ResNet-18 at 96x96, batch 128): images/s in
float32 (default memory format, as the seeds run it) and with cnnlab's defaults (bf16 autocast,
channels_last), the share of the bf16 step spent inside convolutions (torch.profiler), and the speed-up the
step would reach if everything except the convolutions took no time at all.

    python benchmarks/bench_precision.py
    python benchmarks/bench_precision.py --model basic-cnn --size 28 --batch-size 64
"""
import argparse
import time

import cnnlab  # noqa: F401  (sets OpenMP's wait policy before torch loads)

# isort: split
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.profiler import profile  # noqa: E402

from cnnlab.errors import CnnlabError  # noqa: E402
from cnnlab.models import create_model, model_info  # noqa: E402

CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::thnn_conv2d", "aten::_slow_conv2d_forward",
            "aten::_slow_conv2d_backward")


def matmul_gmacs(n: int, dtype: torch.dtype, seconds: float = 2.0) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    return reps * n ** 3 / (time.perf_counter() - start) / 1e9


def step_fn(model_name, batch, size, bf16):
    torch.manual_seed(0)
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    net = create_model(model_name).to(memory_format=fmt)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, foreach=True)
    x = torch.randn(batch, 1, size, size).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def images_per_s(step, batch, steps) -> float:
    step()  # warm-up: oneDNN primitives, allocator
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def conv_share(step, steps) -> float:
    with profile() as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key in CONV_OPS) / total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--matmul-size", type=int, default=2048)
    args = p.parse_args()
    try:
        model_info(args.model).check_size(args.size)
    except CnnlabError as error:
        p.error(str(error))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    fp32, bf16 = matmul_gmacs(args.matmul_size, torch.float32), matmul_gmacs(args.matmul_size, torch.bfloat16)
    print(f"matmul {args.matmul_size}^3: float32 {fp32:.0f} GMAC/s, bf16 {bf16:.0f} GMAC/s, ratio {bf16 / fp32:.2f}x")

    reference = images_per_s(step_fn(args.model, args.batch_size, args.size, False), args.batch_size, args.steps)
    fast_step = step_fn(args.model, args.batch_size, args.size, True)
    fast = images_per_s(fast_step, args.batch_size, args.steps)
    share = conv_share(fast_step, 2)
    print(f"{args.model} at {args.size}x{args.size}, batch {args.batch_size}, training step: "
          f"float32 {reference:.1f} img/s, bf16 + channels_last {fast:.1f} img/s ({fast / reference:.2f}x)")
    print(f"convolutions take {share:.0%} of the bf16 step; with everything else free the step would reach "
          f"{fast / share:.1f} img/s ({fast / share / reference:.2f}x float32)")


if __name__ == "__main__":
    main()
