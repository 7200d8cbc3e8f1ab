"""The run's first lines say what decides the arithmetic and the steps: device, threads and precision in the first
line; the optimizer, rate, momentum and schedule; the defaults a user's own network took; where a resumed run
resumes. --deterministic reproduces a run to the digit."""
import textwrap

from cnnlab.cli import main
from cnnlab.rundir import read_metrics

SMALL = ["--dataset", "synthetic", "--train-limit", "128", "--test-limit", "64", "--threads", "1"]
TIMING = ("seconds", "images_per_s")


def header(out: str) -> list[str]:
    lines = out.splitlines()
    return lines[:lines.index(next(line for line in lines if line.startswith("epoch train_loss")))]


def test_first_line_names_device_threads_and_precision_and_the_optimizer_follows(tmp_path, capsys):
    assert main(["train", "--recipe", "liuer", *SMALL, "--epochs", "1", "--precision", "fp32",
                 "--out", str(tmp_path / "run")]) == 0
    lines = header(capsys.readouterr().out)
    assert lines[0] == "training basic-cnn on synthetic: cpu, 1 thread, float32"
    assert lines[2].startswith("sgd lr 0.01 momentum 0.5, no schedule, batch 64, 1 epoch; run directory ")


def test_a_users_network_gets_the_plain_familys_defaults_and_the_header_says_so(tmp_path, capsys):
    (tmp_path / "mynet.py").write_text(textwrap.dedent("""
        import torch.nn.functional as F
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 5)
                self.fc = nn.Linear(4 * 12 * 12, 10)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.conv(x)), 2)
                return self.fc(x.view(x.size(0), -1))
    """))
    reference = f"{tmp_path / 'mynet.py'}:Net"
    assert main(["train", "--model", reference, *SMALL, "--epochs", "1", "--out", str(tmp_path / "own")]) == 0
    lines = header(capsys.readouterr().out)
    assert lines[2].startswith("adam lr 0.003, no schedule")
    assert ("note: your own network trains with the defaults of the 'plain' family (adam lr 0.003); --optimizer, "
            "--lr and --momentum choose others") in lines
    # choosing the optimizer yourself: no family defaults, no note
    assert main(["train", "--model", reference, *SMALL, "--epochs", "1", "--optimizer", "sgd", "--lr", "0.05",
                 "--out", str(tmp_path / "sgd")]) == 0
    lines = header(capsys.readouterr().out)
    assert lines[2].startswith("sgd lr 0.05, no schedule") and not any("'plain' family" in line for line in lines)


def test_a_resumed_run_says_where_it_resumes(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "basic-cnn", *SMALL, "--epochs", "1", "--out", run]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", run, "--epochs", "2"]) == 0
    first = header(capsys.readouterr().out)[0]
    assert first.startswith("training basic-cnn on synthetic, resuming at epoch 2, step 0 of 2: cpu, 1 thread, ")


def test_deterministic_runs_give_the_same_metrics_to_the_last_digit(tmp_path, capsys):
    rows = []
    for name in ("a", "b"):
        assert main(["train", "basic-cnn", "--dataset", "synthetic", "--train-limit", "256", "--test-limit", "64",
                     "--epochs", "2", "--deterministic", "--out", str(tmp_path / name)]) == 0
        rows.append([{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(tmp_path / name)])
    assert rows[0] == rows[1]
