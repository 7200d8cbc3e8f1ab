"""`cnnlab conv ...`: each experiment prints what the seeds print; sizes, receptive fields, kernels; errors exit 2."""
import pytest

from cnnlab.cli import main


def run(capsys, *args):
    code = main(["conv", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_example_prints_the_worked_result(capsys):
    code, out, _ = run(capsys, "example")
    assert code == 0 and "tensor([[19., 25.],\n        [37., 43.]])" in out and "same: True" in out


def test_channels_prints_56_and_three_output_channels(capsys):
    _, out, _ = run(capsys, "channels")
    assert "tensor([[ 56.,  72.],\n        [104., 120.]])" in out and "(3, 2, 2, 2)" in out
    # The two routes sum the same three products in different orders, so they agree to float32 rounding, not
    # bit for bit: which order each takes depends on the CPU's kernels (0.0 on one CPU, 2.4e-07 on another).
    # Three products of N(0, 1) values sum to a few units, and float32 rounds at 1.2e-07 of that: 1e-6 bounds it.
    gap = float(out.split("largest difference ")[1].split()[0])
    assert 0 <= gap < 1e-6


def test_pool_prints_d2l_results(capsys):
    _, out, _ = run(capsys, "pool")
    assert "tensor([[4., 5.],\n        [7., 8.]])" in out and "tensor([[2., 3.],\n        [5., 6.]])" in out
    assert "tensor([[[[10.]]]])" in out and "[[[[ 5.,  7.],\n          [13., 15.]]]]" in out


def test_edges_marks_both_edges_and_nothing_on_the_transposed_image(capsys):
    _, out, _ = run(capsys, "edges")
    assert out.count("[ 0.,  1.,  0.,  0.,  0., -1.,  0.]") == 6
    assert out.count("[0., 0., 0., 0., 0.]") == 8


def test_learn_prints_loss_every_two_steps_and_recovers_the_kernel(capsys):
    _, out, _ = run(capsys, "learn")
    lines = out.splitlines()
    losses = [float(line.split("loss ")[1]) for line in lines if line.startswith("epoch")]
    assert [line.split(",")[0] for line in lines[:5]] == [f"epoch {i}" for i in (2, 4, 6, 8, 10)]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.1
    learned = [float(v) for v in lines[-1].strip("tensor([]) ").split(",")]
    assert learned == pytest.approx([1.0, -1.0], abs=0.1)


def test_diagonal_and_matmul_exercises(capsys):
    _, out, _ = run(capsys, "diagonal")
    assert out.count("tensor([[-1.,  0.,  0.,  0.],") == 2 and "tensor([[-1.,  1.,  0.,  0.,  0.]," in out
    _, out, _ = run(capsys, "matmul")
    assert "[4., 5., 7., 8.]])" in out and out.count("tensor([[19., 25.],") == 2


def test_convolve_flips_the_kernel(capsys):
    _, out, _ = run(capsys, "convolve")
    assert "tensor([[3., 2.],\n        [1., 0.]])" in out and "tensor([[ 5., 11.],\n        [23., 29.]])" in out


@pytest.mark.parametrize("args, result", [(["28", "5", "--padding", "2"], "= 28"),
                                          (["224", "11", "--padding", "1", "--stride", "4"], "= 54"),
                                          (["7", "3", "--padding", "same"], "= 7")])
def test_size_prints_the_floor_rule(capsys, args, result):
    _, out, _ = run(capsys, "size", *args)
    assert out.startswith("output size = floor((n - k + 2p) / s) + 1") and out.strip().endswith(result)


def test_receptive_field_of_lenet_and_of_a_stack(capsys):
    _, out, _ = run(capsys, "receptive-field", "lenet")
    assert "16x16 patch" in out and out.count("Conv2d") == 2 and "note" not in out
    _, out, _ = run(capsys, "receptive-field", "--layers", "3", "3", "2:2", "3x1")
    assert "10x6 patch" in out
    _, out, _ = run(capsys, "receptive-field", "inception-cnn")
    assert "upper bound" in out


def test_kernels_lists_every_named_kernel(capsys):
    from cnnlab.kernels import KERNELS

    _, out, _ = run(capsys, "filters")
    for name in KERNELS:
        assert f"\n{name}: " in "\n" + out


@pytest.mark.parametrize("experiment", ["example", "edges", "learn", "diagonal", "convolve", "filters"])
def test_plot_writes_a_png(capsys, tmp_path, experiment):
    path = tmp_path / f"{experiment}.png"
    code, out, _ = run(capsys, experiment, "--plot", str(path))
    assert code == 0 and f"saved {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["size", "3", "5"], "larger than the padded input"), (["size", "8", "4", "--padding", "same"], "odd kernel"),
    (["size", "8", "3", "--padding", "x"], "'same'"), (["receptive-field"], "either a MODEL"),
    (["receptive-field", "lenett"], "did you mean lenet"), (["receptive-field", "--layers", "3:0"], "bad layer"),
    (["learn", "--steps", "0"], "--steps"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_every_subcommand_has_help(capsys):
    from cnnlab.lessons import LESSONS as EXPERIMENTS

    for name in [e[0] for e in EXPERIMENTS] + ["size", "receptive-field", "filters"]:
        with pytest.raises(SystemExit) as exit_:
            main(["conv", name, "--help"])
        assert exit_.value.code == 0 and "usage: cnnlab conv" in capsys.readouterr().out


@pytest.mark.parametrize("experiment", ["example", "filters"])
def test_a_picture_that_cannot_be_written_is_one_line_and_exit_2(capsys, experiment):
    code, _, err = run(capsys, experiment, "--plot", "/proc/x/y.png")
    assert code == 2 and err.startswith("cnnlab: error: cannot write /proc/x/y.png") and err.count("\n") == 1
