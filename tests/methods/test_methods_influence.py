"""``iu``: contract, per-sample gradients, the Woodbury solve, and the whole step against an
explicitly built damped Fisher on a model with a handful of parameters."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.methods.base import Samples
from ftunlearn.methods.influence import (
    fisher_subset,
    mean_gradient,
    per_sample_gradients,
    woodfisher_solve,
)

CPU = torch.device("cpu")


def run(task, seed=0, **hyperparameters):
    return unlearn(task.model, task.retain, task.forget, "iu", seed=seed, device="cpu",
                   num_classes=task.num_classes, recipe=task.recipe, **hyperparameters).model


def test_contract(tiny_task, method_contract):
    first = method_contract("iu", samples=100).model
    other_seed = run(tiny_task, seed=1, samples=100)
    assert any(not torch.equal(v, other_seed.state_dict()[k])
               for k, v in first.state_dict().items())


def flat_gradient(model, x, y):
    loss = F.cross_entropy(model(x), y)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])


def test_per_sample_and_mean_gradients_match_autograd(tiny_task):
    model, samples = tiny_task.fresh_model(), tiny_task.retain
    rows = per_sample_gradients(model, samples, 7, CPU)
    assert rows.shape == (len(samples), sum(p.numel() for p in model.parameters()))
    for i in (0, 5, len(samples) - 1):
        expected = flat_gradient(model, samples.x[i : i + 1], samples.y[i : i + 1])
        torch.testing.assert_close(rows[i], expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(mean_gradient(model, samples, 50, CPU),
                               flat_gradient(model, samples.x, samples.y), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("m", "p"), [(5, 12), (20, 8)])
def test_woodbury_solve_matches_a_dense_solve(m, p):
    generator = torch.Generator().manual_seed(m)
    gradients = torch.randn(m, p, generator=generator, dtype=torch.float64)
    vector = torch.randn(p, generator=generator, dtype=torch.float64)
    damping = 0.3
    fisher = damping * torch.eye(p, dtype=torch.float64) + gradients.T @ gradients / m
    expected = torch.linalg.solve(fisher, vector)
    torch.testing.assert_close(woodfisher_solve(gradients, vector, damping), expected,
                               rtol=1e-10, atol=1e-12)


def test_sherman_morrison_recursion_gives_the_same_inverse():
    # WoodFisher's recursion F_k⁻¹ = F_{k-1}⁻¹ − F_{k-1}⁻¹ g gᵀ F_{k-1}⁻¹ / (m + gᵀ F_{k-1}⁻¹ g),
    # F_0⁻¹ = I/λ, applied to v, equals the Woodbury solve.
    generator = torch.Generator().manual_seed(3)
    m, p, damping = 6, 9, 0.5
    gradients = torch.randn(m, p, generator=generator, dtype=torch.float64)
    vector = torch.randn(p, generator=generator, dtype=torch.float64)
    inverse = torch.eye(p, dtype=torch.float64) / damping
    for g in gradients:
        h = inverse @ g
        inverse = inverse - torch.outer(h, h) / (m + g @ h)
    torch.testing.assert_close(woodfisher_solve(gradients, vector, damping), inverse @ vector,
                               rtol=1e-10, atol=1e-12)


def small_task():
    """A 3-feature, 3-class logistic model (12 parameters) with 30 retain and 6 forget samples."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Linear(3, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 3, generator=generator))
        model.bias.copy_(torch.randn(3, generator=generator))
    x = torch.randn(36, 3, generator=generator)
    y = torch.randint(0, 3, (36,), generator=generator)
    return model, Samples(x[:30], y[:30]), Samples(x[30:], y[30:])


@pytest.mark.parametrize("samples", [30, 12])
def test_step_matches_an_explicit_damped_fisher_newton_step(samples):
    model, retain, forget = small_task()
    alpha, damping = 0.7, 0.2
    result = unlearn(model, retain, forget, "iu", seed=0, device="cpu", alpha=alpha,
                     damping=damping, samples=samples).model
    # Expected, computed directly: F = λI + (1/m) Σ g_i g_iᵀ over the Fisher samples, and
    # v = (n_f/n)(∇L_f − ∇L_r), all in float64 from autograd gradients.
    used = fisher_subset(retain, samples, seed=0)
    assert len(used) == samples
    rows = [flat_gradient(model, used.x[i : i + 1], used.y[i : i + 1]).double()
            for i in range(len(used))]
    fisher = damping * torch.eye(12, dtype=torch.float64)
    for g in rows:
        fisher += torch.outer(g, g) / len(rows)
    n_f, n = len(forget), len(forget) + len(retain)
    v = (n_f / n) * (flat_gradient(model, forget.x, forget.y)
                     - flat_gradient(model, retain.x, retain.y)).double()
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
    expected = theta + alpha * torch.linalg.solve(fisher, v)
    got = torch.cat([p.detach().reshape(-1) for p in result.parameters()]).double()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(got, theta, atol=1e-3)


def test_fisher_subset_is_seeded_and_without_replacement(tiny_task):
    retain = tiny_task.retain
    first = fisher_subset(retain, 50, seed=4)
    assert torch.equal(first.x, fisher_subset(retain, 50, seed=4).x)
    assert not torch.equal(first.x, fisher_subset(retain, 50, seed=5).x)
    assert torch.unique(first.x, dim=0).shape[0] == 50
    assert fisher_subset(retain, 10_000, seed=4) is retain


@pytest.mark.parametrize(("settings", "message"), [
    ({"alpha": 0.0}, "alpha must be > 0"),
    ({"damping": 0.0}, "damping must be > 0"),
    ({"samples": 0}, "samples must be >= 1"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
])
def test_invalid_hyperparameters(tiny_task, settings, message):
    with pytest.raises(UnlearnError, match=message):
        run(tiny_task, **settings)
