"""The tuning report's HTML page (templates/tuning.html.j2): what it shows, escaped, built from
a hand-made outcome (no training)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from ftunlearn.methods.base import METHODS
from ftunlearn.tuning.figures import IMPORTANCE_MIN_TRIALS
from ftunlearn.tuning.outcome import MethodStudy, TuneOutcome, TuneSettings
from ftunlearn.tuning.outputs import report_html, report_markdown

LR = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
REASON = "<script>alert('x')</script> & loss is nan"
PNG = b"\x89PNG not really"


def _trial(number: int, state: TrialState, value: float | None = None,
           **attrs: object) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(state=state, value=value, params={"lr": 0.01 * (number + 1)},
                                      distributions={"lr": LR}, user_attrs=attrs)
    trial.number = number
    return trial


def _outcome(tiny_config, tmp_path: Path) -> TuneOutcome:
    trials = (_trial(0, TrialState.COMPLETE, 3.5, per_seed={"100": 3.0, "101": 4.0}),
              _trial(1, TrialState.FAIL, reason=REASON),
              _trial(2, TrialState.COMPLETE, 2.25, per_seed={"100": 2.0, "101": 2.5}))
    study = MethodStudy("ft", "ft-0123456789ab", "minimize", METHODS.get("ft").search_space,
                        {"epochs": 1}, trials)
    config = tiny_config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})
    return TuneOutcome(config, TuneSettings(trials=3), tmp_path, (study,))


def test_the_page_shows_the_overview_summary_and_each_method_escaped(tiny_config, tmp_path):
    outcome = _outcome(tiny_config, tmp_path)
    page = report_html(outcome, {"history-ft": {"png": PNG}, "importance-ft": {"png": PNG}})
    assert page.startswith("<!DOCTYPE html>") and page.count("<style>") == 1
    assert "<title>ftunlearn tuning report: digits · mlp:hidden=16,depth=1 · forget " \
           "random:0.1</title>" in page
    assert "<li>Budget: 3 trials per method (TPE, sampler seed 0, the first 5 at random).</li>" \
        in page
    assert ("<thead><tr><th>Method</th><th>Best</th><th>Complete</th><th>Pruned</th>"
            "<th>Failed</th><th>Interrupted</th><th>Tuned hyperparameters</th></tr></thead>"
            ) in page
    assert "<tr><td>ft</td><td>2.25</td><td>2</td><td>0</td><td>1</td><td>0</td>" \
           "<td>epochs=1, lr=0.03</td></tr>" in page
    assert "<h2>ft</h2>" in page
    assert ("<p>Study <code>ft-0123456789ab</code>. Best value 2.25 (trial #2; seed 100: 2, "
            "seed 101: 2.5).</p>") in page
    assert "<tr><td>lr</td><td>0.01</td><td>0.03</td><td>log-uniform [0.0001, 0.1]</td></tr>" \
        in page
    assert "<tr><td>epochs</td><td>1</td><td>1</td><td>fixed by the config</td></tr>" in page
    # the failure's reason is text, never markup
    assert "<script>" not in page
    assert ("<li>trial #1 (fail): &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; loss "
            "is nan</li>") in page
    assert page.count('src="data:image/png;base64,iVBORyBub3QgcmVhbGx5"') == 2
    assert '<img alt="ft: optimisation history"' in page
    assert "<figcaption>parameter importances</figcaption>" in page
    caveat = f"from 2 complete trials only (fewer than {IMPORTANCE_MIN_TRIALS})"
    assert f"<strong>Parameter importances {caveat}: a rough guide, not a ranking.</strong>" \
        in page


def test_without_figures_the_page_has_no_images_and_no_caveat(tiny_config, tmp_path):
    outcome = _outcome(tiny_config, tmp_path)
    page = report_html(outcome, {})
    assert "<img" not in page and "Parameter importances" not in page
    # the markdown report says the same of the method
    assert "Best value 2.25 (trial #2; seed 100: 2, seed 101: 2.5)." in \
        report_markdown(outcome, {})
