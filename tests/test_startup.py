"""`cnnlab --help`, `--version` and every subcommand's parser are built without importing torch (start-up in a
fraction of a second; benchmarks/bench_startup.py measures it)."""
import subprocess
import sys

CHECK = """
import sys
from cnnlab.cli import build_parser, main
parser = build_parser()
try:
    main(["--version"])
except SystemExit as stop:  # argparse's --version action exits
    assert stop.code in (0, None), stop.code
print("torch" in sys.modules)
"""


def test_building_the_command_line_and_printing_the_version_do_not_import_torch():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout
