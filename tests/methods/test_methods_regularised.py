"""``dr-ft``: the objective's two regularisers, the interleaved batches, and their effect."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Samples
from ftunlearn.methods.regularised import (
    kl_uniform_to_model,
    regularised_batches,
    regularised_loss,
)


def mean_kl_to_uniform(model: nn.Module, samples: Samples) -> float:
    with torch.no_grad():
        return float(kl_uniform_to_model(model.eval()(samples.x)).mean())


def forget_loss(model: nn.Module, samples: Samples) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model.eval()(samples.x), samples.y))


@pytest.mark.parametrize("regulariser", ["random-label", "uniform-kl"])
def test_dr_ft_keeps_the_contract(method_contract, regulariser) -> None:
    method_contract("dr-ft", regulariser=regulariser)


def test_kl_from_uniform_by_hand() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)], [2.0, 2.0]])
    # p = (1/4, 3/4): KL(u || p) = ½ ln(½ / ¼) + ½ ln(½ / ¾)
    expected = 0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0)
    values = kl_uniform_to_model(logits)
    assert values[0].item() == pytest.approx(expected, abs=1e-6)
    assert values[1].item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("regulariser", ["random-label", "uniform-kl"])
def test_regularised_loss_is_retain_ce_plus_alpha_times_the_forget_term(regulariser) -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 4)
    x_r, y_r = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])
    x_f, t_f = torch.randn(2, 3), torch.tensor([2, 1])
    with torch.no_grad():
        retain_ce = F.cross_entropy(model(x_r), y_r)
        probabilities = F.softmax(model(x_f), dim=1)
        if regulariser == "random-label":
            term = -torch.log(probabilities[torch.arange(2), t_f]).mean()
        else:
            term = (0.25 * torch.log(0.25 / probabilities)).sum(1).mean()
        value = regularised_loss(0.3, regulariser)(model, (x_r, y_r, x_f, t_f))
    assert value.item() == pytest.approx((retain_ce + 0.3 * term).item(), rel=1e-5)


@pytest.mark.parametrize("regulariser", ["random-label", "uniform-kl"])
def test_every_step_interleaves_a_retain_and_a_forget_batch(tiny_task, regulariser) -> None:
    batches = regularised_batches(
        tiny_task.retain, tiny_task.forget, batch_size=50, forget_batch_size=8,
        regulariser=regulariser, num_classes=tiny_task.num_classes,
    )
    true_label = {tuple(x.tolist()): int(y) for x, y in zip(*_pairs(tiny_task.forget),
                                                               strict=True)}
    steps = list(batches.epoch(torch.Generator().manual_seed(0)))
    assert len(steps) == math.ceil(len(tiny_task.retain) / 50)
    for x_r, y_r, x_f, t_f in steps:
        assert len(x_f) == len(t_f) == 8
        assert len(x_r) == len(y_r) <= 50
        for x, target in zip(x_f, t_f, strict=True):
            if regulariser == "random-label":
                assert int(target) != true_label[tuple(x.tolist())]
            else:
                assert int(target) == true_label[tuple(x.tolist())]


def _pairs(samples: Samples) -> tuple[torch.Tensor, torch.Tensor]:
    return samples.x, samples.y


def test_uniform_kl_moves_forget_outputs_toward_uniform(tiny_task, run_method) -> None:
    before = mean_kl_to_uniform(tiny_task.fresh_model(), tiny_task.forget)
    after = mean_kl_to_uniform(
        run_method("dr-ft", regulariser="uniform-kl", alpha=1.0).model, tiny_task.forget
    )
    assert after < 0.5 * before


def test_random_labels_raise_the_forget_loss(tiny_task, run_method) -> None:
    before = forget_loss(tiny_task.fresh_model(), tiny_task.forget)
    ft = forget_loss(run_method("ft").model, tiny_task.forget)
    forgotten = forget_loss(run_method("dr-ft", regulariser="random-label").model,
                            tiny_task.forget)
    assert forgotten > before
    assert forgotten > ft


@pytest.mark.parametrize("bad", [{"alpha": 0.0}, {"alpha": 1.5}, {"alpha": -0.2},
                                 {"regulariser": "l2"}, {"forget_batch_size": 0},
                                 {"lr": 0.0}])
def test_dr_ft_rejects_bad_hyperparameters(run_method, bad) -> None:
    with pytest.raises(UnlearnError):
        run_method("dr-ft", **bad)


def test_alpha_one_is_allowed(run_method) -> None:
    assert run_method("dr-ft", alpha=1.0).hyperparameters["alpha"] == 1.0
