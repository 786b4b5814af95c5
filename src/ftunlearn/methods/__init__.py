"""Unlearning methods behind one contract (:class:`Unlearner`) and one registry.

Each module registers its methods on import; adding a method means adding one module here.
The registry (``base``) never imports a method: this package's ``__init__`` imports each one.

Layer ``methods`` (docs/architecture.md): owns the contract (``base``), the types it hands a
method (``samples``, ``context``), what ``unlearn`` accepts (``inputs``), fit plans, and every
method. May import the foundation (with ``tuning.space``), ``training``, ``data`` and
``models``; never metrics, runs or anything above.
"""

# Import order is registration order, the order reports and ``--methods all`` use.
from ftunlearn.methods import finetune  # noqa: F401, I001  (registers retrain, ft)
from ftunlearn.methods import regularised  # noqa: F401  (dr-ft)
from ftunlearn.methods import masking  # noqa: F401  (rbm)
from ftunlearn.methods import relabel  # noqa: F401  (rl)
from ftunlearn.methods import salun  # noqa: F401
from ftunlearn.methods import ascent  # noqa: F401  (ga, neggrad+)
from ftunlearn.methods import sparse  # noqa: F401  (l1-sparse)
from ftunlearn.methods import scrub  # noqa: F401
from ftunlearn.methods import influence  # noqa: F401  (iu)
from ftunlearn.methods import dampening  # noqa: F401  (ssd)
from ftunlearn.methods.base import (
    METHODS,
    Context,
    Hyperparameters,
    Samples,
    Unlearner,
    UnlearnError,
    UnlearnResult,
    available_methods,
    make_config,
    method_class,
    register,
    unlearn,
)

__all__ = [
    "METHODS",
    "Context",
    "Hyperparameters",
    "Samples",
    "UnlearnError",
    "UnlearnResult",
    "Unlearner",
    "available_methods",
    "make_config",
    "method_class",
    "register",
    "unlearn",
]
