"""The report of a benchmark run: summary.csv, report.md, figures and a self-contained HTML page.

Every number is a mean over the seeds a method finished, with its sample standard deviation
(ddof = 1) and its 95 % t-interval (``intervals.INTERVAL_METHOD``); with one seed the deviation is
0, there is no interval and the seed count says so. NaN metrics count as missing.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ftunlearn.atomic import write_atomic
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments import report_guard
from ftunlearn.experiments.catalog import (
    DIRECTION_WORDS,
    is_reference,
    metric_info,
)
from ftunlearn.experiments.exports import write_exports
from ftunlearn.experiments.html import render_html
from ftunlearn.experiments.intervals import (
    INTERVAL_METHOD,
    MAX_SEEDS,
    POWER,
    Interval,
    PairedDifference,
    best_by_lowest_mean,
    paired_difference,
    t_interval,
)
from ftunlearn.experiments.plots import FORMATS, PLOT_FILES, PLOT_TITLES, render_plots
from ftunlearn.experiments.pseudo import GOLDEN, PSEUDO_METHODS

# the data model; every name of it stays importable from here, where callers found it before
from ftunlearn.experiments.report_model import (
    AVG_GAP,
    AVG_GAP_WITHOUT_MIA,
    BEST_MARK,
    CHANCE_ATTACK_ACC,
    MIA,
    MISSING,
    PRIMARY_METRICS,
    AuditSection,
    MethodSummary,
    MetricStat,
    ReportContent,
    RunSummary,
    Table,
    format_number,
    format_stat,
    main_metrics,
    metric_label,
)
from ftunlearn.experiments.report_model import METRIC_LABELS as METRIC_LABELS
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult, ResultStore
from ftunlearn.metrics.definitions import DIVERGED_LOGIT, DIVERGED_LOSS
from ftunlearn.metrics.mia import ATTACK_SAMPLES

SUMMARY_CSV = "summary.csv"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
AUDIT_SECTION = "audit_section.json"
"""Written by ``ftunlearn audit`` (or ``bench --audit``) next to audit.csv: the report shows it."""
AUDIT_FIGURE = "audit_epsilon.png"
PAIRED_BASELINE = "ft"
"""Plain fine-tuning: the method every remedy has to beat."""
BASELINE_WORDS = {PAIRED_BASELINE: "plain fine-tuning"}
"""How a paired comparison's heading names a baseline (any other by its method name)."""


@dataclass(frozen=True)
class ReportPaths:
    """The files a report wrote; a plot is ``None`` when no method had the metrics it needs."""

    summary_csv: Path
    report_md: Path
    report_html: Path
    ua_vs_ta: Path | None
    avg_gap: Path | None
    avg_gap_vs_rte: Path | None
    forget_loss_gap: Path | None
    exports: Mapping[str, Path] = dataclasses.field(default_factory=dict)
    """results_long.csv, table.tex, summary.json by name."""

    @property
    def plots(self) -> tuple[Path, ...]:
        return tuple(
            p
            for p in (self.ua_vs_ta, self.avg_gap, self.avg_gap_vs_rte, self.forget_loss_gap)
            if p is not None
        )


def read_audit_section(run_dir: Path) -> AuditSection | None:
    """The audit section of ``run_dir``, or ``None`` when no audit ran there."""
    path = run_dir / AUDIT_SECTION
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        table = Table(tuple(data["header"]), tuple(tuple(r) for r in data["rows"]))
        figure = data.get("figure")
        return AuditSection(data["intro"], data["verdict"], data["ranking"], table,
                            figure if figure and (run_dir / figure).is_file() else None)
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UnlearnError(f"{path} is not an audit section ({error}); run `ftunlearn audit` "
                           "into this folder again or remove the file") from error


def summarize(results: Iterable[CellResult], *, source: str = "the given results",
              baselines: Sequence[str] = (PAIRED_BASELINE,)) -> RunSummary:
    """Aggregate cells per method; ``source`` names where they came from in error messages;
    ``baselines`` are the methods every other one is paired with (Avg Gap, shared seeds)."""
    results = list(results)
    finished = [r for r in results if r.status == "ok"]
    failed = tuple(r for r in results if r.status == "failed")
    if not finished:
        detail = ""
        if failed:
            detail = f" ({len(failed)} failed cells; first error: {failed[0].error})"
        raise UnlearnError(f"no finished cells in {source}{detail}; run `ftunlearn bench` first")
    chance = _chance_attack(finished)
    if chance:
        finished = _with_gap_without_mia(finished)
    by_method: dict[str, list[CellResult]] = {}
    for cell in finished:
        by_method.setdefault(cell.method, []).append(cell)
    # stable: golden, original, then first-seen
    pseudo = PSEUDO_METHODS.names()
    order = sorted(by_method, key=lambda m: pseudo.index(m) if m in pseudo else len(pseudo))
    methods = tuple(_summarize_method(m, by_method[m], source) for m in order)
    configuration, varying = _common_items(c.config for c in finished)
    versions, _ = _common_items(c.versions for c in finished)
    verdict = best_by_lowest_mean(_candidate_gaps(methods))
    return RunSummary(
        methods=methods,
        metric_names=_metric_names(finished),
        best=verdict.best,
        configuration=configuration,
        varying_config_keys=varying,
        versions=versions,
        git_commits=tuple(dict.fromkeys(c.git_commit for c in results if c.git_commit)),
        started_at=min(c.started_at for c in results),
        finished_at=max(c.finished_at for c in results),
        failed=failed,
        tied=verdict.tied,
        chance_attack=chance,
        paired=_paired_with_baselines(methods, baselines),
        did_nothing=_flagged(finished, _did_nothing),
        diverged=_flagged(finished, _diverged),
    )


def _did_nothing(cell: CellResult) -> bool:
    return cell.metrics.get(WEIGHTS_CHANGED, math.nan) == 0


def _diverged(cell: CellResult) -> bool:
    """A logit or the forget loss above the stated bounds (metrics.definitions)."""
    return (cell.metrics.get(MAX_LOGIT, 0.0) > DIVERGED_LOGIT
            or cell.metrics.get(FORGET_CE, 0.0) > DIVERGED_LOSS)


def _flagged(cells: Sequence[CellResult], flag: Callable[[CellResult], bool]
             ) -> dict[str, tuple[int, ...]]:
    """method -> the seeds of its cells that ``flag`` holds for (methods without any left
    out; pseudo rows never flagged)."""
    found: dict[str, list[int]] = {}
    for cell in cells:
        if cell.method not in PSEUDO_METHODS and flag(cell):
            found.setdefault(cell.method, []).append(cell.seed)
    return {method: tuple(sorted(seeds)) for method, seeds in found.items()}


def _summarize_method(method: str, cells: list[CellResult], source: str) -> MethodSummary:
    seeds = [c.seed for c in cells]
    duplicated = sorted({s for s in seeds if seeds.count(s) > 1})
    if duplicated:
        keys = [c.cell_key for c in cells if c.seed == duplicated[0]]
        raise UnlearnError(
            f"{source} holds several finished cells for method {method!r} and seed "
            f"{duplicated[0]} (cell keys {keys}): they come from different configurations; "
            "write each configuration to its own --out folder"
        )
    names = dict.fromkeys(name for c in cells for name in c.metrics)
    stats = {}
    per_seed: dict[str, dict[int, float]] = {}
    for name in names:
        kept = {c.seed: c.metrics[name] for c in cells
                if not math.isnan(c.metrics.get(name, math.nan))}
        if kept:
            stats[name] = _stat(list(kept.values()))
            per_seed[name] = kept
    hyperparameters, varying = _common_items(c.hyperparameters for c in cells)
    return MethodSummary(method, tuple(seeds), stats, hyperparameters, varying, per_seed)


def _stat(values: Sequence[float]) -> MetricStat:
    array = np.asarray(values, dtype=float)
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    interval = t_interval(array)
    return MetricStat(mean=interval.mean, std=std, n=interval.n, ci_low=interval.low,
                      ci_high=interval.high)


def _metric_names(cells: Sequence[CellResult]) -> tuple[str, ...]:
    others = dict.fromkeys(n for c in cells for n in c.metrics if n not in PRIMARY_METRICS)
    return PRIMARY_METRICS + tuple(others)


MIA_ATTACK_ACC = "MIA_attack_acc"
WEIGHTS_CHANGED = "weights_changed"
MAX_LOGIT = "max_logit"
FORGET_CE = "forget_CE"
LOSS_METRICS = ("forget_loss_gap", FORGET_CE, "JS_forget", "JS_test")
"""Columns a diverged model's numbers are unbounded in: marked, not compared."""
DID_NOTHING_FLAG = "did nothing"
DIVERGED_FLAG = "diverged"


def _chance_attack(cells: Sequence[CellResult]) -> tuple[str, ...]:
    """Rows whose mean ``MIA_attack_acc`` over seeds is below the chance threshold."""
    accuracies: dict[str, list[float]] = {}
    for cell in cells:
        value = cell.metrics.get(MIA_ATTACK_ACC, math.nan)
        if not math.isnan(value):
            accuracies.setdefault(cell.method, []).append(value)
    return tuple(m for m, v in accuracies.items() if float(np.mean(v)) < CHANCE_ATTACK_ACC)


def _with_gap_without_mia(cells: Sequence[CellResult]) -> list[CellResult]:
    """Cells with ``avg_gap_no_mia``: Avg Gap over its metrics except MIA, against the golden
    cell of the same seed (left out where that seed has no golden cell)."""
    from ftunlearn.metrics.gaps import avg_gap
    from ftunlearn.metrics.registry import avg_gap_keys

    keys = tuple(k for k in avg_gap_keys() if k != MIA)
    golden = {c.seed: c.metrics for c in cells if c.method == GOLDEN}
    out = []
    for cell in cells:
        reference = golden.get(cell.seed)
        if reference is not None and all(k in cell.metrics and k in reference for k in keys):
            gap = avg_gap(cell.metrics, reference, keys)
            cell = dataclasses.replace(cell, metrics={**cell.metrics, AVG_GAP_WITHOUT_MIA: gap})
        out.append(cell)
    return out


def _candidate_gaps(methods: Sequence[MethodSummary]) -> dict[str, Interval]:
    """Avg Gap intervals of the methods that may take the best mark."""
    return {
        m.method: m.stats[AVG_GAP].interval
        for m in methods
        if not m.is_pseudo and not is_reference(m.method) and AVG_GAP in m.stats
    }


def _paired_with_baselines(methods: Sequence[MethodSummary], baselines: Sequence[str]
                           ) -> tuple[PairedDifference, ...]:
    """Every other method's Avg Gap paired with each baseline's (baselines absent from the
    run are skipped; a pair already listed the other way round is not repeated)."""
    pairs: list[PairedDifference] = []
    for name in baselines:
        baseline = next((m for m in methods if m.method == name), None)
        if baseline is None or AVG_GAP not in baseline.per_seed:
            continue
        for method in methods:
            if (method is baseline or method.is_pseudo or AVG_GAP not in method.per_seed
                    or any({p.method, p.baseline} == {method.method, name} for p in pairs)):
                continue
            pair = paired_difference(method.method, method.per_seed[AVG_GAP], baseline.method,
                                     baseline.per_seed[AVG_GAP])
            if pair is not None:
                pairs.append(pair)
    return tuple(pairs)


_ABSENT = object()


def _common_items(dicts: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The items every mapping shares with equal values, and the keys that differ."""
    dicts = list(dicts)
    keys = dict.fromkeys(k for d in dicts for k in d)
    common: dict[str, Any] = {}
    varying = []
    for key in keys:
        values = [d.get(key, _ABSENT) for d in dicts]
        if all(v == values[0] for v in values) and values[0] is not _ABSENT:
            common[key] = values[0]
        else:
            varying.append(key)
    return common, tuple(varying)


def write_report(
    run_dir: str | Path, results: Sequence[CellResult] | None = None, *, force: bool = False,
    figure_formats: Sequence[str] = FORMATS, baselines: Sequence[str] = (PAIRED_BASELINE,),
    tex_columns: Sequence[str] | None = None,
) -> ReportPaths:
    """Write summary.csv, report.md, the PNG plots and report.html into ``run_dir``;
    ``baselines`` are the paired comparisons' baselines (``summarize``).

    Without ``results``, the cells are read (read-only) from ``run_dir/results.sqlite``. A
    report that would count fewer finished cells of the same plan than the existing one is
    refused unless ``force`` (see ``report_guard``).
    """
    run_dir = Path(run_dir)
    if results is None:
        database = run_dir / RESULTS_FILENAME
        with ResultStore(database, read_only=True) as store:
            results = store.results(status=None)
        summary = summarize(results, source=str(database), baselines=baselines)
    else:
        summary = summarize(results, baselines=baselines)
    record = report_guard.report_record(results)
    report_guard.check_not_worse(run_dir, record, force=force)
    summary = dataclasses.replace(
        summary, configuration={**summary.configuration, **report_guard.ignored_note(results)},
        split_sizes=getattr(results, "split_sizes", None) or {})
    run_dir.mkdir(parents=True, exist_ok=True)
    images = render_plots(summary, figure_formats)
    plot_paths: dict[str, Path | None] = {}
    for name, filename in PLOT_FILES.items():
        path = run_dir / filename
        for fmt in FORMATS:
            variant = path.with_suffix(f".{fmt}")
            if name in images and fmt in images[name]:
                write_atomic(variant, images[name][fmt])
            else:
                variant.unlink(missing_ok=True)  # a stale plot from an earlier report misleads
        plot_paths[name] = path if name in images else None
    exports = write_exports(run_dir, summary, results, tex_columns=tex_columns)
    content = report_content(summary, tuple(n for n in PLOT_FILES if n in images),
                             downloads=tuple(p.name for p in exports.values()),
                             figure_formats=figure_formats)
    content = dataclasses.replace(content, audit=read_audit_section(run_dir))
    paths = ReportPaths(
        summary_csv=run_dir / SUMMARY_CSV,
        report_md=run_dir / REPORT_MD,
        report_html=run_dir / REPORT_HTML,
        **plot_paths,
        exports=exports,
    )
    write_atomic(paths.summary_csv, summary_csv_text(summary).encode())
    write_atomic(paths.report_md, render_markdown(content).encode())
    pngs = {PLOT_FILES[n]: data["png"] for n, data in images.items()}
    if content.audit is not None and content.audit.figure is not None:
        pngs[content.audit.figure] = (run_dir / content.audit.figure).read_bytes()
    write_atomic(paths.report_html, render_html(content, pngs).encode())
    report_guard.write_record(run_dir, record)
    return paths


def summary_csv_text(summary: RunSummary) -> str:
    """The CSV: method, n_seeds, then per metric <m>_mean, <m>_std, <m>_ci_low, <m>_ci_high
    (95 % t-interval; empty with one seed), then best_avg_gap and tied_avg_gap (1 or 0)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["method", "n_seeds"]
    for name in summary.metric_names:
        header += [f"{name}_mean", f"{name}_std", f"{name}_ci_low", f"{name}_ci_high"]
    writer.writerow([*header, "best_avg_gap", "tied_avg_gap"])
    for method in summary.methods:
        row: list[str | int] = [method.method, method.n_seeds]
        for name in summary.metric_names:
            stat = method.stats.get(name)
            row += ([repr(stat.mean), repr(stat.std), _csv_float(stat.ci_low),
                     _csv_float(stat.ci_high)] if stat else ["", "", "", ""])
        writer.writerow([*row, int(method.method in summary.best),
                         int(method.method in summary.tied)])
    return buffer.getvalue()


def _csv_float(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


CHANCE_FLAG = "attack at chance"


def _metric_table(summary: RunSummary, names: Sequence[str]) -> Table:
    rows = []
    marked = set()
    for i, method in enumerate(summary.methods):
        cells = []
        for name in names:
            text = format_stat(method.stats.get(name), method.n_seeds)
            if name == MIA and method.method in summary.chance_attack and text != MISSING:
                text += f" ({CHANCE_FLAG})"
            if method.method in summary.diverged and name in LOSS_METRICS and text != MISSING:
                text += f" ({DIVERGED_FLAG})"
            cells.append(text)
        rows.append((method.method, str(method.n_seeds), *cells))
        if method.method in summary.best and AVG_GAP in names:
            marked.add((i, 2 + list(names).index(AVG_GAP)))
    header = ("Method", "Seeds", *(metric_label(n) for n in names))
    return Table(header, tuple(rows), frozenset(marked))


def _paired_table(summary: RunSummary) -> Table | None:
    if not summary.paired:
        return None
    rows = []
    for pair in summary.paired:
        d = pair.difference
        interval = (MISSING if math.isnan(d.low)
                    else f"[{format_number(d.low)}, {format_number(d.high)}]")
        verdict = {"lower": f"beats {pair.baseline}", "higher": f"worse than {pair.baseline}"}
        rows.append((pair.method, str(d.n), format_number(d.mean), interval,
                     verdict.get(pair.verdict, pair.verdict) + _resolution(pair)))
    baselines = paired_baselines(summary)
    if len(baselines) > 1:  # one table for every baseline: each row says which
        header = ("Method", "Baseline", "Shared seeds", "Δ Avg Gap (method − baseline)",
                  "95 % interval", "Verdict")
        rows = [(row[0], pair.baseline, *row[1:])
                for row, pair in zip(rows, summary.paired, strict=True)]
        return Table(header, tuple(rows))
    header = ("Method", "Shared seeds", f"Δ Avg Gap vs {baselines[0]}", "95 % interval",
              "Verdict")
    return Table(header, tuple(rows))


def paired_baselines(summary: RunSummary) -> tuple[str, ...]:
    """The baselines the run's paired comparisons are against, in the order they appear."""
    return tuple(dict.fromkeys(pair.baseline for pair in summary.paired))


def paired_heading(baselines: Sequence[str]) -> str:
    """The paired section's heading: the one baseline by name, else every baseline listed."""
    if len(baselines) == 1:
        return f"Paired comparison with {BASELINE_WORDS.get(baselines[0], baselines[0])}"
    return "Paired comparisons with each baseline: " + ", ".join(baselines)


def _resolution(pair: PairedDifference) -> str:
    """What a tie would take: the seeds that resolve it at the observed effect and spread."""
    if pair.verdict != "no clear difference" or pair.difference.n < 2:
        return ""
    needed = pair.seeds_needed
    if needed is None:
        return (" (no observed difference to resolve)" if pair.difference.mean == 0
                else f" (over {MAX_SEEDS} seeds to resolve at the observed effect)")
    return f" (≈ {needed} seeds to resolve at {POWER:.0%} power)"


def _format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _format_mapping(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_format_value(v)}" for k, v in mapping.items()) or MISSING


def _varies(keys: Sequence[str]) -> dict[str, str]:
    return dict.fromkeys(keys, "(varies by seed)")


def split_sizes(summary: RunSummary, seed: int) -> str | None:
    """``|D_f| forget, |D_r| retain, |D_test| test`` of the run's split for ``seed``: as the
    bench recorded them, else computed from the data, else ``None`` when the dataset cannot
    be loaded here (a report must not need the data)."""
    from ftunlearn.data import SplitSizes, load_dataset, make_split

    sizes = summary.split_sizes.get(seed)
    if sizes is None:
        configuration = summary.configuration
        try:
            data = load_dataset(configuration["dataset"], configuration.get("data_dir"))
            sizes = SplitSizes.of(data, make_split(data, configuration["forget"], seed=seed))
        except Exception:  # any failure only costs the sizes, never the report
            return None
    return f"{sizes.forget} forget, {sizes.retain} retain, {sizes.test} test on seed {seed}"


def identity_items(summary: RunSummary) -> list[tuple[str, str]]:
    """What makes this run this run, for the top of every report."""
    config = summary.configuration
    seeds = sorted({s for m in summary.methods for s in m.seeds})
    items = [(key, _format_value(config[key])) for key in ("dataset", "data_dir", "model")
             if config.get(key) is not None]
    if "forget" in config:
        sizes = split_sizes(summary, seeds[0]) if seeds and "dataset" in config else None
        items.append(("forget", config["forget"] + (f" ({sizes})" if sizes else "")))
    if isinstance(config.get("recipe"), Mapping):
        items.append(("recipe", _format_mapping(config["recipe"])))
    items.append(("seeds", ", ".join(map(str, seeds))))
    items.append(("methods", ", ".join(m.method for m in summary.methods if not m.is_pseudo)))
    items.append(("date", f"{summary.started_at} to {summary.finished_at}"))
    items.append(("ftunlearn version", summary.versions.get("ftunlearn", MISSING)))
    items.append(("git commit", ", ".join(summary.git_commits) or MISSING))
    return items


def definition_items(names: Sequence[str]) -> list[tuple[str, str]]:
    """(label, definition · unit · direction) for each metric, from the metric registry."""
    items = []
    for name in names:
        if name == AVG_GAP_WITHOUT_MIA:
            items.append((metric_label(name), "Avg Gap over its metrics except MIA (shown "
                          "because an attack is at chance); lower is better"))
            continue
        info = metric_info(name)
        parts = [info.definition]
        if info.unit:
            parts.append(f"unit: {info.unit}")
        parts.append(DIRECTION_WORDS.get(info.direction, info.direction))
        items.append((metric_label(name), "; ".join(parts)))
    return items


def protocol_items(summary: RunSummary) -> list[tuple[str, str]]:
    """The protocol choices in force for the run's numbers."""
    config = summary.configuration
    mia = metric_info(MIA)
    features = "confidence p_y"
    every_metric = config.get("metrics", "all") == "all"
    if config.get("mia_extras", True) and every_metric:
        features += "; also entropy, modified entropy and loss (extra MIA columns)"
    items = [
        ("MIA attack", mia.definition if mia.registered else "RBF SVC membership attack"),
        ("MIA features", features),
        ("MIA non-members", _non_members_words(config.get("mia_non_members", "test"))),
        ("retain sample", _sample_words(config.get("eval_retain_samples"),
                                        "RA and the MIA members on", "retain samples (seeded, "
                                        "stratified by label)", "all of D_r")),
        ("attack fit", _sample_words(config.get("attack_samples"), "each MIA attack "
                                     "fitted on", "members and as many non-members (seeded)",
                                     "every member and non-member")),
        ("attack quality", f"{MIA_ATTACK_ACC} (cross-validated accuracy of the attack on its "
                           f"own members vs non-members); below {CHANCE_ATTACK_ACC:g} % the MIA "
                           f"column says '{CHANCE_FLAG}' and Avg Gap is also shown without it"
         if every_metric else f"not measured: the run computed only the main table's metrics "
                              f"(--metrics primary), without {MIA_ATTACK_ACC}"),
        ("intervals", INTERVAL_METHOD),
        ("best mark", f"{BEST_MARK} on the lowest mean Avg Gap only when its interval does not "
                      "overlap the runner-up's (else a tie is reported); the golden and original "
                      "rows and retraining references are never candidates"),
        ("paired comparison", "per method, Avg Gap minus the baseline's ("
                              + ", ".join(paired_baselines(summary))
                              + ") on each shared seed, with the t-interval of the mean "
                              f"difference; a tie says how many seeds would resolve it at "
                              f"{POWER:.0%} power, at the observed difference and spread"),
    ]
    return items


def _non_members_words(choice: object) -> str:
    return ("the kept classes' test samples (class-wise splits)" if choice == "kept-classes"
            else "the whole test set")


def _sample_words(size: object, before: str, after: str, everything: str) -> str:
    if size is None:  # a run made before the size was part of its configuration
        return "not recorded by this run"
    if size == "auto":
        return (f"{before} every member and non-member where the SVC is solved exactly, else "
                f"at most {ATTACK_SAMPLES} {after}")
    return f"{before} {everything}" if size == "all" else f"{before} at most {size} {after}"


def _seed_list(seeds: Sequence[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def verdict_notes(summary: RunSummary) -> list[str]:
    notes = []
    if summary.configuration.get("allow_tuning_seeds"):
        notes.append("tuning seeds reused: for debugging only (the hyperparameters were tuned on "
                     "seeds this report shows; docs/tuning.md).")
    if summary.best:
        notes.append(f"{BEST_MARK} {', '.join(summary.best)}: the lowest mean Avg Gap, with a 95 % "
                     "interval clear of the runner-up's.")
    elif summary.tied:
        notes.append(f"No {BEST_MARK}: tie between {', '.join(summary.tied)} (the 95 % intervals "
                     "of their Avg Gap overlap the lowest mean's).")
    for method, seeds in summary.did_nothing.items():
        notes.append(f"{method} {DID_NOTHING_FLAG}: its output was bit-identical to the original "
                     f"on seed{'s' if len(seeds) > 1 else ''} {_seed_list(seeds)} (0 weights "
                     "changed), so its row is the original's.")
    for method, seeds in summary.diverged.items():
        notes.append(f"{method} {DIVERGED_FLAG} on seed{'s' if len(seeds) > 1 else ''} "
                     f"{_seed_list(seeds)} (a logit above {DIVERGED_LOGIT:g} or a forget CE above "
                     f"{DIVERGED_LOSS:g} nats): its losses and gaps are not comparable numbers.")
    if summary.chance_attack:
        notes.append(f"MIA {CHANCE_FLAG} for {', '.join(summary.chance_attack)} "
                     f"({MIA_ATTACK_ACC} below {CHANCE_ATTACK_ACC:g} %): their MIA is noise, so "
                     f"Avg Gap is shown with and without it.")
    return notes


def report_content(
    summary: RunSummary, plot_names: Sequence[str], *, downloads: Sequence[str] = (),
    figure_formats: Sequence[str] = FORMATS,
) -> ReportContent:
    """Format a summary for rendering; ``plot_names`` are the plots that were drawn."""
    main = main_metrics(summary)
    others = tuple(n for n in summary.metric_names if n not in main)
    n_cells = sum(m.n_seeds for m in summary.methods)
    overview = (
        f"{n_cells} finished cells over {len(summary.methods)} rows"
        f" ({', '.join(m.method for m in summary.methods)}), {len(summary.failed)} failed."
        " Each entry is mean ± half-width of the 95 % t-interval over seeds (the mean alone for"
        " one seed); (n=k) marks a metric that only k seeds have. summary.csv also holds the"
        " sample std."
    )
    configuration = [(k, _format_value(v)) for k, v in summary.configuration.items()]
    if summary.varying_config_keys:
        configuration.append(("varies across cells", ", ".join(summary.varying_config_keys)))
    configuration.append(("versions", _format_mapping(summary.versions)))
    configuration.append(("git commit", ", ".join(summary.git_commits) or MISSING))
    configuration.append(("started / finished", f"{summary.started_at} / {summary.finished_at}"))
    hyperparameters = Table(
        ("Method", "Hyperparameters"),
        tuple(
            (m.method, _format_mapping({**m.hyperparameters, **_varies(m.varying_hyperparameters)}))
            for m in summary.methods
        ),
    )
    config = summary.configuration
    run = " / ".join(str(config[k]) for k in ("dataset", "model", "forget") if k in config)
    plot_suffix = {n: PLOT_FILES[n] for n in plot_names}
    figure_files = [f.replace(".png", f".{fmt}") for f in plot_suffix.values()
                    for fmt in figure_formats if fmt != "png"]
    return ReportContent(
        title="ftunlearn benchmark report" + (f": {run}" if run else ""),
        overview=overview,
        results=_metric_table(summary, main),
        other_metrics=_metric_table(summary, others) if others else None,
        hyperparameters=hyperparameters,
        configuration=tuple(configuration),
        failed=tuple(
            (f"{c.method}, seed {c.seed} (cell {c.cell_key})", c.error or "")
            for c in summary.failed
        ),
        plots=tuple((PLOT_TITLES[n], PLOT_FILES[n]) for n in plot_names),
        identity=tuple(identity_items(summary)),
        definitions=tuple(definition_items([*main, *others])),
        protocol=tuple(protocol_items(summary)),
        notes=tuple(verdict_notes(summary)),
        paired=_paired_table(summary),
        paired_heading=paired_heading(paired_baselines(summary)),
        downloads=(SUMMARY_CSV, *downloads, *figure_files),
    )


def markdown_table(table: Table) -> list[str]:
    """The table's Markdown lines; ``|`` in a header or cell is escaped (HTML is escaped by the
    caller, with :func:`escape_html`, over the whole page)."""

    def cell(text: str, marked: bool = False) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}** {BEST_MARK}" if marked else text

    lines = [
        "| " + " | ".join(cell(text) for text in table.header) + " |",
        "| " + " | ".join("---" for _ in table.header) + " |",
    ]
    for i, row in enumerate(table.rows):
        cells = (cell(text, (i, j) in table.marked) for j, text in enumerate(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(content: ReportContent) -> str:
    """The report as Markdown, with the plots linked by relative path."""
    lines = [f"# {content.title}", ""]
    if content.identity:
        lines += ["## Run", "", *(f"- **{k}**: {v}" for k, v in content.identity), ""]
    lines += [content.overview, "", "## Results", ""]
    lines += markdown_table(content.results)
    if content.notes:
        lines += ["", *(f"- {note}" for note in content.notes)]
    if content.paired is not None:
        lines += ["", f"## {content.paired_heading}", ""]
        lines += markdown_table(content.paired)
    if content.audit is not None:
        audit = content.audit
        lines += ["", "## Per-example audit", "", audit.intro, "", audit.verdict, "",
                  audit.ranking, "", *markdown_table(audit.table)]
        if audit.figure is not None:
            lines += ["", f"![per-example ε]({audit.figure})"]
    if content.other_metrics is not None:
        lines += ["", "## Other metrics", "", *markdown_table(content.other_metrics)]
    if content.definitions:
        lines += ["", "## Definitions", ""]
        lines += [f"- **{label}**: {text}" for label, text in content.definitions]
    if content.protocol:
        lines += ["", "## Protocol", ""]
        lines += [f"- **{key}**: {value}" for key, value in content.protocol]
    if content.plots:
        lines += ["", "## Plots", ""]
        for title, filename in content.plots:
            lines += [f"![{title}]({filename})", ""]
        lines.pop()
    if content.downloads:
        lines += ["", "## Files", "", " · ".join(f"[{n}]({n})" for n in content.downloads)]
    lines += ["", "## Hyperparameters", "", *markdown_table(content.hyperparameters)]
    lines += ["", "## Configuration", ""]
    lines += [f"- **{key}**: {value}" for key, value in content.configuration]
    lines += ["", "## Failed cells", ""]
    # User strings (names, options, paths) must not become live HTML where Markdown is shown;
    # the error texts below sit in code fences, where nothing is interpreted.
    lines = [escape_html(line) for line in lines]
    if not content.failed:
        lines.append("None.")
    for label, error in content.failed:
        fence = "`" * max(3, _longest_backtick_run(error) + 1)
        lines += [f"- {escape_html(label)}:", "", f"  {fence}"]
        lines += [f"  {line}" for line in error.splitlines()]
        lines += [f"  {fence}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def escape_html(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities, so that user text cannot become live HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest
