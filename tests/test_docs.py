"""The README stays short and every relative link in it and in docs/ leads somewhere; neither
the documentation nor the shipped code names one machine's folders."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MAX_README_LINES = 200  # a newcomer reads it in five minutes; the rest lives in docs/


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= MAX_README_LINES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    links = [m.group(1) for m in LINK.finditer(page.read_text())]
    broken = [link for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")
              and not (page.parent / link.split("#")[0]).exists()]
    assert not broken, f"{page.name}: links to nothing: {broken}"


def test_the_readme_links_every_docs_page():
    linked = set(LINK.findall((ROOT / "README.md").read_text()))
    assert not [p.name for p in PAGES[1:] if f"docs/{p.name}" not in linked]


def test_no_machine_specific_path():
    files = PAGES + [f for d in ("crosscheck", "mnist_cnn", "nn_crosscheck_common", "numpy_impl", "reference",
                                 "benchmarks", "scripts", "examples") for f in (ROOT / d).rglob("*.py")]
    found = [f"{f.relative_to(ROOT)}: {m}" for f in files
             for m in re.findall(r"/work/\S*|\.\./shared\S*|this task", f.read_text())]
    assert not found, found
