"""`--precision auto` on a CPU that has bf16 instructions: the faster of float32 and bfloat16 for this model on this
machine, measured, not assumed. bf16 halves the cost of a multiply-add where the CPU has the matrix units for it,
but the conversions around each layer cost time too: on an AMD EPYC (Zen 5) bf16 trained 2.2x faster than
float32, on an Intel Xeon with AVX512-BF16 and no AMX 1.35x slower (issue 28). So the first run of a model times a
few training steps in each precision, alternating, keeps the faster, and caches the choice per CPU model and the
instructions it offers for bf16, torch version, thread count, model (its name and a hash of its layers), input
shape, batch size and memory layout: later runs read it and pay nothing. The instructions are part of the key
because a virtual machine reports the model name of the host's CPU and may or may not pass its bf16 instructions
through: round 3's "Intel(R) Xeon(R) Processor" (family 6, model 207, an Emerald Rapids part that has AVX512-BF16)
listed no avx512_bf16 in /proc/cpuinfo on 2026-12-07, and the project's notes had described that machine as
having it."""
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

ROUNDS = 5  # timed steps per precision, alternating (after one untimed warm-up step each)
# bf16 must be clearly faster to be chosen: float32 has no conversions and full precision, and a timing taken while
# other programs load the CPU can be off by more than a few percent (the choice is cached, so a near tie keeps fp32)
BF16_MARGIN = 0.9
CANDIDATES = ("fp32", "bf16")
DTYPES = {"fp32": None, "bf16": "bfloat16"}
# /proc/cpuinfo flags that decide how fast bf16 (and low precision in general) can be on an x86 CPU
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16", "avx_vnni", "avx512_vnni")


@dataclass(frozen=True)
class Choice:
    name: str  # "fp32" or "bf16"
    seconds: dict  # median seconds per training step of each candidate
    cached: bool  # read from the cache, not measured by this run

    def describe(self, label: str) -> str:
        if not self.seconds:
            return "precision auto chose float32: the network failed a training step under bfloat16 autocast"
        other = next(n for n in self.seconds if n != self.name)
        ratio = self.seconds[other] / self.seconds[self.name]
        if self.name == "fp32" and ratio < 1:  # a near tie keeps float32
            return (f"precision auto chose float32: bfloat16 was only {1 / ratio:.2f}x faster per training step for "
                    f"{label} on {cpu_model()}, short of the {1 / BF16_MARGIN:.2f}x that would choose it "
                    f"({'measured earlier on this machine' if self.cached else 'measured now'}; kept in "
                    f"{cache_path()}); --precision fp32 or bf16 fixes it")
        how = "measured earlier on this machine" if self.cached else "measured now"
        return (f"precision auto chose {'bfloat16' if self.name == 'bf16' else 'float32'}: {ratio:.2f}x faster per "
                f"training step than {'bfloat16' if other == 'bf16' else 'float32'} for {label} on {cpu_model()} "
                f"({how}; kept in {cache_path()}); --precision fp32 or bf16 fixes it")


def _cpuinfo(field: str, path: str = "/proc/cpuinfo") -> str | None:
    """The value of the first `field` line of /proc/cpuinfo; None where there is none (or no such file)."""
    try:
        with open(path) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(field)), None)
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (else platform's)."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_features(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The BF16_FLAGS this CPU reports, space-separated ("none" if none; "unknown" where /proc/cpuinfo lists no
    flags)."""
    flags = _cpuinfo("flags", cpuinfo)
    if flags is None:
        return "unknown"
    return " ".join(flag for flag in BF16_FLAGS if flag in flags.split()) or "none"


def cache_path() -> Path:
    from .data.catalog import cache_dir  # cnnlab's one cache root ($XDG_CACHE_HOME or ~/.cache, then cnnlab/)

    return cache_dir("precision.json")


def _read_cache() -> dict:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):  # none yet, unreadable or corrupt: measure again
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, choice: Choice) -> None:
    data = _read_cache()
    data[key] = {"name": choice.name, "seconds": choice.seconds}
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError:  # a read-only home: the run goes on, the next one measures again
        pass


def layers_fingerprint(net) -> str:
    """A short hash of the network's layers as print(net) shows them (kinds, channels, kernels, strides, ...):
    a network changed under the same name, a zoo model in a new cnnlab or your own file edited, is another
    question."""
    import hashlib

    return hashlib.sha256(repr(net).encode()).hexdigest()[:12]


def cache_key(label: str, net, shape: tuple, threads: int, channels_last: bool) -> str:
    import torch

    layout = "channels_last" if channels_last else "contiguous"
    return (f"{cpu_model()} [{cpu_features()}] | torch {torch.__version__} | {threads} threads | {label} "
            f"(layers {layers_fingerprint(net)}) | input {shape} {layout}")


def _step_seconds(net, x, y, dtype) -> float:
    import torch
    import torch.nn.functional as F

    start = time.perf_counter()
    with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(net(x), y)
    loss.backward()
    return time.perf_counter() - start


def measure(net, shape: tuple, num_classes: int, channels_last: bool) -> dict:
    """Median seconds per training step (forward, loss, backward) of a copy of `net` on a random batch of
    `shape`, for each candidate precision, alternating so that a change in the machine's load hits both alike.
    The copy keeps the run's model, batch-norm statistics and random stream as they were."""
    import copy
    import statistics

    import torch

    with torch.random.fork_rng(devices=[]):
        twin = copy.deepcopy(net).train()
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=generator)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, num_classes, (shape[0],), generator=generator)
        dtypes = {name: getattr(torch, DTYPES[name]) if DTYPES[name] else None for name in CANDIDATES}
        times = {name: [] for name in CANDIDATES}
        for name in CANDIDATES:  # warm-up: the first step of each allocates and picks its kernels
            _step_seconds(twin, x, y, dtypes[name])
        for _ in range(ROUNDS):
            for name in CANDIDATES:
                times[name].append(_step_seconds(twin, x, y, dtypes[name]))
                twin.zero_grad(set_to_none=True)
    return {name: statistics.median(t) for name, t in times.items()}


def choose(net, shape: tuple, num_classes: int, channels_last: bool, label: str, threads: int) -> Choice:
    """The faster of fp32 and bf16 for `net` on this CPU: from the cache, else measured now (and cached). A
    network whose code fails under bf16 autocast trains in fp32."""
    key = cache_key(label, net, shape, threads, channels_last)
    known = _read_cache().get(key)
    if isinstance(known, dict) and known.get("name") in CANDIDATES and isinstance(known.get("seconds"), dict) \
            and set(known["seconds"]) == set(CANDIDATES):
        return Choice(known["name"], {k: float(v) for k, v in known["seconds"].items()}, cached=True)
    try:
        seconds = measure(net, shape, num_classes, channels_last)
    except Exception:  # noqa: BLE001 - the user's code under bf16 autocast; the network probe says what failed
        return Choice("fp32", {}, cached=False)
    name = "bf16" if seconds["bf16"] < BF16_MARGIN * seconds["fp32"] else "fp32"
    choice = Choice(name, seconds, cached=False)
    _write_cache(key, choice)
    return choice
