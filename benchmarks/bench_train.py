"""Training speed: cnnlab's trainer with its defaults against the seeds' loop, same model, batch and number of
steps, alternating in one process; prints the median images/s of each and their ratio. Not a test.

The reference is the seeds' loop exactly: DataLoader(batch_size=B, shuffle=True) over a per-sample dataset that
does what torchvision's MNIST does per item (uint8 -> PIL image -> float tensor in [0, 1] -> normalise), float32,
eager mode, default memory format.

    python benchmarks/bench_train.py basic-cnn --recipe liuer --batch-size 64 --steps 200
    python benchmarks/bench_train.py resnet18 --recipe d2l-resnet --batch-size 128 --steps 8
    python benchmarks/bench_train.py lenet --recipe d2l-lenet --batch-size 256 --steps 100
    python benchmarks/bench_train.py basic-cnn --recipe liuer --parity      # accuracy: defaults vs float32
    python benchmarks/bench_train.py resnet18 --recipe d2l-resnet --batch-size 128 --parity --train-limit 10000 \
        --schedule cosine --seeds 0 1 2
"""
import argparse
import statistics
import tempfile
import time

from cnnlab.config import resolve  # first: cnnlab sets OpenMP's wait policy before torch loads
from cnnlab.data import load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, model_info
from cnnlab.steps import make_optimizer, normalization, xavier_init
from cnnlab.trainer import fit

# isort: split
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from reference import PerSampleMNIST  # noqa: E402


def reference_images_per_s(config, data, steps: int) -> float:
    """The seeds' loop for `steps` steps: returns training images per second."""
    mean, std = normalization(config, data)
    size = config.resize or None
    loader = DataLoader(PerSampleMNIST(data.train, mean, std, size), batch_size=config.batch_size, shuffle=True)
    torch.manual_seed(config.seed)
    model = create_model(config.model)
    if config.init == "xavier":
        xavier_init(model)
    optimizer = make_optimizer(config, model.parameters())
    model.train()
    seen, start = 0, time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen / (time.perf_counter() - start)


def cnnlab_images_per_s(config, steps: int) -> float:
    """cnnlab's trainer with its defaults for `steps` steps (one epoch of steps * batch images)."""
    with tempfile.TemporaryDirectory() as out:
        settings = {**config.to_dict(), "epochs": 1, "train_limit": steps * config.batch_size, "test_limit": 256,
                    "out": out}
        _, history = fit(resolve(settings))
    return history[0]["images_per_s"]


def speed(args, config):
    data = load_dataset(config.dataset)
    print(f"{config.model}, batch {config.batch_size}, {args.steps} steps, input {config.resize or 28}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    reference_images_per_s(config, data, 2)  # warm-up: allocator and oneDNN primitive caches
    cnnlab_images_per_s(config, 2)
    ref, ours = [], []
    for rep in range(args.repeats):
        ref.append(reference_images_per_s(config, data, args.steps))
        ours.append(cnnlab_images_per_s(config, args.steps))
        print(f"  rep {rep + 1}: reference {ref[-1]:9,.0f} img/s   cnnlab {ours[-1]:9,.0f} img/s")
    r, o = statistics.median(ref), statistics.median(ours)
    print(f"median: reference {r:,.0f} img/s, cnnlab {o:,.0f} img/s, ratio {o / r:.2f}x")


def parity(args, config):
    """One epoch with cnnlab's defaults against the float32 run (same seed, same batches), for each seed."""
    gaps = []
    for seed in args.seeds:
        results = {}
        for label, extra in (("defaults", {}), ("float32", {"precision": "fp32", "channels_last": False})):
            with tempfile.TemporaryDirectory() as out:
                settings = {**config.to_dict(), "epochs": 1, "seed": seed, "out": out, **extra}
                _, history = fit(resolve(settings))
            results[label] = history[0]
            print(f"seed {seed} {label:>9}: test acc {history[0]['test_acc']:.4f}, "
                  f"{history[0]['images_per_s']:,.0f} img/s")
        gaps.append(100 * (results["defaults"]["test_acc"] - results["float32"]["test_acc"]))
        print(f"seed {seed} difference: {gaps[-1]:+.2f} points")
    if len(gaps) > 1:
        print(f"mean difference over seeds {', '.join(map(str, args.seeds))}: {statistics.mean(gaps):+.2f} points "
              f"(largest {max(gaps, key=abs):+.2f})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--recipe", help="settings (optimizer, lr, init, normalisation, resize) of this recipe")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--parity", action="store_true", help="compare accuracy after one epoch instead of speed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="--parity: one pair of runs per seed")
    p.add_argument("--schedule", choices=["none", "step", "cosine", "onecycle"],
                   help="learning-rate schedule instead of the recipe's")
    p.add_argument("--train-limit", type=int)
    p.add_argument("--test-limit", type=int)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    try:
        model_info(args.model)
        config = resolve({"model": args.model, "recipe": args.recipe, "batch_size": args.batch_size,
                          "schedule": args.schedule, "train_limit": args.train_limit, "test_limit": args.test_limit,
                          "threads": args.threads, "dataset": "fashion-mnist"})
    except CnnlabError as error:
        p.error(str(error))
    torch.set_num_threads(config.threads or torch.get_num_threads())
    (parity if args.parity else speed)(args, config)


if __name__ == "__main__":
    main()
