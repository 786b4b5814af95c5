"""``l1-sparse``: contract, the decaying weight, a hand-computed step, and the γ = 0 identity."""

import pytest
import torch
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.methods.sparse import DecayingL1Loss, l1_norm


def run(task, seed=0, **hyperparameters):
    return unlearn(task.model, task.retain, task.forget, "l1-sparse", seed=seed, device="cpu",
                   num_classes=task.num_classes, recipe=task.recipe, **hyperparameters).model


def test_contract(method_contract):
    method_contract("l1-sparse")


def norm(model):
    with torch.no_grad():
        return float(l1_norm(model))


def test_l1_norm_by_hand():
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.5, -2.0]]))
        model.bias.fill_(-0.25)
    assert norm(model) == 3.75


def test_weight_decays_linearly_per_step(tiny_task):
    loss = DecayingL1Loss(gamma=2.0, total_steps=4)
    assert [loss.weight(t) for t in range(4)] == [2.0, 1.5, 1.0, 0.5]
    model = tiny_task.fresh_model()
    batch = (tiny_task.retain.x[:16], tiny_task.retain.y[:16])
    l1 = norm(model)
    with torch.no_grad():
        cross_entropy = float(F.cross_entropy(model(batch[0]), batch[1]))
        values = [float(loss(model, batch)) for _ in range(4)]
    for value, expected_weight in zip(values, (2.0, 1.5, 1.0, 0.5), strict=True):
        assert value == pytest.approx(cross_entropy + expected_weight * l1, rel=1e-6)
    assert loss.step == 4


def test_one_step_by_hand(tiny_task):
    # SGD without momentum or weight decay, one full batch: θ − lr·(∇CE + γ·sign(θ)).
    retain = tiny_task.retain
    lr, gamma = 0.1, 0.01
    result = run(tiny_task, gamma=gamma, epochs=1, lr=lr, batch_size=len(retain), momentum=0.0,
                 weight_decay=0.0)
    model = tiny_task.fresh_model()
    grads = torch.autograd.grad(F.cross_entropy(model(retain.x), retain.y),
                                list(model.parameters()))
    for param, g, after in zip(model.parameters(), grads, result.parameters(), strict=True):
        expected = param - lr * (g + gamma * param.sign())
        torch.testing.assert_close(after, expected, rtol=0, atol=1e-6)


def test_zero_gamma_is_fine_tuning_on_the_retain_set(tiny_task, equals_fine_tuning):
    result = run(tiny_task, gamma=0.0, epochs=3, lr=0.05, batch_size=32, schedule="cosine")
    equals_fine_tuning(result, epochs=3, lr=0.05, batch_size=32, schedule="cosine")


def test_l1_norm_ends_lower_than_fine_tuning(tiny_task):
    settings = {"epochs": 5, "lr": 0.05, "batch_size": 32}
    sparse = run(tiny_task, gamma=0.01, **settings)
    finetuned = unlearn(tiny_task.model, tiny_task.retain, tiny_task.forget, "ft", device="cpu",
                        **settings).model
    assert norm(sparse) < 0.9 * norm(finetuned)


@pytest.mark.parametrize(("settings", "message"), [
    ({"gamma": -1e-3}, "gamma must be >= 0"),
    ({"gamma": float("nan")}, "gamma must be >= 0"),
    ({"lr": 0.0}, "lr must be > 0"),
])
def test_invalid_hyperparameters(tiny_task, settings, message):
    with pytest.raises(UnlearnError, match=message):
        run(tiny_task, **settings)
