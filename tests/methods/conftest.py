"""Shared tiny fixtures for the method tests: a briefly trained mlp on Gaussian blobs.

``tiny_task`` is session scoped: tests must never modify ``tiny_task.model`` in place (methods
run through ``ftunlearn.methods.unlearn``, which copies it). Use ``tiny_task.fresh_model()`` when
a test needs a model of its own. ``run_method`` and ``method_contract`` run a method on it
through the public ``unlearn`` call; the second asserts what every method must do (input
untouched, output different, same seed same weights).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import pytest
import torch
from torch import nn

from ftunlearn.methods.base import Samples, UnlearnResult, unlearn
from ftunlearn.methods.common import batches_of
from ftunlearn.models import build_model
from ftunlearn.training import Recipe, TensorBatches, fit

TINY_CLASSES = 4
TINY_FEATURES = 6
TINY_TRAIN = 240
TINY_TEST = 120
TINY_FORGET = 24
TINY_RECIPE = Recipe(epochs=8, batch_size=32, lr=0.05, momentum=0.9, weight_decay=5e-4,
                     schedule="cosine")
"""The original's recipe: short enough to keep the fixture under a second."""


@dataclass(frozen=True)
class TinyTask:
    """A trained model with its retain, forget and test sets (disjoint, fixed by seed 0)."""

    model: nn.Module
    retain: Samples
    forget: Samples
    test: Samples
    num_classes: int
    recipe: Recipe
    model_spec: str
    input_shape: tuple[int, ...]

    def fresh_model(self) -> nn.Module:
        """A private copy of the trained model."""
        return copy.deepcopy(self.model)

    def state(self) -> dict[str, torch.Tensor]:
        """A detached copy of the trained model's state_dict (to check it stays untouched)."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Use one intra-op thread inside the block."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def make_blobs(n: int, generator: torch.Generator) -> Samples:
    """``n`` points from ``TINY_CLASSES`` Gaussian blobs in ``TINY_FEATURES`` dimensions."""
    centres = torch.eye(TINY_CLASSES, TINY_FEATURES) * 2.5
    y = torch.arange(n) % TINY_CLASSES
    x = centres[y] + torch.randn(n, TINY_FEATURES, generator=generator)
    return Samples(x, y)


def build_tiny_task(seed: int = 0) -> TinyTask:
    """Train the tiny mlp on blobs; the last ``TINY_FORGET`` training points form the forget set."""
    generator = torch.Generator().manual_seed(seed)
    train = make_blobs(TINY_TRAIN, generator)
    test = make_blobs(TINY_TEST, generator)
    order = torch.randperm(TINY_TRAIN, generator=generator)
    forget_index, retain_index = order[:TINY_FORGET], order[TINY_FORGET:]
    retain = Samples(train.x[retain_index], train.y[retain_index])
    forget = Samples(train.x[forget_index], train.y[forget_index])
    spec = "mlp:hidden=16,depth=1"
    model = build_model(spec, (TINY_FEATURES,), TINY_CLASSES, seed=seed)
    with one_thread():
        fit(model, TensorBatches(train.x, train.y, batch_size=TINY_RECIPE.batch_size),
            TINY_RECIPE, seed=seed, device="cpu", progress=False)
    model.eval()
    return TinyTask(model, retain, forget, test, TINY_CLASSES, TINY_RECIPE, spec,
                    (TINY_FEATURES,))


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    """Run each test module on one intra-op thread (restored afterwards).

    The tiny models here are far faster on one thread, and several threads spin-waiting on a
    loaded machine make them orders of magnitude slower.
    """
    with one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_task() -> TinyTask:
    """A tiny trained mlp (6 features, 4 classes) with 216 retain, 24 forget, 120 test samples."""
    return build_tiny_task(seed=0)


@pytest.fixture(scope="session")
def other_tiny_task() -> TinyTask:
    """Same data as ``tiny_task`` but a model trained from a different initialisation (seed 1)."""
    base = build_tiny_task(seed=0)
    model = build_model(base.model_spec, base.input_shape, base.num_classes, seed=1)
    train_x = torch.cat([base.retain.x, base.forget.x])
    train_y = torch.cat([base.retain.y, base.forget.y])
    with one_thread():
        fit(model, TensorBatches(train_x, train_y, batch_size=base.recipe.batch_size),
            base.recipe, seed=1, device="cpu", progress=False)
    model.eval()
    return TinyTask(model, base.retain, base.forget, base.test, base.num_classes, base.recipe,
                    base.model_spec, base.input_shape)


def run_on(task: TinyTask, method: str, *, seed: int = 0, **hyperparameters: object
           ) -> UnlearnResult:
    """``unlearn`` on ``task`` on the CPU, with its recipe and class count."""
    return unlearn(
        task.model, task.retain, task.forget, method, seed=seed, device="cpu",
        recipe=task.recipe, num_classes=task.num_classes, **hyperparameters,
    )


def check_contract(task: TinyTask, method: str, **hyperparameters: object) -> UnlearnResult:
    """Run ``method`` twice with one seed and assert the contract every method keeps.

    The input model's state_dict is untouched, the result differs from it, and the two runs
    give bit-identical state_dicts. Returns the first run's result.
    """
    before = task.state()
    first = run_on(task, method, seed=3, **hyperparameters)
    second = run_on(task, method, seed=3, **hyperparameters)
    after = task.state()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before), "input model modified"
    result_state = first.model.state_dict()
    assert result_state.keys() == before.keys()
    assert any(not torch.equal(result_state[key], before[key]) for key in before), (
        f"{method} returned the input weights unchanged"
    )
    repeat_state = second.model.state_dict()
    assert all(torch.equal(result_state[key], repeat_state[key]) for key in result_state), (
        f"{method} is not deterministic by seed"
    )
    assert first.method == method
    assert first.seconds > 0
    return first


@pytest.fixture(scope="session")
def run_method(tiny_task: TinyTask) -> Callable[..., UnlearnResult]:
    """``run_method(method, seed=0, **hyperparameters)``: ``unlearn`` on ``tiny_task``."""
    return partial(run_on, tiny_task)


@pytest.fixture(scope="session")
def method_contract(tiny_task: TinyTask) -> Callable[..., UnlearnResult]:
    """``method_contract(method, **hyperparameters)``: ``check_contract`` on ``tiny_task``."""
    return partial(check_contract, tiny_task)


def check_equals_fine_tuning(
    task: TinyTask, result: nn.Module, *, epochs: int, lr: float, batch_size: int,
    schedule: str = "constant",
) -> None:
    """Assert ``result`` is bit-identical to plain fine-tuning of the task's original on D_r
    (SGD momentum 0.9, weight decay 5e-4, seed 0) with these settings."""
    model = task.fresh_model()
    recipe = Recipe(epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9,
                    weight_decay=5e-4, schedule=schedule)
    fit(model, batches_of(task.retain, batch_size), recipe, seed=0, device="cpu",
        progress=False)
    expected = model.state_dict()
    for name, value in result.state_dict().items():
        assert torch.equal(value, expected[name]), name


@pytest.fixture(scope="session")
def equals_fine_tuning(tiny_task: TinyTask) -> Callable[..., None]:
    """``equals_fine_tuning(model, epochs=, lr=, batch_size=, schedule=)``: see
    ``check_equals_fine_tuning``."""
    return partial(check_equals_fine_tuning, tiny_task)
