"""Scenarios: a forgetting set and a remaining set of a linear-regression problem, plus test draws.

The synthetic generator follows docs/theory.md: coordinates split into ``F`` (used only by ``D_f``),
``R`` (only by ``D_r``), ``O`` (both, ``|O| = d_lap``) and ``Z`` (neither), laid out in that
order; active feature entries are iid ``N(0, 1)``, ``w*`` iid ``N(0, 1/d)`` unless given, and
labels are ``y = X w* + ε`` with ``ε ~ N(0, σ²)``. Test sets are fresh draws from the forgetting
and the remaining distribution, with label noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Annotated, ClassVar

import numpy as np

from ftunlearn.errors import UnlearnError
from ftunlearn.params import Count, NonNegative, Params, Range

Whole = Annotated[int, Range(ge=0)]


@dataclass(frozen=True, eq=False)
class Scenario:
    """One drawn problem: training sets ``D_r``, ``D_f`` and test sets from both distributions.

    ``params`` are the scenario's parameters as flat key/value pairs (copied into every result
    row). ``interpolate`` says the analysis assumes the interpolation regime: fitting then checks
    that ``X = [X_r; X_f]`` has full row rank.
    """

    x_r: np.ndarray
    y_r: np.ndarray
    x_f: np.ndarray
    y_f: np.ndarray
    x_test_r: np.ndarray
    y_test_r: np.ndarray
    x_test_f: np.ndarray
    y_test_f: np.ndarray
    params: Mapping[str, object] = field(default_factory=dict)
    interpolate: bool = True
    w_star: np.ndarray | None = None

    def __post_init__(self) -> None:
        pairs = {
            "remaining": (self.x_r, self.y_r),
            "forgetting": (self.x_f, self.y_f),
            "remaining test": (self.x_test_r, self.y_test_r),
            "forgetting test": (self.x_test_f, self.y_test_f),
        }
        d = self.x_r.shape[1] if self.x_r.ndim == 2 else -1
        for name, (x, y) in pairs.items():
            if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
                raise UnlearnError(
                    f"the {name} set needs features (n, d) and labels (n,) with n >= 1, got "
                    f"{x.shape} and {y.shape}"
                )
            if x.shape[1] != d:
                raise UnlearnError(
                    f"the {name} set has {x.shape[1]} features but the remaining set has {d}; "
                    "every set must use the same feature space"
                )
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def d(self) -> int:
        return int(self.x_r.shape[1])

    @property
    def n_r(self) -> int:
        return int(self.x_r.shape[0])

    @property
    def n_f(self) -> int:
        return int(self.x_f.shape[0])

    @property
    def n(self) -> int:
        return self.n_r + self.n_f

    @property
    def x(self) -> np.ndarray:
        """``X = [X_r; X_f]``."""
        return np.vstack([self.x_r, self.x_f])

    @property
    def y(self) -> np.ndarray:
        """``y = [y_r; y_f]``."""
        return np.concatenate([self.y_r, self.y_f])


def check_whole(name: str, value: object, minimum: int) -> None:
    """Raise ``UnlearnError`` unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UnlearnError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise UnlearnError(f"{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class SyntheticSpec(Params):
    """Sizes and noise of the synthetic distinct/overlapping-features generator (docs/theory.md).

    ``interpolate=True`` (the ideal regime) requires that every set can be interpolated:
    ``n_r <= d_r + d_lap``, ``n_f <= d_f + d_lap`` and ``n_r + n_f <= d_f + d_r + d_lap``.
    ``w_star`` overrides the drawn ``w*`` (length ``d``).
    """

    owner: ClassVar[str] = "synthetic scenario"

    d_f: Whole = 100
    d_r: Whole = 100
    d_lap: Whole = 0
    d_extra: Whole = 0
    n_f: Count = 30
    n_r: Count = 60
    sigma: NonNegative = 0.0
    """Label noise standard deviation."""
    n_test: Count = 1000
    interpolate: bool = True
    w_star: tuple[float, ...] | None = None

    @property
    def d(self) -> int:
        return self.d_f + self.d_r + self.d_lap + self.d_extra

    def validate(self) -> None:
        """Raise ``UnlearnError`` naming the first inconsistent parameter (each field alone is
        checked from its type hint on construction)."""
        if self.d_f + self.d_lap < 1 or self.d_r + self.d_lap < 1:
            raise UnlearnError(
                "each set needs at least one feature: d_f + d_lap >= 1 and d_r + d_lap >= 1"
            )
        if self.w_star is not None and len(self.w_star) != self.d:
            raise UnlearnError(
                f"w_star has {len(self.w_star)} entries but the scenario has d = d_f + d_r + "
                f"d_lap + d_extra = {self.d} coordinates; give one weight per coordinate"
            )
        if self.interpolate:
            self._check_interpolable()

    def _check_interpolable(self) -> None:
        limits = (
            ("n_r", self.n_r, "d_r + d_lap", self.d_r + self.d_lap),
            ("n_f", self.n_f, "d_f + d_lap", self.d_f + self.d_lap),
            ("n_r + n_f", self.n_r + self.n_f, "d_f + d_r + d_lap", self.d - self.d_extra),
        )
        for name, n, what, d in limits:
            if n > d:
                raise UnlearnError(
                    f"{name} = {n} exceeds {what} = {d}: that set cannot be interpolated, which "
                    "this scenario assumes; use fewer samples or more features, or allow the "
                    "under-parameterised regime (interpolate=False, --no-interpolate)"
                )

    def params(self) -> dict[str, object]:
        """The flat parameters recorded in result rows (``w_star`` as a flag)."""
        values = asdict(self)
        values["w_star"] = "given" if self.w_star is not None else "drawn"
        values["d"] = self.d
        values["n"] = self.n_f + self.n_r
        values["overlap"] = self.d_lap / (self.d_f + self.d_lap)
        return values

    def blocks(self) -> dict[str, np.ndarray]:
        """The coordinate index sets ``F``, ``R``, ``O``, ``Z``."""
        edges = np.cumsum([0, self.d_f, self.d_r, self.d_lap, self.d_extra])
        names = ("F", "R", "O", "Z")
        return {name: np.arange(edges[i], edges[i + 1]) for i, name in enumerate(names)}

    def build(self, rng: np.random.Generator) -> Scenario:
        """Draw ``w*`` (unless given), the training sets and the test sets."""
        self.validate()
        blocks = self.blocks()
        forget_cols = np.concatenate([blocks["F"], blocks["O"]])
        remain_cols = np.concatenate([blocks["R"], blocks["O"]])
        if self.w_star is None:
            w_star = rng.normal(0.0, 1.0 / np.sqrt(self.d), size=self.d)
        else:
            w_star = np.asarray(self.w_star, dtype=np.float64)

        def draw(n: int, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = np.zeros((n, self.d))
            x[:, cols] = rng.standard_normal((n, cols.size))
            y = x @ w_star
            if self.sigma > 0:
                y = y + rng.normal(0.0, self.sigma, size=n)
            return x, y

        x_r, y_r = draw(self.n_r, remain_cols)
        x_f, y_f = draw(self.n_f, forget_cols)
        x_test_r, y_test_r = draw(self.n_test, remain_cols)
        x_test_f, y_test_f = draw(self.n_test, forget_cols)
        return Scenario(
            x_r=x_r,
            y_r=y_r,
            x_f=x_f,
            y_f=y_f,
            x_test_r=x_test_r,
            y_test_r=y_test_r,
            x_test_f=x_test_f,
            y_test_f=y_test_f,
            params=self.params(),
            interpolate=self.interpolate,
            w_star=w_star,
        )
