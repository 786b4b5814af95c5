"""``retrain`` and ``ft``: the contract, the golden-model identity, and fine-tuning's effect."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.methods.common import batches_of
from ftunlearn.methods.finetune import FineTuneConfig, reinitialise
from ftunlearn.models import build_model
from ftunlearn.training import fit


def retain_loss(model: nn.Module, task) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model.eval()(task.retain.x), task.retain.y))


def test_retrain_keeps_the_contract(method_contract) -> None:
    method_contract("retrain")


def test_ft_keeps_the_contract(method_contract) -> None:
    method_contract("ft")


def test_retrain_equals_training_a_fresh_model_on_the_retain_set(tiny_task, run_method) -> None:
    seed = 5
    golden = build_model(tiny_task.model_spec, tiny_task.input_shape, tiny_task.num_classes,
                         seed=seed)
    fit(golden, batches_of(tiny_task.retain, tiny_task.recipe.batch_size), tiny_task.recipe,
        seed=seed, device="cpu", progress=False)
    retrained = run_method("retrain", seed=seed).model.state_dict()
    for key, value in golden.state_dict().items():
        assert torch.equal(retrained[key], value), key


def test_retrain_does_not_depend_on_the_original_weights(tiny_task, other_tiny_task,
                                                         run_method) -> None:
    assert not torch.equal(tiny_task.model[1].weight, other_tiny_task.model[1].weight)
    from_first = run_method("retrain", seed=2).model.state_dict()
    from_second = unlearn(
        other_tiny_task.model, other_tiny_task.retain, other_tiny_task.forget, "retrain",
        seed=2, device="cpu", recipe=other_tiny_task.recipe,
    ).model.state_dict()
    assert all(torch.equal(from_first[key], from_second[key]) for key in from_first)


def test_retrain_uses_the_given_recipe(tiny_task, run_method) -> None:
    short = tiny_task.recipe.replace(epochs=1)
    one_epoch = unlearn(tiny_task.model, tiny_task.retain, tiny_task.forget, "retrain", seed=0,
                        device="cpu", recipe=short).model
    expected = build_model(tiny_task.model_spec, tiny_task.input_shape, tiny_task.num_classes,
                           seed=0)
    fit(expected, batches_of(tiny_task.retain, short.batch_size), short, seed=0, device="cpu",
        progress=False)
    assert all(torch.equal(a, b) for a, b in zip(one_epoch.parameters(), expected.parameters(),
                                                 strict=True))


@pytest.mark.parametrize("spec,shape", [("mlp:hidden=8", (5,)), ("cnn:width=4,hidden=8", (1, 8, 8)),
                                        ("resnet18:width=4", (3, 8, 8))])
def test_reinitialise_reproduces_build_model(spec, shape) -> None:
    model = build_model(spec, shape, 3, seed=11)
    reinitialise(model, seed=4)
    fresh = build_model(spec, shape, 3, seed=4)
    state = model.state_dict()
    for key, value in fresh.state_dict().items():
        assert torch.equal(state[key], value), key


def test_reinitialise_resets_batch_norm_statistics_and_keeps_the_global_rng() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model.train()
    model(torch.randn(16, 3) * 5 + 2)
    assert not torch.equal(model[1].running_mean, torch.zeros(4))
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    reinitialise(model, seed=0)
    assert torch.equal(torch.rand(3), expected_draw)
    assert torch.equal(model[1].running_mean, torch.zeros(4))
    assert torch.equal(model[1].running_var, torch.ones(4))
    assert int(model[1].num_batches_tracked) == 0


class _RawScale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def test_reinitialise_refuses_parameters_it_cannot_reset() -> None:
    model = nn.Sequential(nn.Linear(2, 2), _RawScale())
    with pytest.raises(UnlearnError, match=r"1\.scale.*reset_parameters"):
        reinitialise(model, seed=0)


def test_ft_is_the_fit_loop_on_the_retain_set(tiny_task, run_method) -> None:
    config = FineTuneConfig(epochs=2, lr=0.02)
    expected = copy.deepcopy(tiny_task.model)
    fit(expected, batches_of(tiny_task.retain, config.batch_size), config.recipe(), seed=7,
        device="cpu", progress=False)
    result = run_method("ft", seed=7, epochs=2, lr=0.02).model
    assert all(torch.equal(a, b) for a, b in zip(result.parameters(), expected.parameters(),
                                                 strict=True))


def test_ft_lowers_or_keeps_the_retain_loss(tiny_task, run_method) -> None:
    tuned = run_method("ft").model
    assert retain_loss(tuned, tiny_task) <= retain_loss(tiny_task.fresh_model(), tiny_task)


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"lr": -1.0}, {"epochs": 0}, {"batch_size": 0},
                                 {"momentum": 1.0}, {"weight_decay": -1e-3}])
def test_ft_rejects_bad_hyperparameters(run_method, bad) -> None:
    with pytest.raises(UnlearnError):
        run_method("ft", **bad)


def test_retrain_has_no_hyperparameters(run_method) -> None:
    with pytest.raises(UnlearnError, match="unknown hyperparameter"):
        run_method("retrain", epochs=3)

