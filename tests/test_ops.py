"""cnnlab.ops against torch.nn.functional as the oracle: values and gradients over random shapes, strides,
paddings, channel and batch counts (hypothesis); the seeds' worked examples; layers and to_scratch; kernels."""
import copy
import math

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab import ConfigError, create_model, kernels, list_models, model_info, ops

TOL = dict(rtol=1e-5, atol=1e-5)  # float32 throughout
FAST = settings(max_examples=40, deadline=None)


def run(fn, inputs, seed):
    """fn(*inputs) and the gradients of <fn(*inputs), G> for a random G: (output, [grad of each input])."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*leaves)
    out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)))
    return out.detach(), [t.grad for t in leaves]


def assert_same(fn, reference, inputs, seed):
    out, grads = run(fn, inputs, seed)
    ref_out, ref_grads = run(reference, inputs, seed)
    torch.testing.assert_close(out, ref_out, **TOL)
    for g, ref_g in zip(grads, ref_grads):
        torch.testing.assert_close(g, ref_g, **TOL)


def as_arg(pair):
    """Pass an equal pair as an int sometimes, so both spellings are exercised."""
    return pair[0] if pair[0] == pair[1] else pair


@st.composite
def conv_cases(draw, max_side=12, max_padding=2):
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    padding = (draw(st.integers(0, max_padding)), draw(st.integers(0, max_padding)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = tuple(draw(st.integers(max(1, k - 2 * p), max_side)) for k, p in zip(kernel, padding))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 4)), o=draw(st.integers(1, 4)), hw=hw,
                kernel=kernel, stride=as_arg(stride), padding=as_arg(padding), seed=draw(st.integers(0, 2**31 - 1)))


def conv_tensors(case):
    g = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(case["n"], case["c"], *case["hw"], generator=g)
    w = torch.randn(case["o"], case["c"], *case["kernel"], generator=g)
    b = torch.randn(case["o"], generator=g)
    return x, w, b


# ---------------------------------------------------------------- the seeds' worked examples
X3 = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K2 = torch.tensor([[0.0, 1.0], [2.0, 3.0]])


def test_corr2d_gives_the_worked_example():
    assert torch.equal(ops.corr2d(X3, K2), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))


def test_two_input_channels_sum_to_56_and_output_channels_stack():
    X = torch.stack([X3, X3 + 1])
    K = torch.stack([K2, K2 + 1])
    Y = ops.corr2d_multi_in(X, K)
    assert torch.equal(Y, torch.tensor([[56.0, 72.0], [104.0, 120.0]]))
    K3 = torch.stack([K, K + 1, K + 2])  # (3, 2, 2, 2): d2l 6.4's three output channels
    Y3 = ops.corr2d_multi_in_out(X, K3)
    assert Y3.shape == (3, 2, 2) and torch.equal(Y3[0], Y)
    torch.testing.assert_close(Y3, F.conv2d(X[None], K3)[0])


def test_1x1_convolution_is_a_per_pixel_matrix_product():
    g = torch.Generator().manual_seed(0)
    X, K = torch.randn(3, 4, 5, generator=g), torch.randn(2, 3, 1, 1, generator=g)
    torch.testing.assert_close(ops.corr2d_multi_in_out_1x1(X, K), ops.corr2d_multi_in_out(X, K), **TOL)


def test_edge_kernel_marks_vertical_edges_and_misses_them_on_the_transposed_image():
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    Y = ops.corr2d(X, kernels.vertical_edge())
    expected = torch.zeros(6, 7)
    expected[:, 1], expected[:, 5] = 1, -1
    assert torch.equal(Y, expected)
    assert torch.equal(ops.corr2d(X.t(), kernels.vertical_edge()), torch.zeros(8, 5))


def test_im2col_matrix_times_kernel_is_the_seed_exercise():
    cols = ops.im2col(X3, (2, 2))
    assert torch.equal(cols, torch.tensor([[0.0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]))
    assert torch.equal((cols @ K2.reshape(-1)).reshape(2, 2), ops.corr2d(X3, K2))


def test_seed_conv2d_layer_learns_the_edge_kernel_from_input_and_output():
    torch.manual_seed(0)
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    Y = ops.corr2d(X, kernels.vertical_edge())
    layer = ops.Conv2D((1, 2))
    for _ in range(100):  # lr 3e-2 as in the seed diverges here: the scalar bias sums 42 gradients
        loss = ((layer(X) - Y) ** 2).sum()
        layer.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in layer.parameters():
                p -= 1e-2 * p.grad
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[1.0, -1.0]]), atol=0.05, rtol=0)


# ---------------------------------------------------------------- every rung against torch
@FAST
@given(case=conv_cases(max_side=7, max_padding=0), seed=st.integers(0, 1000))
def test_corr2d_loop_matches_torch_values_and_gradients(case, seed):
    x, w, _ = conv_tensors(case)
    assert_same(ops.corr2d, lambda a, b: F.conv2d(a[None, None], b[None, None])[0, 0], [x[0, 0], w[0, 0]], seed)


@FAST
@given(case=conv_cases(max_side=6, max_padding=0), seed=st.integers(0, 1000))
def test_multi_channel_loops_match_torch_values_and_gradients(case, seed):
    x, w, _ = conv_tensors(case)
    assert_same(ops.corr2d_multi_in_out, lambda a, b: F.conv2d(a[None], b)[0], [x[0], w], seed)


@pytest.mark.parametrize("conv", [ops.conv2d, ops.conv2d_im2col], ids=["conv2d", "conv2d_im2col"])
@settings(max_examples=50, deadline=None)
@given(case=conv_cases(), with_bias=st.booleans())
def test_vectorised_conv_matches_torch_with_stride_padding_and_rectangular_kernels(conv, case, with_bias):
    x, w, b = conv_tensors(case)
    args = dict(stride=case["stride"], padding=case["padding"])
    if with_bias:
        assert_same(lambda *t: conv(*t, **args), lambda *t: F.conv2d(*t, **args), [x, w, b], case["seed"])
    else:
        assert_same(lambda *t: conv(*t, **args), lambda *t: F.conv2d(*t, **args), [x, w], case["seed"])
    (sh, sw), (ph, pw) = ops._pair(case["stride"]), ops._pair(case["padding"])
    expected = (ops.conv_output_size(case["hw"][0], case["kernel"][0], ph, sh),
                ops.conv_output_size(case["hw"][1], case["kernel"][1], pw, sw))
    assert conv(x, w, **args).shape == (case["n"], case["o"], *expected)


def test_conv2d_takes_unbatched_input_like_torch():
    x, w, b = conv_tensors(dict(n=1, c=2, o=3, hw=(6, 5), kernel=(3, 2), seed=1))
    torch.testing.assert_close(ops.conv2d(x[0], w, b, padding=1), F.conv2d(x[0], w, b, padding=1), **TOL)


@FAST
@given(case=conv_cases())
def test_im2col_is_transposed_unfold_and_col2im_matches_fold(case):
    x, w, _ = conv_tensors(case)
    kernel, stride, padding = case["kernel"], case["stride"], case["padding"]
    assert_same(lambda t: ops.im2col(t, kernel, stride, padding),
                lambda t: F.unfold(t, kernel, padding=padding, stride=stride).transpose(1, 2), [x], case["seed"])
    cols = ops.im2col(x, kernel, stride, padding)
    cols = torch.randn(cols.shape, generator=torch.Generator().manual_seed(case["seed"]))
    assert_same(lambda c: ops.col2im(c, case["hw"], kernel, stride, padding),
                lambda c: F.fold(c.transpose(1, 2), case["hw"], kernel, padding=padding, stride=stride), [cols],
                case["seed"])


def test_col2im_is_the_adjoint_of_im2col():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, generator=g)
    cols = torch.randn(ops.im2col(x, (3, 2), 2, 1).shape, dtype=torch.float64, generator=g)
    lhs = (ops.im2col(x, (3, 2), 2, 1) * cols).sum()
    rhs = (x * ops.col2im(cols, (9, 8), (3, 2), 2, 1)).sum()
    torch.testing.assert_close(lhs, rhs)


@FAST
@given(side=st.tuples(st.integers(2, 8), st.integers(2, 8)), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       seed=st.integers(0, 1000))
def test_convolve2d_is_true_convolution_like_scipy(side, k, seed):
    g = torch.Generator().manual_seed(seed)
    X, K = torch.randn(*side, generator=g, dtype=torch.float64), torch.randn(*k, generator=g, dtype=torch.float64)
    if k[0] > side[0] or k[1] > side[1]:
        return
    expected = scipy.signal.convolve2d(X.numpy(), K.numpy(), mode="valid")
    np.testing.assert_allclose(ops.convolve2d(X, K).numpy(), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ops.convolve2d(X, K), ops.corr2d(X, K.flip(0, 1)))


@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)  # PyTorch allows at most half the window
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3)).map(as_arg)))
    hw = tuple(draw(st.integers(max(1, k - 2 * p), 10)) for k, p in zip(kernel, padding))
    return dict(shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), *hw), kernel=as_arg(kernel),
                stride=stride, padding=as_arg(padding), seed=draw(st.integers(0, 2**31 - 1)),
                ties=draw(st.booleans()))


def pool_input(case):
    g = torch.Generator().manual_seed(case["seed"])
    if case["ties"]:  # few distinct values: windows share their maximum, gradients must pick the same one
        return torch.randint(0, 3, case["shape"], generator=g).float()
    return torch.randn(case["shape"], generator=g)


@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_max_pool_matches_torch_values_and_gradients_even_with_ties(case):
    args = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"])
    assert_same(lambda t: ops.max_pool2d(t, **args), lambda t: F.max_pool2d(t, **args), [pool_input(case)],
                case["seed"])


@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_avg_pool_matches_torch_counting_zero_padding(case):
    args = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"])
    assert_same(lambda t: ops.avg_pool2d(t, **args), lambda t: F.avg_pool2d(t, **args), [pool_input(case)],
                case["seed"])


def test_pool_padding_over_half_the_window_is_a_config_error():
    with pytest.raises(ConfigError, match="at most half"):
        ops.max_pool2d(torch.zeros(1, 1, 4, 4), 2, padding=2)


# ---------------------------------------------------------------- sizes and receptive fields
@pytest.mark.parametrize("n, k, p, s, expected", [(8, 3, 0, 1, 6), (8, 3, 1, 1, 8), (8, 3, 1, 2, 4), (28, 5, 2, 1, 28),
                                                  (224, 11, 1, 4, 54), (7, 2, 0, 2, 3)])
def test_conv_output_size_is_floor_rule(n, k, p, s, expected):
    assert ops.conv_output_size(n, k, p, s) == expected


def test_conv_output_size_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ConfigError, match="larger than the padded input"):
        ops.conv_output_size(3, 5, padding=0)
    assert ops.same_padding(5) == 2
    with pytest.raises(ConfigError, match="odd"):
        ops.same_padding(4)


def test_receptive_field_grows_by_kernel_minus_one_times_the_jump():
    assert ops.receptive_field([3, 3]) == (5, 5)
    rows = ops.receptive_fields([(3, 1), (2, 2), (3, 1), ((1, 5), 1)])
    assert [r["size"] for r in rows] == [(3, 3), (4, 4), (8, 8), (8, 16)]
    assert rows[-1]["jump"] == (2, 2)


def test_receptive_field_of_models_walks_their_conv_and_pool_layers():
    assert ops.receptive_field(create_model("lenet")) == (16, 16)  # 5, +1, +4*2, +1*4
    assert ops.receptive_field(create_model("alexnet")) == (195, 195)  # the published AlexNet figure
    assert ops.receptive_field(ops.to_scratch(create_model("lenet"))) == (16, 16)
    assert ops.is_plain_stack(create_model("lenet")) and not ops.is_plain_stack(create_model("inception-cnn"))


# ---------------------------------------------------------------- layers and to_scratch
def test_scratch_layers_initialise_like_native_ones_and_share_state_dicts():
    torch.manual_seed(3)
    native = nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=1)
    torch.manual_seed(3)
    scratch = ops.ScratchConv2d(3, 5, (3, 2), stride=(2, 1), padding=1)
    assert native.state_dict().keys() == scratch.state_dict().keys()
    for key in native.state_dict():
        assert torch.equal(native.state_dict()[key], scratch.state_dict()[key])
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "padding_mode"):
        assert getattr(native, attr) == getattr(scratch, attr), attr
    x = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(scratch(x), native(x), **TOL)
    no_bias = ops.ScratchConv2d(3, 5, 3, bias=False)
    assert no_bias.bias is None and set(no_bias.state_dict()) == {"weight"}
    nn.Conv2d(3, 5, 3, bias=False).load_state_dict(no_bias.state_dict())


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_scratch_conv_accepts_string_padding_like_torch(padding):
    native = nn.Conv2d(2, 3, 5, padding=padding)
    scratch = ops.to_scratch(nn.Sequential(native))[0]
    assert scratch.padding == padding
    x = torch.randn(1, 2, 7, 6)
    torch.testing.assert_close(scratch(x), native(x), **TOL)


def test_scratch_pools_keep_the_native_attributes():
    for native, scratch in [(nn.MaxPool2d(3, 2, 1), ops.ScratchMaxPool2d(3, 2, 1)),
                            (nn.AvgPool2d((2, 3), padding=1), ops.ScratchAvgPool2d((2, 3), padding=1))]:
        for attr in ("kernel_size", "stride", "padding", "ceil_mode"):
            assert getattr(native, attr) == getattr(scratch, attr), attr
        x = torch.randn(2, 3, 7, 8)
        torch.testing.assert_close(scratch(x), native(x), **TOL)


@pytest.mark.parametrize("name", list_models())
def test_to_scratch_swaps_every_conv_and_pool_of_every_registered_model(name):
    model = create_model(name).eval()
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    count = sum(isinstance(m, kinds) for m in model.modules())
    small = model_info(name).input_size <= 28  # the big nets' forward passes are too slow for the test suite
    native = copy.deepcopy(model) if small else None
    scratch = ops.to_scratch(model)
    assert not any(isinstance(m, kinds) for m in scratch.modules())
    scratch_kinds = (ops.ScratchConv2d, ops.ScratchMaxPool2d, ops.ScratchAvgPool2d)
    assert count == sum(isinstance(m, scratch_kinds) for m in scratch.modules())
    assert {k: v.shape for k, v in scratch.state_dict().items()} == shapes  # state_dicts interchangeable
    if small:
        x = torch.randn(2, 1, 28, 28)
        with torch.no_grad():
            torch.testing.assert_close(scratch(x), native(x), **TOL)


def test_create_model_with_scratch_ops_matches_native_outputs_and_gradients():
    torch.manual_seed(0)
    native = create_model("lenet")
    torch.manual_seed(0)
    scratch = create_model("lenet", ops="scratch")
    x = torch.randn(8, 1, 28, 28)
    native(x).square().sum().backward()
    scratch(x).square().sum().backward()
    torch.testing.assert_close(scratch(x), native(x), **TOL)
    for (name, p), q in zip(native.named_parameters(), scratch.parameters()):
        torch.testing.assert_close(q.grad, p.grad, **TOL, msg=name)


def test_scratch_model_consumes_the_random_stream_like_the_native_one():
    torch.manual_seed(0)
    create_model("lenet")
    after_native = torch.rand(3)
    torch.manual_seed(0)
    scratch = create_model("lenet", ops="scratch")
    assert torch.equal(torch.rand(3), after_native)  # so a seeded run continues identically (init, dropout, ...)
    assert all(p.device.type == "cpu" and p.requires_grad for p in scratch.parameters())


@pytest.mark.parametrize("layer, option", [
    (nn.Conv2d(2, 2, 3, dilation=2), "dilation"), (nn.Conv2d(2, 2, 3, groups=2), "groups"),
    (nn.Conv2d(2, 2, 3, padding_mode="reflect"), "padding_mode"), (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
    (nn.MaxPool2d(2, return_indices=True), "return_indices"),
    (nn.AvgPool2d(2, count_include_pad=False), "count_include_pad"),
    (nn.AvgPool2d(2, divisor_override=3), "divisor_override"),
])
def test_to_scratch_refuses_unsupported_options_naming_the_layer(layer, option):
    model = nn.Sequential(nn.Identity(), nn.Sequential(nn.ReLU(), layer))
    with pytest.raises(ConfigError, match=rf"layer '1\.1'.*{option}"):
        ops.to_scratch(model)


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_derivative_kernel_is_smallest_and_exact_on_polynomials(order):
    K = kernels.derivative(order)
    assert K.shape == (1, order + 1)
    x = torch.arange(12, dtype=torch.float64)
    for degree in range(order + 1):  # d-th difference: zero below degree d, d! on x^d
        Y = ops.corr2d((x**degree)[None], K.double())
        assert torch.allclose(Y, torch.full_like(Y, math.factorial(order) if degree == order else 0.0))
    assert torch.equal(kernels.derivative(order, "y"), K.t())


def test_smoothing_kernels_sum_to_one_and_laplacian_of_a_paraboloid_is_four():
    assert torch.isclose(kernels.box(3).sum(), torch.tensor(1.0)) and kernels.box((2, 4)).shape == (2, 4)
    g = kernels.gaussian(5, 1.0)
    assert torch.isclose(g.sum(), torch.tensor(1.0)) and torch.allclose(g, g.t()) and torch.allclose(g, g.flip(0))
    assert g[2, 2] == g.max()
    r = torch.arange(7, dtype=torch.float32)
    paraboloid = r[:, None] ** 2 + r[None, :] ** 2
    assert torch.allclose(ops.corr2d(paraboloid, kernels.laplacian()), torch.full((5, 5), 4.0))
    assert torch.allclose(ops.corr2d(paraboloid, kernels.second_derivative("x")), torch.full((7, 5), 2.0))
    assert torch.allclose(ops.corr2d(3 * r[None, :].repeat(4, 1), kernels.first_derivative()), torch.full((4, 5), 3.0))


def test_diagonal_edge_kernel_sees_diagonal_edges_that_the_vertical_kernel_smears():
    step = torch.triu(torch.ones(6, 6))  # ones on and above the diagonal: one edge along it
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    band = ((j == i) | (j == i - 1)).float()  # the two 2x2 windows straddling the edge in each row
    assert torch.equal(ops.corr2d(step, kernels.diagonal_edge()), band)
    assert torch.equal(kernels.horizontal_edge(), kernels.vertical_edge().t())


@pytest.mark.parametrize("bad", [lambda: kernels.gaussian(5, 0.0), lambda: kernels.box(0),
                                 lambda: kernels.derivative(0),
                                 lambda: kernels.first_derivative("z")])
def test_kernel_arguments_out_of_range_are_config_errors(bad):
    with pytest.raises(ConfigError):
        bad()
