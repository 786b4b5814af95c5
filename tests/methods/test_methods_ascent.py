"""``ga`` and ``neggrad+``: contract, hand-computed single steps, and the β = 1 identity."""

import pytest
import torch
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.training import predict

PLAIN_SGD = {"momentum": 0.0, "weight_decay": 0.0, "grad_clip": None}
"""One SGD step is then exactly ``θ − lr·∇``: no momentum, no weight decay, no clipping."""


def run(task, method, seed=0, **hyperparameters):
    return unlearn(task.model, task.retain, task.forget, method, seed=seed, device="cpu",
                   num_classes=task.num_classes, recipe=task.recipe, **hyperparameters).model


def gradient(model, loss):
    return torch.autograd.grad(loss, list(model.parameters()))


@pytest.mark.parametrize("method", ["ga", "neggrad+"])
def test_contract(method_contract, method):
    method_contract(method)


def test_ga_is_one_ascent_step_by_hand(tiny_task):
    forget = tiny_task.forget
    lr = 0.1
    result = run(tiny_task, "ga", epochs=1, lr=lr, batch_size=len(forget), **PLAIN_SGD)
    model = tiny_task.fresh_model()
    grads = gradient(model, F.cross_entropy(model(forget.x), forget.y))
    for param, step, after in zip(model.parameters(), grads, result.parameters(), strict=True):
        torch.testing.assert_close(after, param + lr * step, rtol=0, atol=1e-6)


def test_ga_raises_the_forget_loss_and_lowers_forget_accuracy(tiny_task):
    forget = tiny_task.forget
    before = predict(tiny_task.model, forget.x, forget.y, device="cpu")
    after = predict(run(tiny_task, "ga", epochs=5, lr=0.1, batch_size=8), forget.x, forget.y,
                    device="cpu")
    assert float(after.losses.mean()) > float(before.losses.mean()) + 1.0
    assert after.accuracy(forget.y) < before.accuracy(forget.y) - 30


def test_neggrad_plus_is_one_weighted_step_by_hand(tiny_task):
    retain, forget = tiny_task.retain, tiny_task.forget
    lr, beta = 0.1, 0.7
    result = run(tiny_task, "neggrad+", beta=beta, epochs=1, lr=lr, batch_size=len(retain),
                 forget_batch_size=len(forget), **PLAIN_SGD)
    model = tiny_task.fresh_model()
    retain_grads = gradient(model, F.cross_entropy(model(retain.x), retain.y))
    forget_grads = gradient(model, F.cross_entropy(model(forget.x), forget.y))
    for param, g_r, g_f, after in zip(model.parameters(), retain_grads, forget_grads,
                                      result.parameters(), strict=True):
        expected = param - lr * (beta * g_r - (1 - beta) * g_f)
        torch.testing.assert_close(after, expected, rtol=0, atol=1e-6)


def test_neggrad_plus_with_beta_one_is_fine_tuning_on_the_retain_set(tiny_task, equals_fine_tuning):
    # One epoch: the retain batches come first from the same generator, so the order matches
    # plain fine-tuning and the zero-weighted forget term adds exactly nothing.
    result = run(tiny_task, "neggrad+", beta=1.0, epochs=1, lr=0.05, batch_size=32,
                 grad_clip=None)
    equals_fine_tuning(result, epochs=1, lr=0.05, batch_size=32)


def test_neggrad_plus_with_beta_zero_only_ascends(tiny_task):
    # β = 0 drops the retain term: the same single full-batch step as ga.
    forget = tiny_task.forget
    settings = {"epochs": 1, "lr": 0.1, "batch_size": len(tiny_task.retain), **PLAIN_SGD}
    negated = run(tiny_task, "neggrad+", beta=0.0, forget_batch_size=len(forget), **settings)
    ascent = run(tiny_task, "ga", **{**settings, "batch_size": len(forget)})
    for name, value in ascent.state_dict().items():
        torch.testing.assert_close(negated.state_dict()[name], value, rtol=0, atol=1e-7)


def test_seed_changes_the_batch_order(tiny_task):
    first = run(tiny_task, "neggrad+", seed=0)
    second = run(tiny_task, "neggrad+", seed=1)
    assert any(not torch.equal(value, second.state_dict()[name])
               for name, value in first.state_dict().items())


@pytest.mark.parametrize(("method", "settings", "message"), [
    ("ga", {"lr": 0.0}, "lr must be > 0"),
    ("ga", {"epochs": 0}, "epochs must be >= 1"),
    ("neggrad+", {"beta": 1.5}, "beta must be in"),
    ("neggrad+", {"beta": -0.1}, "beta must be in"),
    ("neggrad+", {"forget_batch_size": 0}, "forget_batch_size"),
    ("neggrad+", {"gamma": 1.0}, "unknown hyperparameter"),
])
def test_invalid_hyperparameters(tiny_task, method, settings, message):
    with pytest.raises(UnlearnError, match=message):
        run(tiny_task, method, **settings)

