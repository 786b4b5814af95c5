"""Least-squares solvers: nearest (ridge) solutions and gradient descent, exact in closed form.

Every model trained on one matrix shares one factorisation of it (``LeastSquares``): a
Householder QR, plus the SVD of its small triangular factor when finite steps or ridge need the
spectrum. ``gradient_descent`` is the explicit iteration the closed form is checked against.

Convention, stated once for the whole lab: a training objective is

    J(w) = ‖A w − b‖² + λ ‖w − w_start‖²,

where ``A`` and ``b`` already carry the ``1/|D|`` weights of docs/theory.md's loss
``L(w; D) = (1/|D|) ‖X w − y‖²`` (``A = X/√|D|``, ``b = y/√|D|``; a weighted sum of such losses
stacks the scaled blocks). Gradient descent from ``w_start`` with step ``η`` is
``w ← w − η (2 Aᵀ(A w − b) + 2 λ (w − w_start))``, so along the right-singular direction ``v_i``
of ``A`` (singular value ``s_i``) the error is multiplied by ``1 − 2η (s_i² + λ)`` per step:
``1 − 2η s_i²/|D|`` in docs/theory.md's terms when ``λ = 0``. With ``λ = 0`` the limit is the
solution
of ``min ‖A w − b‖²`` nearest to ``w_start`` (the nearest interpolator when ``A w = b`` is
solvable); with ``λ > 0`` it is the unique minimiser of ``J``. The ridge term pulls towards the
start, so from ``w_start = 0`` it is ordinary ridge regression.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

from ftunlearn.errors import UnlearnError


def _one_minus_power(c: np.ndarray, steps: int) -> np.ndarray:
    """``1 − (1 − c)^steps`` elementwise, accurate when ``c`` is tiny."""
    safe = c < 1.0
    result = np.empty_like(c)
    result[safe] = -np.expm1(steps * np.log1p(-c[safe]))
    result[~safe] = 1.0 - np.power(1.0 - c[~safe], steps)
    return result


@dataclass(frozen=True)
class _Spectrum:
    """The SVD of the triangular factor, truncated to the numerical rank of ``A``.

    For a wide ``A = Rᵀ Qᵀ``: ``Rᵀ = left · diag(s) · rightᵀ``, so ``A``'s left singular vectors
    are ``left`` and its right ones ``Q · right``. For a tall ``A = Q R``: ``R = left · diag(s) ·
    rightᵀ``, so they are ``Q · left`` and ``right``.
    """

    left: np.ndarray
    s: np.ndarray
    right: np.ndarray


class LeastSquares:
    """One factorisation of a matrix ``A`` (``n × d``), reused by every model trained on it.

    A Householder QR of ``Aᵀ`` (when ``n <= d``) or of ``A`` (when ``n > d``), the orthogonal
    factor kept in LAPACK's compact form; the SVD of the small triangular factor is computed on
    first need (finite steps, ridge, rank deficiency, spectral norm). Limits of plain gradient
    descent on a full-rank ``A`` need only the QR. Singular values below numpy's ``lstsq``
    cut-off count as zero, so ``rank`` is the numerical rank.
    """

    def __init__(self, a: np.ndarray) -> None:
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or min(a.shape) == 0:
            raise UnlearnError(
                f"a least-squares matrix needs shape (n, d) with n, d >= 1, got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise UnlearnError("the feature matrix holds NaN or infinite entries; clean the data")
        self.a = a
        self.shape = (int(a.shape[0]), int(a.shape[1]))
        self.wide = a.shape[0] <= a.shape[1]
        tall = np.asfortranarray(a.T if self.wide else a)
        (self._householder, self._tau), self._r = scipy.linalg.qr(
            tall, mode="raw", check_finite=False
        )
        size = self._r.shape[0]
        self._tolerance_factor = max(self.shape) * np.finfo(np.float64).eps
        rcond, _ = scipy.linalg.lapack.dtrcon(self._r, norm="1", uplo="U", diag="N")
        # The 1-norm condition estimate is within a factor ``size`` of the 2-norm one: a margin of
        # 10 * size keeps every singular value clearly above the cut-off on the QR-only path.
        self.full_rank = bool(rcond > 10.0 * size * self._tolerance_factor)
        self._spectrum: _Spectrum | None = None

    @classmethod
    def factorise(cls, a: np.ndarray) -> LeastSquares:
        """Factorise ``a`` (shape ``(n, d)``, any ``n`` and ``d``)."""
        return cls(a)

    def _apply_q(self, x: np.ndarray, transpose: bool) -> np.ndarray:
        """``Q x`` (``x`` with ``k`` rows, result with ``p`` rows) or ``Qᵀ x`` (``p`` -> ``k``)."""
        rows, size = self._householder.shape[0], self._r.shape[0]
        block = np.zeros((rows, x.shape[1]), order="F")
        block[: x.shape[0]] = x
        lwork = 64 * max(1, x.shape[1])
        result, _, info = scipy.linalg.lapack.dormqr(
            "L", "T" if transpose else "N", self._householder, self._tau, block, lwork
        )
        if info != 0:
            raise RuntimeError(f"LAPACK dormqr failed with info={info}")
        return result[:size] if transpose else result

    @property
    def spectrum(self) -> _Spectrum:
        """The truncated SVD of the triangular factor (computed once)."""
        if self._spectrum is None:
            factor = self._r.T if self.wide else self._r
            left, s, right_t = scipy.linalg.svd(
                factor, full_matrices=False, check_finite=False, lapack_driver="gesdd"
            )
            keep = s > self._tolerance_factor * (s[0] if s.size else 0.0)
            self._spectrum = _Spectrum(left[:, keep], s[keep], right_t[keep].T)
        return self._spectrum

    @property
    def rank(self) -> int:
        return self._r.shape[0] if self.full_rank else int(self.spectrum.s.size)

    @property
    def singular_values(self) -> np.ndarray:
        """The singular values of ``A`` above the cut-off, largest first."""
        return self.spectrum.s

    @property
    def spectral_norm(self) -> float:
        """The largest singular value ``‖A‖₂``."""
        s = self.spectrum.s
        return float(s[0]) if s.size else 0.0

    def _right_vectors(self, coeff: np.ndarray) -> np.ndarray:
        """``V coeff`` for coefficients along the kept right-singular directions."""
        spectrum = self.spectrum
        if self.wide:
            return self._apply_q(spectrum.right @ coeff, transpose=False)
        return spectrum.right @ coeff

    def _left_coefficients(self, residual: np.ndarray) -> np.ndarray:
        """``Uᵀ residual`` for the kept left-singular directions."""
        spectrum = self.spectrum
        if self.wide:
            return spectrum.left.T @ residual
        return spectrum.left.T @ self._apply_q(residual, transpose=True)

    def project_rowspace(self, w: np.ndarray) -> np.ndarray:
        """The orthogonal projection of ``w`` onto the row space of ``A`` (``P = A⁺A``)."""
        matrix = w if w.ndim == 2 else w[:, None]
        if self.full_rank:
            projected = (
                self._apply_q(self._apply_q(matrix, transpose=True), transpose=False)
                if self.wide
                else matrix
            )
        else:
            right = self.spectrum.right
            if self.wide:
                inner = right @ (right.T @ self._apply_q(matrix, transpose=True))
                projected = self._apply_q(inner, transpose=False)
            else:
                projected = right @ (right.T @ matrix)
        return projected if w.ndim == 2 else projected[:, 0]

    def gains(self, *, ridge: float, steps: int | None, lr: float | None) -> np.ndarray:
        """Per-direction gains ``g_i`` with ``w = w_start + V diag(g) Uᵀ (b − A w_start)``."""
        s = self.spectrum.s
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
        batched = np.ndim(b) == 2 or np.ndim(start) == 2
        starts = start if np.ndim(start) == 2 else np.asarray(start)[:, None]
        targets = b if np.ndim(b) == 2 else np.asarray(b)[:, None]
        residual = targets - self.a @ starts
        if steps is None and ridge == 0.0 and self.full_rank:
            step = self._pseudo_inverse_full_rank(residual)
        else:
            gain = self.gains(ridge=ridge, steps=steps, lr=lr)
            step = self._right_vectors(gain[:, None] * self._left_coefficients(residual))
        result = starts + step
        return result if batched else result[:, 0]

    def _pseudo_inverse_full_rank(self, residual: np.ndarray) -> np.ndarray:
        """``A⁺ residual`` through the QR alone (full rank): ``Q R⁻ᵀ r`` or ``R⁻¹ Qᵀ r``."""
        if self.wide:
            inner = scipy.linalg.solve_triangular(self._r, residual, trans="T", check_finite=False)
            return self._apply_q(inner, transpose=False)
        return scipy.linalg.solve_triangular(
            self._r, self._apply_q(residual, transpose=True), check_finite=False
        )


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
