"""The inspector: summaries agree with the seeds' printed tables and with hand-computed counts, leave the model
untouched, and `penultimate` finds the classifier's input features for every registered model."""
import pytest
import torch
from torch import nn

from cnnlab.cli import main
from cnnlab.inspect import penultimate, summarize, summary, to_dot
from cnnlab.models import create_model, list_models, model_info

ALL = list_models()


def meta_model(name, **kwargs):
    with torch.device("meta"):
        return create_model(name, **kwargs)


def post_order(rows):
    """Rows in the order their calls finish (a block after its layers), which is torchsummary's numbering."""
    out, stack = [], []
    for row in rows:
        while stack and stack[-1].depth >= row.depth:
            out.append(stack.pop())
        stack.append(row)
    return out + stack[::-1]


# Seed 000, summary(model, (1, 28, 28)) of the Inception net: (layer, output shape after -1, Param #).
SEED_000_INCEPTION_TABLE = """
Conv2d-1 10,24,24 260 | MaxPool2d-2 10,12,12 0 | Conv2d-3 16,12,12 176 | Conv2d-4 16,12,12 176 | Conv2d-5 24,12,12 9,624
Conv2d-6 16,12,12 176 | Conv2d-7 24,12,12 3,480 | Conv2d-8 24,12,12 5,208 | Conv2d-9 24,12,12 264
InceptionA-10 88,12,12 0 | Conv2d-11 20,8,8 44,020 | MaxPool2d-12 20,4,4 0 | Conv2d-13 16,4,4 336 | Conv2d-14 16,4,4 336
Conv2d-15 24,4,4 9,624 | Conv2d-16 16,4,4 336 | Conv2d-17 24,4,4 3,480 | Conv2d-18 24,4,4 5,208 | Conv2d-19 24,4,4 504
InceptionA-20 88,4,4 0 | Linear-21 10 14,090
"""


def test_inception_cnn_summary_matches_seed_000_torchsummary_table_row_for_row():
    expected = []
    for entry in SEED_000_INCEPTION_TABLE.replace("\n", " | ").split("|"):
        if entry.strip():
            layer, shape, params = entry.split()
            expected.append((layer.split("-")[0], tuple(int(s) for s in shape.split(",")),
                             int(params.replace(",", ""))))
    rows = post_order(summarize(create_model("inception-cnn"), (1, 28, 28)).rows)
    assert [(r.kind, r.output_shape[1:], r.params) for r in rows] == expected
    assert len(expected) == 21


def test_lenet_summary_lists_seed_002_shapes_and_hand_counts():
    result = summarize(create_model("lenet"), (1, 28, 28))
    assert [(r.kind, r.output_shape) for r in result.rows] == [
        ("Conv2d", (1, 6, 28, 28)), ("Sigmoid", (1, 6, 28, 28)), ("AvgPool2d", (1, 6, 14, 14)),
        ("Conv2d", (1, 16, 10, 10)), ("Sigmoid", (1, 16, 10, 10)), ("AvgPool2d", (1, 16, 5, 5)),
        ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)),
        ("Linear", (1, 84)), ("Sigmoid", (1, 84)), ("Linear", (1, 10)),
    ]
    assert [r.params for r in result.rows] == [6 * 25 + 6, 0, 0, 16 * 6 * 25 + 16, 0, 0, 0, 400 * 120 + 120, 0,
                                               120 * 84 + 84, 0, 84 * 10 + 10]
    # one multiply-add per weight per output position; biases not counted
    conv1, conv2 = 6 * 28 * 28 * (1 * 5 * 5), 16 * 10 * 10 * (6 * 5 * 5)
    assert result.mult_adds == conv1 + conv2 + 400 * 120 + 120 * 84 + 84 * 10 == 416_520  # "0.42 M"
    # every layer, Flatten too
    leaf_outputs = 2 * 6 * 28 * 28 + 6 * 14 * 14 + 2 * 16 * 10 * 10 + 2 * 400 + 2 * 120 + 2 * 84 + 10
    assert result.activation_bytes == 4 * leaf_outputs
    assert result.total_params == result.trainable_params == 61_706


def test_alexnet_mult_adds_at_224_by_hand():
    convs = (96 * 54 * 54 * (1 * 11 * 11) + 256 * 26 * 26 * (96 * 5 * 5) + 384 * 12 * 12 * (256 * 9)
             + 384 * 12 * 12 * (384 * 9) + 256 * 12 * 12 * (384 * 9))
    assert summarize(meta_model("alexnet"), (1, 224, 224)).mult_adds == convs + 6400 * 4096 + 4096 * 4096 + 4096 * 10


# Reference figures: forward multiply-adds per image, in millions, at each net's input size.
REFERENCE_MEGA_MULT_ADDS = {"lenet": 0.42, "resnet18": 319, "googlenet": 276, "densenet": 129, "alexnet": 938,
                            "nin": 762, "vgg11-small": 512}


@pytest.mark.parametrize("name", REFERENCE_MEGA_MULT_ADDS)
def test_mult_adds_agree_with_reference_figures(name):
    size = model_info(name).input_size
    mega = summarize(meta_model(name), (1, size, size)).mult_adds / 1e6
    assert mega == pytest.approx(REFERENCE_MEGA_MULT_ADDS[name], abs=0.5 if mega > 1 else 0.005)


def test_summary_for_a_batch_scales_mult_adds_and_shapes():
    one, four = summarize(create_model("basic-cnn"), (1, 28, 28)), summarize(create_model("basic-cnn"), (4, 1, 28, 28))
    assert four.mult_adds == 4 * one.mult_adds
    assert four.rows[0].output_shape == (4, 10, 24, 24)


@pytest.mark.parametrize("name", ALL)
def test_summary_totals_are_consistent_for_every_model(name):
    size = model_info(name).input_size
    model = meta_model(name)
    result = summarize(model, (1, size, size))
    assert result.total_params == sum(p.numel() for p in model.parameters())
    assert result.rows[-1].output_shape == (1, 10)
    top = [r for r in result.rows if r.depth == 1]
    assert sum(r.total_mult_adds for r in top) == result.mult_adds == sum(r.mult_adds for r in result.rows)
    if name != "inception-cnn":  # its max-pool layer is called twice
        assert sum(r.total_params for r in top) == result.total_params
    assert all(r.total_params == r.params for r in result.rows if r.leaf)


def test_summary_leaves_batchnorm_statistics_train_mode_and_gradients_untouched():
    torch.manual_seed(0)
    model = create_model("lenet-bn")
    model(torch.rand(8, 1, 28, 28))  # non-trivial running statistics
    model[1].eval()  # a mixed state must come back as it was
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (2, 1, 28, 28))  # a batch of 2 would update the statistics in train mode
    assert [m.training for m in model.modules()] == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    model.eval()
    summarize(model, (1, 28, 28))
    assert not any(m.training for m in model.modules())


def test_summary_prints_the_table_and_returns_the_rows(capsys):
    result = summary(create_model("resnet18"), (1, 96, 96), depth=1)
    out = capsys.readouterr().out
    assert "Total params: 11,178,378" in out and "(318.66 M)" in out
    stages = next(r for r in result.rows if r.name == "stages")
    assert f"{stages.total_params:>12,}" in out  # a collapsed block shows its total
    assert "BatchNorm2d" not in out  # depth 1 hides the layers inside the blocks
    assert any(r.kind == "BatchNorm2d" for r in result.rows)  # ... but the data has them


EXPECTED_FEATURES = {
    "basic-cnn": 320, "morvan-cnn": 32 * 7 * 7, "inception-cnn": 88 * 4 * 4, "residual-cnn": 32 * 4 * 4,
    "lenet": 84, "lenet-bn": 84, "lenet-relu": 84, "alexnet": 4096, "vgg11": 4096, "vgg11-small": 4096,
    "nin": 10, "googlenet": 1024, "resnet18": 512, "resnet18-preact": 512, "densenet": 248, "speedrun-net": 48 * 7 * 7,
    "speedrun94-net": 128,  # the hidden layer feeds the classifier
}


@pytest.mark.parametrize("name", ALL)
def test_penultimate_gives_the_classifier_input_for_every_model(name):
    size = model_info(name).input_size
    model = meta_model(name).eval()
    features = penultimate(model, torch.zeros(3, 1, size, size, device="meta"))
    assert features.shape == (3, EXPECTED_FEATURES[name])
    assert not any(m._forward_hooks for m in model.modules())


def test_penultimate_of_morvan_cnn_is_its_flattened_conv_output_as_in_seed_001():
    torch.manual_seed(0)
    model, x = create_model("morvan-cnn").eval(), torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        expected = model[1](model[0](x)).flatten(1)
        logits = model(x)
    features = penultimate(model, x)
    assert torch.equal(features, expected)
    assert torch.allclose(model[3](features), logits)


def test_penultimate_of_nin_is_the_pooled_output():
    model, x = create_model("nin").eval(), torch.rand(2, 1, 67, 67)
    with torch.no_grad():
        assert torch.equal(penultimate(model, x), model(x))


def test_penultimate_without_classifier_is_a_config_error():
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match="penultimate"):
        penultimate(nn.Sequential(nn.Conv2d(1, 2, 3)), torch.zeros(1, 1, 5, 5))


@pytest.mark.parametrize("name", ALL)
def test_every_model_draws_as_a_dot_graph(name):
    size = model_info(name).input_size
    dot = to_dot(meta_model(name), (1, size, size))
    assert dot.startswith("digraph model {") and dot.rstrip().endswith("}")
    assert "[1, 10]" in dot


def test_dot_graph_shows_inception_branches_joining():
    dot = to_dot(create_model("inception-cnn"), (1, 28, 28))
    cat_node = next(line.split('"')[1] for line in dot.splitlines() if 'label="cat' in line)
    assert sum(line.endswith(f'-> "{cat_node}";') for line in dot.splitlines()) == 4
    assert 'label="incep1.branch5x5_2\\nConv2d\\n[1, 24, 12, 12]"' in dot


def test_dot_graph_draws_a_subclass_of_a_torch_layer_as_one_box():
    class Doubling(nn.Conv2d):  # a forward that branches on its input cannot be traced into
        def forward(self, x):
            return super().forward(x) * 2 if x.shape[-1] > 1 else x

    net = nn.Sequential(Doubling(1, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    net(torch.zeros(1, 1, 8, 8))
    dot = to_dot(net, (1, 8, 8))
    assert 'label="0\\nDoubling\\n[1, 4, 6, 6]"' in dot
    assert 'nMaxPool2x2\\n[1, 18, 14, 14]"' in to_dot(create_model("speedrun-net"), (1, 28, 28))


def test_cli_models_lists_every_network(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ALL:
        assert f"\n{name} " in out
    assert "61,706" in out and "128,806,154" in out
    assert main(["models", "resnet*"]) == 0
    assert "lenet" not in capsys.readouterr().out


def test_cli_summary_prints_the_seed_table_and_writes_a_graph(capsys, tmp_path):
    assert main(["summary", "inception-cnn", "--graph", str(tmp_path / "net.dot")]) == 0
    out = capsys.readouterr().out
    assert "[1, 20, 8, 8]" in out and "44,020" in out and "Total params: 97,298" in out
    assert (tmp_path / "net.dot").read_text().startswith("digraph")
    assert main(["summary", "resnet18", "--input-size", "3", "64", "64", "--depth", "1"]) == 0
    assert "[1, 3, 64, 64]" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["summary", "lenett"], "did you mean lenet"),
    (["models", "rsnet18"], "did you mean resnet18"),
    (["summary", "lenet", "--input-size", "1", "32", "32"], "28x28 input only"),
    (["summary", "nin", "--input-size", "1", "32", "32"], "at least 67x67"),
    (["summary", "lenet", "--graph", "out.txt"], ".dot, .svg"),
])
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cnnlab: error:") and message in err
