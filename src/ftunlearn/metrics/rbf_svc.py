"""The MIA attack's RBF SVC, solved exactly and fast when its feature is one bounded scalar.

The population attacks fit ``SVC(kernel="rbf", C=3, gamma=1/n_features)`` on one per-sample
feature. For a scalar feature the RBF kernel factorises around a centre ``c``: with
``u = x − c``, ``exp(−γ(u − u')²) = exp(−γu²) exp(−γu'²) Σ_k (2γuu')^k / k!``, and on a
bounded range the series converges so fast that ``D`` terms reproduce the kernel to 1e-12
(the confidence feature lies in [0, 1]: ``D ≈ 10``). The SVC is then a linear SVM on the
``D + 1`` features ``φ_k(u) = exp(−γu²) sqrt((2γ)^k / k!) u^k``, whose primal (``½‖w‖² +
C Σ ξ_i`` under ``y_i(w·φ_i + b) ≥ 1 − ξ_i``, ``ξ ≥ 0``, the bias unpenalised as in libsvm)
is a quadratic programme in ``D + 2 + n`` variables that an interior-point solver (Clarabel)
solves to 1e-9 in time linear in ``n``, where libsvm's SMO grows about quadratically
(docs/performance.md, "Evaluation cost"). The solution is the same SVC as libsvm's up to the
solvers' tolerances (a test compares decision functions). Wider features (the loss feature is
unbounded), several features, or a solver that does not converge fall back to scikit-learn's
``SVC`` with the same settings.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC

KERNEL_TOLERANCE = 1e-12
"""Largest error of the truncated kernel series accepted on the fast path."""

MAX_TERMS = 40
"""More series terms than this (features spread over several kernel widths) fall back."""


def series_terms(spread: float, gamma: float) -> int | None:
    """The fewest terms ``D`` for which the kernel series errs by at most ``KERNEL_TOLERANCE``
    when every ``|u| <= spread``, or ``None`` when more than ``MAX_TERMS`` would be needed.

    With ``t = 2γ|uu'| <= T = 2γ·spread²``, the error is ``exp(−γ(u² + u'²))`` times the
    series' tail, at most ``e^−t · t^(D+1) / (D+1)! / (1 − T/(D+2))`` (for ``T < D+2``); its
    largest value over ``t <= T`` is at ``t = min(T, D+1)``."""
    top = 2.0 * gamma * spread * spread
    if top == 0.0:
        return 0
    for terms in range(MAX_TERMS + 1):
        if top >= terms + 2:
            continue
        t = min(top, terms + 1.0)
        log_error = (-t + (terms + 1) * math.log(t) - math.lgamma(terms + 2)
                     - math.log1p(-top / (terms + 2)))
        if log_error <= math.log(KERNEL_TOLERANCE):
            return terms
    return None


def kernel_features(x: np.ndarray, centre: float, gamma: float, terms: int) -> np.ndarray:
    """The explicit features ``φ_0..φ_terms`` of the scalar samples ``x`` (one row each)."""
    u = np.asarray(x, dtype=np.float64).ravel() - centre
    k = np.arange(terms + 1)
    scale = np.exp(0.5 * (k * math.log(2.0 * gamma) - np.array([math.lgamma(i + 1) for i in k])))
    return np.exp(-gamma * u * u)[:, None] * scale * u[:, None] ** k


def _solve_primal(features: np.ndarray, signs: np.ndarray, c: float
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(w, b)`` of the soft-margin primal and the margin constraints' multipliers (the
    dual's α), or ``None`` when the solver does not converge."""
    import clarabel
    from scipy import sparse

    n, d = features.shape
    eye = sparse.identity(n, format="csc")
    cost = sparse.block_diag([sparse.identity(d), sparse.csc_matrix((n + 1, n + 1))],
                             format="csc")
    linear = np.concatenate([np.zeros(d + 1), np.full(n, c)])
    # rows: −y_i(w·φ_i + b) − ξ_i <= −1, then −ξ_i <= 0
    margins = sparse.hstack([sparse.csc_matrix(-signs[:, None] * features),
                             sparse.csc_matrix(-signs[:, None]), -eye])
    slack = sparse.hstack([sparse.csc_matrix((n, d + 1)), -eye])
    constraints = sparse.vstack([margins, slack], format="csc")
    bounds = np.concatenate([-np.ones(n), np.zeros(n)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-9
    solution = clarabel.DefaultSolver(cost, linear, constraints, bounds,
                                      [clarabel.NonnegativeConeT(2 * n)], settings).solve()
    if solution.status != clarabel.SolverStatus.Solved:
        return None
    return np.asarray(solution.x)[: d + 1], np.asarray(solution.z)[:n]


def _centre_and_spread(x: np.ndarray) -> tuple[float, float] | None:
    """The middle and half-width of one scalar feature's range, or ``None`` for other shapes."""
    if x.ndim != 2 or x.shape[1] != 1 or x.size == 0:
        return None
    low, high = float(x.min()), float(x.max())
    return 0.5 * (low + high), 0.5 * (high - low)


def solvable_exactly(x: np.ndarray, gamma: float) -> bool:
    """Whether ``RBFSVC`` fits samples ``x`` on its fast exact path (one bounded feature)."""
    extent = _centre_and_spread(np.asarray(x, dtype=np.float64))
    return extent is not None and series_terms(extent[1], gamma) is not None


class RBFSVC(ClassifierMixin, BaseEstimator):
    """``SVC(kernel="rbf", C, gamma)`` for binary labels; exact and fast on one bounded scalar
    feature (module docs), scikit-learn's ``SVC`` otherwise (``fast_path`` says which)."""

    def __init__(self, C: float = 3.0, gamma: float = 1.0, random_state: int | None = None):
        self.C = C
        self.gamma = gamma
        self.random_state = random_state

    def fit(self, x: np.ndarray, y: np.ndarray) -> RBFSVC:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.fast_path = False
        extent = _centre_and_spread(x)
        if extent is not None and self.classes_.size == 2:
            self.centre_, self.spread_ = extent
            terms = series_terms(self.spread_, self.gamma)
            if terms is not None:
                signs = np.where(y == self.classes_[1], 1.0, -1.0)
                solved = _solve_primal(kernel_features(x, self.centre_, self.gamma, terms),
                                       signs, float(self.C))
                if solved is not None:
                    primal, alpha = solved
                    support = alpha > 1e-8 * self.C  # interior points keep α of ~1e-10
                    self.terms_, self.coef_, self.intercept_ = terms, primal[:-1], primal[-1]
                    self.support_x_ = x[support, 0]
                    self.dual_coef_ = alpha[support] * signs[support]
                    self.fast_path = True
                    return self
        self.svc_ = SVC(kernel="rbf", C=self.C, gamma=self.gamma,
                        random_state=self.random_state).fit(x, y)
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Positive for ``classes_[1]``, as scikit-learn's."""
        x = np.asarray(x, dtype=np.float64)
        if not self.fast_path:
            return self.svc_.decision_function(x)
        reach = max(self.spread_, float(np.abs(x - self.centre_).max(initial=0.0)))
        terms = series_terms(math.sqrt(self.spread_ * reach), self.gamma)
        if terms is not None and terms <= self.terms_:
            return kernel_features(x, self.centre_, self.gamma, self.terms_) @ self.coef_ + \
                self.intercept_
        # targets far outside the training range: the kernel sum over the support vectors
        values = np.empty(len(x))
        for start in range(0, len(x), 1024):
            gaps = x[start : start + 1024, :1] - self.support_x_[None, :]
            values[start : start + 1024] = np.exp(-self.gamma * gaps * gaps) @ self.dual_coef_
        return values + self.intercept_

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[(self.decision_function(x) > 0).astype(int)]
