"""Hard-example mining (--hard-fraction, --hard-from): which images an epoch trains on, that the losses of every
process come together, and that a run stopped mid-epoch resumes exactly."""
import pytest
import torch

import cnnlab
from cnnlab.config import resolve
from cnnlab.data import Batches, Split
from cnnlab.errors import ConfigError
from cnnlab.hard_examples import LossMemory
from cnnlab.report import NullReporter
from cnnlab.rundir import load_checkpoint, read_metrics
from cnnlab.steps import images_in_epoch
from cnnlab.trainer import Interrupted, build_run, train_run

FAST = dict(dataset="synthetic", threads=1, train_limit=1200, test_limit=200, batch_size=100)


def numbered(n):
    """Image i is filled with i and labelled i."""
    return Split((torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1).expand(n, 28, 28).contiguous(), torch.arange(n))


def test_the_hardest_are_the_images_with_the_highest_loss_when_last_seen():
    memory = LossMemory(6, "cpu")
    memory.record(torch.tensor([0, 1, 2]), torch.tensor([0.5, 3.0, 0.1]))
    memory.record(torch.tensor([3, 4, 5]), torch.tensor([2.0, 0.2, 1.0]))
    assert memory.last.tolist() == [0.0] * 6  # the epoch in progress does not change its own choice
    memory.end_epoch()
    assert memory.hardest(3).tolist() == [1, 3, 5]
    memory.record(torch.tensor([1, 3, 5]), torch.tensor([0.05, 0.05, 0.05]))  # only the chosen were trained on
    memory.end_epoch()
    assert memory.hardest(3).tolist() == [0, 2, 4]  # the others keep the loss they had when last seen
    assert (memory.fresh < 0).all()


def test_losses_of_every_process_come_together():
    ranks = [LossMemory(4, "cpu"), LossMemory(4, "cpu")]
    ranks[0].record(torch.tensor([0, 2]), torch.tensor([1.0, 2.0]))
    ranks[1].record(torch.tensor([1, 3]), torch.tensor([3.0, 4.0]))
    ranks[1].record(torch.tensor([2]), torch.tensor([2.0]))  # an image both hold (a resumed epoch) counts once
    shares = [[torch.where(m.fresh >= 0, m.fresh, 0.0), (m.fresh >= 0).float()] for m in ranks]
    for me, other in ((0, 1), (1, 0)):
        sent = list(shares[other])
        ranks[me].end_epoch(all_sum=lambda t, sent=sent: t + sent.pop(0))
        assert ranks[me].last.tolist() == [1.0, 3.0, 2.0, 4.0]


def test_batches_of_a_selection_hold_those_images_in_a_seeded_order_with_their_indices():
    batches = Batches(numbered(50), 8, shuffle=True, seed=3)
    batches.select(torch.tensor([4, 9, 17, 23, 30, 41, 42, 44, 48, 49]))
    assert len(batches) == 2 and batches.count == 10
    seen = [(index, y) for index, _, y in batches.indexed()]
    assert all(torch.equal(index, y) for index, y in seen)  # each index is the image's place in the split
    assert sorted(torch.cat([y for _, y in seen]).tolist()) == [4, 9, 17, 23, 30, 41, 42, 44, 48, 49]
    assert [y.tolist() for _, y in batches] == [y.tolist() for _, y in seen]  # the same order, epoch after epoch
    batches.select(None)
    assert len(batches) == 7 and sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(50))


def test_epochs_from_hard_from_on_train_on_the_fraction_and_the_schedule_counts_their_steps(tmp_path):
    config = resolve(dict(model="basic-cnn", epochs=4, hard_fraction=0.5, hard_from=3, schedule="onecycle",
                          out=str(tmp_path), **FAST))
    assert [images_in_epoch(config, 1200, e) for e in (1, 2, 3, 4)] == [1200, 1200, 600, 600]
    run = build_run(config)
    assert run.schedule.total_steps == 12 + 12 + 6 + 6
    steps = StepsSeen()
    history = train_run(run, steps)
    assert steps.per_epoch == [12, 12, 6, 6]
    assert history[-1]["test_acc"] > 0.5
    saved = load_checkpoint(tmp_path / "last.pt")["hard_examples"]
    assert saved["last"].shape == (1200,) and (saved["last"] > 0).all() and (saved["fresh"] < 0).all()


class StepsSeen(NullReporter):
    def __init__(self):
        self.per_epoch = []

    def epoch_start(self, epoch, steps, step):
        self.per_epoch.append(steps)


class StopAfter:
    """A stop flag that asks to stop after `checks` looks (the trainer looks once per step and per epoch)."""

    def __init__(self, checks):
        self.checks, self.signame = checks, None

    @property
    def requested(self):
        self.checks -= 1
        if self.checks < 0:
            self.signame = "SIGINT"
        return self.signame is not None


def test_a_run_stopped_mid_epoch_of_the_hardest_resumes_exactly(tmp_path):
    options = dict(model="basic-cnn", epochs=4, hard_fraction=0.4, hard_from=2, **FAST)
    whole = cnnlab.train(out=str(tmp_path / "whole"), progress=False, **options)
    run = build_run(resolve(dict(out=str(tmp_path / "part"), **options)))
    with pytest.raises(Interrupted):
        # one look per epoch and per step: stop after 2 steps of epoch 3
        train_run(run, stop=StopAfter(1 + 12 + 1 + 5 + 1 + 1))
    assert load_checkpoint(tmp_path / "part" / "last.pt")["step"] == 2
    resumed = cnnlab.train(resume_from=tmp_path / "part", progress=False)
    def strip(rows):
        return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]

    assert strip(read_metrics(tmp_path / "part")) == strip(whole.history)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("flag,value", [("hard_fraction", 0.0), ("hard_fraction", 1.5), ("hard_from", 0)])
def test_a_fraction_outside_0_1_or_an_epoch_below_1_is_refused_by_name(flag, value):
    with pytest.raises(ConfigError, match=f"--{flag.replace('_', '-')} must"):
        resolve({"model": "basic-cnn", flag: value})
