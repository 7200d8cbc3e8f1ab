"""`cnnlab datasets` and `cnnlab download`: what they print, and one-line errors with exit status 2."""
import subprocess
import sys

import pytest

from cnnlab.cli import main
from cnnlab.data import SPECS


def lines_by_name(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines()[1:]}


def test_datasets_lists_every_data_set_with_sizes_and_source(no_user_data, idx_dir, capsys):
    assert main(["datasets", "--data-dir", str(idx_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "train", "test", "classes", "mean/std", "source"]
    rows = lines_by_name(out)
    assert set(rows) == set(SPECS) | {"folder:PATH"}  # named sets, then how to use your own images
    assert rows["mnist"].endswith(str(idx_dir))  # the tiny set stands in for mnist
    assert "60,000" in rows["mnist"] and "10,000" in rows["mnist"] and "0.1307/0.3081" in rows["mnist"]
    assert rows["synthetic"].endswith("generated on the fly")


def test_datasets_says_how_to_get_a_missing_set(no_user_data, capsys):
    assert main(["datasets"]) == 0
    assert lines_by_name(capsys.readouterr().out)["mnist"].endswith("not available (cnnlab download mnist)")


def test_datasets_shows_system_fashion_mnist_when_installed(no_user_data, fashion_mnist, capsys):
    assert main(["datasets"]) == 0
    assert lines_by_name(capsys.readouterr().out)["fashion-mnist"].endswith(fashion_mnist.source)


@pytest.mark.parametrize("name, words", [("mnsit", "unknown dataset 'mnsit': did you mean mnist"),
                                         ("synthetic", "no files to download")])
def test_download_of_a_bad_name_is_one_line_and_exit_2(no_user_data, capsys, name, words):
    assert main(["download", name]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("cnnlab: error: ") and words in captured.err


def test_download_bad_name_exit_status_from_the_real_command(no_user_data):
    result = subprocess.run([sys.executable, "-m", "cnnlab", "download", "nope"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("cnnlab: error: unknown dataset 'nope'") and result.stderr.count("\n") == 1


def test_download_without_a_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["download"])
    assert caught.value.code == 2 and "name" in capsys.readouterr().err
