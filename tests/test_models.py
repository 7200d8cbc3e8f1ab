"""The network zoo: every registered model trains at its input size, and layer shapes and parameter counts
agree with the seeds' printouts and with counts worked out by hand from the architectures."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.models import create_model, list_models, model_info, register_model
from cnnlab.models.vgg import VGG11, vgg, vgg_block

ALL = list_models()


def meta_model(name, **kwargs):
    """The model on the 'meta' device: real shapes, no memory, no arithmetic (fast even for VGG-11)."""
    with torch.device("meta"):
        return create_model(name, **kwargs)


def conv(c_in, c_out, k):  # parameters of a k x k conv with bias
    return c_in * c_out * k * k + c_out


def linear(n_in, n_out):
    return n_in * n_out + n_out


def bn(c):  # weight and bias; running statistics are buffers
    return 2 * c


def test_zoo_has_every_network_of_the_seeds_and_the_lineage():
    assert set(ALL) >= {
        "basic-cnn", "inception-cnn", "residual-cnn", "morvan-cnn", "lenet", "lenet-bn", "lenet-relu", "alexnet",
        "vgg11", "vgg11-small", "nin", "googlenet", "resnet18", "resnet18-preact", "densenet",
    }


@pytest.mark.parametrize("name", ALL)
def test_model_trains_at_its_input_size_with_finite_logits_and_gradients(name):
    torch.manual_seed(0)
    size = model_info(name).input_size
    model = create_model(name)
    logits = model(torch.rand(2, 1, size, size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([3, 7])).backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        else:  # frozen by design (the speed-run nets' whitening conv): no gradient at all
            assert p.grad is None, pname


@pytest.mark.parametrize("name", ALL)
def test_model_takes_rgb_input_and_100_classes(name):
    size = model_info(name).input_size
    model = create_model(name, num_classes=100, in_channels=3).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, size, size))
    assert logits.shape == (1, 100)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", [n for n in ALL if model_info(n).min_size is not None])
def test_min_size_is_the_smallest_side_a_global_pooling_net_accepts(name):
    info = model_info(name)
    model = meta_model(name).eval()
    assert model(torch.zeros(2, 1, info.min_size, info.min_size, device="meta")).shape == (2, 10)
    assert model(torch.zeros(2, 1, info.input_size + 17, info.input_size + 17, device="meta")).shape == (2, 10)
    if info.min_size > 1:
        with pytest.raises(RuntimeError):
            model(torch.zeros(2, 1, info.min_size - 1, info.min_size - 1, device="meta"))
    with pytest.raises(ConfigError, match="at least"):
        info.check_size(info.min_size - 1)


def test_fixed_size_nets_refuse_other_sizes_with_a_config_error():
    with pytest.raises(ConfigError, match="28x28 input only"):
        model_info("lenet").check_size(32)
    model_info("alexnet").check_size(224)


def seed_loop(model, size):
    """Seeds 002 and 003's check: run each top-level layer in turn, recording (type, output shape)."""
    x = torch.zeros(1, 1, size, size, device="meta")
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append((type(layer).__name__, tuple(x.shape)))
    return shapes


def test_lenet_layer_shapes_are_seed_002s_listing():
    assert seed_loop(meta_model("lenet"), 28) == [
        ("Conv2d", (1, 6, 28, 28)), ("Sigmoid", (1, 6, 28, 28)), ("AvgPool2d", (1, 6, 14, 14)),
        ("Conv2d", (1, 16, 10, 10)), ("Sigmoid", (1, 16, 10, 10)), ("AvgPool2d", (1, 16, 5, 5)),
        ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)),
        ("Linear", (1, 84)), ("Sigmoid", (1, 84)), ("Linear", (1, 10)),
    ]


def test_alexnet_layer_shapes_at_224_as_in_seed_003():
    assert seed_loop(meta_model("alexnet"), 224) == [
        ("Conv2d", (1, 96, 54, 54)), ("ReLU", (1, 96, 54, 54)), ("MaxPool2d", (1, 96, 26, 26)),
        ("Conv2d", (1, 256, 26, 26)), ("ReLU", (1, 256, 26, 26)), ("MaxPool2d", (1, 256, 12, 12)),
        ("Conv2d", (1, 384, 12, 12)), ("ReLU", (1, 384, 12, 12)),
        ("Conv2d", (1, 384, 12, 12)), ("ReLU", (1, 384, 12, 12)),
        ("Conv2d", (1, 256, 12, 12)), ("ReLU", (1, 256, 12, 12)), ("MaxPool2d", (1, 256, 5, 5)),
        ("Flatten", (1, 6400)),
        ("Linear", (1, 4096)), ("ReLU", (1, 4096)), ("Dropout", (1, 4096)),
        ("Linear", (1, 4096)), ("ReLU", (1, 4096)), ("Dropout", (1, 4096)),
        ("Linear", (1, 10)),
    ]


def test_vgg11_block_shapes_at_224_as_in_seed_003():
    shapes = [(1, 64, 112, 112), (1, 128, 56, 56), (1, 256, 28, 28), (1, 512, 14, 14), (1, 512, 7, 7)]
    blocks = [("Sequential", s) for s in shapes]
    head = [("Flatten", (1, 25088)), ("Linear", (1, 4096)), ("ReLU", (1, 4096)), ("Dropout", (1, 4096)),
            ("Linear", (1, 4096)), ("ReLU", (1, 4096)), ("Dropout", (1, 4096)), ("Linear", (1, 10))]
    assert seed_loop(meta_model("vgg11"), 224) == blocks + head
    small = seed_loop(meta_model("vgg11-small"), 224)
    assert [s for _, s in small[:6]] == [(1, 16, 112, 112), (1, 32, 56, 56), (1, 64, 28, 28), (1, 128, 14, 14),
                                         (1, 128, 7, 7), (1, 6272)]


def test_nin_layer_shapes_at_224_as_in_seed_003():
    assert seed_loop(meta_model("nin"), 224) == [
        ("Sequential", (1, 96, 54, 54)), ("MaxPool2d", (1, 96, 26, 26)),
        ("Sequential", (1, 256, 26, 26)), ("MaxPool2d", (1, 256, 12, 12)),
        ("Sequential", (1, 384, 12, 12)), ("MaxPool2d", (1, 384, 5, 5)), ("Dropout", (1, 384, 5, 5)),
        ("Sequential", (1, 10, 5, 5)), ("AdaptiveAvgPool2d", (1, 10, 1, 1)), ("Flatten", (1, 10)),
    ]


def test_lineage_nets_stage_shapes_at_96():
    def parts(name):
        x, out = torch.zeros(1, 1, 96, 96, device="meta"), {}
        for part_name, part in meta_model(name).named_children():
            x = part(x)
            out[part_name] = tuple(x.shape)
        return out

    assert parts("googlenet") == {"stem": (1, 192, 12, 12), "stages": (1, 1024, 3, 3), "head": (1, 10)}
    assert parts("resnet18") == {"stem": (1, 64, 24, 24), "stages": (1, 512, 3, 3), "head": (1, 10)}
    assert parts("densenet") == {"stem": (1, 64, 24, 24), "stages": (1, 248, 3, 3), "head": (1, 10)}


def inception_a(c_in):  # seed 000's InceptionA: branches 16 | 16, 24 (5x5) | 16, 24, 24 (3x3) | pool, 24
    return 3 * conv(c_in, 16, 1) + conv(16, 24, 5) + conv(16, 24, 3) + conv(24, 24, 3) + conv(c_in, 24, 1)


def residual(c_in, c_out, stride):  # d2l's Residual: two 3x3 conv + BN, 1x1 conv shortcut when the shape changes
    shortcut = conv(c_in, c_out, 1) if stride != 1 or c_in != c_out else 0
    return conv(c_in, c_out, 3) + bn(c_out) + conv(c_out, c_out, 3) + bn(c_out) + shortcut


def inception(c_in, c1, c2, c3, c4):  # GoogLeNet's Inception from one row of the paper's table
    return (conv(c_in, c1, 1) + conv(c_in, c2[0], 1) + conv(c2[0], c2[1], 3) + conv(c_in, c3[0], 1)
            + conv(c3[0], c3[1], 5) + conv(c_in, c4, 1))


def nin_block(c_in, c_out, k):
    return conv(c_in, c_out, k) + 2 * conv(c_out, c_out, 1)


RESNET18_STAGES = (residual(64, 64, 1) + residual(64, 64, 1) + residual(64, 128, 2) + residual(128, 128, 1)
                   + residual(128, 256, 2) + residual(256, 256, 1) + residual(256, 512, 2) + residual(512, 512, 1))
DENSE_CONVS = sum(bn(c_in + 32 * i) + conv(c_in + 32 * i, 32, 3) for c_in in (64, 96, 112, 120) for i in range(4))
TRANSITIONS = sum(bn(c) + conv(c, c // 2, 1) for c in (192, 224, 240))

HAND_COUNTS = {
    "basic-cnn": conv(1, 10, 5) + conv(10, 20, 5) + linear(320, 10),
    "morvan-cnn": conv(1, 16, 5) + conv(16, 32, 5) + linear(32 * 7 * 7, 10),
    "inception-cnn": conv(1, 10, 5) + inception_a(10) + conv(88, 20, 5) + inception_a(20) + linear(1408, 10),
    "residual-cnn": conv(1, 16, 5) + 2 * conv(16, 16, 3) + conv(16, 32, 5) + 2 * conv(32, 32, 3) + linear(512, 10),
    "lenet": 6 * 1 * 5 * 5 + 6 + 16 * 6 * 5 * 5 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10,
    "lenet-relu": 61_706,
    "lenet-bn": (conv(1, 6, 5) + bn(6) + conv(6, 16, 5) + bn(16) + linear(256, 120) + bn(120) + linear(120, 84)
                 + bn(84) + linear(84, 10)),
    "alexnet": (conv(1, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3) + conv(384, 256, 3)
                + linear(6400, 4096) + linear(4096, 4096) + linear(4096, 10)),
    "vgg11": (conv(1, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + conv(256, 256, 3) + conv(256, 512, 3)
              + 3 * conv(512, 512, 3)
              + linear(25088, 4096) + linear(4096, 4096) + linear(4096, 10)),
    "vgg11-small": (conv(1, 16, 3) + conv(16, 32, 3) + conv(32, 64, 3) + conv(64, 64, 3) + conv(64, 128, 3)
                    + 3 * conv(128, 128, 3)
                    + linear(6272, 4096) + linear(4096, 4096) + linear(4096, 10)),
    "nin": nin_block(1, 96, 11) + nin_block(96, 256, 5) + nin_block(256, 384, 3) + nin_block(384, 10, 3),
    "googlenet": (conv(1, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
                  + inception(192, 64, (96, 128), (16, 32), 32) + inception(256, 128, (128, 192), (32, 96), 64)
                  + inception(480, 192, (96, 208), (16, 48), 64) + inception(512, 160, (112, 224), (24, 64), 64)
                  + inception(512, 128, (128, 256), (24, 64), 64) + inception(512, 112, (144, 288), (32, 64), 64)
                  + inception(528, 256, (160, 320), (32, 128), 128)
                  + inception(832, 256, (160, 320), (32, 128), 128) + inception(832, 384, (192, 384), (48, 128), 128)
                  + linear(1024, 10)),
    "resnet18": conv(1, 64, 7) + bn(64) + RESNET18_STAGES + linear(512, 10),
    # A pre-activation block normalises its input instead of its second conv's output: the first block of
    # stages 2-4 has BN(c_in) where d2l's has a second BN(c_out); one more BN(512) precedes the pooling.
    "resnet18-preact": (conv(1, 64, 7) + bn(64) + RESNET18_STAGES - bn(128) - bn(256) - bn(512)
                        + bn(64) + bn(128) + bn(256) + bn(512) + linear(512, 10)),
    "densenet": conv(1, 64, 7) + bn(64) + DENSE_CONVS + TRANSITIONS + bn(248) + linear(248, 10),
    # the first conv: 18 frozen whitening filters, no batch norm after them; then bias-free 3x3 convs, each
    # followed by BN; the head sees the whole 48-channel 7x7 map
    "speedrun-net": (1 * 18 * 9 + 18 * 32 * 9 + bn(32) + 32 * 48 * 9 + bn(48) + 48 * 48 * 9 + bn(48)
                     + linear(48 * 7 * 7, 10)),
    # the first conv: 18 frozen whitening filters, no batch norm after them; one conv at 7x7
    "speedrun94-net": (1 * 18 * 9 + 18 * 32 * 9 + bn(32) + 32 * 64 * 9 + bn(64)
                       + linear(64 * 7 * 7, 128) + linear(128, 10)),
}


def test_hand_counts_cover_every_registered_model():
    assert set(HAND_COUNTS) == set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_parameter_count_matches_the_hand_count(name):
    assert sum(p.numel() for p in meta_model(name).parameters()) == HAND_COUNTS[name]


def test_parameter_counts_agree_with_the_seeds_and_d2l():
    assert HAND_COUNTS["lenet"] == 61_706  # the d2l LeNet
    # seed 000's torchsummary table, summed: Conv2d-1 ... Linear-21
    assert HAND_COUNTS["inception-cnn"] == sum([260, 176, 176, 9_624, 176, 3_480, 5_208, 264, 44_020,
                                                336, 336, 9_624, 336, 3_480, 5_208, 504, 14_090])
    assert HAND_COUNTS["resnet18"] == 11_178_378  # d2l's ResNet-18 on 1-channel input


def test_vgg_depth_is_one_line_of_data():
    with torch.device("meta"):
        vgg13, vgg11 = vgg(((2, 64), (2, 128), (2, 256), (2, 512), (2, 512))), vgg(VGG11)
    assert sum(isinstance(m, nn.Conv2d) for m in vgg13.modules()) == 10
    assert sum(isinstance(m, nn.Conv2d) for m in vgg11.modules()) == 8
    block = vgg_block(3, 4, 8)
    assert [type(m).__name__ for m in block] == ["Conv2d", "ReLU"] * 3 + ["MaxPool2d"]
    assert block(torch.zeros(1, 4, 10, 10)).shape == (1, 8, 5, 5)


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet81'.*resnet18"):
        create_model("resnet81")


def test_list_models_filters_by_glob_pattern():
    assert list_models("lenet*") == ["lenet", "lenet-bn", "lenet-relu"]
    assert list_models("resnet18*") == ["resnet18", "resnet18-preact"]
    assert list_models("nothing*") == []


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register_model("lenet", description="again", source="test")(lambda num_classes=10, in_channels=1: None)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="positive"):
        create_model("lenet", num_classes=0)
    with pytest.raises(ConfigError, match="unknown ops"):
        create_model("lenet", ops="fast")


def test_the_whitening_conv_whitens_the_patches_it_was_fitted_to():
    from cnnlab.models.speedrun import WhiteningConv

    torch.manual_seed(0)
    images = F.avg_pool2d(torch.randn(64, 1, 30, 30), 3, stride=1) * 3  # neighbouring pixels correlated
    conv = WhiteningConv(1)
    conv.fit_to_data(images)
    positive, negative = conv.conv.weight[:9], conv.conv.weight[9:]
    assert torch.equal(negative, -positive)
    out = F.conv2d(images, positive, padding=1)  # (64, 9, 28, 28): each channel one whitened direction
    assert torch.allclose(torch.cov(out.transpose(0, 1).flatten(1)), torch.eye(9), atol=0.02)
    assert torch.allclose(conv(images)[:, 9:], -out, atol=1e-5)


def test_a_run_fits_the_whitening_conv_to_its_training_images_and_never_changes_it(tmp_path):
    import cnnlab
    from cnnlab.config import TrainConfig
    from cnnlab.models.speedrun import WhiteningConv
    from cnnlab.prepare import setup

    options = dict(dataset="synthetic", train_limit=256, test_limit=64, threads=1, precision="fp32")
    cnnlab.train("speedrun94-net", epochs=1, batch_size=64, progress=False, out=str(tmp_path / "run"), **options)
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]["stem.0.conv.weight"]
    batches = setup(TrainConfig(model="speedrun94-net", **options), progress=False).train_batches
    fitted = WhiteningConv(1)
    fitted.fit_to_data(batches.transform(batches.images))  # fewer than 2,000 images: all of them
    assert torch.allclose(trained, fitted.conv.weight, atol=1e-6)
    torch.manual_seed(0)
    assert not torch.allclose(trained, WhiteningConv(1).conv.weight, atol=1e-2)  # not the random initial filters


def test_scratch_ops_fit_and_freeze_the_whitening_conv_as_native_ops_do(tmp_path):
    import cnnlab

    options = dict(dataset="synthetic", epochs=1, batch_size=64, train_limit=256, test_limit=64, threads=1,
                   precision="fp32", progress=False)
    weights = {}
    for ops in ("native", "scratch"):
        cnnlab.train("speedrun94-net", ops=ops, out=str(tmp_path / ops), **options)
        weights[ops] = torch.load(tmp_path / ops / "last.pt", weights_only=True)["model"]
    assert torch.allclose(weights["scratch"]["stem.0.conv.weight"], weights["native"]["stem.0.conv.weight"], atol=1e-6)
    net = create_model("speedrun94-net", ops="scratch")
    assert not net.stem[0].conv.weight.requires_grad


def test_a_users_own_network_gets_its_whitening_conv_fitted_too(tmp_path):
    import cnnlab
    from cnnlab.models.speedrun import WhiteningConv

    torch.manual_seed(0)
    net = nn.Sequential(WhiteningConv(1), nn.ReLU(), nn.Flatten(), nn.Linear(18 * 28 * 28, 10))  # no buffers at all
    initial = net[0].conv.weight.clone()
    cnnlab.train(net, dataset="synthetic", epochs=1, batch_size=64, train_limit=256, test_limit=64, threads=1,
                 precision="fp32", progress=False, out=str(tmp_path / "run"))
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]["0.conv.weight"]
    assert not torch.allclose(trained, initial, atol=1e-2)
    assert torch.equal(trained[9:], -trained[:9])  # fitted: whitening filters and their negatives


def test_the_stem_pool_gives_max_pool2d_values_with_and_without_a_gradient():
    from cnnlab.models.speedrun import MaxPool2x2

    pool = MaxPool2x2()
    for shape in ((4, 18, 28, 28), (2, 3, 7, 9)):  # an odd size takes nn.MaxPool2d's path
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
        x[0, 0, :2, :2] = 1.0  # a tie: one value either way
        assert torch.equal(pool(x), F.max_pool2d(x, 2))
        x.requires_grad_(True)
        out = pool(x)
        out.sum().backward()
        assert torch.equal(out, F.max_pool2d(x, 2)) and x.grad.sum() == out.numel()
    assert pool(torch.randn(2, 18, 28, 28).contiguous(memory_format=torch.channels_last)).is_contiguous(
        memory_format=torch.channels_last)


def test_the_speedrun_heads_first_linear_layer_is_flatten_then_linear_in_either_layout():
    from cnnlab.models.speedrun import FlattenLinear

    torch.manual_seed(0)
    layer = FlattenLinear(3 * 4 * 5, 7)
    x = torch.randn(2, 3, 4, 5)
    expected = F.linear(x.flatten(1), layer.weight, layer.bias)  # the (C, H, W) order of nn.Flatten
    cl = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.allclose(layer(x), expected, atol=1e-6) and torch.allclose(layer(cl), expected, atol=1e-6)
    layer(cl).sum().backward()
    assert cl.grad.is_contiguous(memory_format=torch.channels_last)  # the gradient goes back as the map lies
    head = create_model("speedrun94-net").head
    assert isinstance(head[0], FlattenLinear) and head[0].in_features == 64 * 7 * 7


def test_a_speedrun_checkpoint_from_before_the_flattening_linear_layer_is_refused_by_name(tmp_path):
    import cnnlab
    from cnnlab import rundir
    from cnnlab.errors import CheckpointError

    cnnlab.train("speedrun-net", dataset="synthetic", epochs=1, batch_size=64, train_limit=128, test_limit=32,
                 threads=1, precision="fp32", progress=False, out=str(tmp_path / "run"))
    payload = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    # before FlattenLinear the head was nn.Flatten, then the Linear as "head.1"
    payload["model"] = {k.replace("head.0.", "head.1."): v for k, v in payload["model"].items()}
    torch.save(payload, tmp_path / "run" / "last.pt")
    with pytest.raises(CheckpointError, match="do not fit model 'speedrun-net'.*head"):
        rundir.load_model(tmp_path / "run" / "last.pt")
