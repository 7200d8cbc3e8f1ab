"""The trained network cnnlab ships: small, what it says it is, opened by `cnnlab explore` when there are no runs
yet, and named `pretrained` by every command that reads a run (its pictures go under runs/, never into the
installed package)."""
import csv
import json
import os

import pytest

from cnnlab import pretrained
from cnnlab.cli import main
from cnnlab.explore.loader import find_sources
from cnnlab.rundir import checkpoint_path


def test_the_shipped_run_is_small_and_is_liu_ers_basic_cnn_trained_on_fashion_mnist():
    folder = pretrained.directory()
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["best.pt", "config.json", "curves.png", "metrics.csv"]
    assert sum((folder / f).stat().st_size for f in files) < 1_000_000
    info = json.loads((folder / "config.json").read_text())
    assert (info["config"]["model"], info["config"]["dataset"], info["config"]["recipe"]) == (
        "basic-cnn", "fashion-mnist", "liuer")
    assert info["config"]["deterministic"] and info["threads"] == 1  # `make pretrained` reproduces it
    with open(folder / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and float(rows[-1]["test_acc"]) >= 0.88
    assert f"test accuracy {float(rows[-1]['test_acc']):.4f}" in pretrained.describe()


def test_the_name_means_the_shipped_run_unless_something_here_has_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert checkpoint_path("pretrained") == pretrained.directory() / "best.pt"
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "best.pt").write_bytes(b"")
    assert checkpoint_path("pretrained").resolve() == tmp_path / "pretrained" / "best.pt"


def test_explore_with_no_runs_opens_the_shipped_network_and_says_what_it_is(tmp_path, capsys):
    sources = find_sources([], runs_root=str(tmp_path / "runs"))
    assert [(s.label, s.kind) for s in sources] == [("pretrained/best.pt", "checkpoint")]  # no last.pt to wait for
    out = capsys.readouterr().out
    assert "no runs under" in out and "Liu Er's basic CNN trained by cnnlab on Fashion-MNIST" in out
    assert "cnnlab train --recipe liuer" in out


def test_views_of_it_write_under_runs_not_into_the_package(tmp_path, monkeypatch, capsys, fashion_mnist):
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(pretrained.directory()))
    assert main(["predict", "pretrained", "--limit", "4"]) == 0
    assert main(["explain", "pretrained", "--index", "0"]) == 0
    assert main(["features", "pretrained", "--index", "0"]) == 0
    out = capsys.readouterr().out
    assert "4/4 right" in out or "3/4 right" in out
    written = sorted(p.name for p in (tmp_path / "runs" / "pretrained-views").iterdir())
    assert any(n.startswith("predict") for n in written) and any(n.startswith("explain") for n in written)
    assert sorted(os.listdir(pretrained.directory())) == before


@pytest.mark.parametrize("command", [["eval", "pretrained"], ["confusion", "pretrained", "--limit", "50"]])
def test_other_readers_take_the_name_too(tmp_path, monkeypatch, capsys, fashion_mnist, command):
    monkeypatch.chdir(tmp_path)
    assert main([*command, *(["--limit", "200"] if command[0] == "eval" else [])]) == 0
