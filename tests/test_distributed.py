"""Distributed data-parallel training under torchrun: 2 CPU processes with gloo on synthetic data. The ranks
end with identical weights, which match a single process with the same global batch; evaluation is exact over
the whole test set; only rank 0 writes; --resume continues the run."""
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab import distributed as plumbing
from cnnlab.cli import main
from cnnlab.data import Batches, make_synthetic
from cnnlab.rundir import load_checkpoint, read_metrics

TORCHRUN = Path(sys.executable).with_name("torchrun")
TIMING = ("seconds", "images_per_s")
# 512 = 8 global batches of 64, so no partial batch is skipped; 257 test images = 256 + 1, so in the last test
# batch rank 1's shard is empty and evaluation must still count every image once.
SMALL = dict(dataset="synthetic", threads=1, precision="fp32", batch_size=64, train_limit=512, test_limit=257)
# Runs compared across process counts use SGD, whose update is linear in the gradient. Two processes sum each
# batch's gradient in two halves and average them, one process sums it whole: the same gradient up to float32
# rounding (~1e-8 here), in an order that depends on the CPU's kernels. Adam divides each gradient by its own
# running magnitude, so for a weight whose gradient is a near-cancelling sum (close to zero) a rounding-level
# difference can flip its sign and move that weight by a whole learning rate: 2.3e-3 apart after 8 Adam steps at
# lr 3e-3 on one CPU, 0 on another. Under SGD the gap stays at rounding level, which 1e-5 bounds.
LINEAR = dict(optimizer="sgd", lr=0.05, momentum=0.9)

# Run under torchrun: train each option set with the Python API, then save what this rank holds.
RANK_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    import cnnlab

    dump = sys.argv[2]
    for i, options in enumerate(json.loads(sys.argv[1])):
        net, _ = cnnlab.train(progress=False, **options)
        kinds = sorted({type(m).__name__ for m in net.modules()})
        torch.save({"state": net.state_dict(), "modules": kinds},
                   os.path.join(dump, f"{i}-rank{os.environ['RANK']}.pt"))
""")


def torchrun(*args, timeout=300):  # two processes importing torch and training beside the other test worker
    """`torchrun --standalone --nproc-per-node 2 ARGS` (standalone picks a free port); returns the finished process."""
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def deterministic_columns(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(run_dir)]


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def distributed(tmp_path_factory):
    """One torchrun job of three runs: basic-cnn (no batch norm, SGD) for 1 epoch, lenet-bn (Adam) for 1 epoch,
    and the basic-cnn run again saving last.pt mid-epoch whenever the ranks confer (--save-minutes near 0)."""
    root = tmp_path_factory.mktemp("distributed")
    dump = root / "dump"
    dump.mkdir()
    runs = [dict(model="basic-cnn", epochs=1, out=str(root / "basic"), **SMALL, **LINEAR),
            dict(model="lenet-bn", epochs=1, out=str(root / "bn"), **SMALL),
            dict(model="basic-cnn", epochs=1, out=str(root / "saving"), save_minutes=1e-9, **SMALL, **LINEAR)]
    script = root / "ranks.py"
    script.write_text(RANK_SCRIPT)
    job = torchrun(str(script), json.dumps(runs), str(dump))
    assert job.returncode == 0, job.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The same basic-cnn run in one process."""
    root = tmp_path_factory.mktemp("single")
    cnnlab.train("basic-cnn", epochs=1, out=str(root / "one"), progress=False, **SMALL, **LINEAR)
    return root


def rank_dump(root, i, rank):
    return torch.load(root / "dump" / f"{i}-rank{rank}.pt")


def test_both_ranks_end_with_identical_weights_and_rank_0_saves_them(distributed):
    for i, name in enumerate(("basic", "bn")):
        rank0, rank1 = rank_dump(distributed, i, 0)["state"], rank_dump(distributed, i, 1)["state"]
        assert max_difference(rank0, rank1) == 0, name  # BatchNorm's running statistics included
        assert max_difference(rank0, load_checkpoint(distributed / name / "last.pt")["model"]) == 0, name


def test_two_processes_match_one_process_with_the_same_global_batch_and_seed(distributed, single):
    distributed_weights = load_checkpoint(distributed / "basic" / "last.pt")["model"]
    single_weights = load_checkpoint(single / "one" / "last.pt")["model"]
    assert max_difference(distributed_weights, single_weights) < 1e-5
    (d,), (s,) = deterministic_columns(distributed / "basic"), deterministic_columns(single / "one")
    assert d.keys() == s.keys() and all(abs(d[k] - s[k]) < 1e-5 for k in d)
    assert d["test_acc"] == s["test_acc"]  # all 257 test images counted exactly once


def test_saving_mid_epoch_in_two_processes_changes_nothing(distributed):
    # the checkpoint carries the job's sums so far, while each rank goes on with its own: the epoch's figures
    # count every image once, exactly as in the run that never saved mid-epoch
    assert deterministic_columns(distributed / "saving") == deterministic_columns(distributed / "basic")
    assert max_difference(load_checkpoint(distributed / "saving" / "last.pt")["model"],
                          load_checkpoint(distributed / "basic" / "last.pt")["model"]) == 0


def test_evaluation_shards_cover_every_test_image_exactly_once():
    _, test = make_synthetic(train_size=10, test_size=300, seed=0)
    for limit, batch_size, world_size in [(257, 256, 2), (300, 64, 3), (5, 8, 4), (1, 256, 2)]:
        seen = [[] for _ in range(world_size)]
        for rank in range(world_size):
            batches = Batches(test, batch_size, limit=limit, rank=rank, world_size=world_size)
            assert len(batches) == -(-limit // batch_size)  # every rank runs the same number of batches
            for _, y in batches:
                seen[rank].append(len(y))
        assert sum(map(sum, seen)) == limit


def test_without_sync_bn_batch_norm_stays_per_process(distributed):
    assert "BatchNorm2d" in rank_dump(distributed, 1, 0)["modules"]
    assert "SyncBatchNorm" not in rank_dump(distributed, 1, 0)["modules"]


def test_only_rank_0_writes_the_run_directory(distributed):
    for name in ("basic", "bn"):
        assert sorted(p.name for p in (distributed / name).iterdir()) == [
            "best.pt", "config.json", "curves.png", "last.pt", "metrics.csv"]
        assert json.loads((distributed / name / "config.json").read_text())["world_size"] == 2


@pytest.mark.slow  # 20 s: two torchrun jobs; the default suite's SIGINT test: test_train.py
def test_signal_stops_every_rank_at_one_step_and_distributed_resume_matches_an_uninterrupted_run(tmp_path):
    # 46 global batches of 64 per epoch, 2 epochs: long enough to be signalled mid-run.
    options = {**SMALL, "train_limit": 46 * 64}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    run = tmp_path / "run"
    job = subprocess.Popen([str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "cnnlab", "train",
                            "basic-cnn", "--epochs", "2", *flags, "--out", str(run)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "config.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # somewhere inside training
    job.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    _, err = job.communicate(timeout=60)
    if job.returncode == 0:
        pytest.skip("training finished before the signal arrived")
    # both ranks stopped cleanly: no traceback through cnnlab's code (torchrun itself prints one for the signal it
    # got); only rank 0 prints the resume command
    assert err.count("SIGTERM: stopped; checkpoint saved") == 1, err[-3000:]
    assert str(Path(cnnlab.__file__).parent) not in err, err[-3000:]
    saved = load_checkpoint(run / "last.pt")
    assert (saved["epoch"], saved["step"]) < (3, 0)

    resumed = torchrun("-m", "cnnlab", "train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("training basic-cnn on synthetic") == 1  # one progress display: rank 0's (on stdout)
    cnnlab.train("basic-cnn", epochs=2, out=str(tmp_path / "reference"), progress=False, **options)
    got, want = deterministic_columns(run), deterministic_columns(tmp_path / "reference")
    assert [r["epoch"] for r in got] == [1, 2]
    # 92 steps (not 8): the ranks' different float summation order drifts further than in the 1-epoch check.
    assert all(abs(a[k] - b[k]) < 1e-4 for a, b in zip(got, want) for k in a)
    assert max_difference(load_checkpoint(run / "last.pt")["model"],
                          load_checkpoint(tmp_path / "reference" / "last.pt")["model"]) < 1e-4


def test_global_batch_that_does_not_divide_among_processes_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    # The check comes before joining the process group, so one process posing as rank 0 of 2 is enough.
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", "basic-cnn", "--dataset", "synthetic", "--batch-size", "63", "--out", str(tmp_path)]) == 2
    assert "--batch-size 63 is the global batch and must divide evenly among 2 processes" in capsys.readouterr().err


def test_sync_bn_on_cpu_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", "lenet-bn", "--dataset", "synthetic", "--device", "cpu", "--sync-bn",
                 "--out", str(tmp_path)]) == 2
    assert "--sync-bn needs CUDA GPUs" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="SyncBatchNorm runs only on GPUs: needs 2 CUDA devices")
def test_sync_bn_converts_batch_norm_and_ranks_share_its_statistics(tmp_path):
    (tmp_path / "dump").mkdir()
    (tmp_path / "ranks.py").write_text(RANK_SCRIPT)
    runs = [dict(model="lenet-bn", epochs=1, out=str(tmp_path / "run"), sync_bn=True, device="cuda", **SMALL)]
    job = torchrun(str(tmp_path / "ranks.py"), json.dumps(runs), str(tmp_path / "dump"))
    assert job.returncode == 0, job.stderr[-3000:]
    rank0, rank1 = rank_dump(tmp_path, 0, 0), rank_dump(tmp_path, 0, 1)
    assert "SyncBatchNorm" in rank0["modules"] and "BatchNorm2d" not in rank0["modules"]
    assert max_difference(rank0["state"], rank1["state"]) == 0


@pytest.mark.slow  # the default suite: one process's mining (test_hard_examples.py) and two processes' training
def test_hard_example_mining_across_processes_chooses_as_one_process_does(tmp_path):
    """Each process records the losses of its share; at the epoch's end they come together, so both choose the
    same hardest images as one process would (basic-cnn has no batch norm: same losses, same choice). The two
    processes also save last.pt mid-epoch whenever they confer (--save-minutes near 0), which brings the
    losses together early too: the choice must not change."""
    options = dict(model="basic-cnn", epochs=3, hard_fraction=0.5, hard_from=2, **SMALL, **LINEAR)
    (tmp_path / "dump").mkdir()
    (tmp_path / "ranks.py").write_text(RANK_SCRIPT)
    job = torchrun(str(tmp_path / "ranks.py"),
                   json.dumps([dict(out=str(tmp_path / "two"), save_minutes=1e-9, **options)]), str(tmp_path / "dump"))
    assert job.returncode == 0, job.stderr[-3000:]
    cnnlab.train(out=str(tmp_path / "one"), progress=False, **options)
    two, one = load_checkpoint(tmp_path / "two" / "last.pt"), load_checkpoint(tmp_path / "one" / "last.pt")
    assert (two["hard_examples"]["last"] - one["hard_examples"]["last"]).abs().max() < 1e-4
    assert max_difference(two["model"], one["model"]) < 1e-5
    for d, s in zip(deterministic_columns(tmp_path / "two"), deterministic_columns(tmp_path / "one"), strict=True):
        assert all(abs(d[k] - s[k]) < 1e-5 for k in d)


def test_a_session_joins_once_owns_its_watchdog_and_exit_hook_and_leaves_once(monkeypatch):
    """A run's Session (entered once per run): joining again does nothing; closing ends the run but keeps the
    process group and its watchdog for a later run of the same process (destroying and re-creating the group
    between runs raced on the store's port); the exit hook stops the watchdog and leaves the group, once. The
    process group is a stand-in here."""
    import atexit

    import torch.distributed as dist

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    calls, group = [], []
    monkeypatch.setattr(dist, "is_initialized", lambda: bool(group))
    monkeypatch.setattr(dist, "init_process_group", lambda *a, **k: calls.append("init") or group.append(1))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy") or group.clear())

    class Watchdog:
        def __init__(self, *args):
            calls.append("watchdog")

        def start(self):
            calls.append("start")

        def stop(self):
            calls.append("stop")

    monkeypatch.setattr(plumbing, "Watchdog", Watchdog)
    monkeypatch.setattr(atexit, "register", lambda hook: calls.append("hook"))
    monkeypatch.setattr(atexit, "unregister", lambda hook: calls.append("unhook"))
    session = plumbing.Session(64, "cpu")
    with session:
        session.join()  # a second join (build_run after the command line joined): nothing more
        assert session.env.world_size == 2
    session.close()
    assert calls == ["init", "hook", "watchdog", "start"] and group  # the group stays for the process
    second = plumbing.Session(64, "cpu")
    with second:  # a second run in the same process joins the same group: no new group, watchdog or hook
        assert second.env.world_size == 2
    assert calls == ["init", "hook", "watchdog", "start"]
    session.leave()  # at exit
    assert calls == ["init", "hook", "watchdog", "start", "unhook", "stop", "destroy"]
    assert not hasattr(plumbing, "_watchdog")  # no module-global state


def test_device_and_precision_selection_moved_to_cnnlab_device_and_the_old_names_warn():
    from cnnlab import device

    with pytest.warns(DeprecationWarning, match="cnnlab.device.select_device"):
        assert plumbing.select_device is device.select_device
