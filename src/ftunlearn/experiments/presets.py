"""Named benchmark presets: ``quick`` (under a minute on 2 CPU cores) and ``paper``.

A preset is a list of (sub-folder, configuration) pairs; a preset with several forget specs
writes one run per spec into its own sub-folder of ``--out``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ftunlearn.experiments.config import BenchConfig, all_methods
from ftunlearn.registry import Registry
from ftunlearn.training import Recipe

QUICK_RECIPE = Recipe(epochs=30, batch_size=64, lr=0.05, schedule="cosine")
"""digits + mlp: about 97 % test accuracy, a couple of seconds per model on a CPU."""

PAPER_RECIPE = Recipe(epochs=5, batch_size=128, lr=0.05, schedule="cosine")
"""Fashion-MNIST + cnn: the original and golden models train for 5 epochs."""

PAPER_METHOD_EPOCHS = {
    "ft": 1, "dr-ft": 1, "rbm": 1, "salun": 1, "rl": 1, "l1-sparse": 1, "neggrad+": 1,
    "scrub": 2,
}
"""Passes over the data for the fine-tuning style methods in the paper preset: a fifth of the
retrain's (SalUn's CIFAR-10 setting gives them about 5 %: 10 epochs against 182), so that a
method is cheap next to retraining and the whole preset fits on 2 CPU cores."""


Runs = list[tuple[str, BenchConfig]]


@dataclass(frozen=True)
class PresetEntry:
    name: str
    runs: Callable[[], Runs]
    """(sub-folder, config) pairs, built when asked (they list the methods registered then)."""
    description: str


PRESETS: Registry[PresetEntry] = Registry("preset")


QUICK_FORGET = "class:3"
"""Every "3" of digits: the golden model never saw the class, so it gets none of them right,
while the original gets nearly all; plain fine-tuning on the rest keeps them (the paper's
point), and the remedies differ in how far they get. On a random 10 % split the golden model
classifies the forget set as well as the original does, and every method ties with doing
nothing."""


def _quick() -> Runs:
    return [("", BenchConfig(dataset="digits", model="mlp", forget=QUICK_FORGET,
                             methods=all_methods(), seeds=(0, 1, 2), recipe=QUICK_RECIPE))]


def _paper() -> Runs:
    common = {"dataset": "fashion-mnist", "model": "cnn", "methods": all_methods(),
              "seeds": (0, 1, 2), "recipe": PAPER_RECIPE, "mia_extras": False,
              "hyperparameters": {m: {"epochs": e} for m, e in PAPER_METHOD_EPOCHS.items()}}
    return [
        ("random-10", BenchConfig(forget="random:0.1", **common)),
        ("class-3", BenchConfig(forget="class:3", **common)),
    ]


PRESETS.add(PresetEntry("quick", _quick, "digits + mlp, forget class 3, every method, 3 seeds"))
PRESETS.add(PresetEntry("paper", _paper, "Fashion-MNIST + cnn, random 10% and class 3, every "
                                         "method, 3 seeds"))


def preset(name: str) -> Runs:
    """The runs of preset ``name`` as (sub-folder, config); an empty sub-folder means ``--out``."""
    return PRESETS.get(name).runs()
