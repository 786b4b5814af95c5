"""The quick preset shows the paper's point (class-wise forgetting, where plain fine-tuning keeps
the forgotten class), and bench ends with a reading whose numbers come from the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report_outputs import make_cell

from ftunlearn.cli import main
from ftunlearn.experiments.config import all_methods
from ftunlearn.experiments.presets import preset
from ftunlearn.experiments.reading import reading_lines
from ftunlearn.experiments.report import summarize


def test_the_quick_preset_forgets_a_class_of_digits_with_every_method() -> None:
    [(sub, config)] = preset("quick")
    assert sub == "" and (config.dataset, config.model, config.forget) == (
        "digits", "mlp", "class:3")
    assert config.methods == all_methods() and config.seeds == (0, 1, 2)


def _run(accuracy: dict[str, list[float]], golden: list[float]):
    """Cells whose forget accuracy (100 − UA) per seed is given; Avg Gap is its distance."""
    cells = [make_cell("golden", s, UA=100 - a, avg_gap=0.0) for s, a in enumerate(golden)]
    for method, values in accuracy.items():
        cells += [make_cell(method, s, UA=100 - a, avg_gap=abs(a - golden[s]) / 4)
                  for s, a in enumerate(values)]
    return summarize(cells)


def test_the_reading_says_what_the_numbers_say() -> None:
    summary = _run({"original": [100, 100, 100], "ft": [97, 96, 98], "rl": [0, 0, 0],
                    "dr-ft": [0, 1, 2], "rbm": [0, 50, 100], "ga": [100, 99, 100]},
                   golden=[0, 0, 0])
    lines = reading_lines(summary)
    assert lines == [
        "ft keeps 97 % accuracy on the forgotten data (golden: 0 %, original: 100 %): "
        "fine-tuning alone does not forget",
        "forget like the golden model: rl (Avg Gap 0.00), dr-ft (0.25); ft's is 24.25",
        "forget part of it, or on some seeds only (accuracy on the forgotten data, mean ± 95 % "
        "half-width): rbm 50 ± 124 %",
        "do not forget, like ft: ga",
    ]


def test_the_reading_of_a_split_where_forgetting_does_not_show() -> None:
    summary = _run({"original": [100, 100], "ft": [100, 100]}, golden=[97, 96])
    [line] = reading_lines(summary)
    assert line.startswith("the golden model gets 96 % of the forgotten data right, the "
                           "original 100 %: forgetting barely shows in UA")
    assert reading_lines(_run({"original": [100]}, golden=[0])) == []  # no ft: nothing to say


@pytest.mark.slow
@pytest.mark.usefixtures("no_report_plots")  # the reading comes from the summary
def test_bench_quick_prints_the_reading(tmp_path: Path, capsys) -> None:
    # the quick preset cut to two methods and one seed: ft keeps the class, rl forgets it
    argv = ["bench", "--preset", "quick", "--methods", "ft,rl", "--seeds", "1", "--out",
            str(tmp_path / "q"), "--cache-dir", str(tmp_path / "cache"), "--threads", "1",
            "--no-progress"]
    assert main(argv) == 0
    readings = [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("reading: ")]
    assert readings[0].startswith("reading: ft keeps ")
    assert readings[0].endswith("fine-tuning alone does not forget")
    assert readings[1].startswith("reading: forget like the golden model: rl (Avg Gap ")
