"""Scenarios built from real data: image pixels, optionally through a seeded random-feature map.

Features. ``pixels``: the dataset's normalised pixels, flattened and shifted so that the darkest
training value is 0 (the datasets normalise affinely per channel, so a blank pixel becomes exactly
0 again and the supports of ``D_f`` and ``D_r`` are those of the raw images). ``relu``:
``max(x W, 0)``; ``cos``: ``√2 cos(x W + c)``, with ``W`` iid ``N(0, 1/d_in)`` and ``c`` iid
uniform on ``[0, 2π)``, drawn per trial from the trial's generator.

Targets (one scalar per image): the centred one-hot score of a target class ``t``,
``y = 1[label = t] − 1/K``, by default ``t`` = the forgotten class. So with class forgetting
``D_r`` never shows a positive example: the golden model has no reason to score the forgotten
class highly, and ``UL`` measures how much of that class's score a model still produces.

Forgetting: ``class`` draws ``n_f`` training images of ``forget_class`` and ``n_r`` of the other
classes; test losses use the test images of that class (forgetting distribution) and of the rest.
``random`` draws ``n_f + n_r`` images of all classes and splits them at random; both test losses
then use all test images (the two distributions coincide). At most ``n_test`` test images per set
are used, chosen at random.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.scenarios import Scenario, Whole
from ftunlearn.params import Count, Params

if TYPE_CHECKING:
    import torch

    from ftunlearn.data.dataset import Dataset

FeatureMap = Literal["pixels", "relu", "cos"]
ForgetKind = Literal["class", "random"]
FEATURE_MAPS: tuple[str, ...] = typing.get_args(FeatureMap)
FORGET_KINDS: tuple[str, ...] = typing.get_args(ForgetKind)


@dataclass(frozen=True)
class RealFeatureSpec(Params):
    """A forgetting problem on real images; see the module docstring for every choice."""

    owner: ClassVar[str] = "real-feature scenario"

    dataset: str = "digits"
    data_dir: str | None = None
    features: FeatureMap = "relu"
    n_features: Count = 500
    forget: ForgetKind = "class"
    forget_class: Whole = 0
    target_class: Whole | None = None
    n_f: Count = 40
    n_r: Count = 300
    n_test: Count = 1000
    interpolate: bool = True

    def validate(self) -> None:
        """Raise ``UnlearnError`` naming the first bad parameter (data-independent checks
        across fields; each field alone is checked from its type hint on construction)."""
        if self.interpolate and self.features != "pixels" and self.n_f + self.n_r > self.n_features:
            raise UnlearnError(
                f"n_r + n_f = {self.n_r + self.n_f} exceeds n_features = {self.n_features}: the "
                "training set cannot be interpolated, which this scenario assumes; use more "
                "random features or fewer samples, or allow the under-parameterised regime "
                "(interpolate=False, --no-interpolate)"
            )

    def params(self, d: int) -> dict[str, object]:
        """The flat parameters recorded in result rows."""
        values = asdict(self)
        values["target_class"] = self.resolved_target_class()
        values["d"] = d
        values["n"] = self.n_f + self.n_r
        return values

    def resolved_target_class(self) -> int:
        if self.target_class is not None:
            return self.target_class
        return self.forget_class if self.forget == "class" else 0

    def load(self) -> Dataset:
        """Load the dataset through ``ftunlearn.data`` (imported here, on first need)."""
        from ftunlearn.data import load_dataset

        return load_dataset(self.dataset, self.data_dir)

    def build(self, rng: np.random.Generator, dataset: Dataset) -> Scenario:
        """Draw the two training sets, the test sets and the feature map for one trial."""
        self.validate()
        x_train, y_train = _flat(dataset.x_train), dataset.y_train.numpy()
        x_test, y_test = _flat(dataset.x_test), dataset.y_test.numpy()
        self._check_classes(dataset.num_classes)
        shift = float(x_train.min())
        x_train, x_test = x_train - shift, x_test - shift
        forget_idx, remain_idx = self._training_rows(rng, y_train)
        test_f_idx, test_r_idx = self._test_rows(rng, y_test)
        transform = self._feature_map(rng, x_train.shape[1])
        d = transform(x_train[:1]).shape[1]
        if self.interpolate and self.n_f + self.n_r > d:
            raise UnlearnError(
                f"n_r + n_f = {self.n_r + self.n_f} exceeds the {d} {self.features} features of "
                f"{self.dataset}: the training set cannot be interpolated; use fewer samples, "
                "random features, or --no-interpolate"
            )
        target = self.resolved_target_class()
        k = dataset.num_classes

        def targets(labels: np.ndarray) -> np.ndarray:
            return (labels == target).astype(np.float64) - 1.0 / k

        return Scenario(
            x_r=transform(x_train[remain_idx]),
            y_r=targets(y_train[remain_idx]),
            x_f=transform(x_train[forget_idx]),
            y_f=targets(y_train[forget_idx]),
            x_test_r=transform(x_test[test_r_idx]),
            y_test_r=targets(y_test[test_r_idx]),
            x_test_f=transform(x_test[test_f_idx]),
            y_test_f=targets(y_test[test_f_idx]),
            params=self.params(d),
            interpolate=self.interpolate,
        )

    def _check_classes(self, num_classes: int) -> None:
        for name in ("forget_class", "target_class"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < num_classes:
                raise UnlearnError(
                    f"{name} = {value} is not a class of {self.dataset} (0..{num_classes - 1})"
                )

    def _training_rows(
        self, rng: np.random.Generator, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.forget == "random":
            available = labels.size
            if self.n_f + self.n_r > available:
                raise UnlearnError(
                    f"n_f + n_r = {self.n_f + self.n_r} exceeds the {available} training images "
                    f"of {self.dataset}; use fewer samples"
                )
            chosen = rng.permutation(available)[: self.n_f + self.n_r]
            return chosen[: self.n_f], chosen[self.n_f :]
        in_class = np.flatnonzero(labels == self.forget_class)
        rest = np.flatnonzero(labels != self.forget_class)
        for name, n, pool in (("n_f", self.n_f, in_class), ("n_r", self.n_r, rest)):
            if n > pool.size:
                raise UnlearnError(
                    f"{name} = {n} exceeds the {pool.size} training images available for that "
                    f"set (forgetting class {self.forget_class} of {self.dataset}); use fewer"
                )
        return rng.choice(in_class, self.n_f, replace=False), rng.choice(
            rest, self.n_r, replace=False
        )

    def _test_rows(
        self, rng: np.random.Generator, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        def subsample(pool: np.ndarray) -> np.ndarray:
            if pool.size == 0:
                raise UnlearnError(
                    f"the test set of {self.dataset} has no image for one of the two test "
                    "distributions; check forget_class"
                )
            if pool.size <= self.n_test:
                return pool
            return np.sort(rng.choice(pool, self.n_test, replace=False))

        if self.forget == "random":
            both = subsample(np.arange(labels.size))
            return both, both
        return (
            subsample(np.flatnonzero(labels == self.forget_class)),
            subsample(np.flatnonzero(labels != self.forget_class)),
        )

    def _feature_map(
        self, rng: np.random.Generator, d_in: int
    ) -> Callable[[np.ndarray], np.ndarray]:
        if self.features == "pixels":
            return lambda x: x
        weights = rng.normal(0.0, 1.0 / np.sqrt(d_in), size=(d_in, self.n_features))
        if self.features == "relu":
            return lambda x: np.maximum(x @ weights, 0.0)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=self.n_features)
        return lambda x: np.sqrt(2.0) * np.cos(x @ weights + phases)


def _flat(tensor: torch.Tensor) -> np.ndarray:
    """A ``(n, ...)`` tensor as a float64 ``(n, d)`` array."""
    array = tensor.detach().cpu().numpy()
    return array.reshape(array.shape[0], -1).astype(np.float64)
