"""How live `cnnlab explore` feels: the round trip of one drawing on the server (decode the canvas PNG,
MNIST preprocessing, forward with every module's activation recorded by hooks, JSON), for lenet at 28x28 and
resnet18 at 96x96, untrained (weights do not change the time). Each model's plain forward pass (no hooks, no
JSON) is timed alternately in the same run as the reference; the table gives both and their ratio.

    python benchmarks/bench_explore.py [--repeats 30] [--threads N]
"""
import argparse
import base64
import io
import json
import statistics
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from cnnlab.explore import engine, find_sources, load_network

TARGET_MS = {"lenet": 100}  # the aim: under 100 ms for lenet, to feel live while drawing


def drawing_url() -> str:
    """A 280x280 canvas with a '7'-like stroke, as the page sends it."""
    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).line([(60, 60), (220, 60), (120, 240)], fill=255, width=22)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def round_trip(net, url) -> int:
    pixels, steps = engine.drawing_pixels(url, "mnist")
    return len(json.dumps(engine.forward_json(net, pixels, steps)))


def plain_forward(net, url) -> None:
    pixels, _ = engine.drawing_pixels(url, "mnist")
    with torch.no_grad():
        net.model(engine.model_input(net, pixels))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    url = drawing_url()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats, median ms")
    print(f"{'model':<10} {'input':>6} {'layers':>7} {'JSON KiB':>9} {'round trip':>11} {'plain fwd':>10} "
          f"{'ratio':>6}  target")
    for name in ("lenet", "resnet18"):
        net = load_network(find_sources([name])[0])
        assert net.input_size == (28 if name == "lenet" else 96)
        size = round_trip(net, url)  # warm-up
        plain_forward(net, url)
        trips, plains = [], []
        for _ in range(args.repeats):  # alternate, so both see the same machine load
            t = time.perf_counter()
            round_trip(net, url)
            trips.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            plain_forward(net, url)
            plains.append((time.perf_counter() - t) * 1000)
        layers = len(engine.forward_all(net.model, engine.model_input(net, np.zeros((28, 28), np.uint8)))[1])
        trip, plain = statistics.median(trips), statistics.median(plains)
        target = TARGET_MS.get(name)
        verdict = f"< {target} ms: {'yes' if trip < target else 'NO'}" if target else "-"
        print(f"{name:<10} {net.input_size:>6} {layers:>7} {size / 1024:>9.0f} {trip:>11.1f} {plain:>10.1f} "
              f"{trip / plain:>6.1f}  {verdict}")


if __name__ == "__main__":
    main()
