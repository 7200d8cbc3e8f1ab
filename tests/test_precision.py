"""--precision auto on a CPU: the faster of fp32 and bf16 for the model, measured once per machine, model and
torch version, cached, said in the run's header; a resumed run keeps its precision; --deterministic never times."""
import json

import pytest
import torch

import cnnlab
from cnnlab import precision

BF16_CPU = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
SMALL = dict(dataset="synthetic", train_limit=128, test_limit=64, threads=1, progress=False)
needs_bf16 = pytest.mark.skipif(not BF16_CPU, reason="auto times precisions only on a CPU with bf16 instructions")


def timed(monkeypatch, faster):
    """measure() as if `faster` took half the time of the other; returns the list of calls."""
    calls = []

    def fake(net, shape, num_classes, channels_last):
        calls.append(shape)
        return {name: (0.01 if name == faster else 0.02) for name in precision.CANDIDATES}

    monkeypatch.setattr(precision, "measure", fake)
    return calls


def test_the_faster_precision_is_chosen_cached_and_read_back(no_user_data, monkeypatch):
    net = torch.nn.Linear(4, 2)
    calls = timed(monkeypatch, "fp32")
    first = precision.choose(net, (8, 1, 28, 28), 10, True, "tiny", 1)
    assert (first.name, first.cached, len(calls)) == ("fp32", False, 1)
    assert "2.00x faster" in first.describe("tiny") and "measured now" in first.describe("tiny")
    timed(monkeypatch, "bf16")  # a later run reads the cache, whatever a new measurement would say
    again = precision.choose(net, (8, 1, 28, 28), 10, True, "tiny", 1)
    assert (again.name, again.cached) == ("fp32", True)
    other = precision.choose(net, (8, 1, 32, 32), 10, True, "tiny", 1)  # another input shape is another question
    assert (other.name, other.cached) == ("bf16", False)


def test_a_network_changed_under_the_same_name_or_another_memory_layout_is_measured_again(no_user_data, monkeypatch):
    timed(monkeypatch, "fp32")
    assert precision.choose(torch.nn.Linear(4, 2), (8, 4), 2, True, "mine.py:net", 1).name == "fp32"
    timed(monkeypatch, "bf16")
    again = precision.choose(torch.nn.Linear(4, 2), (8, 4), 2, True, "mine.py:net", 1)  # the same layers
    assert (again.name, again.cached) == ("fp32", True)
    edited = precision.choose(torch.nn.Linear(4, 3), (8, 4), 2, True, "mine.py:net", 1)  # the file was edited
    assert (edited.name, edited.cached) == ("bf16", False)
    contiguous = precision.choose(torch.nn.Linear(4, 2), (8, 4), 2, False, "mine.py:net", 1)
    assert (contiguous.name, contiguous.cached) == ("bf16", False)


def test_the_same_cpu_name_with_other_bf16_instructions_is_measured_again(no_user_data, monkeypatch):
    # a virtual machine keeps the host's model name whether or not it passes AVX512-BF16 through
    net = torch.nn.Linear(4, 2)
    monkeypatch.setattr(precision, "cpu_model", lambda: "Intel(R) Xeon(R) Processor")
    monkeypatch.setattr(precision, "cpu_features", lambda: "avx512_bf16 avx512_vnni")
    calls = timed(monkeypatch, "bf16")
    assert precision.choose(net, (8, 4), 2, False, "tiny", 1).name == "bf16"
    monkeypatch.setattr(precision, "cpu_features", lambda: "avx512_vnni")
    timed(monkeypatch, "fp32")
    without = precision.choose(net, (8, 4), 2, False, "tiny", 1)
    assert (without.name, without.cached, len(calls)) == ("fp32", False, 1)


def test_cpu_features_names_only_the_bf16_relevant_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
                       "flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 amx_tile\n")
    assert precision.cpu_features(str(cpuinfo)) == "avx512_bf16 amx_tile avx512_vnni"
    cpuinfo.write_text("model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2\n")
    assert precision.cpu_features(str(cpuinfo)) == "none"
    assert precision.cpu_features(str(tmp_path / "missing")) == "unknown"


def test_a_corrupt_cache_is_measured_again(no_user_data, monkeypatch):
    precision.cache_path().parent.mkdir(parents=True)
    precision.cache_path().write_text("[not json")
    calls = timed(monkeypatch, "bf16")
    assert precision.choose(torch.nn.Linear(4, 2), (8, 4), 2, False, "tiny", 1).name == "bf16" and len(calls) == 1
    assert json.loads(precision.cache_path().read_text())  # rewritten whole


def test_measuring_leaves_the_model_and_random_stream_as_they_were():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Dropout(0.5),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = torch.get_rng_state()
    seconds = precision.measure(net, (4, 1, 28, 28), 10, False)
    assert set(seconds) == set(precision.CANDIDATES) and all(s > 0 for s in seconds.values())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # batch-norm statistics too
    assert torch.equal(state, torch.get_rng_state()) and all(p.grad is None for p in net.parameters())


@needs_bf16
@pytest.mark.parametrize("faster, dtype", [("fp32", "float32"), ("bf16", "bfloat16")])
def test_a_run_trains_in_the_faster_precision_and_says_why(no_user_data, monkeypatch, tmp_path, faster, dtype):
    timed(monkeypatch, faster)
    cnnlab.train("basic-cnn", epochs=1, out=str(tmp_path / "run"), **SMALL)
    info = json.loads((tmp_path / "run" / "config.json").read_text())
    assert info["precision"] == dtype and info["config"]["precision"] == "auto"
    assert info["precision_note"].startswith(f"precision auto chose {dtype}: 2.00x faster per training step")


@needs_bf16
def test_a_resumed_run_keeps_its_precision_and_deterministic_never_times(no_user_data, monkeypatch, tmp_path):
    timed(monkeypatch, "bf16")
    cnnlab.train("basic-cnn", epochs=1, out=str(tmp_path / "run"), **SMALL)
    precision.cache_path().unlink()
    calls = timed(monkeypatch, "fp32")  # the machine now prefers fp32: the run goes on as it started
    cnnlab.resume(str(tmp_path / "run"), epochs=2)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == "bfloat16" and not calls
    cnnlab.train("basic-cnn", epochs=1, deterministic=True, out=str(tmp_path / "det"), **SMALL)
    info = json.loads((tmp_path / "det" / "config.json").read_text())
    assert info["precision"] == "float32" and "precision_note" not in info and not calls


def test_a_near_tie_keeps_float32(no_user_data, monkeypatch):
    monkeypatch.setattr(precision, "measure", lambda *a: {"fp32": 0.0100, "bf16": 0.0095})  # bf16 5% faster
    choice = precision.choose(torch.nn.Linear(4, 2), (8, 4), 2, False, "tiny", 1)
    assert choice.name == "fp32" and "only 1.05x faster" in choice.describe("tiny")
