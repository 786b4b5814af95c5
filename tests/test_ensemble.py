"""The ensemble trainer: model j of a vectorised pass equals sequential training with seed j."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from torch import nn

from ftunlearn.ensemble import fit_many, train_ensemble, unlearn_many
from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import unlearn
from ftunlearn.models import build_model
from ftunlearn.training import Recipe, TensorBatches, fit

SEEDS = (0, 1, 2)
FEATURES, CLASSES, SAMPLES = 64, 10, 600  # digits-like inputs, kept small for speed
MOMENTUM_COSINE = Recipe(epochs=1, batch_size=64, lr=0.05, momentum=0.9, weight_decay=5e-4,
                         schedule="cosine")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_data(seed: int = 0, n: int = SAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=generator)
    y = torch.randint(0, CLASSES, (n,), generator=generator)
    return x, y


def build_mlp(seed: int) -> nn.Module:
    return build_model("mlp:hidden=64", (FEATURES,), CLASSES, seed=seed)


def sequential(build, x, y, recipe, seeds, **kwargs) -> list[nn.Module]:
    models = [build(seed) for seed in seeds]
    for model, seed in zip(models, seeds, strict=True):
        fit(model, TensorBatches(x, y, batch_size=recipe.batch_size), recipe, seed=seed,
            device="cpu", progress=False, **kwargs)
    return models


def relative_gaps(a: nn.Module, b: nn.Module) -> list[float]:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return [float((p - q).norm() / q.norm().clamp_min(1e-12)) for p, q in pairs]


def assert_same_models(got: list[nn.Module], want: list[nn.Module], tol: float = 1e-4) -> None:
    for model, reference in zip(got, want, strict=True):
        assert max(relative_gaps(model, reference)) < tol
    # The comparison could not pass by accident: the seeds gave genuinely different models.
    assert min(relative_gaps(want[0], want[1])) > 1e-2


def test_mlp_with_momentum_weight_decay_and_cosine_equals_sequential_fit():
    x, y = random_data()
    got = train_ensemble(build_mlp, x, y, MOMENTUM_COSINE, SEEDS)
    want = sequential(build_mlp, x, y, MOMENTUM_COSINE, SEEDS)
    assert_same_models(got, want)
    # Training moved the weights away from their initialisation.
    assert min(relative_gaps(got[0], build_mlp(SEEDS[0]))) > 1e-3


def test_per_model_gradient_clip_equals_sequential_fit():
    x, y = random_data(1)
    recipe = MOMENTUM_COSINE.replace(grad_clip=0.05, schedule="step", step_epochs=1)
    got = train_ensemble(build_mlp, x, y, recipe, SEEDS)
    assert_same_models(got, sequential(build_mlp, x, y, recipe, SEEDS))
    # The clip was active: without it training ends elsewhere.
    unclipped = train_ensemble(build_mlp, x, y, recipe.replace(grad_clip=None), SEEDS[:1])
    assert max(relative_gaps(unclipped[0], got[0])) > 1e-2


def test_adam_equals_sequential_fit():
    x, y = random_data(2, n=300)
    recipe = Recipe(epochs=2, batch_size=64, optimizer="adam", lr=1e-3, weight_decay=1e-4,
                    schedule="constant")
    got = train_ensemble(build_mlp, x, y, recipe, SEEDS[:2])
    assert_same_models(got, sequential(build_mlp, x, y, recipe, SEEDS[:2]))


def test_frozen_entries_stay_put_and_the_rest_equals_sequential_fit():
    x, y = random_data(3, n=300)
    mask = torch.zeros(64, FEATURES, dtype=torch.bool)
    mask[:, ::2] = True
    frozen = {"1.weight": mask}
    got = train_ensemble(build_mlp, x, y, MOMENTUM_COSINE, SEEDS[:2], frozen=frozen)
    assert_same_models(got, sequential(build_mlp, x, y, MOMENTUM_COSINE, SEEDS[:2],
                                       frozen=frozen))
    for model, seed in zip(got, SEEDS[:2], strict=True):
        initial = build_mlp(seed).state_dict()["1.weight"]
        assert torch.equal(model.state_dict()["1.weight"][mask], initial[mask])


def build_batchnorm(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(FEATURES, 32), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Linear(32, CLASSES))


def test_batchnorm_model_falls_back_to_sequential_and_says_so(caplog):
    x, y = random_data(4, n=300)
    with caplog.at_level(logging.INFO, logger="ftunlearn.ensemble"):
        got = train_ensemble(build_batchnorm, x, y, MOMENTUM_COSINE, SEEDS[:2])
    assert "sequential: BatchNorm buffers" in caplog.text
    want = sequential(build_batchnorm, x, y, MOMENTUM_COSINE, SEEDS[:2])
    for model, reference in zip(got, want, strict=True):
        for a, b in zip(model.state_dict().values(), reference.state_dict().values(),
                        strict=True):
            assert torch.equal(a, b)  # the fallback is the sequential loop itself


def test_a_model_vmap_rejects_falls_back_to_sequential(caplog):
    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(FEATURES, 16), nn.Dropout(0.5), nn.Linear(16, CLASSES))

    x, y = random_data(5, n=200)
    with caplog.at_level(logging.INFO, logger="ftunlearn.ensemble"):
        got = train_ensemble(build, x, y, MOMENTUM_COSINE, SEEDS[:2])
    assert "sequential: vmap rejected the model" in caplog.text
    want = sequential(build, x, y, MOMENTUM_COSINE, SEEDS[:2])
    assert max(relative_gaps(got[1], want[1])) == 0.0


def test_a_diverging_model_is_reported_with_its_seed():
    x, y = random_data(6, n=200)
    models = [build_mlp(seed) for seed in SEEDS[:2]]
    with torch.no_grad():
        models[1][-1].weight.fill_(float("inf"))
    with pytest.raises(UnlearnError, match="seed 1 became"):
        fit_many(models, TensorBatches(x, y, batch_size=64), MOMENTUM_COSINE, seeds=SEEDS[:2],
                 device="cpu")


def unlearning_task():
    x, y = random_data(7, n=360)
    original = build_mlp(0)
    fit(original, TensorBatches(x, y, batch_size=64), MOMENTUM_COSINE, device="cpu",
        progress=False)
    return original, (x[40:], y[40:]), (x[:40], y[:40])


@pytest.mark.parametrize(
    ("method", "hp"),
    [("ft", {"epochs": 1}), ("dr-ft", {"epochs": 1}), ("rl", {"epochs": 1}),
     ("ga", {"epochs": 2, "lr": 0.01}), ("neggrad+", {"epochs": 1}), ("retrain", {})],
)
def test_unlearn_many_equals_unlearn_per_seed(method, hp, caplog):
    original, retain, forget = unlearning_task()
    recipe = MOMENTUM_COSINE
    kept = copy.deepcopy(original.state_dict())
    with caplog.at_level(logging.INFO, logger="ftunlearn.ensemble"):
        got = unlearn_many(original, retain, forget, method, SEEDS[:2], device="cpu",
                           recipe=recipe, **hp)
    assert "sequential" not in caplog.text
    want = [unlearn(original, retain, forget, method, seed=seed, device="cpu", recipe=recipe,
                    **hp).model for seed in SEEDS[:2]]
    for result, reference in zip(got, want, strict=True):
        assert result.method == method and result.seconds > 0
        assert max(relative_gaps(result.model, reference)) < 1e-4
        assert max(relative_gaps(result.model, original)) > 1e-4  # the method did something
    for name, value in original.state_dict().items():
        assert torch.equal(value, kept[name])  # the input model is untouched


def test_unlearn_many_runs_other_methods_sequentially(caplog):
    original, retain, forget = unlearning_task()
    with caplog.at_level(logging.INFO, logger="ftunlearn.ensemble"):
        got = unlearn_many([original, original], retain, forget, "l1-sparse", SEEDS[:2],
                           device="cpu", epochs=1)
    assert "l1-sparse: sequential" in caplog.text
    want = unlearn(original, retain, forget, "l1-sparse", seed=SEEDS[1], device="cpu", epochs=1)
    assert max(relative_gaps(got[1].model, want.model)) == 0.0


def test_unlearn_many_rejects_mismatched_models_and_seeds():
    original, retain, forget = unlearning_task()
    with pytest.raises(UnlearnError, match="one model per seed"):
        unlearn_many([original], retain, forget, "ft", SEEDS[:2], device="cpu")


def build_cnn(seed: int) -> nn.Module:
    return build_model("cnn:width=4,hidden=16", (1, 8, 8), CLASSES, seed=seed)


def test_cnn_runs_sequentially_on_the_cpu_unless_asked_and_then_equals_sequential(caplog):
    generator = torch.Generator().manual_seed(8)
    x = torch.randn(200, 1, 8, 8, generator=generator)
    y = torch.randint(0, CLASSES, (200,), generator=generator)
    batches = TensorBatches(x, y, batch_size=64)
    with caplog.at_level(logging.INFO, logger="ftunlearn.ensemble"):
        automatic = fit_many([build_cnn(s) for s in SEEDS[:2]], batches, MOMENTUM_COSINE,
                             seeds=SEEDS[:2], device="cpu")
    assert not automatic.vectorised and "sequential: convolutions" in caplog.text
    models = [build_cnn(s) for s in SEEDS[:2]]
    forced = fit_many(models, batches, MOMENTUM_COSINE, seeds=SEEDS[:2], device="cpu",
                      vectorise="always")
    assert forced.vectorised
    assert_same_models(models, sequential(build_cnn, x, y, MOMENTUM_COSINE, SEEDS[:2]))
