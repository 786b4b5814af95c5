"""The project documents itself: every referenced ``.md`` exists in the repository, and no file
points to documents outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [*sorted(
    p for pattern in ("src/**/*.py", "docs/**/*.md", "tests/**/*.py", "benchmarks/**/*.py")
    for p in ROOT.glob(pattern)
), ROOT / "README.md"]
OUTSIDE = re.compile("|".join(["\\.\\./" + "shared", "THEORY" + "\\.md", "PROTOCOL" + "\\.md"]))
# Markdown links to .md files, and any mention of a docs/*.md page (outputs such as report.md
# are file names a command writes, not documents, so only these two forms are checked).
MD_LINK = re.compile(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)|\b(docs/[\w./-]+\.md)\b")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_outside_the_repository(path):
    assert not OUTSIDE.search(path.read_text(encoding="utf-8"))


def test_every_referenced_markdown_file_exists():
    missing = set()
    for path in FILES:
        for link, page in MD_LINK.findall(path.read_text(encoding="utf-8")):
            name = link or page
            if not ((path.parent / name).exists() or (ROOT / name).exists()):
                missing.add(f"{path.relative_to(ROOT)} -> {name}")
    assert not missing, sorted(missing)
