"""Gradient saliency, exact top-fraction masks, and ``rbm`` (retention-based masking)."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Context, Samples
from ftunlearn.methods.finetune import reinitialise
from ftunlearn.methods.masking import (
    RetentionMaskingConfig,
    reset_weights,
    retention_mask,
    saliency_subset,
)
from ftunlearn.methods.saliency import (
    count_selected,
    frozen_outside,
    gradient_saliency,
    invert,
    select_top,
    selected_count,
)

CPU = torch.device("cpu")


def linear_gradients(model: nn.Linear, x: torch.Tensor, y: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample CE gradients of a linear layer: (p_i − e_{y_i}) x_iᵀ and p_i − e_{y_i}."""
    with torch.no_grad():
        residual = F.softmax(model(x), dim=1) - F.one_hot(y, model.out_features).float()
    return residual[:, :, None] * x[:, None, :], residual


# --- saliency -------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["vmap", "loop"])
def test_saliency_statistics_match_the_closed_form_of_a_linear_model(engine) -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 4)
    x, y = torch.randn(9, 3), torch.randint(0, 4, (9,))
    weight_grads, bias_grads = linear_gradients(model, x, y)
    summed = gradient_saliency(model, Samples(x, y), statistic="sum", batch_size=4)
    absolute = gradient_saliency(model, Samples(x, y), statistic="abs-sum", engine=engine)
    torch.testing.assert_close(summed["weight"], weight_grads.sum(0).abs())
    torch.testing.assert_close(summed["bias"], bias_grads.sum(0).abs())
    torch.testing.assert_close(absolute["weight"], weight_grads.abs().sum(0))
    torch.testing.assert_close(absolute["bias"], bias_grads.abs().sum(0))


def test_summed_gradient_is_blind_where_per_sample_magnitudes_are_not() -> None:
    model = nn.Linear(2, 2)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    # p = (½, ½) for both; the two gradients are ±[[-½, 0], [½, 0]] and cancel exactly.
    samples = Samples(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]))
    summed = gradient_saliency(model, samples, statistic="sum")
    absolute = gradient_saliency(model, samples, statistic="abs-sum")
    assert torch.equal(summed["weight"], torch.zeros(2, 2))
    assert torch.equal(absolute["weight"], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(absolute["bias"], torch.tensor([1.0, 1.0]))


def test_saliency_uses_evaluation_mode_and_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(5, 2))
    model.train()
    model(torch.randn(32, 3))
    state = copy.deepcopy(model.state_dict())
    samples = Samples(torch.randn(7, 3), torch.randint(0, 2, (7,)))
    by_vmap = gradient_saliency(model, samples, statistic="abs-sum", engine="vmap")
    by_loop = gradient_saliency(model, samples, statistic="abs-sum", engine="loop")
    for name in by_vmap:
        torch.testing.assert_close(by_vmap[name], by_loop[name])
    assert model.training
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())


def test_saliency_rejects_bad_requests() -> None:
    model = nn.Linear(2, 2)
    samples = Samples(torch.zeros(2, 2), torch.tensor([0, 1]))
    with pytest.raises(UnlearnError, match="statistic"):
        gradient_saliency(model, samples, statistic="mean")
    with pytest.raises(UnlearnError, match="empty"):
        gradient_saliency(model, Samples(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(UnlearnError, match="unknown parameters"):
        gradient_saliency(model, samples, names=["nope"])


# --- masks ----------------------------------------------------------------------------------

SCORES = {"a": torch.tensor([3.0, 1.0, 2.0, 5.0]), "b": torch.tensor([[0.0, 4.0], [4.0, 1.0]])}


@pytest.mark.parametrize("scope,select,fraction,expected_a,expected_b", [
    ("tensor", "largest", 0.5, [1, 0, 0, 1], [[0, 1], [1, 0]]),
    ("tensor", "smallest", 0.5, [0, 1, 1, 0], [[1, 0], [0, 1]]),
    ("global", "largest", 0.25, [0, 0, 0, 1], [[0, 1], [0, 0]]),
    ("global", "smallest", 0.25, [0, 1, 0, 0], [[1, 0], [0, 0]]),
    ("global", "largest", 1.0, [1, 1, 1, 1], [[1, 1], [1, 1]]),
])
def test_select_top_by_hand(scope, select, fraction, expected_a, expected_b) -> None:
    masks = select_top(SCORES, fraction, scope=scope, select=select)
    assert torch.equal(masks["a"], torch.tensor(expected_a, dtype=torch.bool))
    assert torch.equal(masks["b"], torch.tensor(expected_b, dtype=torch.bool))


@pytest.mark.parametrize("total,fraction,count", [
    (100, 0.29, 29), (10, 0.25, 3), (10, 0.35, 4), (7, 0.5, 4), (3, 1 / 3, 1), (5, 1.0, 5),
    (5, 0.0, 0), (0, 0.5, 0), (1000, 0.001, 1),
])
def test_selected_count_rounds_half_up(total, fraction, count) -> None:
    assert selected_count(total, fraction) == count


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=3), min_size=1, max_size=4),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    select=st.sampled_from(["largest", "smallest"]),
)
def test_masks_select_exactly_the_declared_count(shapes, fraction, seed, select) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = {f"t{i}": torch.randint(0, 4, shape, generator=generator).float()
              for i, shape in enumerate(shapes)}
    per_tensor = select_top(scores, fraction, scope="tensor", select=select)
    for name, mask in per_tensor.items():
        assert int(mask.sum()) == selected_count(scores[name].numel(), fraction)
    everywhere = select_top(scores, fraction, scope="global", select=select)
    total = sum(value.numel() for value in scores.values())
    assert count_selected(everywhere) == selected_count(total, fraction)
    chosen = torch.cat([s.flatten()[m.flatten()] for s, m in zip(scores.values(),
                                                                  everywhere.values(),
                                                                  strict=True)])
    others = torch.cat([s.flatten()[~m.flatten()] for s, m in zip(scores.values(),
                                                                   everywhere.values(),
                                                                   strict=True)])
    if chosen.numel() and others.numel():
        if select == "largest":
            assert chosen.min() >= others.max()
        else:
            assert chosen.max() <= others.min()


def test_select_top_rejects_bad_options() -> None:
    with pytest.raises(UnlearnError, match="scope"):
        select_top(SCORES, 0.5, scope="layer")
    with pytest.raises(UnlearnError, match="selection"):
        select_top(SCORES, 0.5, select="middle")
    with pytest.raises(UnlearnError, match="fraction"):
        select_top(SCORES, 1.5)


def test_frozen_outside_freezes_everything_not_trainable() -> None:
    model = nn.Linear(2, 2)
    trainable = {"weight": torch.tensor([[True, False], [False, False]])}
    frozen = frozen_outside(model, trainable)
    assert torch.equal(frozen["weight"], torch.tensor([[False, True], [True, True]]))
    assert torch.equal(frozen["bias"], torch.tensor([True, True]))


# --- rbm ------------------------------------------------------------------------------------

def context(seed: int = 3) -> Context:
    return Context(seed=seed, device=CPU, num_classes=4)


@pytest.mark.parametrize("options", [
    {}, {"reset": "init"}, {"objective": "dr-ft", "regulariser": "uniform-kl"},
    {"update": "reset", "statistic": "sum", "scope": "global"}, {"saliency_samples": 50},
])
def test_rbm_keeps_the_contract(method_contract, options) -> None:
    method_contract("rbm", **options)


@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("keep", [0.3, 0.5, 0.77])
def test_rbm_mask_keeps_exactly_the_declared_fraction(tiny_task, scope, keep) -> None:
    config = RetentionMaskingConfig(keep=keep, scope=scope)
    kept = retention_mask(tiny_task.fresh_model(), tiny_task.retain, config, context())
    params = dict(tiny_task.model.named_parameters())
    assert kept.keys() == params.keys()
    if scope == "tensor":
        for name, mask in kept.items():
            assert int(mask.sum()) == selected_count(params[name].numel(), keep), name
    else:
        total = sum(p.numel() for p in params.values())
        assert count_selected(kept) == selected_count(total, keep)


def test_rbm_mask_keeps_the_weights_the_retained_data_uses_most(tiny_task) -> None:
    model = tiny_task.fresh_model()
    config = RetentionMaskingConfig(keep=0.5)
    kept = retention_mask(model, tiny_task.retain, config, context())
    scores = gradient_saliency(model, tiny_task.retain, statistic="abs-sum")
    for name, mask in kept.items():
        assert scores[name][mask].min() >= scores[name][~mask].max(), name


@pytest.mark.parametrize("reset", ["zero", "init"])
def test_reset_weights_overwrites_exactly_the_marked_entries(tiny_task, reset) -> None:
    model = tiny_task.fresh_model()
    where = {name: torch.rand(p.shape, generator=torch.Generator().manual_seed(1)) < 0.4
             for name, p in model.named_parameters()}
    reset_weights(model, where, reset, seed=9)
    fresh = copy.deepcopy(tiny_task.model)
    reinitialise(fresh, seed=9)
    fresh_params = dict(fresh.named_parameters())
    for name, param in model.named_parameters():
        original = dict(tiny_task.model.named_parameters())[name]
        mask = where[name]
        assert torch.equal(param[~mask], original[~mask])
        expected = torch.zeros_like(param[mask]) if reset == "zero" else fresh_params[name][mask]
        assert torch.equal(param[mask], expected)


def test_rbm_update_reset_leaves_kept_weights_bit_identical(tiny_task, run_method) -> None:
    options = {"keep": 0.5, "update": "reset", "momentum": 0.9, "weight_decay": 0.05,
               "lr": 0.05, "epochs": 4}
    config = RetentionMaskingConfig(**options)
    kept = retention_mask(tiny_task.fresh_model(), tiny_task.retain, config, context(seed=2))
    result = dict(run_method("rbm", seed=2, **options).model.named_parameters())
    for name, original in tiny_task.model.named_parameters():
        mask = kept[name]
        assert torch.equal(result[name][mask], original[mask]), name
    # the reset entries started at zero and (where a gradient reaches them) trained away from it
    assert any(bool((result[name][~mask] != 0).any()) for name, mask in kept.items())


def test_rbm_update_all_trains_the_kept_weights_too(tiny_task, run_method) -> None:
    config = RetentionMaskingConfig()
    kept = retention_mask(tiny_task.fresh_model(), tiny_task.retain, config, context(seed=2))
    result = dict(run_method("rbm", seed=2).model.named_parameters())
    changed = [not torch.equal(result[name][mask], original[mask])
               for name, original in tiny_task.model.named_parameters()
               for mask in [kept[name]]]
    assert all(changed)


@pytest.mark.parametrize("objective,method", [("ft", "ft"), ("dr-ft", "dr-ft")])
def test_rbm_keeping_everything_is_its_fine_tuning_objective(run_method, objective,
                                                             method) -> None:
    masked = run_method("rbm", seed=4, keep=1.0, objective=objective).model
    plain = run_method(method, seed=4).model
    assert all(torch.equal(a, b) for a, b in zip(masked.parameters(), plain.parameters(),
                                                 strict=True))


def test_saliency_subset_is_a_seeded_subset(tiny_task) -> None:
    first = saliency_subset(tiny_task.retain, 30, seed=5)
    again = saliency_subset(tiny_task.retain, 30, seed=5)
    other = saliency_subset(tiny_task.retain, 30, seed=6)
    assert len(first) == 30
    assert torch.equal(first.x, again.x)
    assert not torch.equal(first.x, other.x)
    rows = {tuple(x.tolist()) for x in tiny_task.retain.x}
    assert all(tuple(x.tolist()) in rows for x in first.x)
    assert saliency_subset(tiny_task.retain, None, seed=5) is tiny_task.retain


@pytest.mark.parametrize("bad", [{"keep": 0.0}, {"keep": 1.2}, {"statistic": "mean"},
                                 {"scope": "layer"}, {"reset": "random"}, {"objective": "ga"},
                                 {"update": "kept"}, {"saliency_samples": 0}, {"alpha": 2.0},
                                 {"lr": -0.1}])
def test_rbm_rejects_bad_hyperparameters(run_method, bad) -> None:
    with pytest.raises(UnlearnError):
        run_method("rbm", **bad)


def test_invert_is_the_complement() -> None:
    masks = select_top(SCORES, 0.5)
    flipped = invert(masks)
    assert all(torch.equal(flipped[name], ~masks[name]) for name in masks)
