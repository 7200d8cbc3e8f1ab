"""Image folders (--dataset folder:PATH): layouts, colour and grey, the stratified split, the decode cache and
its invalidation, --skip-bad, and training, predicting and showing in colour from the command line."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.data import folder, load_dataset, stratified_split
from cnnlab.errors import DatasetError

COLOURS = {"red": (200, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 210)}
FORMATS = ("png", "jpg", "bmp", "webp")


def make_folder(root, per_class=10, grey=False, seed=0, classes=COLOURS):
    """Class sub-folders of small noisy images of different sizes and formats: learnable by colour (or, grey,
    by brightness)."""
    rng = np.random.default_rng(seed)
    for k, (name, colour) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (30 + 3 * (i % 4), 36 + 2 * (i % 3))
            if grey:
                pixels = np.full(shape, 40 + 80 * k) + rng.integers(-20, 20, shape)
            else:
                pixels = np.array(colour) + rng.integers(-30, 30, (*shape, 3))
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.{FORMATS[i % 4]}")
    return root


@pytest.fixture
def photos(tmp_path, no_user_data):
    return make_folder(tmp_path / "photos")


def test_colour_folder_loads_as_three_channels_with_per_channel_statistics(photos):
    data = load_dataset(f"folder:{photos}", image_size=24, progress=False)
    assert data.classes == ("blue", "green", "red")
    assert data.train.images.shape == (24, 3, 24, 24) and data.test.images.shape == (6, 3, 24, 24)
    assert data.train.images.dtype == torch.uint8 and data.channels == 3
    pixels = data.train.images.permute(1, 0, 2, 3).reshape(3, -1).double() / 255
    assert data.mean == pytest.approx(tuple(pixels.mean(1).tolist()), abs=1e-4)
    assert data.std == pytest.approx(tuple(pixels.std(1, unbiased=False).tolist()), abs=1e-4)
    # red images are red: the channels are in R, G, B order
    red = data.train.images[data.train.labels == data.classes.index("red")].double().mean((0, 2, 3))
    assert red[0] > 150 and red[1] < 100 and red[2] < 100
    assert data.source == str(photos) and data.name == f"folder:{photos}"


def test_grey_folder_loads_as_one_channel(tmp_path, no_user_data):
    root = make_folder(tmp_path / "grey", grey=True)
    data = load_dataset(f"folder:{root}", image_size=20, progress=False)
    assert data.train.images.shape[1:] == (20, 20) and data.channels == 1 and isinstance(data.mean, float)


def test_split_is_stratified_and_the_same_every_time():
    labels = np.repeat(np.arange(3), [10, 20, 5])
    train, test = stratified_split(labels, 0.2)
    assert sorted(np.bincount(labels[test]).tolist()) == [1, 2, 4]
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    again = stratified_split(labels, 0.2)
    assert (again[0] == train).all() and (again[1] == test).all()
    assert not (stratified_split(labels, 0.2, seed=1)[1] == test).all()


def test_test_split_sets_the_held_out_fraction(photos):
    data = load_dataset(f"folder:{photos}", image_size=16, test_split=0.5, progress=False)
    assert len(data.train) == 15 and len(data.test) == 15
    assert torch.bincount(data.test.labels).tolist() == [5, 5, 5]


def test_train_and_test_sub_folders_are_used_as_given(tmp_path, no_user_data):
    make_folder(tmp_path / "set" / "train", per_class=6)
    make_folder(tmp_path / "set" / "test", per_class=2, seed=1,
                classes={"red": COLOURS["red"], "blue": COLOURS["blue"]})
    data = load_dataset(f"folder:{tmp_path / 'set'}", image_size=16, progress=False)
    assert len(data.train) == 18 and len(data.test) == 4
    assert data.classes == ("blue", "green", "red")
    assert sorted(torch.unique(data.test.labels).tolist()) == [0, 2]


def test_second_load_reads_the_cache_and_a_changed_file_decodes_again(photos, monkeypatch):
    first = load_dataset(f"folder:{photos}", image_size=16, progress=False)
    calls = []
    real = folder._decode_all
    monkeypatch.setattr(folder, "_decode_all", lambda *a: calls.append(a[1]) or real(*a))
    second = load_dataset(f"folder:{photos}", image_size=16, progress=False)
    assert calls == [] and torch.equal(first.train.images, second.train.images)
    load_dataset(f"folder:{photos}", image_size=20, progress=False)  # another size: another cache entry
    assert len(calls) == 1
    target = photos / "red" / "0.png"
    Image.new("RGB", (30, 30), (0, 0, 255)).save(target)  # same name, new content and time
    os.utime(target, ns=(1, 1))
    changed = load_dataset(f"folder:{photos}", image_size=16, progress=False)
    assert len(calls) == 2 and not torch.equal(changed.train.images, first.train.images)
    (photos / "red" / "1.jpg").unlink()
    assert len(load_dataset(f"folder:{photos}", image_size=16, progress=False).train) + 6 == 29
    assert len(calls) == 3


def test_a_corrupt_cache_file_is_decoded_again_not_an_error(photos, no_user_data):
    load_dataset(f"folder:{photos}", image_size=16, progress=False)
    (cached,) = (no_user_data / "cnnlab" / "folders").iterdir()
    cached.write_bytes(cached.read_bytes()[:100])
    assert len(load_dataset(f"folder:{photos}", image_size=16, progress=False).train) == 24


def test_skip_bad_leaves_unreadable_files_out_and_counts_them(photos, capsys):
    (photos / "red" / "broken.png").write_bytes(b"not a png")
    (photos / "blue" / "cut.jpg").write_bytes((photos / "blue" / "1.jpg").read_bytes()[:40])
    with pytest.raises(DatasetError, match=r"2 of 32 image files cannot be read: blue/cut.jpg \(.*\), red/broken.png "
                                           r"\(not an image\); remove them or pass --skip-bad"):
        load_dataset(f"folder:{photos}", image_size=16, progress=False)
    data = load_dataset(f"folder:{photos}", image_size=16, skip_bad=True, progress=False)
    assert len(data.train) + len(data.test) == 30
    assert "left out 2 unreadable files (--skip-bad): blue/cut.jpg" in capsys.readouterr().err


def test_transparent_and_palette_images_are_decoded(tmp_path, no_user_data):
    root = make_folder(tmp_path / "p", per_class=4)
    Image.new("RGBA", (20, 20), (255, 0, 0, 128)).save(root / "red" / "clear.png")  # half transparent: onto white
    Image.new("RGB", (20, 20), (0, 0, 200)).convert("P").save(root / "blue" / "palette.png")
    data = load_dataset(f"folder:{root}", image_size=8, progress=False)
    assert len(data.train) + len(data.test) == 14 and data.channels == 3


def test_every_zoo_model_takes_three_channels():
    import cnnlab

    for name in cnnlab.list_models():
        info = cnnlab.model_info(name)
        size = info.min_size or info.input_size
        with torch.device("meta"):
            out = cnnlab.create_model(name, num_classes=5, in_channels=3)(torch.empty(2, 3, size, size))
        assert out.shape == (2, 5), name


def test_train_predict_show_and_eval_in_colour_from_the_command_line(photos, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "lenet-relu", "--dataset", f"folder:{photos}", "--epochs", "3", "--batch-size", "8",
                 "--lr", "0.05", "--momentum", "0.9", "--threads", "1", "--precision", "fp32", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy 1.0000" in out  # colour alone tells the classes apart
    payload = torch.load(run / "last.pt", weights_only=True)
    assert payload["in_channels"] == 3 and len(payload["normalize"][0]) == 3
    assert main(["eval", str(run)]) == 0
    assert "accuracy 1.0000" in capsys.readouterr().out
    assert main(["predict", str(run), str(photos / "red" / "2.bmp"), "--out", str(tmp_path / "p.png")]) == 0
    assert "2.bmp  red" in capsys.readouterr().out
    assert main(["show", f"folder:{photos}", "--out", str(tmp_path / "show.png")]) == 0
    shown = np.asarray(Image.open(tmp_path / "show.png").convert("RGB")).astype(int)
    assert ((shown[..., 0] - shown[..., 2]) > 100).sum() > 500  # red pixels drawn as red, not grey
    assert main(["features", str(run), "--out", str(tmp_path / "f.png")]) == 0


def test_default_run_directory_name_has_no_path_separators(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "lenet-relu", "--dataset", f"folder:{photos}", "--epochs", "1", "--threads", "1"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("lenet-relu-folder-photos-")


def test_a_relative_folder_path_is_kept_absolute_so_views_work_from_anywhere(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(photos.parent)
    assert main(["train", "lenet-relu", "--dataset", "folder:photos", "--epochs", "1", "--threads", "1",
                 "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["dataset"] == f"folder:{photos}"
    monkeypatch.chdir(tmp_path / "run")
    assert main(["eval", "."]) == 0
    assert "on folder:" in capsys.readouterr().out


def test_predicting_a_file_with_a_grey_folder_model_decodes_it_as_the_folder_was(tmp_path, no_user_data, capsys):
    root = make_folder(tmp_path / "grey", grey=True)
    run = tmp_path / "run"
    assert main(["train", "lenet-relu", "--dataset", f"folder:{root}", "--epochs", "1", "--threads", "1",
                 "--out", str(run)]) == 0
    assert main(["predict", str(run), str(root / "red" / "0.png"), "--out", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "centre square at 28x28" in out and "inverted" not in out  # not the MNIST-style conversion
