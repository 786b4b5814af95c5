"""Named benchmark presets: ``quick`` (minutes on 2 CPU cores) and ``paper``.

A preset is a list of (sub-folder, configuration) pairs; a preset with several forget specs
writes one run per spec into its own sub-folder of ``--out``.
"""

from __future__ import annotations

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.config import ALL_METHODS, BenchConfig
from ftunlearn.training import Recipe

QUICK_RECIPE = Recipe(epochs=30, batch_size=64, lr=0.05, schedule="cosine")
"""digits + mlp: about 97 % test accuracy, a couple of seconds per model on a CPU."""

PAPER_RECIPE = Recipe(epochs=8, batch_size=128, lr=0.05, schedule="cosine")
"""Fashion-MNIST + cnn: about 91 % test accuracy."""


def preset(name: str) -> list[tuple[str, BenchConfig]]:
    """The runs of preset ``name`` as (sub-folder, config); an empty sub-folder means ``--out``."""
    if name == "quick":
        return [("", BenchConfig(dataset="digits", model="mlp", forget="random:0.1",
                                 methods=ALL_METHODS, seeds=(0, 1, 2), recipe=QUICK_RECIPE))]
    if name == "paper":
        common = {"dataset": "fashion-mnist", "model": "cnn", "methods": ALL_METHODS,
                  "seeds": (0, 1, 2), "recipe": PAPER_RECIPE, "mia_extras": False}
        return [
            ("random-10", BenchConfig(forget="random:0.1", **common)),
            ("class-3", BenchConfig(forget="class:3", **common)),
        ]
    raise UnlearnError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")


PRESETS = ("quick", "paper")
