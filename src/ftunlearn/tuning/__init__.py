"""Per-method hyperparameter search with Optuna (``ftunlearn tune``; docs/tuning.md).

The layer owns the search: ``space`` declares search spaces (imported by the methods, so it
stays light); ``objective`` evaluates one trial on the tuning seeds; ``outcome`` holds the plain
data of a run (its settings, each method's finished study, the outcome); ``storage`` checks and
opens Optuna's storage; ``study`` runs one Optuna study per method with the ask-and-tell
interface, locally or on Ray (``ray_trials``), under the output folder's writer lock, and has
``outputs`` write tuned.toml, summary.csv, the report (templates/tuning.html.j2) and its
``figures``; ``cli`` is the thin ``ftunlearn tune`` parser. Import those modules directly: this
package's ``__init__`` imports nothing, so the methods can import ``space``.

Inside the package a module may import only those after it in this order: ``cli``, ``study``,
``ray_trials``, ``storage``, ``outputs``, ``figures``, ``outcome``, ``objective``, ``space``; so
``outputs`` and ``figures`` read ``outcome`` and never import ``study``.

Layers (docs/architecture.md): ``space`` belongs to the foundation and may import nothing of
the package; ``cli`` to ``commands``, which may import every layer; the rest to ``studies``,
which may import every layer below it (runs, reporting, the audit, methods, metrics, data) but
never the commands.
"""
