"""The package's layers, bottom to top: the one table the architecture test and docs derive from.

A module may import modules of its own layer and of the layers below it, never of a layer
above (tests/test_architecture.py checks every import, deferred ones too, by parsing the
source). docs/architecture.md explains the layers; ``python docs/tools/import_graph.py``
prints this table as a diagram and the import graph it checks.

Modules are named relative to ``ftunlearn`` (``""`` is the package root). ``"data.*"`` places a
package and every module in it; an exact name (``"linear.cli"``) overrides such a wildcard.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One floor of the package: its name, what it owns, and the modules on it."""

    name: str
    owns: str
    modules: tuple[str, ...]


LAYERS: tuple[Layer, ...] = (
    Layer("foundation", "errors, values and typed parameters, the generic registry, atomic "
          "writes and disk checks, the one figure style, the search-space types the methods "
          "declare", ("", "_layers", "errors", "values", "params", "registry", "atomic", "disk",
                      "figure_style", "tuning.space")),
    Layer("training", "the fit loop: recipes, batches, schedules, prediction", ("training",)),
    Layer("data", "datasets, file formats, streamed sources, forget specs and splits",
          ("data.*",)),
    Layer("models", "architectures, the model registry, checkpoints", ("models.*",
                                                                        "checkpoints")),
    Layer("methods", "the unlearning contract, its registry, and every method",
          ("methods.*",)),
    Layer("metrics", "the evaluation protocol: metric registry, MIA, gaps, audit statistics",
          ("metrics.*",)),
    Layer("ensemble", "many seeds of one recipe or method trained in one vectorised pass",
          ("ensemble",)),
    Layer("linear", "the linear lab (numpy only): scenarios, solvers, its models and figures",
          ("linear.*",)),
    Layer("runs", "a benchmark run: configs, identities, cache, workspace, cells, executors, "
          "results store, runner; the folder `ftunlearn unlearn` writes, read back",
          ("experiments.*", "unlearn_outputs")),
    Layer("reporting", "what a finished run shows: summaries, tables, figures, exports, html",
          ("experiments.report", "experiments.report_model", "experiments.report_guard",
           "experiments.exports",
           "experiments.html", "experiments.plots", "experiments.compare",
           "experiments.unlearn_report", "experiments.reading")),
    Layer("studies", "work built on runs and their reports: the audit, hyperparameter tuning",
          ("experiments.audit", "tuning.*")),
    Layer("commands", "the command line: parsers, options, what a command prints",
          ("__main__", "cli", "cli_options", "unlearn_command",
           "experiments.audit_cli", "experiments.terminal", "linear.cli", "tuning.cli")),
)


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module`` (dotted, relative to ``ftunlearn``), or
    ``None`` when no entry places it; an exact entry beats the longest matching wildcard."""
    for index, layer in enumerate(LAYERS):
        if module in layer.modules:
            return index
    best: tuple[int, int] | None = None
    for index, layer in enumerate(LAYERS):
        for entry in layer.modules:
            package = entry.removesuffix(".*")
            if entry.endswith(".*") and (module == package or module.startswith(package + ".")
                                         ) and (best is None or len(package) > best[0]):
                best = (len(package), index)
    return None if best is None else best[1]
