"""README is the product page and docs/ holds one page per subject: README stays short and free of measurement-log
detail, every link between the pages lands on a file and a heading that exist, every `cnnlab` command the pages
show is one the command line accepts, and the package metadata builds without setuptools' deprecation warning."""
import re
import shlex
import warnings
from pathlib import Path

import pytest

from cnnlab.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a `#` in a shell block is a comment, not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", _prose(page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _commands(page: Path):
    """Each `cnnlab ...` line of the page's bash/sh code blocks, without its comment, split at `&&`."""
    for block in re.findall(r"^```(?:bash|sh)\n(.*?)^```", page.read_text(), re.S | re.M):
        for line in block.splitlines():
            line = re.split(r"\s+#", line)[0].strip()
            for command in line.split("&&"):
                command = command.strip()
                if command.startswith("cnnlab ") and "..." not in command:
                    yield command


def test_readme_is_a_product_page_of_at_most_250_lines():
    assert len(README.read_text().splitlines()) <= 250


def test_readme_has_no_measurement_log_detail():
    text = README.read_text()
    for pattern in (r"\bUTC\b", r"load average", r"\b20\d\d-\d\d-\d\d\b", r"SIGSTOP", r"seed-0\d\d", r"this session"):
        assert not re.search(pattern, text), pattern


def test_readme_links_a_docs_page_for_every_how_do_i_row():
    section = README.read_text().split("## How do I", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| …")]
    assert len(rows) >= 10
    for row in rows:
        assert re.search(r"\]\((docs/|examples/|#)", row), row


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_lands_on_a_file_and_heading_that_exist(page):
    for link in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text())):
        if link.startswith(("http://", "https://")):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {link}: no such file"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target), f"{page.name}: {link}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_cnnlab_command_shown_is_accepted_by_the_command_line(page):
    parser = build_parser()
    for command in _commands(page):
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit as stop:
            assert stop.code == 0, f"{page.name}: `{command}` is refused by the command line"


def test_package_metadata_uses_the_spdx_license_without_a_deprecation_warning():
    setuptools = pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(setuptools.Distribution(), ROOT / "pyproject.toml")
    assert not [w for w in caught if "license" in str(w.message).lower()], [str(w.message) for w in caught]
    assert getattr(dist.metadata, "license_expression", None) == "MIT"
