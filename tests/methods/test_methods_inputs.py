"""What ``unlearn`` refuses before any work, the exact overlap check, and the guard against
non-finite weights after a method."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Samples, as_samples, method_class, unlearn
from ftunlearn.methods.overlap import duplicate_samples, shared_samples


def data(n: int = 24, width: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, width, generator=generator), torch.arange(n) % 2


def model(width: int = 4, classes: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(width, classes))


@pytest.mark.parametrize(
    ("retain", "message"),
    [
        ((torch.ones(8, 4, dtype=torch.bool), torch.zeros(8, dtype=torch.long)), "bool"),
        ((torch.ones(8, 4, dtype=torch.complex64), torch.zeros(8, dtype=torch.long)), "complex"),
        ((torch.ones(8), torch.zeros(8, dtype=torch.long)), "one row per sample"),
        ((torch.ones(8, 4), torch.zeros(8)), "integer class labels"),
        ((torch.ones(8, 4), torch.zeros(8, 1, dtype=torch.long)), "1-d"),
        ((torch.ones(8, 4), torch.zeros(8, dtype=torch.bool)), "integer class labels"),
        ((torch.ones(8, 4), torch.tensor([0, 1, -1, 0, 1, 0, 1, 0])), "negative label -1"),
        ((torch.ones(8, 4), torch.zeros(7, dtype=torch.long)), "x has 8 samples but y has 7"),
    ],
)
def test_bad_sample_tensors_are_refused(retain, message):
    with pytest.raises(UnlearnError, match=message):
        as_samples(retain, "retain")


def test_nan_in_the_data_is_counted_and_refused_even_for_iu():
    x, y = data()
    x[5, 1] = x[6, 2] = x[7, 0] = float("nan")
    x[9, 1] = float("inf")
    with pytest.raises(UnlearnError, match="retain x holds 3 NaN and 1 infinite"):
        unlearn(model(), (x[4:], y[4:]), (x[:4], y[:4]), "iu")


def test_float64_data_takes_the_models_dtype():
    x, y = data()
    assert as_samples((x.double(), y), "retain").x.dtype == torch.float32
    assert as_samples((x.double(), y), "retain", dtype=torch.float64).x.dtype == torch.float64
    assert as_samples((x.int(), y), "retain").x.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "the_model", "message"),
    [
        ({"num_classes": 5}, model(), r"not \(1, >= 5\)"),
        ({"num_classes": True}, model(), "num_classes must be a whole number"),
        ({}, model(classes=1), r"not \(1, >= 2\)"),
        ({}, model(width=3), "cannot take one input"),
        ({}, nn.Flatten(), "no trainable parameter"),
        ({}, "not a model", "torch.nn.Module"),
        ({}, model().to("meta"), "one real device"),
    ],
)
def test_models_that_do_not_fit_the_data_are_refused(kwargs, the_model, message):
    x, y = data()
    with pytest.raises(UnlearnError, match=message):
        unlearn(the_model, (x[4:], y[4:]), (x[:4], y[:4]), "ft", **kwargs)


def test_labels_beyond_num_classes_are_refused():
    x, y = data()
    y = y.clone()
    y[6] = 2
    with pytest.raises(UnlearnError, match="labels go up to 2 but num_classes is 2"):
        unlearn(model(), (x[4:], y[4:]), (x[:4], y[:4]), "ft", num_classes=2)


def test_diverged_weights_are_an_error_naming_the_method(monkeypatch):
    def diverge(self, the_model, retain, forget, context):
        with torch.no_grad():
            the_model[0].bias.fill_(float("inf"))
        return the_model

    monkeypatch.setattr(method_class("ssd"), "run", diverge)
    x, y = data()
    diverged = r"'ssd' left non-finite weights .* in 0\.bias.* lower lr"
    with pytest.raises(UnlearnError, match=diverged):
        unlearn(model(), (x[4:], y[4:]), (x[:4], y[:4]), "ssd")


def test_one_shared_sample_is_found_where_a_float_projection_rounds_it_away():
    # magnitudes 1e30 and 1e-30 in one row: any float64 projection key loses the tiny entry
    x = torch.tensor([[1e30, 1e-30, 3.0], [1e30, 2e-30, 3.0], [2.0, 5.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    retain = Samples(x[1:], y[1:])
    assert shared_samples(retain, Samples(x[:1], y[:1])) == 0  # differs only in the tiny entry
    assert shared_samples(retain, Samples(x[1:2].clone(), y[1:2])) == 1
    assert shared_samples(retain, Samples(x[1:2].clone(), torch.tensor([1]))) == 0  # other label
    negative_zero = Samples(torch.tensor([[-0.0, 1.0]]), torch.tensor([0]))
    assert shared_samples(Samples(torch.tensor([[0.0, 1.0]]), torch.tensor([0])),
                          negative_zero) == 1


def test_unlearn_refuses_a_single_sample_shared_by_the_sets():
    x, y = data()
    forget = (torch.cat([x[:3], x[10:11]]), torch.cat([y[:3], y[10:11]]))
    with pytest.raises(UnlearnError, match="1 forget sample"):
        unlearn(model(), (x[3:], y[3:]), forget, "ft", epochs=1)


def test_duplicates_within_the_retain_set_are_allowed_and_reported():
    x, y = data()
    retain = (torch.cat([x[4:], x[4:7]]), torch.cat([y[4:], y[4:7]]))
    assert duplicate_samples(Samples(*retain)) == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = unlearn(model(), retain, (x[:4], y[:4]), "ft", epochs=1)
    assert any("D_r holds 3 duplicate" in str(w.message) for w in caught)
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
