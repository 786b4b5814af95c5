"""What ``ftunlearn tune`` writes: tuned.toml, summary.csv, report.md, report.html, figures/.

``tuned.toml`` is a bench config (``ftunlearn bench --config DIR/tuned.toml``): the run's
settings with the report seeds, each method's tuned ``[hyperparameters.METHOD]`` and a
``[tuning]`` table recording how they were found (which makes bench refuse the tuning seeds).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.trial import TrialState

from ftunlearn.atomic import write_atomic
from ftunlearn.experiments.html import render_page
from ftunlearn.methods import make_config
from ftunlearn.tuning.figures import (
    history_figure,
    importance_caveat,
    importance_figure,
    importances,
    objective_label,
)
from ftunlearn.tuning.outcome import STARTUP_TRIALS, MethodStudy, TuneOutcome

TUNED_TOML = "tuned.toml"
SUMMARY_CSV = "summary.csv"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES = "figures"
CSV_COLUMNS = ("method", "study", "objective", "direction", "best_value", "best_trial",
               "trials_complete", "trials_pruned", "trials_failed", "trials_interrupted",
               "tuned_hyperparameters", "default_hyperparameters")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def write_outputs(outcome: TuneOutcome) -> None:
    """Write every output file of a finished (or partly finished) tuning run."""
    out = outcome.out_dir
    write_atomic(out / TUNED_TOML, tuned_toml(outcome).encode())
    write_atomic(out / SUMMARY_CSV, summary_csv(outcome).encode())
    figures = _write_figures(outcome)
    write_atomic(out / REPORT_MD, report_markdown(outcome, figures).encode())
    write_atomic(out / REPORT_HTML, report_html(outcome, figures).encode())


# -- tuned.toml ----------------------------------------------------------------------------------

def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def _value(value: Any) -> str:
    """A TOML value (floats in full precision; ``inf``/``nan`` as TOML spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _table(header: str | None, values: Mapping[str, Any]) -> list[str]:
    lines = [f"[{header}]"] if header else []
    lines += [f"{_key(k)} = {_value(v)}" for k, v in values.items() if v is not None]
    return lines


def tuning_record(outcome: TuneOutcome) -> dict[str, Any]:
    """The ``[tuning]`` table (also what bench's protocol guard reads)."""
    settings = outcome.settings
    return {
        "seeds": list(settings.seeds), "objective": settings.objective,
        "direction": outcome.studies[0].direction if outcome.studies else None,
        "trials": settings.trials, "sampler": "TPE", "sampler_seed": settings.sampler_seed,
        "prune_ra_drop": settings.prune_ra_drop,
        "audit_ensemble": settings.audit_ensemble if settings.objective == "audit" else None,
        "timeout": settings.timeout,
        "best": {s.method: float(s.best.value) for s in outcome.studies  # type: ignore[arg-type]
                 if s.best is not None},
        "complete": {s.method: s.counted(TrialState.COMPLETE) for s in outcome.studies},
        "studies": {s.method: s.study_name for s in outcome.studies},
    }


def tuned_toml(outcome: TuneOutcome) -> str:
    config = outcome.config
    record = tuning_record(outcome)
    lines = [
        "# Written by `ftunlearn tune`: the tuned hyperparameters of every method, to report "
        "with",
        f"# `ftunlearn bench --config {TUNED_TOML} --out DIR` on seeds disjoint from the "
        f"tuning seeds {record['seeds']}.",
    ]
    missing = [s.method for s in outcome.studies if s.best is None]
    if missing:
        lines.append(f"# No complete trial (defaults kept): {', '.join(missing)}.")
    top = {"dataset": config.dataset, "model": config.model, "forget": config.forget,
           "methods": list(config.methods), "seeds": list(config.seeds),
           "device": config.device, "mia_extras": config.mia_extras,
           "data_dir": config.data_dir, "original_weights": config.original_weights}
    lines += _table(None, top)
    lines += ["", *_table("recipe", config.recipe.to_dict())]
    for study in outcome.studies:
        values = study.tuned or dict(study.fixed)
        if values:
            lines += ["", *_table(f"hyperparameters.{_key(study.method)}", values)]
    scalars = {k: v for k, v in record.items() if not isinstance(v, dict)}
    lines += ["", *_table("tuning", scalars)]
    for name in ("best", "complete", "studies"):
        if record[name]:
            lines += ["", *_table(f"tuning.{name}", record[name])]
    return "\n".join(lines) + "\n"


# -- summary.csv ---------------------------------------------------------------------------------

def defaults_of(study: MethodStudy) -> dict[str, Any]:
    """The method's default value of every searched hyperparameter (fixed ones as set)."""
    defaults = make_config(study.method, study.fixed).to_dict()
    return {d.name: defaults[d.name] for d in study.space}


def summary_rows(outcome: TuneOutcome) -> list[dict[str, Any]]:
    rows = []
    for study in outcome.studies:
        best = study.best
        rows.append({
            "method": study.method, "study": study.study_name,
            "objective": outcome.settings.objective, "direction": study.direction,
            "best_value": "" if best is None else repr(float(best.value)),  # type: ignore
            "best_trial": "" if best is None else best.number,
            "trials_complete": study.counted(TrialState.COMPLETE),
            "trials_pruned": study.counted(TrialState.PRUNED),
            "trials_failed": study.counted(TrialState.FAIL),
            "trials_interrupted": sum(1 for t in study.trials
                                      if t.user_attrs.get("interrupted")),
            "tuned_hyperparameters": json.dumps(study.tuned, sort_keys=True),
            "default_hyperparameters": json.dumps(defaults_of(study), sort_keys=True),
        })
    return rows


def summary_csv(outcome: TuneOutcome) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(outcome))
    return buffer.getvalue()


# -- figures and report --------------------------------------------------------------------------

def _title(outcome: TuneOutcome) -> str:
    config = outcome.config
    return f"{config.dataset} · {config.model} · forget {config.forget}"


def _write_figures(outcome: TuneOutcome) -> dict[str, dict[str, bytes]]:
    """Figure stem -> bytes per format, written under ``figures/``; stems ``history-METHOD``
    and ``importance-METHOD`` (the latter only where Optuna could estimate importances)."""
    folder = outcome.out_dir / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, bytes]] = {}
    title = _title(outcome)
    for study in outcome.studies:
        history = history_figure(study, outcome.settings.objective, title)
        if history is not None:
            figures[f"history-{study.method}"] = history
        found = importances(study)
        if found is not None:
            figures[f"importance-{study.method}"] = importance_figure(study, found, title)
    for stem, images in figures.items():
        for fmt, data in images.items():
            write_atomic(folder / f"{stem}.{fmt}", data)
    return figures


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _overview(outcome: TuneOutcome) -> list[str]:
    settings = outcome.settings
    config = outcome.config
    prune = ("off" if settings.prune_ra_drop is None or settings.objective != "avg-gap" else
             f"a trial whose RA on its first tuning seed is more than "
             f"{settings.prune_ra_drop:g} points below the golden's is pruned")
    return [
        f"Objective: {objective_label(settings.objective)}, mean over the tuning seeds "
        f"{', '.join(map(str, settings.seeds))}, each against its own golden model.",
        f"Budget: {settings.trials} trials per method (TPE, sampler seed "
        f"{settings.sampler_seed}, the first {STARTUP_TRIALS} at random)"
        + (f", at most {settings.timeout:g} s per method" if settings.timeout else "") + ".",
        f"Pruning: {prune}. Failed trials (an error, NaN loss, non-finite weights) are "
        "recorded with their reason and the study goes on.",
        f"Report the tuned methods on other seeds: `ftunlearn bench --config "
        f"{TUNED_TOML} --out DIR` runs seeds {', '.join(map(str, config.seeds))}.",
    ]


def _summary_table(outcome: TuneOutcome) -> tuple[list[str], list[list[str]]]:
    header = ["Method", "Best", "Complete", "Pruned", "Failed", "Interrupted",
              "Tuned hyperparameters"]
    body = []
    for row, study in zip(summary_rows(outcome), outcome.studies, strict=True):
        body.append([study.method, _number(float(row["best_value"])) if row["best_value"]
                     else "none", str(row["trials_complete"]), str(row["trials_pruned"]),
                     str(row["trials_failed"]), str(row["trials_interrupted"]), ", ".join(
                         f"{k}={_number(v)}" for k, v in study.tuned.items()) or "defaults"])
    return header, body


def _method_table(study: MethodStudy) -> tuple[list[str], list[list[str]]]:
    defaults = defaults_of(study)
    tuned = study.tuned
    header = ["Hyperparameter", "Default (untuned run)", "Tuned", "Searched"]
    body = []
    for d in study.space:
        searched = "fixed by the config" if d.name in study.fixed else \
            f"{d.kind} {d.range_text()}"
        body.append([d.name, _number(defaults[d.name]), _number(tuned.get(d.name, "—")),
                     searched])
    return header, body


def _failures(study: MethodStudy) -> list[str]:
    return [f"trial #{t.number} ({t.state.name.lower()}): {t.user_attrs.get('reason', '')}"
            for t in study.trials if t.state in (TrialState.FAIL, TrialState.PRUNED)]


def _best_line(study: MethodStudy) -> str:
    best = study.best
    if best is None:
        return "No complete trial: tuned.toml keeps the defaults."
    seeds = best.user_attrs.get("per_seed", {})
    per_seed = ", ".join(f"seed {k}: {_number(v)}" for k, v in seeds.items())
    return f"Best value {_number(float(best.value))} (trial #{best.number}; {per_seed})."  # type: ignore


def _md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    def clean(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in body]
    return lines


def report_markdown(outcome: TuneOutcome, figures: Mapping[str, Mapping[str, bytes]]) -> str:
    lines = [f"# ftunlearn tuning report: {_title(outcome)}", ""]
    lines += [*(f"- {line}" for line in _overview(outcome)), "", "## Summary", ""]
    lines += [*_md_table(*_summary_table(outcome)), ""]
    for study in outcome.studies:
        lines += [f"## {study.method}", "", f"Study `{study.study_name}`. {_best_line(study)}",
                  "", *_md_table(*_method_table(study)), ""]
        for kind, caption in (("history", "optimisation history"),
                              ("importance", "parameter importances")):
            stem = f"{kind}-{study.method}"
            if stem in figures:
                lines += [f"![{study.method}: {caption}]({FIGURES}/{stem}.png)", ""]
        if f"importance-{study.method}" not in figures:
            lines += ["Parameter importances: too few complete trials to estimate.", ""]
        elif importance_caveat(study) is not None:
            lines += [f"Parameter importances {importance_caveat(study)}.", ""]
        failures = _failures(study)
        if failures:
            lines += ["Pruned and failed trials:", "", *(f"- {f}" for f in failures), ""]
    return "\n".join(lines)


def _table_view(header: Sequence[str], body: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A table as the shared ``table`` macro (templates/macros.html.j2) takes it: no shaded
    rows and no best marks, which a tuning table does not have."""
    return {"header": list(header),
            "rows": [{"kind": None, "cells": [{"text": text, "best": False} for text in row]}
                     for row in body]}


def report_html(outcome: TuneOutcome, figures: Mapping[str, Mapping[str, bytes]]) -> str:
    """One self-contained page (templates/tuning.html.j2, autoescaped): inline CSS, figures
    as base64 PNG data URIs."""
    studies = []
    for study in outcome.studies:
        shown = [{"caption": caption, "png": figures[stem]["png"]}
                 for stem, caption in ((f"history-{study.method}", "optimisation history"),
                                       (f"importance-{study.method}", "parameter importances"))
                 if stem in figures]
        caveat = (importance_caveat(study) if f"importance-{study.method}" in figures
                  else None)
        studies.append({"method": study.method, "name": study.study_name,
                        "best": _best_line(study), "table": _table_view(*_method_table(study)),
                        "figures": shown, "caveat": caveat, "failures": _failures(study)})
    return render_page("tuning.html.j2", title=f"ftunlearn tuning report: {_title(outcome)}",
                       overview=_overview(outcome),
                       summary=_table_view(*_summary_table(outcome)), studies=studies)


def print_table(outcome: TuneOutcome, width: int | None = None) -> None:
    """The summary as a rich table on stdout (a wide page when stdout is not a terminal)."""
    import sys

    from rich.console import Console
    from rich.table import Table

    header, body = _summary_table(outcome)
    table = Table(title=f"ftunlearn tune: {_title(outcome)} ({outcome.settings.objective}, "
                        f"{outcome.settings.trials} trials per method)")
    for index, name in enumerate(header):
        table.add_column(name, justify="left" if index in (0, len(header) - 1) else "right",
                         style="bold" if index == 0 else None, no_wrap=index < len(header) - 1)
    for row in body:
        table.add_row(*row)
    if width is None and not sys.stdout.isatty():
        width = 120
    Console(width=width, highlight=False).print(table)
