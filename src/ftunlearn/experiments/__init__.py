"""The benchmark: runs of many cells, their results, reports and the audit (docs/protocol.md).

This package spans three layers (docs/architecture.md), lowest first:

- ``runs``: configs, presets, identities, the checkpoint cache, workspace, cells, executors,
  results store, runner. May import ``ensemble``, ``metrics``, ``methods``, ``models``,
  ``data``, ``training`` and the foundation.
- ``reporting``: ``report``, ``report_guard``, ``exports``, ``html``, ``plots``, ``compare``,
  ``unlearn_report``: what a finished run shows. May import ``runs`` and every layer below.
- ``studies``: ``audit``. May import ``reporting`` and every layer below.

``audit_cli`` and ``terminal`` belong to the ``commands`` layer. Nothing here imports a
command. This ``__init__`` imports nothing: import the modules directly.
"""
