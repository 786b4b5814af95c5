"""Imports point one way: every module has a layer (``ftunlearn._layers``), no module imports a
module of a higher layer, and no modules import each other in a circle, counting imports inside
functions and under ``TYPE_CHECKING`` too. The graph is read from the source with ``ast``
(docs/tools/import_graph.py); nothing of the package is imported."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_tool():
    spec = importlib.util.spec_from_file_location("import_graph",
                                                  ROOT / "docs" / "tools" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up by name
    spec.loader.exec_module(module)
    return module


TOOL = _load_tool()
LAYERS = TOOL.load_layers()

# No circle is tolerated: a shared type belongs in a module below both sides.
KNOWN_VIOLATIONS: set[frozenset[str]] = set()


@pytest.fixture(scope="module")
def arrows():
    return TOOL.arrows()


@pytest.fixture(scope="module")
def modules():
    return sorted(TOOL.module_files())


def test_every_module_has_a_layer(modules):
    missing = [TOOL.show(m) for m in modules if LAYERS.layer_of(m) is None]
    assert not missing, f"add these modules to src/ftunlearn/_layers.py: {missing}"


def test_every_entry_of_the_layer_table_names_modules_that_exist(modules):
    entries = [entry for layer in LAYERS.LAYERS for entry in layer.modules]
    assert len(entries) == len(set(entries)), "an entry is listed twice"
    for entry in entries:
        package = entry.removesuffix(".*")
        assert package in modules, f"stale entry in _layers.py: {entry!r}"
        if entry.endswith(".*"):
            assert any(m.startswith(package + ".") for m in modules), f"{entry!r}: no package"


def test_no_import_circles(arrows):
    new = [sorted(c) for c in TOOL.circles(arrows)
           if not any(c <= known for known in KNOWN_VIOLATIONS)]
    assert not new, f"import circles (strongly connected modules): {new}"


def test_no_arrows_up(arrows):
    names = [layer.name for layer in LAYERS.LAYERS]
    up = [f"{a.source} ({names[LAYERS.layer_of(a.source)]}) -> {a.target} "
          f"({names[LAYERS.layer_of(a.target)]}), {a.kind}"
          for a in TOOL.arrows_up(arrows, LAYERS.layer_of)]
    assert not up, f"imports from a lower layer to a higher one: {up}"


def test_the_graph_sees_deferred_and_typing_imports_and_their_circles(tmp_path):
    package = tmp_path / "ftunlearn"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text('"""root"""\n')
    (package / "low" / "__init__.py").write_text("from ftunlearn.low import a\n")
    (package / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ftunlearn.low.b import B\n")
    (package / "low" / "b.py").write_text("def f():\n    from ftunlearn import top\n")
    (package / "top.py").write_text("import numpy\nfrom .low import b\n")
    found = {(a.source, a.target): a.kind for a in TOOL.arrows(package)}
    assert found == {("low", "low.a"): "module", ("low.a", "low.b"): "typing",
                     ("low.b", "top"): "deferred", ("top", "low.b"): "module"}
    assert TOOL.circles(TOOL.arrows(package)) == [frozenset({"low.b", "top"})]
    up = TOOL.arrows_up(TOOL.arrows(package), lambda m: 1 if m == "top" else 0)
    assert [(a.source, a.target, a.kind) for a in up] == [("low.b", "top", "deferred")]


def test_docs_show_the_layer_table_as_it_is():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(.*?)```", page, re.S)
    assert block is not None, "docs/architecture.md needs the diagram in a ```text block"
    assert block.group(1).rstrip() == TOOL.diagram(LAYERS.LAYERS).rstrip(), (
        "docs/architecture.md is out of date: paste `python docs/tools/import_graph.py`")


@pytest.mark.parametrize("package", sorted(
    p.parent.name for p in (ROOT / "src" / "ftunlearn").glob("*/__init__.py")))
def test_each_package_says_what_it_owns_and_may_import(package):
    docstring = TOOL.ast.get_docstring(TOOL.ast.parse(
        (ROOT / "src" / "ftunlearn" / package / "__init__.py").read_text(encoding="utf-8")))
    assert docstring and "may import" in docstring.lower(), package
