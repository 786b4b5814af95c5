"""The per-example audit against an oracle ensemble (``ftunlearn audit``; docs/protocol.md).

For j = 0..K−1: a golden θ_g(j) on D_r with seed j, an original θ_o(j) on D with seed
UNLEARNED_SEED_OFFSET + j and, per method, θ_u(j) = method(θ_o(j)) with that same seed (mode
``one-original``: one original, seed UNLEARNED_SEED_OFFSET + ``seed``, and the K unlearning
seeds). Held-out goldens with seeds K..2K−1 are scored as if they were unlearned: the null row,
the noise floor every method is read against. The unlearned ensemble's seeds are disjoint from
both golden ensembles', so no unlearned model shares an initialisation or batch order with the
golden it is compared with (``retrain`` is then an independent golden draw, like the null
row). Every pass/fail rule (``AUDIT_RULES``: F, U-LiRA AUC, KLOM P95) is read against one
permutation null, the pooled 2K goldens re-split at random into two halves of K: each row's
statistic gets a permutation p-value, and a row is distinguishable from the golden ensemble
when any of its p-values is below the Bonferroni level over every (row, rule) test. The forget
set is drawn once (split seed ``seed``). Every model goes through the checkpoint cache, so an
interrupted audit resumes with every finished model; every scored model's per-example φ is
written to ``audit_outputs.npz`` (docs/protocol.md), so the statistics can be recomputed
without the cache.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from ftunlearn.atomic import write_atomic
from ftunlearn.data import make_split
from ftunlearn.data.splits import stratified_subsample
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cache import CachedModel
from ftunlearn.experiments.catalog import is_reference
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.plots import method_style, save_figure
from ftunlearn.experiments.report import AUDIT_FIGURE, AUDIT_SECTION
from ftunlearn.experiments.workspace import Workspace
from ftunlearn.methods import make_config
from ftunlearn.methods.base import METHODS
from ftunlearn.metrics import audit as stats
from ftunlearn.training import predict

log = logging.getLogger(__name__)

NULL_ROW = "null"
MODES = ("seeds", "one-original")
NULL_ALPHA = 0.05
"""Family-wise level of the audit's verdicts: Bonferroni over every (row, rule) test."""
NULL_PERMUTATIONS = 100  # sd to ±7 % (1/√198); ~0.4 s each at K = 16, 500 examples
"""Re-splits of the pooled 2K goldens for the normal-tail rules (F, whose ε is the costly part)."""
MIN_RANK_PERMUTATIONS = 200
"""The fewest re-splits for the rank rules (more when the Bonferroni level needs them)."""
OUTPUTS_FILE = "audit_outputs.npz"


@dataclass(frozen=True)
class AuditRule:
    """One pass/fail statistic of the audit: its value key, label, which way is worse, and how
    its p-value is read from the permutation null ("rank", or "normal" for F: see
    :func:`ftunlearn.metrics.audit.normal_p_value`)."""

    key: str
    label: str
    worse: str  # "lower" or "higher"
    test: str  # "rank" or "normal"

    @property
    def p_key(self) -> str:
        return f"{self.key}_p"

    def p_value(self, observed: float, draws: np.ndarray) -> float:
        read = stats.normal_p_value if self.test == "normal" else stats.rank_p_value
        return read(observed, draws, self.worse)


AUDIT_RULES = (
    AuditRule("forget_score", "F", "lower", "normal"),
    AuditRule("ulira_auc", "U-LiRA AUC", "higher", "rank"),
    AuditRule("klom_p95_forget", "KLOM P95 forget", "higher", "rank"),
)
"""Every statistic a row passes or fails on, each against the permutation null. KLOM P95's and
U-LiRA's nulls are skewed and cheap, so they get rank p-values from enough re-splits; F's ε is
costly and F is a mean over examples, so its p-value is the normal tail of 100 re-splits."""

CSV_COLUMNS = (
    "method", "K", "n_examples", "forget_score", "final_score", "eps_resolution", "ulira_auc",
    "ulira_acc", "ulira_tpr_at_1fpr", "ulira_tpr_at_5fpr", "ulira_pooled_auc",
    "klom_p95_forget", "klom_p95_retain", "klom_p95_test",
    *(rule.p_key for rule in AUDIT_RULES), "distinguishable",
)
NULL_KEYS = (*(f"{rule.key}_null_{part}" for rule in AUDIT_RULES
               for part in ("mean", "sd", "draws")), "p_level")
"""The permutation null's summary on the null row (in ``values`` and audit_section.json)."""
ULIRA_SPLITS = 10
UNLEARNED_SEED_OFFSET = 10_000
"""Seed j of the unlearned ensemble (its original and the method) is this + j: fixed, not a
function of K, so a larger audit reuses every model of a smaller one from the cache."""


@dataclass(frozen=True)
class AuditRow:
    """One method's (or the null row's) audit numbers and its per-example values."""

    values: dict[str, Any]
    epsilon: np.ndarray
    points: np.ndarray
    llr: np.ndarray
    klom_forget: np.ndarray


@dataclass(frozen=True)
class AuditOutcome:
    rows: dict[str, AuditRow]
    examples: np.ndarray
    null_passed: bool
    verdict: str
    out_dir: Path


def audit_examples(forget: np.ndarray, labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """All of D_f up to ``cap``, else a seeded subsample stratified by label (sorted indices)."""
    if cap < 1:
        raise UnlearnError(f"--examples must be >= 1, got {cap}")
    return np.sort(forget[stratified_subsample(labels, cap, seed)])


class _Ensembles:
    """Trains (or reads from the cache) the audit's models."""

    def __init__(self, config: BenchConfig, cache_dir: str | Path, seed: int, progress: bool):
        self.workspace = Workspace(config, cache_dir, progress=progress)
        self.config = config
        self.data = self.workspace.dataset
        self.split = make_split(self.data, config.forget, seed=seed)

    def _many(self, role: str, seeds: Sequence[int]) -> list[CachedModel]:
        """Originals (role ``original``) or goldens, vectorised for the cache misses."""
        ws, split = self.workspace, (None if role == "original" else self.split)
        parts = {s: ws._key(s, role, split) for s in seeds}
        found = {s: ws.cache.load(parts[s], lambda s=s: ws._build(s)) for s in seeds}
        missing = [s for s in seeds if found[s] is None]
        if missing:
            rows = None if split is None else split.retain
            x, y = self.data.x_train, self.data.y_train
            if rows is not None:
                x, y = x[rows], y[rows]
            try:
                from ftunlearn.ensemble import train_ensemble
            except ImportError:  # the vectorised trainer is optional
                train_ensemble = None
            if train_ensemble is not None:
                import time

                started = time.perf_counter()
                models = train_ensemble(ws._build, x, y, self.config.recipe, missing,
                                        device="cpu", progress=ws.progress)
                seconds = (time.perf_counter() - started) / len(missing)
                for s, model in zip(missing, models, strict=True):
                    key = ws.cache.store(parts[s], model, seconds)
                    found[s] = CachedModel(model, seconds, False, key)
            else:
                for s in missing:
                    found[s] = ws.cache.get_or_train(
                        parts[s], lambda s=s: ws._build(s),
                        ws._train_on(rows, s, f"{role} seed {s}"))
        return [found[s] for s in seeds]

    def originals(self, seeds: Sequence[int]) -> list[CachedModel]:
        return self._many("original", seeds)

    def goldens(self, seeds: Sequence[int]) -> list[CachedModel]:
        return self._many("golden", seeds)

    def unlearned(self, method: str, originals: Sequence[CachedModel], seeds: Sequence[int]
                  ) -> list[nn.Module]:
        from ftunlearn.methods import unlearn

        hyper = make_config(method, self.config.hyperparameters.get(method, {})).to_dict()
        version = METHODS.get(method).version
        data, split, ws = self.data, self.split, self.workspace
        retain = (data.x_train[split.retain], data.y_train[split.retain])
        forget = (data.x_train[split.forget], data.y_train[split.forget])
        models = []
        for original, s in zip(originals, seeds, strict=True):
            parts = {"role": "unlearned", "method": method, "version": version,
                     "hyperparameters": hyper, "original": original.key,
                     "split": {"spec": split.spec, "fingerprint": split.fingerprint},
                     "recipe": self.config.recipe.to_dict(), "seed": s}

            def train(model: nn.Module, original: CachedModel = original, s: int = s) -> None:
                result = unlearn(original.model, retain, forget, method, seed=s, device="cpu",
                                 recipe=self.config.recipe, num_classes=data.num_classes,
                                 n_test=data.n_test, **hyper)
                model.load_state_dict(result.model.state_dict())

            models.append(ws.cache.get_or_train(parts, lambda s=s: ws._build(s), train).model)
        return models


@dataclass(frozen=True)
class _Outputs:
    """φ on the audited forget, retain and test examples, and RA/TA, of one ensemble."""

    forget: np.ndarray
    retain: np.ndarray
    test: np.ndarray
    ra: float
    ta: float


def _outputs(models: Sequence[nn.Module], ens: _Ensembles, rows: dict[str, np.ndarray]
             ) -> _Outputs:
    data, split = ens.data, ens.split
    kept = torch.ones(data.n_test, dtype=torch.bool)
    if split.forgotten_classes:  # class-wise forgetting: TA on the kept classes only
        kept = ~torch.isin(data.y_test, torch.tensor(split.forgotten_classes))
    phis: dict[str, list[np.ndarray]] = {"forget": [], "retain": [], "test": []}
    ras, tas = [], []
    for model in models:
        train_logits = predict(model, data.x_train, device="cpu").logits
        test_logits = predict(model, data.x_test, device="cpu").logits
        for name, (logits, labels) in {
            "forget": (train_logits, data.y_train), "retain": (train_logits, data.y_train),
            "test": (test_logits, data.y_test),
        }.items():
            index = torch.as_tensor(rows[name])
            phis[name].append(stats.logit_confidence(logits[index].numpy(),
                                                     labels[index].numpy()))
        retain = split.retain
        ras.append(100.0 * float((train_logits[retain].argmax(1) == data.y_train[retain])
                                 .float().mean()))
        tas.append(100.0 * float((test_logits[kept].argmax(1) == data.y_test[kept])
                                 .float().mean()))
    return _Outputs(np.stack(phis["forget"]), np.stack(phis["retain"]), np.stack(phis["test"]),
                    float(np.mean(ras)), float(np.mean(tas)))


def _statistics(k: int, u: np.ndarray, g: np.ndarray, seed: int
                ) -> tuple[dict[str, float], np.ndarray, stats.UliraResult, stats.KlomResult]:
    """The rules' statistics of forget-set φ ``u`` against ``g``, with ε and the details."""
    eps = stats.epsilon(u, g)
    lira = stats.ulira(u, g, splits=ULIRA_SPLITS, seed=seed)
    kl = stats.klom(u, g)
    values = {"forget_score": stats.forget_score(eps, k), "ulira_auc": lira.auc,
              "klom_p95_forget": kl.p95}
    return values, eps, lira, kl


def _statistic(key: str, k: int, u: np.ndarray, g: np.ndarray, seed: int, memo: dict
               ) -> float:
    """One rule's statistic of forget-set φ ``u`` against ``g`` (what the null re-computes;
    ``memo``: ``stats.epsilon``'s, kept across the re-splits of one pool)."""
    if key == "forget_score":
        return stats.forget_score(stats.epsilon(u, g, memo=memo), k)
    if key == "ulira_auc":
        return stats.ulira_auc(u, g, splits=ULIRA_SPLITS, seed=seed)
    return stats.klom(u, g).p95


def _score(name: str, k: int, u: _Outputs, g: _Outputs, seed: int) -> AuditRow:
    ruled, eps, lira, kl_forget = _statistics(k, u.forget, g.forget, seed)
    f = ruled["forget_score"]
    values = {
        "method": name, "K": k, "n_examples": int(eps.size), **ruled,
        "final_score": stats.final_score(f, u.ra, g.ra, u.ta, g.ta),
        "eps_resolution": stats.eps_resolution(k),
        "ulira_acc": lira.acc, "ulira_tpr_at_1fpr": lira.tpr_at_1fpr,
        "ulira_tpr_at_5fpr": lira.tpr_at_5fpr, "ulira_pooled_auc": lira.pooled_auc,
        "klom_p95_retain": stats.klom(u.retain, g.retain).p95,
        "klom_p95_test": stats.klom(u.test, g.test).p95,
        "ulira_auc_std": lira.auc_std, "ulira_acc_std": lira.acc_std,
        "ulira_pooled_auc_std": lira.pooled_auc_std, "ra": u.ra, "ta": u.ta,
    }
    return AuditRow(values, eps, stats.bucket_points(eps, k), lira.llr, kl_forget.per_example)


def rank_permutations(tests: int) -> int:
    """Re-splits enough that the smallest rank p-value, 1/(P + 1), is at most half the
    Bonferroni level NULL_ALPHA / tests (and never fewer than MIN_RANK_PERMUTATIONS)."""
    if tests < 1:
        raise UnlearnError(f"the audit needs at least one test, got {tests}")
    return max(MIN_RANK_PERMUTATIONS, math.ceil(2 * tests / NULL_ALPHA))


def _permutation_null(golden: _Outputs, held_out: _Outputs, k: int, tests: int, seed: int
                      ) -> dict[str, np.ndarray]:
    """Each rule's statistic for a perfect method: re-splits of the pooled 2K goldens (the
    same draws, seeded by ``seed``; the rank rules' run on where the normal ones stop)."""
    started = time.perf_counter()
    pool = np.concatenate([golden.forget, held_out.forget])
    draws: dict[str, np.ndarray] = {}
    memo: dict = {}
    for test, count in (("normal", NULL_PERMUTATIONS), ("rank", rank_permutations(tests))):
        rules = [rule for rule in AUDIT_RULES if rule.test == test]

        def score(candidate: np.ndarray, reference: np.ndarray, rules=rules
                  ) -> dict[str, float]:
            return {rule.key: _statistic(rule.key, k, candidate, reference, seed, memo)
                    for rule in rules}

        draws.update(stats.permutation_null(pool, k, count, seed, score))
    log.info("audit: permutation null in %.1f s", time.perf_counter() - started)
    return draws


def apply_null(rows: dict[str, AuditRow], draws: dict[str, np.ndarray]) -> float:
    """Write every row's p-value per rule and its ``distinguishable`` flag, and the null's
    summary on the null row; returns the Bonferroni level the p-values are read at."""
    level = NULL_ALPHA / (len(rows) * len(AUDIT_RULES))
    for row in rows.values():
        for rule in AUDIT_RULES:
            row.values[rule.p_key] = rule.p_value(row.values[rule.key], draws[rule.key])
        row.values["distinguishable"] = any(row.values[rule.p_key] < level
                                            for rule in AUDIT_RULES)
    null = rows[NULL_ROW].values
    for rule in AUDIT_RULES:
        finite = draws[rule.key][np.isfinite(draws[rule.key])]
        null[f"{rule.key}_null_mean"] = float(finite.mean())
        null[f"{rule.key}_null_sd"] = float(finite.std(ddof=1))
        null[f"{rule.key}_null_draws"] = int(draws[rule.key].size)
    null["p_level"] = level
    return level


def null_verdict(rows: dict[str, AuditRow]) -> tuple[bool, str]:
    """Whether the audit is calibrated, and the sentence that says so (or why not).

    The null row (held-out goldens) and the reference rows (``retrain``: an independent
    golden draw) are perfect methods: if any of them is distinguishable at the Bonferroni
    level, the permutation null does not describe this K and the audit is unreliable.
    """
    null = rows[NULL_ROW].values
    level = null["p_level"]
    spread = "; ".join(
        f"{rule.label} {null[f'{rule.key}_null_mean']:.3f} ± {null[f'{rule.key}_null_sd']:.3f}"
        f" ({null[f'{rule.key}_null_draws']} re-splits, {rule.test} p-values)"
        for rule in AUDIT_RULES)
    perfect = [name for name in rows if name == NULL_ROW or is_reference(name)]
    failed = [name for name in perfect if rows[name].values["distinguishable"]]
    if failed:
        who = " and ".join(
            f"{name} (" + ", ".join(f"{rule.label} p = {rows[name].values[rule.p_key]:.4f}"
                                    for rule in AUDIT_RULES) + ")" for name in failed)
        return False, (f"The null row failed: {who} {'is' if len(failed) == 1 else 'are'} "
                       f"distinguishable from the golden ensemble at the Bonferroni level "
                       f"{level:.2g}, though perfect by construction: the audit is unreliable "
                       "at this K.")
    return True, (f"The null row passed: no perfect row ({', '.join(perfect)}) is "
                  f"distinguishable at the Bonferroni level {level:.2g} ({NULL_ALPHA:g} over "
                  f"{len(rows)} rows × {len(AUDIT_RULES)} rules). A perfect method at this K, "
                  f"mean ± sd over re-splits of the 2K golden models, scores {spread}.")


@dataclass(frozen=True)
class ScoredOutputs:
    """One ensemble's φ as scored: the row it belongs to, its role and its models' seeds."""

    method: str
    role: str  # golden, held-out or unlearned
    seeds: list[int]
    outputs: _Outputs


def write_scored_outputs(path: Path, scored: Sequence[ScoredOutputs],
                         rows_of: dict[str, np.ndarray]) -> None:
    """``audit_outputs.npz``: every scored model's per-example φ, one row per model, with its
    method, role and seed, and the training/test indices of the audited examples."""
    def stack(part: str) -> np.ndarray:
        return np.concatenate([getattr(s.outputs, part) for s in scored]).astype(np.float64)

    def per_model(pick) -> np.ndarray:
        return np.array([value for s in scored for value in pick(s)])

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, phi_forget=stack("forget"), phi_retain=stack("retain"), phi_test=stack("test"),
        method=per_model(lambda s: [s.method] * len(s.seeds)).astype(str),
        role=per_model(lambda s: [s.role] * len(s.seeds)).astype(str),
        seed=per_model(lambda s: s.seeds).astype(np.int64),
        forget_index=rows_of["forget"].astype(np.int64),
        retain_index=rows_of["retain"].astype(np.int64),
        test_index=rows_of["test"].astype(np.int64),
    )
    write_atomic(path, buffer.getvalue())


def run_audit(
    config: BenchConfig, out_dir: str | Path, k: int, *, mode: str = "seeds",
    examples: int = 500, seed: int = 0, cache_dir: str | Path | None = None,
    progress: bool = False,
) -> AuditOutcome:
    """Build the ensembles, score every method and the null row, and write the outputs."""
    from ftunlearn.experiments.cache import default_cache_dir

    if mode not in MODES:
        raise UnlearnError(f"unknown audit mode {mode!r}; use one of {', '.join(MODES)}")
    stats.eps_resolution(k)
    if k < 4:
        raise UnlearnError(f"U-LiRA needs --ensemble K >= 4, got {k}")
    if 2 * k > UNLEARNED_SEED_OFFSET:
        raise UnlearnError(f"--ensemble K must be at most {UNLEARNED_SEED_OFFSET // 2}, got {k}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ens = _Ensembles(config, cache_dir or default_cache_dir(), seed, progress)
    data, split = ens.data, ens.split
    forget_rows = audit_examples(split.forget.numpy(), data.y_train[split.forget].numpy(),
                                 examples, seed)
    rng = np.random.default_rng(seed)
    n_side = forget_rows.size
    rows_of = {
        "forget": forget_rows,
        "retain": np.sort(rng.choice(split.retain.numpy(), min(n_side, split.n_retain),
                                     replace=False)),
        "test": np.sort(rng.choice(data.n_test, min(n_side, data.n_test), replace=False)),
    }
    seeds = list(range(k))
    both = [m.model for m in ens.goldens(list(range(2 * k)))]  # one vectorised pass, not two
    golden, held_out = _outputs(both[:k], ens, rows_of), _outputs(both[k:], ens, rows_of)
    scored = [ScoredOutputs("golden", "golden", seeds, golden),
              ScoredOutputs(NULL_ROW, "held-out", list(range(k, 2 * k)), held_out)]
    rows = {NULL_ROW: _score(NULL_ROW, k, held_out, golden, seed)}
    own = [UNLEARNED_SEED_OFFSET + j for j in seeds]
    originals = (ens.originals(own) if mode == "seeds"
                 else ens.originals([UNLEARNED_SEED_OFFSET + seed]) * k)
    for method in config.methods:
        log.info("audit: %s x %d", method, k)
        models = ens.unlearned(method, originals, own)
        outputs = _outputs(models, ens, rows_of)
        scored.append(ScoredOutputs(method, "unlearned", own, outputs))
        rows[method] = _score(method, k, outputs, golden, seed)
    apply_null(rows, _permutation_null(golden, held_out, k, len(rows) * len(AUDIT_RULES), seed))
    passed, verdict = null_verdict(rows)
    outcome = AuditOutcome(rows, forget_rows, passed, verdict, out)
    write_scored_outputs(out / OUTPUTS_FILE, scored, rows_of)
    _write_outputs(outcome, config, mode)
    return outcome


def _write_outputs(outcome: AuditOutcome, config: BenchConfig, mode: str) -> None:
    out = outcome.out_dir
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in outcome.rows.values():
        writer.writerow(row.values)
    (out / "audit.csv").write_text(buffer.getvalue())
    np.save(out / "audit_examples.npy", outcome.examples)
    with sqlite3.connect(out / "results.sqlite") as db:
        db.execute("CREATE TABLE IF NOT EXISTS audit_examples (method TEXT NOT NULL, "
                   "example_index INTEGER NOT NULL, epsilon REAL, points REAL, ulira_llr REAL, "
                   "klom REAL, PRIMARY KEY (method, example_index))")
        for name, row in outcome.rows.items():
            db.execute("DELETE FROM audit_examples WHERE method = ?", (name,))
            db.executemany("INSERT INTO audit_examples VALUES (?, ?, ?, ?, ?, ?)", [
                (name, int(i), float(e), float(p), float(llr), float(kl))
                for i, e, p, llr, kl in zip(outcome.examples, row.epsilon, row.points, row.llr,
                                            row.klom_forget, strict=True)])
    png = _figure(outcome, out, f"{config.dataset} · {config.model} · forget {config.forget}")
    _write_report(outcome, config, mode, png)


def _figure(outcome: AuditOutcome, out: Path, run: str) -> bytes:
    names = list(outcome.rows)
    figure = Figure(figsize=(max(6.0, 1.0 + 0.9 * len(names)), 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    data = [outcome.rows[n].epsilon for n in names]
    axes.violinplot(data, showmedians=True)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        # the report's colour per method, so a method looks the same in every figure
        colour = "tab:grey" if names[i - 1] == NULL_ROW else method_style(names[i - 1])["color"]
        axes.scatter(i + rng.uniform(-0.15, 0.15, values.size), values, s=4, alpha=0.4,
                     color=colour)
    null_median = float(np.median(outcome.rows[NULL_ROW].epsilon))
    axes.axhline(null_median, color="tab:red", linestyle="--",
                 label=f"null row median ε = {null_median:.2f} (noise floor)")
    k = int(outcome.rows[NULL_ROW].values["K"])
    axes.axhline(stats.eps_resolution(k), color="black", linestyle=":",
                 label=f"resolution limit ceil(ln(K−1)) = {stats.eps_resolution(k)}")
    axes.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
    axes.set_yscale("symlog", linthresh=1.0)  # the cap (50) would squash the noise floor
    axes.set_ylim(0.0, stats.EPS_CAP * 1.15)  # ε lives in [0, cap]
    axes.set_ylabel(f"ε per forget example (capped at {stats.EPS_CAP:g}; symlog)")
    axes.set_title(f"{run}\nper-example ε, K = {k}, {outcome.examples.size} forget examples")
    axes.legend(fontsize=8)
    figure.tight_layout()
    files = save_figure(figure)  # the report's formats: 200-dpi PNG, SVG and PDF
    for fmt, data_bytes in files.items():
        (out / Path(AUDIT_FIGURE).with_suffix(f".{fmt}")).write_bytes(data_bytes)
    return files["png"]


def audit_title(outcome: AuditOutcome) -> str:
    null = outcome.rows[NULL_ROW].values
    return (f"ftunlearn audit: K = {null['K']}, {outcome.examples.size} forget examples, "
            f"resolution limit {null['eps_resolution']}")


def _p_values(values: dict[str, Any]) -> str:
    return " / ".join(f"{values[rule.p_key]:.3g}" for rule in AUDIT_RULES)


def table_cells(outcome: AuditOutcome) -> tuple[list[str], list[list[str]]]:
    """The audit table's header and formatted rows (audit.md, audit.html, the terminal)."""
    header = ["method", "F", "final", "U-LiRA AUC", "U-LiRA acc", "TPR@1%FPR", "TPR@5%FPR",
              "pooled LiRA AUC", "KLOM P95 forget", "KLOM P95 retain", "KLOM P95 test",
              "p (" + " / ".join(rule.label for rule in AUDIT_RULES) + ")", "verdict"]
    body = []
    for name, row in outcome.rows.items():
        v = row.values
        body.append([name, f"{v['forget_score']:.3f}", f"{v['final_score']:.3f}",
                     f"{v['ulira_auc']:.3f} ± {v['ulira_auc_std']:.3f}",
                     f"{v['ulira_acc']:.3f} ± {v['ulira_acc_std']:.3f}",
                     f"{v['ulira_tpr_at_1fpr']:.3f}", f"{v['ulira_tpr_at_5fpr']:.3f}",
                     f"{v['ulira_pooled_auc']:.2f}",
                     f"{v['klom_p95_forget']:.2f}", f"{v['klom_p95_retain']:.2f}",
                     f"{v['klom_p95_test']:.2f}", _p_values(v),
                     "distinguishable" if v["distinguishable"] else "indistinguishable"])
    return header, body


def _ranking(outcome: AuditOutcome) -> str:
    if not outcome.null_passed:
        return "unreliable at this K: methods are not ranked."
    ranked = sorted((n for n in outcome.rows if n != NULL_ROW and not is_reference(n)),
                    key=lambda n: -outcome.rows[n].values["forget_score"])
    text = "Ranking by F (higher is closer to the golden ensemble): " + ", ".join(ranked) + "."
    passing = [n for n in ranked if not outcome.rows[n].values["distinguishable"]]
    text += (" Indistinguishable from the golden ensemble by every rule: "
             + (", ".join(passing) if passing else "none") + ".")
    references = [n for n in outcome.rows if is_reference(n)]
    if references:  # retrain is the golden procedure: a check of the audit, not a candidate
        text += (" Not ranked (reference, expected to score like the null row): "
                 f"{', '.join(references)}.")
    return text


def _write_report(outcome: AuditOutcome, config: BenchConfig, mode: str, png: bytes) -> None:
    null = outcome.rows[NULL_ROW].values
    k = null["K"]
    intro = (f"{config.dataset} / {config.model} / forget {config.forget}; K = {k} models per "
             f"ensemble (mode {mode}), {outcome.examples.size} forget examples. Resolution "
             f"limit ceil(ln(K−1)) = {null['eps_resolution']}. The null row scores held-out "
             f"goldens (seeds {k}..{2 * k - 1}) as if unlearned, against the goldens of seeds "
             f"0..{k - 1}; {'originals and ' if mode == 'seeds' else ''}methods use seeds "
             f"{UNLEARNED_SEED_OFFSET}..{UNLEARNED_SEED_OFFSET + k - 1}. U-LiRA is the per-example "
             f"test (one decision per model and example), the mean over {ULIRA_SPLITS} "
             "shadow/target splits (± their std), balanced accuracy at LLR threshold 0; the "
             "pooled LiRA AUC decides once per model from its mean LLR. Each rule's p-value "
             "is read against re-splits of the 2K goldens (see the verdict), at the Bonferroni "
             f"level {null['p_level']:.2g}; every scored model's φ is in {OUTPUTS_FILE}.")
    header, body = table_cells(outcome)
    section = {"intro": intro, "verdict": outcome.verdict, "ranking": _ranking(outcome),
               "header": header, "rows": body, "figure": AUDIT_FIGURE,
               "null": {key: null[key] for key in NULL_KEYS}}
    write_atomic(outcome.out_dir / AUDIT_SECTION, json.dumps(section, indent=1).encode())
    md = ["# Per-example audit", "", intro, "", outcome.verdict, "", _ranking(outcome), "",
          "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in body]
    md += ["", f"![per-example ε]({AUDIT_FIGURE})", ""]
    (outcome.out_dir / "audit.md").write_text("\n".join(md))
    from ftunlearn.experiments.html import render_audit_page

    page = render_audit_page(intro, outcome.verdict, _ranking(outcome), header, body, png)
    (outcome.out_dir / "audit.html").write_text(page)
