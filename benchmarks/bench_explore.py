"""How live `cnnlab explore` feels: the round trip of one drawing on the server (decode the canvas PNG,
MNIST preprocessing, forward with every module's activation recorded by hooks, JSON), for lenet at 28x28 and
resnet18 at 96x96, untrained (weights do not change the time). Each model's plain forward pass (no hooks, no
JSON) is timed alternately in the same run as the reference; the table gives both and their ratio.

With --server, the HTTP server under load instead (issue 25): a burst of parallel clients, served with the listen
backlog the server uses and with socketserver's default of 5, and the answer time of plain requests while live
streams (server-sent events) are held open. The server runs in its own process, as `cnnlab explore` does.

    python benchmarks/bench_explore.py [--repeats 30] [--threads N]
    python benchmarks/bench_explore.py --server [--clients 50] [--streams 20]
"""
import argparse
import base64
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

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


SERVER_CHILD = """
import sys
from cnnlab.explore import find_sources, make_server
from cnnlab.explore.server import Server
Server.request_queue_size = int(sys.argv[2])
server = make_server(find_sources([sys.argv[1]]), port=0, log=lambda line: None)
print(server.server_address[1], flush=True)
server.serve_forever(poll_interval=0.05)
"""


def start_server(run: Path, backlog: int):
    process = subprocess.Popen([sys.executable, "-c", SERVER_CHILD, str(run), str(backlog)], stdout=subprocess.PIPE,
                               text=True)
    return process, f"http://127.0.0.1:{int(process.stdout.readline())}"


def burst(base: str, clients: int) -> tuple[int, float]:
    """`clients` threads request /api/sources at the same moment: (answered with 200, seconds for all)."""
    gate, served = threading.Barrier(clients), []

    def client():
        gate.wait()
        try:
            with urllib.request.urlopen(base + "/api/sources", timeout=30) as response:
                served.append(response.status == 200)
        except (OSError, urllib.error.URLError):
            served.append(False)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(served), time.perf_counter() - started


def hold_streams(base: str, count: int) -> list[socket.socket]:
    """`count` live streams of the run, each read up to its first event (the stream is then open and served)."""
    port = int(base.rsplit(":", 1)[1])
    streams = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(f"GET /api/live?source=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while b"event: " not in data:
            data += sock.recv(4096)
        streams.append(sock)
    return streams


def bench_server(clients: int, streams: int, repeats: int):
    import cnnlab

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cnnlab.train("basic-cnn", dataset="synthetic", epochs=1, train_limit=200, test_limit=100, threads=1,
                     progress=False, out=str(run))
        print(f"{clients} clients at once, GET /api/sources (answered with 200 / sent, seconds for all)")
        for backlog in (5, 128):
            process, base = start_server(run, backlog)
            try:
                results = [burst(base, clients) for _ in range(3)]
                shown = ", ".join(f"{ok}/{clients} in {s:.2f} s" for ok, s in results)
                print(f"  backlog {backlog:>3}: {shown}")
            finally:
                process.terminate()
                process.wait()
        process, base = start_server(run, 128)
        try:
            held = hold_streams(base, streams)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                with urllib.request.urlopen(base + "/api/outsize?n=28&k=5&p=2&s=1", timeout=30) as response:
                    response.read()
                times.append((time.perf_counter() - started) * 1000)
                time.sleep(0.02)
            times.sort()
            median, p90 = statistics.median(times), times[int(len(times) * 0.9)]
            print(f"{len(held)} live streams held: GET /api/outsize answered in median {median:.1f} ms, "
                  f"p90 {p90:.1f} ms, max {times[-1]:.1f} ms ({repeats} requests; target < 50 ms)")
            for sock in held:
                sock.close()
        finally:
            process.terminate()
            process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--server", action="store_true", help="time the HTTP server under load instead")
    parser.add_argument("--clients", type=int, default=50, help="--server: parallel clients in one burst")
    parser.add_argument("--streams", type=int, default=20, help="--server: live streams held open")
    args = parser.parse_args()
    if args.server:
        bench_server(args.clients, args.streams, args.repeats)
        return
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
