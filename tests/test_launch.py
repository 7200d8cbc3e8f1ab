"""cnnlab.launch: a new `cnnlab train` without --threads takes one thread per idle core."""
import json

import pytest

from cnnlab import launch
from cnnlab.cli import main

SMALL = ["--dataset", "synthetic", "--train-limit", "128", "--test-limit", "64", "--epochs", "1"]


@pytest.mark.parametrize("cores, idle, threads", [
    (2, 2.0, 2), (2, 1.6, 2), (2, 1.4, 1), (2, 0.2, 1), (2, 0.0, 1), (8, 5.5, 6), (8, 9.0, 8), (4, None, 4)])
def test_one_thread_per_idle_core_at_least_one(cores, idle, threads):
    assert launch.choose_threads(cores, idle) == threads


def test_idle_cores_are_read_from_the_system():
    idle = launch.idle_cores(0.05)
    assert idle is None or 0 <= idle <= launch.usable_cores() + 0.5


# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
STAT = "cpu  100 700 100 50 50 0 0 0 0 0"


def test_niced_programs_count_as_idle_for_a_run_at_the_normal_priority_and_not_for_a_niced_run():
    assert launch.cpu_times(STAT, give_way=True) == (800, 1000)  # idle + iowait + nice
    assert launch.cpu_times(STAT, give_way=False) == (100, 1000)


def test_idle_cores_let_niced_programs_give_way_unless_this_process_is_niced(monkeypatch):
    lines = iter(["cpu  0 0 0 0 0 0 0 0 0 0", STAT] * 2)
    monkeypatch.setattr("builtins.open", lambda *a, **k: __import__("io").StringIO(next(lines)))
    monkeypatch.setattr(launch.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(launch.os, "getpriority", lambda which, who: 0)
    assert launch.idle_cores(0) == pytest.approx(1.6)  # two nice-19 loops: their cores are this run's
    monkeypatch.setattr(launch.os, "getpriority", lambda which, who: 19)
    assert launch.idle_cores(0) == pytest.approx(0.2)  # this run niced too: they compete as equals


@pytest.fixture
def busy_machine(monkeypatch):
    """As if other programs kept all but 0.3 of the cores busy."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(launch, "usable_cores", lambda: 2)
    monkeypatch.setattr(launch, "idle_cores", lambda seconds=launch.SAMPLE_SECONDS: 0.3)


def test_a_busy_machine_gets_one_thread_and_the_user_is_told_once_at_the_start(tmp_path, capsys, busy_machine):
    assert main(["train", "basic-cnn", *SMALL, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].endswith(": cpu, 1 thread, float32") or lines[0].endswith(": cpu, 1 thread, bfloat16"), lines[0]
    note = ("note: 1 thread: other programs kept 1.7 of 2 cores busy when the run started, and a thread that "
            "shares a busy core slows every step down (--threads 2 uses them all; --deterministic fixes the count)")
    assert lines[3] == note and out.out.count("other programs") == 1  # in the header, not again at the end
    assert "other programs" not in out.err
    info = json.loads((tmp_path / "config.json").read_text())
    assert info["threads"] == 1 and info["config"]["threads"] == 1


def test_a_wrong_option_is_still_a_one_line_error(tmp_path, capsys, busy_machine):
    assert main(["train", "basic-cnn", *SMALL, "--lr", "0", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_threads_given_are_kept(tmp_path, capsys, busy_machine):
    main(["train", "basic-cnn", *SMALL, "--threads", "2", "--out", str(tmp_path)])
    assert "other programs" not in capsys.readouterr().err
    assert json.loads((tmp_path / "config.json").read_text())["threads"] == 2


def test_a_resumed_run_keeps_its_threads(tmp_path, capsys, monkeypatch, busy_machine):
    main(["train", "basic-cnn", *SMALL, "--out", str(tmp_path)])  # 1 thread, chosen on the busy machine
    monkeypatch.setattr(launch, "idle_cores", lambda seconds=0: pytest.fail("a resumed run must not choose again"))
    main(["train", "--resume", str(tmp_path), "--epochs", "2"])
    assert json.loads((tmp_path / "config.json").read_text())["threads"] == 1


def test_an_idle_machine_gets_every_core(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(launch, "usable_cores", lambda: 2)
    monkeypatch.setattr(launch, "idle_cores", lambda seconds=0: 1.9)
    main(["train", "basic-cnn", *SMALL, "--out", str(tmp_path)])
    assert "other programs" not in capsys.readouterr().err
    assert json.loads((tmp_path / "config.json").read_text())["threads"] == 2


def test_deterministic_takes_every_core_whatever_the_load_and_fp32_for_auto(tmp_path, capsys, monkeypatch,
                                                                            busy_machine):
    monkeypatch.setattr(launch, "idle_cores", lambda seconds=0: pytest.fail("--deterministic must not read the load"))
    assert main(["train", "basic-cnn", *SMALL, "--deterministic", "--out", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "config.json").read_text())
    assert info["threads"] == (__import__("os").cpu_count() or 1) and info["precision"] == "float32"
    assert info["config"]["deterministic"] is True
