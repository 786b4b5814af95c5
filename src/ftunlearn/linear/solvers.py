"""Least-squares solvers: nearest (ridge) solutions and gradient descent, exact from one SVD.

Convention, stated once for the whole lab: a training objective is

    J(w) = ‖A w − b‖² + λ ‖w − w_start‖²,

where ``A`` and ``b`` already carry the ``1/|D|`` weights of THEORY.md's loss
``L(w; D) = (1/|D|) ‖X w − y‖²`` (``A = X/√|D|``, ``b = y/√|D|``; a weighted sum of such losses
stacks the scaled blocks). Gradient descent from ``w_start`` with step ``η`` is
``w ← w − η (2 Aᵀ(A w − b) + 2 λ (w − w_start))``, so along the right-singular direction ``v_i``
of ``A`` (singular value ``s_i``) the error is multiplied by ``1 − 2η (s_i² + λ)`` per step:
``1 − 2η s_i²/|D|`` in THEORY.md's terms when ``λ = 0``. With ``λ = 0`` the limit is the solution
of ``min ‖A w − b‖²`` nearest to ``w_start`` (the nearest interpolator when ``A w = b`` is
solvable); with ``λ > 0`` it is the unique minimiser of ``J``. The ridge term pulls towards the
start, so from ``w_start = 0`` it is ordinary ridge regression.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ftunlearn.errors import UnlearnError


def _rank_tolerance(shape: tuple[int, int], largest: float) -> float:
    """numpy's default cut-off for treating a singular value as zero."""
    return max(shape) * np.finfo(np.float64).eps * largest


def _one_minus_power(c: np.ndarray, steps: int) -> np.ndarray:
    """``1 − (1 − c)^steps`` elementwise, accurate when ``c`` is tiny."""
    safe = c < 1.0
    result = np.empty_like(c)
    result[safe] = -np.expm1(steps * np.log1p(-c[safe]))
    result[~safe] = 1.0 - np.power(1.0 - c[~safe], steps)
    return result


@dataclass(frozen=True, eq=False)
class LeastSquares:
    """The thin SVD ``A = U diag(s) Vᵀ`` of one matrix, reused by every model trained on it.

    Singular values below numpy's ``lstsq`` cut-off are dropped, so ``rank`` is the numerical
    rank and ``V`` spans the numerical row space of ``A``.
    """

    u: np.ndarray
    s: np.ndarray
    vt: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def factorise(cls, a: np.ndarray) -> LeastSquares:
        """Factorise ``a`` (shape ``(n, d)``, any ``n`` and ``d``)."""
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or min(a.shape) == 0:
            raise UnlearnError(
                f"a least-squares matrix needs shape (n, d) with n, d >= 1, got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise UnlearnError("the feature matrix holds NaN or infinite entries; clean the data")
        u, s, vt = scipy.linalg.svd(
            a, full_matrices=False, check_finite=False, lapack_driver="gesdd"
        )
        keep = s > _rank_tolerance(a.shape, float(s[0]) if s.size else 0.0)
        return cls(u=u[:, keep], s=s[keep], vt=vt[keep], shape=(a.shape[0], a.shape[1]))

    @property
    def rank(self) -> int:
        return int(self.s.size)

    @property
    def spectral_norm(self) -> float:
        """The largest singular value ``‖A‖₂``."""
        return float(self.s[0]) if self.s.size else 0.0

    def matvec(self, w: np.ndarray) -> np.ndarray:
        """``A w`` (``w`` of shape ``(d,)`` or ``(d, m)``), rebuilt from the factors."""
        scale = self.s[:, None] if w.ndim == 2 else self.s
        return self.u @ (scale * (self.vt @ w))

    def project_rowspace(self, w: np.ndarray) -> np.ndarray:
        """The orthogonal projection of ``w`` onto the row space of ``A`` (``P = A⁺A``)."""
        return self.vt.T @ (self.vt @ w)

    def gains(self, *, ridge: float, steps: int | None, lr: float | None) -> np.ndarray:
        """Per-direction gains ``g_i`` with ``w = w_start + V diag(g) Uᵀ (b − A w_start)``."""
        s = self.s
        limit = s / (s * s + ridge)
        if steps is None:
            return limit
        if lr is None or lr <= 0:
            raise UnlearnError(f"finite-step gradient descent needs a step size > 0, got {lr}")
        return _one_minus_power(2.0 * lr * (s * s + ridge), steps) * limit

    def solve(
        self,
        b: np.ndarray,
        start: np.ndarray,
        *,
        ridge: float = 0.0,
        steps: int | None = None,
        lr: float | None = None,
    ) -> np.ndarray:
        """Gradient descent on ``J`` from ``start``: after ``steps`` steps, or its limit if None.

        ``b`` has shape ``(n,)`` or ``(n, m)`` and ``start`` shape ``(d,)`` or ``(d, m)``; with
        ``m`` columns the ``m`` problems are solved at once (they broadcast against each other).
        """
        if ridge < 0:
            raise UnlearnError(f"ridge must be >= 0, got {ridge}")
        if steps is not None and steps < 0:
            raise UnlearnError(f"steps must be >= 0 (or None for the limit), got {steps}")
        gain = self.gains(ridge=ridge, steps=steps, lr=lr)
        batched = np.ndim(b) == 2 or np.ndim(start) == 2
        residual = (b[:, None] if np.ndim(b) == 1 and batched else b) - self.matvec(start)
        coeff = self.u.T @ residual
        coeff = coeff * (gain[:, None] if batched else gain)
        return start + self.vt.T @ coeff


def gradient_descent(
    a: np.ndarray,
    b: np.ndarray,
    start: np.ndarray,
    *,
    steps: int,
    lr: float,
    ridge: float = 0.0,
) -> np.ndarray:
    """``steps`` explicit gradient-descent steps on ``‖A w − b‖² + ridge ‖w − start‖²``.

    The reference the closed form of ``LeastSquares.solve`` is checked against.
    """
    if steps < 0:
        raise UnlearnError(f"steps must be >= 0, got {steps}")
    w = np.array(start, dtype=np.float64, copy=True)
    for _ in range(steps):
        w -= lr * (2.0 * (a.T @ (a @ w - b)) + 2.0 * ridge * (w - start))
    return w


class FactorCache:
    """The factorisations computed for one scenario, keyed by what the matrix is.

    Models that train on the same matrix share one SVD; ``matrices`` lists every matrix that was
    factorised (the work a single ``lstsq`` per matrix would also have to do).
    """

    def __init__(self) -> None:
        self._factors: dict[Hashable, LeastSquares] = {}
        self.matrices: list[np.ndarray] = []

    def get(self, key: Hashable, build: Callable[[], np.ndarray]) -> LeastSquares:
        """The factorisation stored under ``key``; on first use, of the matrix ``build()``."""
        found = self._factors.get(key)
        if found is not None:
            return found
        matrix = build()
        factor = LeastSquares.factorise(matrix)
        self._factors[key] = factor
        self.matrices.append(matrix)
        return factor
