"""Grad-CAM and saliency (cnnlab.explain) against their definitions computed by hand with autograd, on networks
where the answer is known; `cnnlab explain` writes its PNG and refuses a bad class in one line."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.explain import class_index, default_cam_layer, grad_cam, overlay, saliency, spatial_layers


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def test_grad_cam_matches_its_definition():
    model = small_net().eval()
    x = torch.randn(1, 1, 12, 12)
    cam = grad_cam(model, x, target=1, layer="2")
    # by hand: A = the output of module "2", w_k = mean over positions of d score_1 / d A_k
    a = model[:3](x)
    score = model[3:](a)[0, 1]
    grad, = torch.autograd.grad(score, a)
    expected = F.relu((grad.mean(dim=(2, 3))[0, :, None, None] * a[0]).sum(0)).detach()
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    assert cam.layer == "2" and cam.target == 1 and cam.map.shape == (12, 12)
    assert np.allclose(cam.map, expected.numpy(), atol=1e-5)  # same size here: the upsampling is the identity
    assert cam.probability == pytest.approx(model(x).softmax(1)[0, 1].item(), abs=1e-6)


def test_grad_cam_finds_the_only_place_that_carries_the_evidence():
    # one 1x1 conv that copies the input, global average pool, one class scoring the mean brightness
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[3].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model[3].bias.zero_()
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2:4, 5:7] = 1.0
    cam = grad_cam(model.eval(), x)
    assert cam.target == 0 and cam.layer == "0"
    assert np.array_equal(np.argwhere(cam.map == 1.0), np.argwhere(x[0, 0].numpy() == 1.0))
    assert cam.map.sum() == pytest.approx(4.0)


def test_saliency_is_the_absolute_input_gradient_scaled_to_one():
    model = small_net(1).eval()
    x = torch.randn(1, 1, 10, 10)
    sal = saliency(model, x, target=2)
    xr = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(model(xr)[0, 2], xr)
    expected = grad[0, 0].abs()
    assert np.allclose(sal.map, (expected / expected.max()).numpy(), atol=1e-5)
    assert sal.target == 2 and sal.map.max() == pytest.approx(1.0)


def test_the_callers_train_mode_and_the_weights_are_left_alone():
    model = small_net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 1, 10, 10)
    grad_cam(model, x)
    saliency(model, x)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm statistics too
    assert all(p.grad is None for p in model.parameters())  # no gradients left behind


def test_layers_and_classes_are_checked():
    model = small_net().eval()
    x = torch.randn(1, 1, 10, 10)
    assert spatial_layers(model, x) == ["0", "1", "2", "3", "4"]
    assert default_cam_layer(model, x) == "4"  # the last map: after BatchNorm and ReLU
    with pytest.raises(ConfigError, match="no layer 'nope'"):
        grad_cam(model, x, layer="nope")
    with pytest.raises(ConfigError, match="classes 0-2"):
        grad_cam(model, x, target=3)
    assert class_index("Bag", ("Shirt", "Bag")) == 1 and class_index("0", ("a", "b")) == 0
    with pytest.raises(ConfigError, match="did you mean Bag"):
        class_index("Bags", ("Shirt", "Bag"))


def test_overlay_is_rgb_in_the_unit_range():
    picture = overlay(np.linspace(0, 1, 16).reshape(4, 4), np.eye(4))
    assert picture.shape == (4, 4, 3) and 0 <= picture.min() and picture.max() <= 1


def test_cli_explain_writes_the_png(good_run, tmp_path, capsys):
    out = tmp_path / "why.png"
    assert main(["explain", str(good_run), "--index", "3", "--target", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 5000 and "Grad-CAM at layer" in printed and f"wrote {out}" in printed


def test_cli_explain_refuses_an_unknown_class_in_one_line(good_run, capsys):
    assert main(["explain", str(good_run), "--target", "elephant"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown class 'elephant'" in err
