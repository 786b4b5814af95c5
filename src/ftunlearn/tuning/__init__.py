"""Per-method hyperparameter search with Optuna (``ftunlearn tune``; docs/tuning.md).

``space`` declares search spaces (imported by the methods, so it stays light); ``objective``
evaluates one trial on the tuning seeds; ``study`` runs one Optuna study per method with the
ask-and-tell interface, locally or on Ray; ``outputs`` writes tuned.toml, summary.csv, the
report and its figures; ``cli`` is the thin ``ftunlearn tune`` parser. Import those modules
directly: this package's ``__init__`` imports nothing, so the methods can import ``space``.

Layers (docs/architecture.md): ``space`` belongs to the foundation and imports nothing of the
package; ``cli`` to ``commands``; the rest to ``studies``, which may import every layer below
it (runs, reporting, the audit, methods, metrics, data) but never the commands.
"""
