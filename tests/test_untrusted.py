"""Nothing executed, nothing written elsewhere: a checkpoint that carries code is refused by every command that
reads checkpoints without running that code, and a training run plus every view writes only into the output
directory, the current directory (the views' default) and the cache. (Downloads: tests/test_download.py;
IDX parsing: tests/test_idx_fuzz.py.)"""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnlab.cli import main
from cnnlab.errors import CheckpointError
from cnnlab.rundir import load_checkpoint


class Touch:
    """Unpickling this creates `marker`: the smallest stand-in for code run by loading a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


class Shell:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious(kind: str, path: Path, marker: Path, good_run: Path) -> Path:
    """A checkpoint-looking file whose loading would create `marker`:
    torch: a real cnnlab checkpoint (torch.save) with the payload tucked in beside the weights;
    pickle: a raw pickle of the payload; shell: torch.save of a payload running `touch`."""
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"model": Touch(marker), "config": {"model": "basic-cnn"}}))
    else:
        payload = torch.load(good_run / "last.pt", weights_only=True)
        payload["extra"] = Touch(marker) if kind == "torch" else Shell(marker)
        torch.save(payload, path)
    return path


KINDS = ["torch", "pickle", "shell"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_malicious_files_are_armed_when_loaded_unsafely(kind, good_run, tmp_path):
    """The oracle: loading these files the unsafe way does create the marker, so the tests below can fail."""
    marker = tmp_path / "marker"
    path = malicious(kind, tmp_path / "evil.pt", marker, good_run)
    if kind == "pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


COMMANDS = {  # every command that reads a checkpoint
    "eval": ["eval", "{ckpt}"],
    "predict": ["predict", "{ckpt}", "--out", "{tmp}/p.png"],
    "predict-image": ["predict", "{ckpt}", "{image}", "--out", "{tmp}/p.png"],
    "confusion": ["confusion", "{ckpt}", "--out", "{tmp}/c.png"],
    "confusion-run-dir": ["confusion", "{run}", "--out", "{tmp}/c.png"],  # a run directory means its best.pt
    "tsne": ["tsne", "{ckpt}", "--out", "{tmp}/t.png"],
    "features": ["features", "{ckpt}", "--out", "{tmp}/f.png"],
    "kernels": ["kernels", "{ckpt}", "--out", "{tmp}/k.png"],
    "resume": ["train", "--resume", "{run}"],  # its last.pt
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_checkpoint_carrying_code_is_refused_without_running_it(kind, command, good_run, tmp_path, capsys):
    from PIL import Image

    marker = tmp_path / "marker"
    evil = malicious(kind, tmp_path / "evil.pt", marker, good_run)
    run = tmp_path / "run"
    run.mkdir()
    for name in ("last.pt", "best.pt"):
        (run / name).write_bytes(evil.read_bytes())
    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    argv = [a.format(ckpt=evil, run=run, tmp=tmp_path, image=tmp_path / "digit.png") for a in COMMANDS[command]]
    code = main(argv)
    err = capsys.readouterr().err
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert code == 2 and err.count("\n") == 1 and err.startswith("cnnlab: error: "), err
    if kind == "pickle":
        assert "not a cnnlab checkpoint (not a PyTorch zip archive)" in err
    else:
        assert "refused to load: it holds more than tensors and plain data, e.g. code that would run on loading" in err
    assert not list(tmp_path.glob("[pctfk].png"))


@pytest.mark.parametrize("kind", KINDS)
def test_load_checkpoint_refuses_code_with_a_checkpoint_error(kind, good_run, tmp_path):
    marker = tmp_path / "marker"
    with pytest.raises(CheckpointError, match="evil.pt: "):
        load_checkpoint(malicious(kind, tmp_path / "evil.pt", marker, good_run))
    assert not marker.exists()


# ---------------------------------------------------------------- nothing written elsewhere
# Runs cnnlab commands in one fresh interpreter with an audit hook (PEP 578) that logs every file opened for
# writing, every directory made, every file renamed or removed: writes from Python, the trainer's atomic writes,
# matplotlib and PIL included.
AUDITED_RUNNER = r"""
import json, os, sys
log = open(sys.argv[1], "w")
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
TRACKED = {"os.mkdir": 0, "os.rename": 1, "os.remove": 0, "os.rmdir": 0, "os.symlink": 1, "os.link": 1,
           "os.truncate": 0, "shutil.copyfile": 1}

def hook(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE
        if writing and not isinstance(path, int):
            log.write(os.path.abspath(os.fsdecode(path)) + "\n")
    elif event in TRACKED:
        path = args[TRACKED[event]]
        if not isinstance(path, int):
            log.write(os.path.abspath(os.fsdecode(path)) + "\n")

sys.addaudithook(hook)
from cnnlab.cli import main
for argv in json.loads(sys.argv[2]):
    code = main(argv)
    if code:
        sys.exit(f"cnnlab {' '.join(argv)} exited with {code}")
log.close()
"""


def test_training_and_every_view_write_only_to_the_output_current_and_cache_directories(tmp_path):
    from PIL import Image

    home, cache, cwd, temp = (tmp_path / name for name in ("home", "cache", "cwd", "tmp"))
    for d in (home, cache, cwd, temp):
        d.mkdir()
    run, views = tmp_path / "out" / "run", tmp_path / "out" / "views"
    image = tmp_path / "inputs" / "digit.png"
    image.parent.mkdir()
    Image.new("L", (28, 28)).save(image)
    commands = [
        ["train", "basic-cnn", "--dataset", "synthetic", "--epochs", "1", "--train-limit", "200", "--test-limit", "100",
         "--threads", "1", "--out", str(run)],
        ["eval", str(run)],
        ["predict", str(run)],  # default: beside the checkpoint
        ["predict", str(run), str(image), "--out", str(views / "predict_file.png")],
        ["confusion", str(run), "--limit", "100"],
        ["tsne", str(run), "--limit", "60", "--out", str(views / "tsne.png")],
        ["features", str(run)],
        ["kernels", str(run)],
        ["show", "synthetic", "--limit", "8"],  # default: runs/show/ under the current directory
        ["plot", str(run), "--out", str(views / "curves.png")],
        ["compare", str(run)],  # default: compare/ beside the run
        ["summary", "lenet", "--graph", str(views / "lenet.dot")],
    ]
    # TORCHINDUCTOR_CACHE_DIR: torch sets it in this process on first use; a user's fresh shell does not have it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNNLAB_", "MPL", "XDG_", "TORCHINDUCTOR_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache), TMPDIR=str(temp), OMP_NUM_THREADS="1")
    log = tmp_path / "writes.log"
    result = subprocess.run([sys.executable, "-c", AUDITED_RUNNER, str(log), json.dumps(commands)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(set(log.read_text().splitlines()))
    assert {str(run / "last.pt"), str(run / "kernels.png"), str(run.parent / "compare" / "compare.csv")} \
        <= set(written)  # the hook sees
    # Besides cnnlab's own places, two libraries make directories of their own, named here so that anything else
    # fails: matplotlib its config directory (~/.config/matplotlib, left empty) and PyTorch its compiler cache
    # ($TMPDIR/torchinductor_$USER, made on the first optimizer step, left empty).
    allowed = (run.parent, cwd, cache, temp, home / ".config" / "matplotlib")
    elsewhere = [p for p in written if not any(Path(p).is_relative_to(d) for d in allowed)
                 and p not in (os.devnull, str(home / ".config"))]
    assert not elsewhere, f"written outside the output, current and cache directories: {elsewhere}"
    # what the audit saw is what is on disk: no file in the home, temporary or input directories
    assert not [p for p in [*home.rglob("*"), *temp.rglob("*")] if not p.is_dir()]
    assert [p.name for p in image.parent.iterdir()] == ["digit.png"]
    written = {p.name for p in run.iterdir()}
    assert {"last.pt", "best.pt", "metrics.csv", "config.json", "predict.png", "kernels.png"} <= written
    assert [p.name for p in cwd.iterdir()] == ["runs"]  # nothing else in the working directory
    assert (cwd / "runs" / "show" / "synthetic-test.png").is_file()
    assert (run.parent / "compare" / "compare.csv").is_file()
