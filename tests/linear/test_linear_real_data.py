"""The real-feature experiment on the embedded digits, loaded through ``ftunlearn.data``."""

from __future__ import annotations

import dataclasses

import pytest

from ftunlearn.linear.experiments import EXPERIMENTS, run_experiment, summarise


def test_digits_fine_tuning_keeps_the_forgotten_class_and_golden_does_not() -> None:
    experiment = dataclasses.replace(EXPERIMENTS["digits"], trials=1)
    rows = run_experiment(experiment)
    summary = {entry["model"]: entry for entry in summarise(rows)}
    assert rows[0]["dataset"] == "digits" and rows[0]["d"] == 500
    assert summary["ft"]["UL_mean"] < 1e-12 and summary["ft"]["RL_mean"] < 1e-12
    assert summary["golden"]["UL_mean"] > 0.1
    assert summary["ft"]["gap_mean"] == pytest.approx(summary["pretrained"]["gap_mean"], rel=1e-8)
    for model in ("mask_a", "mask_b", "mask_data", "dr"):
        assert summary[model]["RL_mean"] < 1e-12  # every fine-tuning interpolates D_r
