"""Your own network: cnnlab.train(net) and `--model FILE.py:CALLABLE` train any nn.Module with the whole trainer
(run directory, exact resume, speed switches only where its code survives them, one clear error when it rejects
the input), every view takes it, and cnnlab never imports code because a run names it."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab import views
from cnnlab.cli import main
from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.network import probe
from cnnlab.rundir import load_checkpoint, read_metrics

TINY = dict(dataset="synthetic", train_limit=300, test_limit=100, threads=1, progress=False)
TIMING = ("seconds", "images_per_s")


class LiuErNet(nn.Module):
    """Liu Er's lecture 10 network as the course writes it: x.view(batch_size, -1) fails on channels-last tensors."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(320, 10)

    def forward(self, x):
        batch_size = x.size(0)
        x = self.pooling(F.relu(self.conv1(x)))
        x = self.pooling(F.relu(self.conv2(x)))
        x = x.view(batch_size, -1)
        return self.fc(x)


class Inception(nn.Module):
    """Branches concatenated (lecture 11's InceptionA, smaller)."""

    def __init__(self, channels):
        super().__init__()
        self.branch1 = nn.Conv2d(channels, 4, 1)
        self.branch2 = nn.Sequential(nn.Conv2d(channels, 4, 1), nn.Conv2d(4, 6, 3, padding=1))
        self.branch_pool = nn.Conv2d(channels, 6, 1)

    def forward(self, x):
        pooled = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([self.branch1(x), self.branch2(x), pooled], dim=1)


class BranchNet(nn.Module):
    """Modules defined in another order than forward calls them; returns (logits, features) like Morvan's."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16 * 12 * 12, 10)  # defined first, called last
        self.conv = nn.Conv2d(1, 8, 5)
        self.incep = Inception(8)
        self.bn = nn.BatchNorm2d(16)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)  # (N, 8, 12, 12)
        x = F.relu(self.bn(self.incep(x)))  # (N, 16, 12, 12)
        features = self.drop(x.flatten(1))
        return self.fc(features), features


class NoAutocastNet(LiuErNet):
    """Runs in float32, fails under autocast: index_add needs self and source of one dtype."""

    def forward(self, x):
        logits = super().forward(x)
        return torch.zeros(logits.shape).index_add(0, torch.arange(len(x)), logits)


def d2l_lenet():
    """d2l's LeNet (seed 003) as one nn.Sequential, built by a zero-argument function."""
    return nn.Sequential(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                         nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def columns(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(run_dir)]


@pytest.fixture(scope="module")
def liu_run(tmp_path_factory):
    """Liu Er's Net trained 2 epochs through cnnlab.train(net) (default settings: bf16 autocast where the CPU has
    it, channels_last asked for)."""
    out = tmp_path_factory.mktemp("own") / "liu"
    net = LiuErNet()
    result = cnnlab.train(net, epochs=2, optimizer="adam", lr=3e-3, out=str(out), **TINY)
    return net, result


# ---------------------------------------------------------------- training
def test_a_forward_that_views_trains_with_channels_last_turned_off_and_says_why(liu_run, capsys):
    net, result = liu_run
    assert result.model is net  # trained in place, as plain PyTorch would
    assert result.history[-1]["test_acc"] > 0.4  # chance is 0.1
    info = json.loads((result.run_dir / "config.json").read_text())
    assert info["config"]["channels_last"] is False
    assert len(info["notices"]) == 1 and info["notices"][0].startswith("channels_last turned off for")
    assert "view size is not compatible" in info["notices"][0]
    assert load_checkpoint(result.run_dir)["evaluation"]["channels_last"] is False
    assert info["network"]["kind"] in ("module", "reference") and info["mult_adds"] > 0


def test_the_notice_is_one_line_on_the_console(tmp_path, capsys):
    cnnlab.train(LiuErNet(), epochs=1, out=str(tmp_path / "r"), **{**TINY, "progress": True})
    out = capsys.readouterr().out  # with the run's header, on stdout
    # the probe's notices, beside the header's other notes (defaults, precision: test_run_header.py)
    notes = [line for line in out.splitlines() if line.startswith("note: ") and "turned off" in line]
    assert len(notes) == 1 and "channels_last turned off for LiuErNet" in notes[0]
    assert not any("channels_last" in line for line in out.splitlines() if not line.startswith("note: "))


def test_the_result_unpacks_carries_the_run_directory_and_shows_as_one_line(liu_run):
    net, result = liu_run
    model, history = result
    assert model is net and history.run_dir == result.run_dir and (result.run_dir / "best.pt").is_file()
    assert history == read_metrics(result.run_dir)
    text = repr(result)
    assert "\n" not in text and len(text) < 300 and "LiuErNet, 2 epochs" in text and str(result.run_dir) in text


def test_a_recipe_applies_its_optimizer_init_and_data_settings_to_your_network(tmp_path):
    result = cnnlab.train(d2l_lenet, recipe="d2l-lenet", epochs=1, out=str(tmp_path / "r"), **TINY)
    config = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert (config["lr"], config["batch_size"], config["init"], config["normalize"]) == (0.9, 256, "xavier", "none")
    assert config["model"] == "d2l_lenet" and isinstance(result.model, nn.Sequential)
    assert "notices" not in json.loads((tmp_path / "r" / "config.json").read_text())  # a Sequential is safe


def test_a_forward_failing_under_autocast_trains_in_float32_with_a_notice(tmp_path):
    result = cnnlab.train(NoAutocastNet(), epochs=1, precision="bf16", out=str(tmp_path / "r"), **TINY)
    info = json.loads((tmp_path / "r" / "config.json").read_text())
    assert info["precision"] == "float32" and info["config"]["precision"] == "fp32"
    assert any(n.startswith("bfloat16 autocast turned off for NoAutocastNet") for n in info["notices"])
    assert len(result.history) == 1


def test_a_network_rejecting_the_input_size_names_the_layer_and_shapes_and_claims_no_directory(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(ConfigError) as error:
        cnnlab.train(LiuErNet(), epochs=1, resize=32, out=str(out), **TINY)
    message = str(error.value)
    assert "\n" not in message
    assert "LiuErNet rejects input [8, 1, 32, 32]: layer 'fc' (Linear(in_features=320" in message
    assert "got [8, 500]" in message
    assert not out.exists()
    cnnlab.train(LiuErNet(), epochs=1, out=str(out), **TINY)  # the same --out then trains
    assert (out / "last.pt").is_file()


def test_a_network_with_the_wrong_number_of_outputs_is_one_clear_error():
    five = nn.Sequential(nn.Flatten(), nn.Linear(784, 5))
    with pytest.raises(ConfigError, match=r"returns \[8, 5\] for a batch of 8 images; it must return one score per "
                                          r"class, \(8, 10\)"):
        cnnlab.train(five, epochs=1, **TINY)


def test_the_probe_leaves_weights_statistics_gradients_and_the_random_state_alone():
    torch.manual_seed(0)
    net = BranchNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(8, 1, 28, 28)
    rng = torch.get_rng_state()
    result = probe(net, x, 10, "BranchNet", torch.bfloat16, True)
    assert result.channels_last and result.notices == []
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BatchNorm statistics too
    assert torch.equal(rng, torch.get_rng_state()) and all(p.grad is None for p in net.parameters())


def test_resume_after_a_stop_continues_exactly_with_the_same_architecture(tmp_path):
    whole = cnnlab.train(BranchNet, epochs=2, out=str(tmp_path / "whole"), **TINY)
    cnnlab.train(BranchNet, epochs=1, out=str(tmp_path / "part"), **TINY)
    resumed = cnnlab.train(BranchNet(), resume_from=tmp_path / "part", epochs=2, progress=False)
    assert columns(tmp_path / "part") == columns(tmp_path / "whole")
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_architecture_names_the_first_tensor_that_does_not_fit(liu_run):
    _, result = liu_run

    class Wider(LiuErNet):
        def __init__(self):
            super().__init__()
            self.conv2 = nn.Conv2d(10, 30, kernel_size=5)
            self.fc = nn.Linear(480, 10)

    with pytest.raises(CheckpointError, match=r"'conv2.weight' is \[20, 10, 5, 5\] in the checkpoint but "
                                              r"\[30, 10, 5, 5\] in the model"):
        cnnlab.train(Wider(), resume_from=result.run_dir, epochs=3, progress=False)
    with pytest.raises(CheckpointError, match="trained with your network test_own_network:LiuErNet; .*model=LiuErNet"):
        cnnlab.train(resume_from=result.run_dir, epochs=3, progress=False)


# ---------------------------------------------------------------- looking inside
def test_every_view_takes_a_module_with_a_data_set(liu_run, tmp_path):
    net, _ = liu_run
    shown = views.predict(net, dataset="synthetic", limit=6, out=tmp_path / "p.png")
    assert len(shown.predictions) == 6 and shown.is_file()
    result = views.confusion(net, dataset="synthetic", limit=100, out=tmp_path / "c.png")
    assert int(result.matrix.sum()) == 100 and result.path.is_file()
    assert "\n" not in repr(result) and repr(result).startswith("Confusion(accuracy ")
    assert views.tsne(net, dataset="synthetic", limit=40, out=tmp_path / "t.png").is_file()
    maps = views.features(net, dataset="synthetic", index=3, out=tmp_path / "f.png")
    assert [shape for _, shape in maps.layers] == [(1, 10, 24, 24), (1, 20, 8, 8)] and maps.is_file()
    kernels = views.kernels(net, out=tmp_path / "k.png")
    assert (kernels.layer, kernels.shape) == ("conv1", (10, 1, 5, 5)) and kernels.is_file()
    assert net.training  # the views use a copy in eval mode: the user's module keeps its mode


def test_views_of_a_run_of_your_network_take_the_result_or_the_run_with_the_network(liu_run, tmp_path):
    net, result = liu_run
    from_result = views.confusion(result, out=tmp_path / "a.png")
    from_run = views.confusion(result.run_dir, model=LiuErNet, out=tmp_path / "b.png")
    assert torch.equal(from_result.matrix, from_run.matrix)
    best = max(result.history, key=lambda r: r["test_acc"])["test_acc"]
    assert from_run.accuracy == pytest.approx(best, abs=1e-6)  # best.pt, evaluated as training did
    with pytest.raises(CheckpointError, match=r"never imports code a run names.*\(from Python: model=LiuErNet\)"):
        views.confusion(result.run_dir)
    assert views.plot(result, out=tmp_path / "curves.png").is_file()


def test_summary_and_penultimate_handle_a_custom_forward_with_branches():
    net = BranchNet().eval()
    summary = cnnlab.summary(net)
    assert summary.input_shape == (1, 1, 28, 28) and summary.total_params == sum(p.numel() for p in net.parameters())
    assert "incep.branch2.1" in [r.name for r in summary.rows]
    assert "\n" not in repr(summary) and len(repr(summary)) < 200 and repr(summary) in summary._repr_html_()
    features = cnnlab.penultimate(net, torch.randn(3, 1, 28, 28))
    assert features.shape == (3, 16 * 12 * 12)  # the input of fc, the layer forward calls last
    with pytest.raises(ConfigError, match=r"LiuErNet rejects input \[1, 1, 32, 32\]: layer 'fc'"):
        cnnlab.summarize(LiuErNet(), (1, 32, 32))


# ---------------------------------------------------------------- the command line
NET_FILE = textwrap.dedent('''
    import torch
    import torch.nn.functional as F
    from pathlib import Path

    MARKER = {marker!r}
    if MARKER:
        Path(MARKER).write_text("imported")  # stands in for any code run on import


    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 10, kernel_size=5)
            self.pooling = torch.nn.MaxPool2d(2)
            self.fc = torch.nn.Linear(1440, 10)

        def forward(self, x):
            batch_size = x.size(0)
            x = self.pooling(F.relu(self.conv1(x)))
            return self.fc(x.view(batch_size, -1))
''')


def write_net(path: Path, marker=None) -> Path:
    path.write_text(NET_FILE.format(marker=str(marker) if marker else None))
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


CLI_TINY = ["--dataset", "synthetic", "--train-limit", "300", "--test-limit", "100", "--threads", "1"]


@pytest.fixture(scope="module")
def marker_run(tmp_path_factory):
    """A run of a network file whose import writes a marker file, trained with --model FILE.py:Net."""
    root = tmp_path_factory.mktemp("marker")
    marker = root / "imported.txt"
    net_file = write_net(root / "marked_net.py", marker)
    assert main(["train", "--model", f"{net_file}:Net", "--epochs", "1", "--out", str(root / "run"), *CLI_TINY]) == 0
    assert marker.exists()  # the user named it on the command line: imported
    return root / "run", f"{net_file}:Net", marker


def test_a_file_reference_trains_from_the_command_line_and_the_run_records_it(marker_run):
    run, reference, _ = marker_run
    info = json.loads((run / "config.json").read_text())
    assert info["config"]["model"] == reference and info["network"]["reference"] == reference
    assert load_checkpoint(run)["network"]["reference"] == reference
    assert len(read_metrics(run)) == 1


COMMANDS_NEEDING_THE_MODEL = [["eval"], ["predict", "--limit", "4"], ["confusion"], ["tsne", "--limit", "20"],
                              ["features"], ["kernels"]]


@pytest.mark.parametrize("command", COMMANDS_NEEDING_THE_MODEL, ids=lambda c: c[0])
def test_no_command_imports_the_reference_a_run_names_until_the_user_passes_it(marker_run, command, tmp_path, capsys):
    run, reference, marker = marker_run
    marker.unlink(missing_ok=True)
    out = ["--out", str(tmp_path / "x.png")] if command[0] != "eval" else []
    code, _, err = run_cli(capsys, command[0], run, *command[1:], *out)
    assert code == 2 and not marker.exists()
    assert err.count("\n") == 1 and f"trained with your network {reference}" in err
    assert f"cnnlab {command[0]} {run} --model {reference}" in err  # the command to use
    code, stdout, _ = run_cli(capsys, command[0], run, *command[1:], *out, "--model", reference)
    assert code == 0 and marker.exists()  # passed by the user: imported, and the view works


def test_resume_and_the_python_api_never_import_a_stored_reference_either(marker_run, capsys):
    run, reference, marker = marker_run
    marker.unlink(missing_ok=True)
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", "2")
    assert code == 2 and f"cnnlab train --resume {run} --model {reference}" in err
    with pytest.raises(CheckpointError, match="never imports code a run names"):
        cnnlab.load_trained(run)
    marker.unlink(missing_ok=True)
    trained = cnnlab.load_trained(run, model=reference)  # named by the user: imported
    assert marker.exists() and "\n" not in repr(trained)
    assert repr(trained).startswith(f"TrainedNetwork({reference} from ")
    marker.unlink()
    with pytest.raises(CheckpointError):
        views.kernels(run)
    assert not marker.exists()


def test_plot_and_compare_need_only_metrics_and_build_no_model(marker_run, tmp_path, capsys):
    run, _, marker = marker_run
    marker.unlink(missing_ok=True)
    code, out, _ = run_cli(capsys, "plot", run, "--out", tmp_path / "c.png")
    assert code == 0 and (tmp_path / "c.png").is_file()
    code, out, _ = run_cli(capsys, "compare", run, "--out", tmp_path)
    assert code == 0 and "| 1 |" in out and not marker.exists()


@pytest.mark.slow  # a script's own network in the default suite: test_a_network_defined_in_a_script_*
def test_compare_works_on_a_run_of_a_model_registered_in_the_users_own_script(tmp_path):
    script = tmp_path / "mine.py"
    script.write_text(textwrap.dedent(f'''
        import torch.nn as nn
        import cnnlab

        @cnnlab.register_model("my-cnn", description="mine", source="me")
        def my_cnn(num_classes=10, in_channels=1):
            return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * 26 * 26, num_classes))

        cnnlab.train("my-cnn", dataset="synthetic", epochs=1, train_limit=200, test_limit=50, threads=1,
                     progress=False, out={str(tmp_path / "mine")!r})
    '''))
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=120)
    result = subprocess.run([sys.executable, "-m", "cnnlab", "compare", str(tmp_path / "mine"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "my-cnn" in result.stdout
    result = subprocess.run([sys.executable, "-m", "cnnlab", "eval", str(tmp_path / "mine")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "pass it (--model FILE.py:CALLABLE" in result.stderr


def test_a_class_taking_in_channels_is_built_for_the_datas_channels_in_training_and_when_read_back(tmp_path, capsys):
    from PIL import Image

    for name, colour in {"red": (200, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 210)}.items():
        (tmp_path / "shapes" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (20, 20), colour).save(tmp_path / "shapes" / name / f"{i}.png")
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self, num_classes=10, in_channels=1):
                super().__init__()
                self.conv = nn.Conv2d(in_channels, 4, 3)
                self.fc = nn.Linear(4 * 26 * 26, num_classes)

            def forward(self, x):
                return self.fc(self.conv(x).relu().flatten(1))
    """))
    model, run = f"{tmp_path / 'net.py'}:Net", tmp_path / "run"
    assert main(["train", "--model", model, "--dataset", f"folder:{tmp_path / 'shapes'}", "--epochs", "1",
                 "--threads", "1", "--out", str(run)]) == 0
    assert load_checkpoint(run / "best.pt")["model"]["conv.weight"].shape[1] == 3  # colour: 3 input channels
    capsys.readouterr()
    assert main(["eval", str(run), "--model", model]) == 0
    assert f"accuracy {read_metrics(run)[-1]['test_acc']:.4f}" in capsys.readouterr().out


def test_a_package_reference_trains_and_rebuilds(tmp_path, monkeypatch, capsys):
    package = tmp_path / "pkg_nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_net(package / "small.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli(capsys, "train", "pkg_nets.small:Net", "--epochs", "1", "--out", tmp_path / "r", *CLI_TINY)
    assert code == 0, err
    code, out, _ = run_cli(capsys, "eval", tmp_path / "r", "--model", "pkg_nets.small:Net")
    assert code == 0 and "pkg_nets.small:Net on synthetic test (100 images" in out


@pytest.mark.parametrize("reference, message", [
    ("nowhere.py:Net", "no such file nowhere.py"),
    ("{file}:Missing", "has no 'Missing' (it defines: Net"),
    ("no_such_package_x.mod:Net", "no module named 'no_such_package_x'"),
])
def test_a_bad_reference_is_one_line_naming_it(reference, message, tmp_path, capsys):
    net_file = write_net(tmp_path / "n.py")
    reference = reference.format(file=net_file)
    code, _, err = run_cli(capsys, "train", "--model", reference, "--epochs", "1", "--out", tmp_path / "r", *CLI_TINY)
    assert code == 2 and err.count("\n") == 1 and f"--model {reference}" in err and message in err
    assert not (tmp_path / "r").exists()


TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.slow  # 9 s; two ranks in the default suite: test_distributed.py's zoo runs
def test_your_network_trains_under_torchrun(tmp_path):
    net_file = write_net(tmp_path / "n.py")
    result = subprocess.run([str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "cnnlab", "train",
                             "--model", f"{net_file}:Net", "--epochs", "1", "--batch-size", "64", "--precision", "fp32",
                             "--out", str(tmp_path / "ddp"), *CLI_TINY], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert info["world_size"] == 2 and info["config"]["channels_last"] is False
    assert len(read_metrics(tmp_path / "ddp")) == 1


# ---------------------------------------------------------------- the seeds' networks, pasted as they are
class InceptionA(nn.Module):  # Liu Er's lecture 11
    def __init__(self, in_channels):
        super(InceptionA, self).__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3 = self.branch3x3_3(self.branch3x3_2(self.branch3x3_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([branch1x1, branch5x5, branch3x3, branch_pool], dim=1)


class InceptionNet(nn.Module):  # Liu Er's lecture 11
    def __init__(self):
        super(InceptionNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(88, 20, kernel_size=5)
        self.incep1 = InceptionA(in_channels=10)
        self.incep2 = InceptionA(in_channels=20)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(1408, 10)

    def forward(self, x):
        in_size = x.size(0)
        x = F.relu(self.mp(self.conv1(x)))
        x = self.incep1(x)
        x = F.relu(self.mp(self.conv2(x)))
        x = self.incep2(x)
        x = x.view(in_size, -1)
        return self.fc(x)


class ResidualBlock(nn.Module):  # Liu Er's lecture 11
    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x):
        y = F.relu(self.conv1(x))
        return F.relu(x + self.conv2(y))


class ResidualNet(nn.Module):  # Liu Er's lecture 11
    def __init__(self):
        super(ResidualNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.rblock1 = ResidualBlock(16)
        self.rblock2 = ResidualBlock(32)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        in_size = x.size(0)
        x = self.rblock1(self.mp(F.relu(self.conv1(x))))
        x = self.rblock2(self.mp(F.relu(self.conv2(x))))
        return self.fc(x.view(in_size, -1))


class MorvanCNN(nn.Module):  # Morvan's tutorial: forward returns (logits, features)
    def __init__(self):
        super(MorvanCNN, self).__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(kernel_size=2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.out = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        x = x.view(x.size(0), -1)
        return self.out(x), x


class Reshape(nn.Module):  # d2l's LeNet section (seed 003)
    def forward(self, x):
        return x.view(-1, 1, 28, 28)


def d2l_reshape_lenet():
    return nn.Sequential(Reshape(), *d2l_lenet())


@pytest.mark.parametrize("make", [InceptionNet, ResidualNet, MorvanCNN, d2l_reshape_lenet], ids=lambda m: m.__name__)
def test_the_seeds_networks_train_pasted_as_they_are_and_every_view_reads_them(make, tmp_path):
    result = cnnlab.train(make(), epochs=1, out=str(tmp_path / "r"), **TINY)
    assert len(result.history) == 1 and result.history[0]["test_acc"] >= 0
    assert views.tsne(result, limit=20, out=tmp_path / "t.png").is_file()  # penultimate of any module
    assert views.features(result, out=tmp_path / "f.png").is_file()


def test_a_network_defined_in_a_script_is_named_by_its_class_and_never_looked_up(tmp_path):
    script = tmp_path / "notebook_like.py"
    script.write_text(textwrap.dedent(f'''
        import torch.nn as nn
        import cnnlab

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(784, 10)

            def forward(self, x):
                return self.fc(x.flatten(1))

        cnnlab.train(Net(), dataset="synthetic", epochs=1, train_limit=200, test_limit=50, threads=1,
                     progress=False, out={str(tmp_path / "run")!r})
    '''))
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=120)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["network"] == {
        "kind": "module", "label": "Net", "reference": None}
    result = subprocess.run([sys.executable, "-m", "cnnlab", "predict", str(tmp_path / "run")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert (f"{tmp_path / 'run'} was trained with your own network 'Net' (defined in a script or notebook); pass it: "
            f"model=Net from Python, or cnnlab predict {tmp_path / 'run'} --model FILE.py:Net") in result.stderr


def test_cli_summary_of_your_own_file_takes_the_input_channels_and_draws_the_graph(tmp_path, capsys):
    (tmp_path / "colour_net.py").write_text(textwrap.dedent("""
        from torch import nn

        def Net(num_classes=10, in_channels=1):
            return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(8 * 28 * 28, num_classes))
    """))
    graph = tmp_path / "net.dot"
    assert main(["summary", f"{tmp_path / 'colour_net.py'}:Net", "--input-size", "3", "28", "28",
                 "--graph", str(graph)]) == 0
    out = capsys.readouterr().out
    assert "[1, 8, 28, 28]" in out and f"wrote {graph}" in out
    assert "0\\nConv2d\\n[1, 8, 28, 28]" in graph.read_text()
