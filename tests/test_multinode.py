"""More than one machine, on loopback: two `torchrun --nnodes 2` invocations (one process each) that meet over a
c10d rendezvous on 127.0.0.1 train exactly as one process would; a node that dies mid-epoch (all its processes
SIGKILLed at once, or frozen with SIGSTOP so that its connections stay open, as a machine that lost power or its
network) stops the other within a bounded time with one clear message, and a plain re-launch with --resume ends
equal to the run never interrupted; a NaN seen by one rank stops every rank at the same step.
(Single-machine torchrun is tests/test_distributed.py.)"""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.rundir import load_checkpoint, read_metrics

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds a node's processes in /proc")

TORCHRUN = Path(sys.executable).with_name("torchrun")
PACKAGE = str(Path(cnnlab.__file__).parent)  # a traceback through cnnlab's code names files under it
TIMING = ("seconds", "images_per_s")
# 2 epochs of 93 global batches of 64 (the 6,000 synthetic images; 48 left over, skipped distributed, so one
# process gets --train-limit 5952 to take the same batches); 257 test images.
EPOCHS = 2
OPTIONS = dict(dataset="synthetic", epochs=EPOCHS, train_limit=5952, test_limit=257, batch_size=64, threads=1,
               precision="fp32")
ARGS = ["basic-cnn", *[f"--{k.replace('_', '-')}={v}" for k, v in OPTIONS.items()]]
STOP_WITHIN = 60  # seconds for a survivor to stop (measured: 2-4 s after a SIGKILL, PEER_TIMEOUT + 2 s after a freeze)
PEER_TIMEOUT = 5  # CNNLAB_PEER_TIMEOUT for the frozen-node tests
# torchrun's agents share one store across rendezvous rounds by default, and a restarted round then reads the
# dead round's keys (gloo addresses: a connection refused, or a wait that never ends); docs/distributed.md gives
# every elastic torchrun line this setting, which makes each round's processes a fresh store.
ELASTIC_ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Job:
    """Two torchrun invocations on this machine posing as two machines: `--nnodes 2 --nproc-per-node 1`, c10d
    rendezvous on 127.0.0.1, exactly the command docs/distributed.md gives for two real machines."""

    def __init__(self, root: Path, name: str, argv, env=None, launcher=()):
        port, self.root, self.name = free_port(), root, name
        self.command = [str(TORCHRUN), "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"{name}-{port}", *launcher,
                        "-m", "cnnlab", "train", *map(str, argv)]
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.nodes = []
        for n in range(2):
            self.nodes.append(None)
            self.start(n)
            time.sleep(0.5)  # node 0 binds the rendezvous port first and hosts the job's store

    def start(self, n: int) -> None:
        """Launch node `n` (again, after a failure: its logs are appended to)."""
        self.nodes[n] = subprocess.Popen(self.command, stdout=open(self.log(n, "out"), "a"),
                                         stderr=open(self.log(n, "err"), "a"), env=self.env)

    def log(self, node: int, kind: str) -> Path:
        return self.root / f"{self.name}-node{node}.{kind}"

    def err(self, node: int) -> str:
        return self.log(node, "err").read_text()

    def out(self, node: int) -> str:
        return self.log(node, "out").read_text()

    def wait(self, timeout=300) -> list[int]:
        return [node.wait(timeout=timeout) for node in self.nodes]

    def rank0_node(self, timeout=120) -> int:
        """The node whose process got rank 0 (the one that prints the progress display, on stdout)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for n in range(2):
                if "training basic-cnn on" in self.out(n):
                    return n
            time.sleep(0.05)
        raise AssertionError("training never started: " + self.err(0)[-2000:] + self.err(1)[-2000:])

    def end_node(self, n: int, sig) -> None:
        """What a machine failing does to its processes: the torchrun agent and its workers (which torchrun
        starts in sessions of their own) all get `sig` at once."""
        for pid in descendants(self.nodes[n].pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill_all(self) -> None:
        for n in range(2):
            self.end_node(n, signal.SIGKILL)
        for node in self.nodes:
            node.wait(timeout=60)


def running(pid: int) -> bool:
    """Whether `pid` still runs (not gone, not a zombie that its torchrun has yet to reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid] + [p for child in children for p in descendants(int(child))]


def deterministic_metrics(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(run_dir)]


def assert_equal_runs(got: Path, want: Path) -> None:
    assert deterministic_metrics(got) == deterministic_metrics(want)
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(got / name)["model"], load_checkpoint(want / name)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory) -> Path:
    """The uninterrupted two-node run (its directory)."""
    root = tmp_path_factory.mktemp("two-nodes")
    job = Job(root, "whole", [*ARGS, "--out", root / "run"])
    codes = job.wait()
    assert codes == [0, 0], job.err(0)[-3000:] + job.err(1)[-3000:]
    return root / "run"


@pytest.mark.slow  # every two-node run is a slow test (the default suite's two processes: test_distributed.py)
def test_two_nodes_on_loopback_train_as_one_process(two_nodes, tmp_path):
    one = tmp_path / "one"
    cnnlab.train("basic-cnn", progress=False, out=str(one), **OPTIONS)
    config = load_checkpoint(two_nodes / "last.pt")["config"]
    assert config["epochs"] == EPOCHS and (two_nodes / "config.json").read_text().count('"world_size": 2') == 1
    got, want = deterministic_metrics(two_nodes), deterministic_metrics(one)
    assert [r["epoch"] for r in got] == [1, 2]
    # The same 186 steps; the ranks' mean of two half-batch gradients rounds differently from one whole batch.
    assert all(abs(a[k] - b[k]) < 1e-4 for a, b in zip(got, want) for k in a), (got, want)
    a, b = load_checkpoint(two_nodes / "last.pt")["model"], load_checkpoint(one / "last.pt")["model"]
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4


def wait_for_epoch_2(job: Job, run_dir: Path) -> None:
    deadline = time.time() + 120
    while not (run_dir / "metrics.csv").exists():  # epoch 1 is written; epoch 2 takes ~2 s here
        assert time.time() < deadline and job.nodes[0].poll() is None, job.err(0)[-3000:]
        time.sleep(0.01)
    time.sleep(0.2)


def stop_node_mid_epoch(root: Path, victim: str, sig) -> tuple[Job, int, int]:
    """Start the two-node run and end one node (`victim`: "rank0" or "rank1") with `sig` early in epoch 2;
    returns (job, the victim's node, the survivor's node) once the survivor has stopped."""
    job = Job(root, "faulty", [*ARGS, "--out", root / "run"], env={"CNNLAB_PEER_TIMEOUT": str(PEER_TIMEOUT)})
    rank0 = job.rank0_node()
    wait_for_epoch_2(job, root / "run")
    victim_node = rank0 if victim == "rank0" else 1 - rank0
    survivor = 1 - victim_node
    workers = descendants(job.nodes[survivor].pid)[1:]  # the survivor's training process
    assert workers
    job.end_node(victim_node, sig)
    began, code = time.time(), None
    try:
        while any(running(pid) for pid in workers):
            assert time.time() - began < STOP_WITHIN, \
                f"training still ran {STOP_WITHIN} s after the other node's {sig.name}"
            time.sleep(0.05)
        print(f"survivor stopped {time.time() - began:.1f} s after the other node's {sig.name}")
        try:
            code = job.nodes[survivor].wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            # torchrun's own agent, not cnnlab: with the rendezvous host frozen (node 0, the first to bind the
            # port), it waits on that host's store indefinitely (docs/distributed.md)
            assert sig == signal.SIGSTOP and victim_node == 0, f"torchrun still ran {STOP_WITHIN} s after its process"
            code = None
    finally:
        if sig != signal.SIGKILL or code is None:
            job.kill_all()
    assert code != 0
    err = job.err(survivor)
    # one line from cnnlab saying what happened and how to continue; no traceback through cnnlab's code
    # (torchrun's own agent adds its report of a failed worker)
    lines = [line for line in err.splitlines() if "cnnlab: error:" in line]
    assert len(lines) == 1, err[-3000:]
    assert any(what in lines[0] for what in ("lost contact with another process", "has not been heard from",
                                             "store has not answered")), lines
    assert f"relaunch the job with 'cnnlab train --resume {root / 'run'}'" in lines[0]
    assert PACKAGE not in err, err[-3000:]
    return job, victim_node, survivor


def relaunch_and_compare(root: Path, reference: Path) -> None:
    """The checkpoint rank 0 last wrote survived (epoch 1's); a plain re-launch resumes it and ends equal to the
    run never interrupted."""
    saved = load_checkpoint(root / "run" / "last.pt")
    assert (saved["epoch"], saved["step"]) == (2, 0) and len(read_metrics(root / "run")) == 1
    again = Job(root, "relaunched", ["--resume", root / "run"])
    codes = again.wait()
    assert codes == [0, 0], again.err(0)[-3000:] + again.err(1)[-3000:]
    assert not list((root / "run").glob(".*.tmp-*"))
    assert_equal_runs(root / "run", reference)


@pytest.mark.slow
def test_rank_0s_node_killed_mid_epoch_stops_the_other_and_a_relaunch_resumes_equal(two_nodes, tmp_path):
    # rank 0's node is the one that writes, and here also hosts the rendezvous store
    stop_node_mid_epoch(tmp_path, "rank0", signal.SIGKILL)
    relaunch_and_compare(tmp_path, two_nodes)


@pytest.mark.slow  # 15 s, most of it waiting out the peer timeout
def test_a_frozen_node_is_noticed_by_the_heartbeat_within_the_peer_timeout(tmp_path):
    # SIGSTOP keeps the frozen node's connections open: without the heartbeat, gloo would wait 10 minutes
    job, _, survivor = stop_node_mid_epoch(tmp_path, "rank1", signal.SIGSTOP)
    assert f"has not been heard from for {PEER_TIMEOUT} s" in job.err(survivor)
    load_checkpoint(tmp_path / "run" / "last.pt")


@pytest.mark.slow
@pytest.mark.parametrize("victim,sig", [("rank1", signal.SIGKILL), ("rank0", signal.SIGSTOP),
                                        ("rank1", signal.SIGSTOP)])
def test_every_node_failure_stops_the_other_and_a_relaunch_resumes_equal(two_nodes, tmp_path, victim, sig):
    stop_node_mid_epoch(tmp_path, victim, sig)
    relaunch_and_compare(tmp_path, two_nodes)


@pytest.mark.slow
def test_elastic_torchrun_restarts_a_killed_process_and_the_job_continues_its_run_to_an_equal_end(two_nodes, tmp_path):
    # torchrun --max-restarts: node 1's training process dies (SIGKILL: a crash, an out-of-memory kill); its
    # torchrun restarts it, the other node's process stops on the lost peer and its torchrun restarts it too,
    # and the restarted job, finding its own run in --out, continues it from the last checkpoint.
    run = tmp_path / "run"
    job = Job(tmp_path, "elastic", [*ARGS, "--out", run], env=ELASTIC_ENV, launcher=["--max-restarts", "3"])
    job.rank0_node()
    wait_for_epoch_2(job, run)
    workers = descendants(job.nodes[1].pid)[1:]
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    codes = job.wait()
    assert codes == [0, 0], job.err(0)[-3000:] + job.err(1)[-3000:]
    assert sum(job.err(n).count("cnnlab: error:") for n in range(2)) == 1  # the survivor's, before its restart
    assert not any("TORCH_DISABLE_SHARE_RDZV_TCP_STORE" in job.err(n) for n in range(2))  # no note: it is set
    assert_equal_runs(run, two_nodes)


@pytest.mark.parametrize("agent_store, restarts, told", [("True", "3", True), ("False", "3", False),
                                                         ("True", "0", False)])
def test_a_restartable_job_on_the_shared_store_is_told_the_setting_that_avoids_a_hang(monkeypatch, agent_store,
                                                                                        restarts, told):
    from cnnlab.distributed import elastic_store_shared

    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", agent_store)
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", restarts)
    assert elastic_store_shared() is told


# Run under torchrun: `cnnlab train`, with rank 1's network returning NaN on its 25th training forward (a
# progress check: rank 0's running loss is still finite there, rank 1's is not).
NAN_SCRIPT = textwrap.dedent("""
    import os, sys
    import torch
    import cnnlab.prepare
    from cnnlab.cli import main

    class PoisonOnRank1(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.calls = net, 0

        def forward(self, x):
            out = self.net(x)
            if self.training:
                self.calls += 1
                if self.calls == 25 and os.environ["RANK"] == "1":
                    out = out * float("nan")
            return out

    create = cnnlab.prepare.create_model
    cnnlab.prepare.create_model = lambda *a, **k: PoisonOnRank1(create(*a, **k))
    code = main(sys.argv[1:])
    open(os.path.join(os.environ["DUMP"], "rank" + os.environ["RANK"]), "w").write(str(code))
    sys.exit(code)
""")


@pytest.mark.slow  # one process's NaN: test_train.py::test_a_diverging_loss_*
def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step_with_one_message(tmp_path):
    (tmp_path / "nan.py").write_text(NAN_SCRIPT)
    job = subprocess.run([str(TORCHRUN), "--standalone", "--nproc-per-node", "2", str(tmp_path / "nan.py"), "train",
                          *ARGS, "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "DUMP": str(tmp_path)})
    assert job.returncode != 0
    # both processes stopped on the error (exit status 2), neither on a failed collective
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["2", "2"], job.stderr[-3000:]
    lines = [line[line.index("cnnlab: error:"):] for line in job.stderr.splitlines() if "cnnlab: error:" in line]
    assert lines == ["cnnlab: error: loss became nan or inf in another process in epoch 1 (step 25); stopped. "
                     f"last good checkpoint: {tmp_path / 'run' / 'last.pt'}"], job.stderr[-3000:]
    assert PACKAGE not in job.stderr and "lost contact" not in job.stderr


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_peer_timeout_is_a_one_line_error(monkeypatch, tmp_path, capsys, value):
    from cnnlab.cli import main

    # checked before joining the process group, so one process posing as rank 0 of 2 is enough
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("CNNLAB_PEER_TIMEOUT", value)
    assert main(["train", "basic-cnn", "--dataset", "synthetic", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == \
        f"cnnlab: error: CNNLAB_PEER_TIMEOUT={value}: must be a number of seconds above 0\n"
