"""The report's verdict aids: seeds to resolve a tie, the paired section's heading, and the
"did nothing" and "diverged" flags, on hand-made cells."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from ftunlearn.experiments.html import render_html
from ftunlearn.experiments.intervals import paired_difference, seeds_to_resolve
from ftunlearn.experiments.report import (
    _metric_table,
    _paired_table,
    main_metrics,
    markdown_table,
    render_markdown,
    report_content,
    summarize,
    verdict_notes,
)
from ftunlearn.experiments.store import CellResult
from ftunlearn.metrics.definitions import DIVERGED_LOGIT


def _cell(method: str, seed: int, **metrics: float) -> CellResult:
    return CellResult(
        cell_key=f"{method}-{seed}", method=method, seed=seed, status="ok", error=None,
        config={"dataset": "digits", "model": "mlp", "forget": "class:3"}, hyperparameters={},
        metrics={"UA": 50.0, "RA": 90.0, "TA": 90.0, "MIA": 50.0, "avg_gap": 1.0,
                 "forget_loss_gap": 0.5, "forget_CE": 1.0, "max_logit": 20.0, **metrics},
        unlearn_seconds=1.0, eval_seconds=0.5, started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:30+00:00", versions={"torch": "2.13.0"}, git_commit=None)


def _three_methods() -> list[CellResult]:
    cells = [_cell("ft", s, avg_gap=g) for s, g in enumerate((5.0, 6.0, 7.0))]
    cells += [_cell("rbm", s, avg_gap=g) for s, g in enumerate((1.0, 1.5, 1.2))]
    cells += [_cell("salun", s, avg_gap=g) for s, g in enumerate((2.0, 2.4, 2.1))]
    return cells


@pytest.mark.parametrize(("effect", "spread", "expected"), [
    (1.0, 1.0, 10),  # the textbook paired t-test: d = 1, 80 % power, 5 % two-sided
    (0.5, 1.0, 34),
    (-0.3, 1.0, 90),
    (2.0, 1.0, 5),
])
def test_seeds_to_resolve_is_the_paired_t_tests_sample_size(effect, spread, expected):
    n = seeds_to_resolve(effect, spread)
    assert n == expected

    def power(m: int) -> float:
        critical = stats.t.ppf(0.975, m - 1)
        shift = abs(effect) * math.sqrt(m) / spread
        return stats.nct.sf(critical, m - 1, shift) + stats.nct.cdf(-critical, m - 1, shift)

    assert power(n) >= 0.8 > power(n - 1)


def test_seeds_to_resolve_without_an_effect_or_beyond_reach():
    assert seeds_to_resolve(0.0, 1.0) is None
    assert seeds_to_resolve(0.01, 1.0) is None  # needs ~78 000 seeds
    assert seeds_to_resolve(1.0, 0.0) == 2
    assert seeds_to_resolve(float("nan"), 1.0) is None


def test_a_tie_says_how_many_seeds_would_resolve_it():
    # differences 0, -2, -1 (mean -1, sd 1): a tie on 3 seeds that 10 would resolve
    tie = paired_difference("rbm", {0: 1.0, 1: 1.0, 2: 1.0}, "ft", {0: 1.0, 1: 3.0, 2: 2.0})
    assert tie is not None and tie.verdict == "no clear difference"
    assert tie.spread == pytest.approx(1.0) and tie.seeds_needed == 10
    clear = paired_difference("rl", {0: 1.0, 1: 1.1, 2: 0.9}, "ft", {0: 3.0, 1: 3.0, 2: 3.0})
    assert clear is not None and clear.seeds_needed is None  # no tie, nothing to resolve
    cells = [_cell("ft", s, avg_gap=g) for s, g in enumerate((1.0, 3.0, 2.0))]
    cells += [_cell("rbm", s, avg_gap=1.0) for s in range(3)]
    table = _paired_table(summarize(cells))
    assert table is not None
    assert table.rows[0][-1] == "no clear difference (≈ 10 seeds to resolve at 80% power)"


def test_bit_identical_outputs_are_flagged_as_did_nothing():
    cells = [_cell("ft", s, weights_changed=1234.0) for s in range(2)]
    cells += [_cell("ssd", 0, weights_changed=0.0), _cell("ssd", 1, weights_changed=5.0)]
    cells += [_cell("original", s) for s in range(2)]
    summary = summarize(cells)
    assert dict(summary.did_nothing) == {"ssd": (0,)}
    notes = verdict_notes(summary)
    assert ("ssd did nothing: its output was bit-identical to the original on seed 0 (0 weights "
            "changed), so its row is the original's.") in notes


def test_diverged_models_are_flagged_and_their_losses_marked():
    cells = [_cell("ft", s) for s in range(2)]
    cells += [_cell("neggrad+", 0, max_logit=2 * DIVERGED_LOGIT, forget_loss_gap=1e6),
              _cell("neggrad+", 1, forget_CE=80.0), _cell("scrub", 0, max_logit=999.0)]
    summary = summarize(cells)
    assert dict(summary.diverged) == {"neggrad+": (0, 1)}  # scrub's 999 is under the bound
    assert any(note.startswith("neggrad+ diverged on seeds 0, 1 (a logit above 1000 or a "
                               "forget CE above 50 nats)") for note in verdict_notes(summary))
    lines = markdown_table(_metric_table(summary, main_metrics(summary)))
    neggrad = next(line for line in lines if line.startswith("| neggrad+ "))
    ft = next(line for line in lines if line.startswith("| ft "))
    assert "(diverged)" in neggrad and "(diverged)" not in ft


def test_several_paired_baselines_share_one_table_without_repeats():
    summary = summarize(_three_methods(), baselines=("ft", "salun"))
    pairs = [(p.method, p.baseline) for p in summary.paired]
    assert pairs == [("rbm", "ft"), ("salun", "ft"), ("rbm", "salun")]  # no ft-vs-salun again
    table = _paired_table(summary)
    assert table is not None and table.header[:2] == ("Method", "Baseline")
    rbm_vs_salun = table.rows[2]
    assert rbm_vs_salun[:3] == ("rbm", "salun", "3") and rbm_vs_salun[-1] == "beats salun"


@pytest.mark.parametrize(("baselines", "heading"), [
    (("ft",), "Paired comparison with plain fine-tuning"),
    (("salun",), "Paired comparison with salun"),
    (("ft", "salun"), "Paired comparisons with each baseline: ft, salun"),
    (("ft", "absent", "salun"), "Paired comparisons with each baseline: ft, salun"),
])
def test_the_paired_heading_names_its_baselines(baselines, heading):
    content = report_content(summarize(_three_methods(), baselines=baselines), ())
    assert content.paired_heading == heading
    assert f"\n## {heading}\n\n| Method |" in render_markdown(content)
    assert f"<h2>{heading}</h2>" in render_html(content, {})
    assert "plain fine-tuning" not in render_markdown(content).replace(heading, "")


def test_a_tie_shows_the_seeds_that_would_resolve_it_in_markdown_and_html():
    # rbm − ft per seed: 0, −2, −1 (mean −1, sd 1); t(0.975, 2) · 1/√3 = 2.48
    cells = [_cell("ft", s, avg_gap=g) for s, g in enumerate((1.0, 3.0, 2.0))]
    cells += [_cell("rbm", s, avg_gap=1.0) for s in range(3)]
    content = report_content(summarize(cells), ())
    resolve = "no clear difference (≈ 10 seeds to resolve at 80% power)"
    assert (f"| rbm | 3 | -1.00 | [-3.48, 1.48] | {resolve} |"
            in render_markdown(content).splitlines())
    assert f"<td>[-3.48, 1.48]</td><td>{resolve}</td></tr>" in render_html(content, {})
