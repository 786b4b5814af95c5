"""The fit loop and the predict loop."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.models import build_model
from ftunlearn.training import (
    Recipe,
    TensorBatches,
    ZippedBatches,
    channels_last_is_safe,
    fit,
    make_optimizer,
    make_schedule,
    predict,
    resolve_device,
)


def blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    return centres[y] + 0.5 * torch.randn(n, 2, generator=g), y


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fit_learns_separable_blobs_and_reports_epochs():
    x, y = blobs()
    model = build_model("mlp:hidden=16,depth=1", (2,), 3, seed=0)
    seen = []
    result = fit(model, TensorBatches(x, y, batch_size=32), Recipe(epochs=5, lr=0.1),
                 progress=False, on_epoch_end=lambda e, loss: seen.append((e, loss)))
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5]
    assert result.steps == 5 * 7
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert predict(model, x, y).accuracy(y) > 95


def test_fit_is_deterministic_by_seed_and_leaves_global_rng():
    x, y = blobs()
    runs = []
    for seed in (1, 1, 2):
        model = build_model("mlp:hidden=16,depth=1", (2,), 3, seed=0)
        torch.manual_seed(0)
        fit(model, TensorBatches(x, y, batch_size=16), Recipe(epochs=2), seed=seed,
            progress=False)
        runs.append((state(model), torch.rand(1)))
    (a, ra), (b, rb), (c, _) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(ra, rb)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_batches_cover_every_sample_once_per_epoch():
    index = torch.arange(10)
    source = TensorBatches(index, batch_size=3)
    assert len(source) == 4
    seen = torch.cat([b[0] for b in source.epoch(torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))
    assert len(TensorBatches(index, batch_size=3, drop_last=True)) == 3


def test_zipped_batches_cycle_the_follower():
    lead = TensorBatches(torch.arange(10), batch_size=2)
    follower = TensorBatches(torch.arange(100, 103), batch_size=2)
    steps = list(ZippedBatches(lead, follower).epoch(torch.Generator().manual_seed(0)))
    assert len(steps) == 5 and all(len(step) == 2 for step in steps)
    assert all(int(step[1].min()) >= 100 for step in steps)


def test_frozen_entries_stay_bit_identical_under_momentum_and_weight_decay():
    x, y = blobs()
    model = build_model("mlp:hidden=8,depth=1", (2,), 3, seed=0)
    weight = model[1].weight
    mask = torch.zeros_like(weight, dtype=torch.bool)
    mask[::2] = True
    before = weight.detach().clone()
    recipe = Recipe(epochs=3, lr=0.1, momentum=0.9, weight_decay=0.1)
    fit(model, TensorBatches(x, y, batch_size=16), recipe, frozen={"1.weight": mask},
        progress=False)
    assert torch.equal(weight[mask], before[mask])
    assert not torch.equal(weight[~mask], before[~mask])
    with pytest.raises(UnlearnError, match="unknown parameters"):
        fit(model, TensorBatches(x, y, batch_size=16), recipe, frozen={"nope": mask},
            progress=False)


def test_non_finite_loss_names_epoch_and_step():
    x, y = blobs(n=64)
    model = build_model("mlp:hidden=8,depth=1", (2,), 3, seed=0)

    calls = []

    def explodes_on_sixth_step(model: nn.Module, batch):
        calls.append(1)
        loss = F.cross_entropy(model(batch[0]), batch[1])
        return loss * float("inf") if len(calls) == 6 else loss

    with pytest.raises(UnlearnError, match=r"epoch 2, step 2"):
        fit(model, TensorBatches(x, y, batch_size=16), Recipe(epochs=3),
            loss_fn=explodes_on_sixth_step, progress=False)


def test_schedules():
    model = nn.Linear(1, 1)
    for schedule, expected_last in (("cosine", 0.5 * (1 + math.cos(math.pi * 9 / 10))),
                                    ("constant", 1.0), ("step", 0.1)):
        recipe = Recipe(epochs=10, lr=1.0, schedule=schedule, step_epochs=5, step_gamma=0.1)
        optimizer = make_optimizer(list(model.parameters()), recipe)
        scheduler = make_schedule(optimizer, recipe, steps_per_epoch=1)
        for _ in range(9):
            optimizer.step()
            scheduler.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected_last)


def test_recipe_validation_and_replace():
    with pytest.raises(UnlearnError, match="lr must be > 0"):
        Recipe(lr=0)
    with pytest.raises(UnlearnError, match="optimizer"):
        Recipe(optimizer="lbfgs")
    assert Recipe().replace(epochs=3).epochs == 3
    with pytest.raises(UnlearnError, match="unknown recipe field"):
        Recipe().replace(epoch=3)


def test_predict_returns_logits_and_per_sample_losses_in_batches():
    x, y = blobs(n=50)
    model = build_model("mlp:hidden=8,depth=1", (2,), 3, seed=0)
    out = predict(model, x, y, batch_size=7)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(out.logits, logits, atol=1e-6)
    assert torch.allclose(out.losses, F.cross_entropy(logits, y, reduction="none"), atol=1e-6)
    assert out.accuracy(y) == pytest.approx(100 * float((logits.argmax(1) == y).float().mean()))


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UnlearnError, match="unknown device"):
        resolve_device("tpu9")


def strided_pointwise(in_channels: int, groups: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, 8, 1, stride=2, groups=groups, bias=False),
                         nn.Flatten(), nn.LazyLinear(3))


# A width-4 ResNet-18 fitted on the CPU end to end, where this fault would abort the
# interpreter, is test_gpu_check_script.py's tiny check: a child process that fits one.
@pytest.mark.parametrize(("model", "safe"), [
    (strided_pointwise(4), False),  # the case oneDNN breaks on AVX2
    (strided_pointwise(1), False),  # fewer than 8 input channels, kept contiguous too
    (strided_pointwise(8), True),
    (strided_pointwise(16, groups=4), False),  # 4 channels per group
    (nn.Sequential(nn.Conv2d(4, 8, 1, stride=1), nn.Flatten()), True),  # not strided
    (nn.Sequential(nn.Conv2d(4, 8, 3, stride=2), nn.Flatten()), True),  # not 1x1
    (nn.Linear(4, 3), False),  # no convolution: nothing to gain
])
def test_channels_last_is_kept_off_the_convolutions_onednn_breaks(model, safe):
    assert channels_last_is_safe(model) is safe

