"""The package's import graph, read from the source with ``ast`` (nothing is imported), and its
layers (``ftunlearn._layers``) as a diagram.

    .venv/bin/python docs/tools/import_graph.py            # the layer diagram
    .venv/bin/python docs/tools/import_graph.py --graph    # every module's imports
    .venv/bin/python docs/tools/import_graph.py --check    # circles and arrows up; exit 1 if any

An import inside a function is *deferred* and one under ``if TYPE_CHECKING:`` is *typing*;
both count as arrows like a module-level import (a circle through a deferred import is still a
circle), and are listed apart. tests/test_architecture.py checks the graph with these functions;
docs/architecture.md shows the diagram.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "src" / "ftunlearn"
PACKAGE = "ftunlearn"
KINDS = ("module", "deferred", "typing")
"""How an import is reached, strongest first: when the module is imported, when a function
runs, or only by a type checker."""


def load_layers() -> ModuleType:
    """``ftunlearn._layers`` loaded from its file, so the package itself is not imported."""
    spec = importlib.util.spec_from_file_location("_ftunlearn_layers", PACKAGE_DIR / "_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up by name
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Arrow:
    """One import of the package by the package: ``source`` imports ``target``."""

    source: str
    target: str
    kind: str


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module's dotted name relative to the package (``""`` for its root) and its file."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, kind: str = "module") -> Iterator[tuple[ast.stmt, str]]:
    """Every import statement under ``tree`` with how it is reached."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(node, "deferred" if kind == "module" else kind)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]),
                                    "typing" if kind == "module" else kind)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), kind)
        else:
            yield from _imports(node, kind)


def _relative(name: str) -> str | None:
    """``ftunlearn.data.splits`` -> ``data.splits``; ``None`` outside the package."""
    if name == PACKAGE:
        return ""
    return name[len(PACKAGE) + 1:] if name.startswith(PACKAGE + ".") else None


def _targets(node: ast.stmt, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = _relative(alias.name)
            if target is not None:
                yield target
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if module else []
        base = base if is_package else base[:-1]
        base = base[:len(base) - node.level + 1]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = _relative(node.module or "")
        if source is None:
            return
    for alias in node.names:
        submodule = f"{source}.{alias.name}" if source else alias.name
        yield submodule if submodule in known else source


def arrows(package_dir: Path = PACKAGE_DIR) -> list[Arrow]:
    """Every import of a package module by a package module, one arrow per pair, with the
    strongest way it is reached."""
    files = module_files(package_dir)
    known = set(files)
    found: dict[tuple[str, str], str] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, kind in _imports(tree):
            for target in _targets(node, module, path.name == "__init__.py", known):
                if target == module:
                    continue
                pair = (module, target)
                if pair not in found or KINDS.index(kind) < KINDS.index(found[pair]):
                    found[pair] = kind
    return [Arrow(source, target, kind) for (source, target), kind in sorted(found.items())]


def circles(graph_arrows: list[Arrow]) -> list[frozenset[str]]:
    """The import circles: strongly connected components of more than one module."""
    graph = nx.DiGraph((a.source, a.target) for a in graph_arrows)
    return sorted((frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1),
                  key=sorted)


def arrows_up(graph_arrows: list[Arrow], layer_of) -> list[Arrow]:
    """The arrows from a lower layer to a higher one."""
    return [a for a in graph_arrows
            if None not in (layer_of(a.source), layer_of(a.target))
            and layer_of(a.source) < layer_of(a.target)]


def show(module: str) -> str:
    return module or "ftunlearn"


def diagram(layers) -> str:
    """The layers top to bottom, each with what it owns and its modules; imports point down."""
    width = max(len(layer.name) for layer in layers) + 5
    indent = " " * width
    lines = ["imports point down: a layer imports from itself and the layers below it, never up",
             ""]
    for number, layer in reversed(list(enumerate(layers, start=1))):
        head = f"{number:>2} {layer.name:<{width - 3}}"
        lines.extend(textwrap.wrap(layer.owns, 96, initial_indent=head, subsequent_indent=indent))
        lines.extend(textwrap.wrap("[" + ", ".join(show(m) for m in layer.modules) + "]", 96,
                                   initial_indent=indent, subsequent_indent=indent + " "))
        if number > 1:
            lines.append("    ↓")
    return "\n".join(lines)


def graph_text(graph_arrows: list[Arrow], modules: list[str]) -> str:
    """One line per module: what it imports, deferred and typing-only imports apart."""
    lines = []
    for module in modules:
        mine = [a for a in graph_arrows if a.source == module]
        parts = [", ".join(show(a.target) for a in mine if a.kind == "module") or "-"]
        parts += [f"{kind}: " + ", ".join(show(a.target) for a in mine if a.kind == kind)
                  for kind in KINDS[1:] if any(a.kind == kind for a in mine)]
        lines.append(f"{show(module)} -> " + "; ".join(parts))
    return "\n".join(lines)


def violations(graph_arrows: list[Arrow], modules: list[str], layers_module) -> list[str]:
    """Every module without a layer, every circle and every arrow up, one line each."""
    layer_of = layers_module.layer_of
    names = [layer.name for layer in layers_module.LAYERS]
    found = [f"no layer: {show(m)}" for m in modules if layer_of(m) is None]
    found += ["circle: " + " <-> ".join(show(m) for m in sorted(c)) for c in circles(graph_arrows)]
    found += [f"arrow up: {show(a.source)} ({names[layer_of(a.source)]}) -> {show(a.target)} "
              f"({names[layer_of(a.target)]}), {a.kind}" for a in arrows_up(graph_arrows, layer_of)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--graph", action="store_true", help="every module's imports")
    group.add_argument("--check", action="store_true", help="circles and arrows up; exit 1 if any")
    args = parser.parse_args(argv)
    layers = load_layers()
    graph_arrows = arrows()
    modules = sorted(module_files())
    if args.graph:
        print(graph_text(graph_arrows, modules))
        return 0
    if args.check:
        found = violations(graph_arrows, modules, layers)
        print("\n".join(found) or f"{len(modules)} modules, {len(graph_arrows)} arrows: "
              "no circles, no arrows up")
        return 1 if found else 0
    print(diagram(layers.LAYERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
