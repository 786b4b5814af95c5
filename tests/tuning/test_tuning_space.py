"""Every declared search space samples only hyperparameters its method accepts, and
docs/methods.md shows each space as the code declares it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import FixedTrial

from ftunlearn.methods import make_config, method_class
from ftunlearn.methods.base import METHODS
from ftunlearn.tuning.space import Dimension, integer, sample, space_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "methods.md"
TUNED = [e.name for e in METHODS if not e.reference
         and e.cls.__module__.startswith("ftunlearn.methods.")]


def _value(dimension: Dimension) -> st.SearchStrategy:
    if dimension.kind == "categorical":
        return st.sampled_from(dimension.choices)
    if dimension.kind == "int":
        return st.integers(int(dimension.low), int(dimension.high))  # type: ignore[arg-type]
    if dimension.kind == "log-uniform":
        low, high = math.log(dimension.low), math.log(dimension.high)  # type: ignore[arg-type]
        return st.floats(low, high).map(
            lambda x: min(max(math.exp(x), dimension.low), dimension.high))
    return st.floats(dimension.low, dimension.high)  # type: ignore[arg-type]


@st.composite
def _draw(draw: st.DrawFn, method: str) -> dict:
    """Values anywhere in the space (bounds included); a capped bound is drawn as the trial
    would see it, after the value it depends on."""
    values: dict = {}
    for dimension in METHODS.get(method).search_space:
        value = draw(_value(dimension))
        cap = dimension.upper(values)
        if cap is not None and dimension.kind == "int":
            value = min(value, int(cap))
        values[dimension.name] = value
    return values


@pytest.mark.parametrize("method", TUNED)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_space_samples_only_valid_hyperparameters(method: str, data: st.DataObject
                                                        ) -> None:
    drawn = data.draw(_draw(method))
    sampled = sample(FixedTrial(drawn), METHODS.get(method).search_space, {})
    assert sampled == drawn
    config = make_config(method, sampled)
    for name, value in sampled.items():
        assert getattr(config, name) == value


def test_every_method_but_the_references_declares_a_space() -> None:
    for entry in METHODS:
        if entry.cls.__module__.startswith("ftunlearn.methods."):
            assert bool(entry.search_space) != entry.reference, entry.name
            names = [d.name for d in entry.search_space]
            assert len(set(names)) == len(names)
            fields = set(method_class(entry.name).Config().to_dict())
            assert set(names) <= fields, entry.name


def test_a_cap_follows_a_fixed_value() -> None:
    capped = integer("msteps", 0, 2, "why", at_most="epochs")
    assert capped.upper({"epochs": 1}) == 1
    assert sample(FixedTrial({"msteps": 1}), (capped,), {"epochs": 1}) == {"epochs": 1,
                                                                            "msteps": 1}


def test_a_bad_declaration_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="reason"):
        integer("epochs", 1, 5, "")
    with pytest.raises(TypeError, match="low < high"):
        integer("epochs", 5, 1, "why")


@pytest.mark.parametrize("method", TUNED)
def test_docs_show_every_space(method: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    section = next(chunk for chunk in text.split("\n## ")[1:]
                   if chunk.startswith(f"`{method}`"))
    table = "\n".join(space_table(METHODS.get(method).search_space))
    assert table in section, (
        f"docs/methods.md, section {method}: the search-space table must read\n{table}")
