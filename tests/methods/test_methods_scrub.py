"""``scrub``: contract, the step schedule, the divergence by hand, the directions of max- and
min-steps, and the identity with fine-tuning when there are no max-steps and α = 0."""

import math

import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.methods.common import batches_of
from ftunlearn.methods.scrub import ScrubConfig, ScrubLoss, ScrubSteps, distillation_divergence


def run(task, seed=0, **hyperparameters):
    return unlearn(task.model, task.retain, task.forget, "scrub", seed=seed, device="cpu",
                   num_classes=task.num_classes, recipe=task.recipe, **hyperparameters).model


def test_contract(method_contract):
    method_contract("scrub")


def test_divergence_by_hand():
    # teacher p = softmax(ln 3, 0) = (3/4, 1/4), student q = (1/2, 1/2) at T = 1.
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    student = torch.zeros(1, 2)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert float(distillation_divergence(student, teacher, 1.0)) == pytest.approx(expected)
    # At T = 2 the logits are halved and the divergence is scaled by T² = 4.
    p = (math.sqrt(3.0) / (math.sqrt(3.0) + 1.0), 1.0 / (math.sqrt(3.0) + 1.0))
    at_two = 4.0 * sum(pi * math.log(pi / 0.5) for pi in p)
    assert float(distillation_divergence(student, teacher, 2.0)) == pytest.approx(at_two,
                                                                                  rel=1e-5)
    # Averaged over the batch; zero for identical outputs.
    both = distillation_divergence(torch.cat([student, teacher]), torch.cat([teacher, teacher]),
                                   1.0)
    assert float(both) == pytest.approx(expected / 2)


def test_steps_follow_the_schedule(tiny_task):
    retain = batches_of(tiny_task.retain, 100)  # 216 samples: 3 batches
    forget = batches_of(tiny_task.forget, 10)  # 24 samples: 3 batches
    steps = ScrubSteps(retain, forget, epochs=3, max_epochs=2)
    flags = [bool(batch[2]) for batch in steps.epoch(torch.Generator().manual_seed(0))]
    assert flags == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3 + [False] * 3
    assert len(steps) == len(flags)


def perturbed(task, scale=0.05, seed=0):
    model = task.fresh_model()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
    return model


def one_step(model, loss_fn, batch, lr):
    loss = loss_fn(model, batch)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for param, g in zip(model.parameters(), grads, strict=True):
            param.sub_(lr * g)


def divergence(student, teacher, samples):
    with torch.no_grad():
        return float(distillation_divergence(student(samples.x), teacher(samples.x), 4.0))


def test_max_step_raises_and_min_step_lowers_the_divergence(tiny_task):
    teacher = tiny_task.model
    loss = ScrubLoss(teacher, alpha=1.0, gamma=0.0, temperature=4.0)
    forget, retain = tiny_task.forget, tiny_task.retain
    student = perturbed(tiny_task)
    start = divergence(student, teacher, forget)
    one_step(student, loss, (forget.x, forget.y, torch.tensor(True)), lr=0.05)
    assert divergence(student, teacher, forget) > start
    student = perturbed(tiny_task)
    start = divergence(student, teacher, retain)
    one_step(student, loss, (retain.x, retain.y, torch.tensor(False)), lr=0.05)
    assert divergence(student, teacher, retain) < start


def test_no_max_steps_and_zero_alpha_is_fine_tuning(tiny_task, equals_fine_tuning):
    # With msteps = 0 the run draws the same retain batches as fine-tuning for every epoch,
    # and γ = 1, α = 0 leaves exactly the cross-entropy.
    # The cosine schedule over the one pass equals the per-epoch one over the same steps.
    result = run(tiny_task, msteps=0, alpha=0.0, gamma=1.0, epochs=3, lr=0.05, batch_size=32,
                 grad_clip=None, schedule="cosine")
    equals_fine_tuning(result, epochs=3, lr=0.05, batch_size=32, schedule="cosine")


@pytest.mark.parametrize(("settings", "message"), [
    ({"msteps": 4, "epochs": 3}, "msteps must be at most epochs=3"),
    ({"msteps": -1}, "msteps must be >= 0"),
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"alpha": -0.1}, "alpha must be >= 0"),
    ({"alpha": 0.0, "gamma": 0.0}, "cannot both be 0"),
    ({"forget_batch_size": 0}, "forget_batch_size"),
    ({"lr": 0.0}, "lr must be > 0"),
])
def test_invalid_hyperparameters(tiny_task, settings, message):
    with pytest.raises(UnlearnError, match=message):
        run(tiny_task, **settings)


def test_step_schedule_is_refused():
    with pytest.raises(UnlearnError, match="schedule 'step' is not supported"):
        ScrubConfig(schedule="step")
