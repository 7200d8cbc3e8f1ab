"""Training augmentation (cnnlab.steps.augment): what each kind does to a batch."""
import torch

from cnnlab.steps import augment, shift_each


def batch(n=64, size=6):
    """Distinct images: a single bright pixel at a different place in each, on a black (-1) background."""
    x = torch.full((n, 1, size, size), -1.0)
    for i in range(n):
        x[i, 0, 1 + i % (size - 2), 1 + (i // (size - 2)) % (size - 2)] = 5.0
    return x


def bright_spot(image):
    return divmod(int(image.flatten().argmax()), image.shape[-1])


def test_shift_each_moves_every_image_by_its_own_offset_of_at_most_the_limit_on_the_background():
    x = batch()
    torch.manual_seed(0)
    moved = shift_each(x, 1)
    offsets = set()
    for before, after in zip(x, moved):
        (r0, c0), (r1, c1) = bright_spot(before[0]), bright_spot(after[0])
        assert abs(r1 - r0) <= 1 and abs(c1 - c0) <= 1
        offsets.add((r1 - r0, c1 - c0))
        assert sorted(after.flatten().tolist()) == sorted(before.flatten().tolist())  # only background enters
    assert len(offsets) == 9  # all nine offsets occur among 64 images: each image draws its own


def test_shift_flip_is_a_flip_then_a_shift_of_each_image_and_keeps_channels_last():
    x = batch().contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    out = augment(x, "shift-flip")
    torch.manual_seed(1)
    assert torch.equal(out, shift_each(augment(x, "flip"), 1))
    assert out.is_contiguous(memory_format=torch.channels_last) and not torch.equal(out, x)
    assert torch.equal(augment(x, "none"), x)


def test_shift_each_with_flips_equals_flipping_first_in_every_layout_and_channel_count():
    for channels in (1, 3):
        x = torch.randn(32, channels, 7, 9)
        flip = torch.rand(32, 1, 1, 1) < 0.5
        for layout in (torch.contiguous_format, torch.channels_last):
            xl = x.contiguous(memory_format=layout)
            torch.manual_seed(2)
            together = shift_each(xl, 2, flip)
            torch.manual_seed(2)
            assert torch.equal(together, shift_each(torch.where(flip, xl.flip(-1), xl), 2))
            assert together.is_contiguous(memory_format=layout)
