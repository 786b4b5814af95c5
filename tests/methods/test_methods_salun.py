"""``salun``: forget-set saliency mask, exact freezing of the rest, random-label unlearning."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Context
from ftunlearn.methods.saliency import count_selected, gradient_saliency, selected_count
from ftunlearn.methods.salun import SaliencyUnlearningConfig, forget_saliency_mask


def context(seed: int) -> Context:
    return Context(seed=seed, device=torch.device("cpu"), num_classes=4)


def true_label_loss(model: nn.Module, task) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model.eval()(task.forget.x), task.forget.y))


@pytest.mark.parametrize("options", [{}, {"select": "smallest"},
                                     {"scope": "tensor", "statistic": "abs-sum"}])
def test_salun_keeps_the_contract(method_contract, options) -> None:
    method_contract("salun", **options)


@pytest.mark.parametrize("select", ["largest", "smallest"])
def test_salun_leaves_non_salient_weights_bit_identical(tiny_task, run_method, select) -> None:
    options = {"gamma": 0.4, "select": select, "momentum": 0.9, "weight_decay": 0.05,
               "lr": 0.05, "epochs": 4}
    updated = forget_saliency_mask(tiny_task.fresh_model(), tiny_task.forget,
                                   SaliencyUnlearningConfig(**options), context(1))
    result = dict(run_method("salun", seed=1, **options).model.named_parameters())
    moved = 0
    for name, original in tiny_task.model.named_parameters():
        mask = updated[name]
        assert torch.equal(result[name][~mask], original[~mask]), name
        moved += int((result[name][mask] != original[mask]).sum())
    assert moved > 0.5 * count_selected(updated)


def test_salun_mask_is_the_top_gamma_of_the_forget_gradient(tiny_task) -> None:
    model = tiny_task.fresh_model()
    updated = forget_saliency_mask(model, tiny_task.forget, SaliencyUnlearningConfig(gamma=0.3),
                                   context(0))
    total = sum(p.numel() for p in model.parameters())
    assert count_selected(updated) == selected_count(total, 0.3)
    scores = gradient_saliency(model, tiny_task.forget, statistic="sum")
    chosen = torch.cat([scores[name][mask] for name, mask in updated.items()])
    others = torch.cat([scores[name][~mask] for name, mask in updated.items()])
    assert chosen.min() >= others.max()
    # |Σ ∇ℓ_f| by hand for the last layer's bias: Σ_i (p_i − e_{y_i})
    with torch.no_grad():
        residual = F.softmax(model(tiny_task.forget.x), 1) - F.one_hot(tiny_task.forget.y, 4)
    torch.testing.assert_close(scores["3.bias"], residual.sum(0).abs())


def test_smallest_selects_from_the_other_end(tiny_task) -> None:
    model = tiny_task.fresh_model()
    scores = gradient_saliency(model, tiny_task.forget, statistic="sum")
    smallest = forget_saliency_mask(
        model, tiny_task.forget, SaliencyUnlearningConfig(gamma=0.3, select="smallest"),
        context(0),
    )
    chosen = torch.cat([scores[name][mask] for name, mask in smallest.items()])
    others = torch.cat([scores[name][~mask] for name, mask in smallest.items()])
    assert chosen.max() <= others.min()


def test_salun_updating_every_weight_is_rl(run_method) -> None:
    masked = run_method("salun", seed=6, gamma=1.0, lr=0.03, epochs=3).model
    plain = run_method("rl", seed=6, lr=0.03, epochs=3).model
    assert all(torch.equal(a, b) for a, b in zip(masked.parameters(), plain.parameters(),
                                                 strict=True))


def test_salun_raises_the_forget_loss(tiny_task, run_method) -> None:
    before = true_label_loss(tiny_task.fresh_model(), tiny_task)
    after = true_label_loss(run_method("salun").model, tiny_task)
    assert after > before


@pytest.mark.parametrize("bad", [{"gamma": 0.0}, {"gamma": 1.1}, {"select": "middle"},
                                 {"scope": "layer"}, {"statistic": "mean"},
                                 {"epochs": 0}, {"lr": 0.0}])
def test_salun_rejects_bad_hyperparameters(run_method, bad) -> None:
    with pytest.raises(UnlearnError):
        run_method("salun", **bad)
