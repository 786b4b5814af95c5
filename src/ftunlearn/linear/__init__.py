"""The linear lab: fine-tuning-based unlearning in over-parameterised linear regression.

Implements docs/theory.md with numpy and scipy only (no torch at import time): scenarios
(``SyntheticSpec``, ``RealFeatureSpec``, ``Scenario``), exact solvers (``LeastSquares``,
``gradient_descent``), the seven models (``fit_models``), their metrics (``evaluate``), and named
experiments and sweeps (``EXPERIMENTS``, ``run_experiment``). The command ``ftunlearn theory``
lives in ``ftunlearn.linear.cli`` and the figures in ``ftunlearn.linear.plots``.

Layer ``linear`` (docs/architecture.md): owns the lab's scenarios, solvers, models, metrics,
experiments, report and figures. May import the foundation and ``data`` (real features); its
``cli`` belongs to the ``commands`` layer. Nothing else imports the lab but the commands.
"""

from ftunlearn.linear.experiments import (
    DEFAULT_SWEEP,
    EXPERIMENTS,
    Experiment,
    Sweep,
    run_experiment,
    run_experiments,
    summarise,
)
from ftunlearn.linear.metrics import METRIC_NAMES, evaluate
from ftunlearn.linear.models import MODEL_NAMES, FittedModels, MethodSpec, fit_models
from ftunlearn.linear.real import RealFeatureSpec
from ftunlearn.linear.scenarios import Scenario, SyntheticSpec
from ftunlearn.linear.solvers import FactorCache, LeastSquares, gradient_descent

__all__ = [
    "DEFAULT_SWEEP",
    "EXPERIMENTS",
    "METRIC_NAMES",
    "MODEL_NAMES",
    "Experiment",
    "FactorCache",
    "FittedModels",
    "LeastSquares",
    "MethodSpec",
    "RealFeatureSpec",
    "Scenario",
    "Sweep",
    "SyntheticSpec",
    "evaluate",
    "fit_models",
    "gradient_descent",
    "run_experiment",
    "run_experiments",
    "summarise",
]
