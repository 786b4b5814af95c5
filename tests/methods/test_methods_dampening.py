"""``ssd``: contract, the importances, the dampening rule by hand, and the whole method against
importances computed independently: unselected entries bit-identical, selected ones scaled."""

import pytest
import torch
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.methods.base import Samples
from ftunlearn.methods.dampening import dampening_factors, fisher_diagonal

CPU = torch.device("cpu")


def class_zero_task(task):
    """The tiny task's training set re-split: forget every sample of class 0."""
    x = torch.cat([task.retain.x, task.forget.x])
    y = torch.cat([task.retain.y, task.forget.y])
    return Samples(x[y != 0], y[y != 0]), Samples(x[y == 0], y[y == 0])


def shuffled(samples, seed):
    order = torch.randperm(len(samples.y), generator=torch.Generator().manual_seed(seed))
    return Samples(samples.x[order], samples.y[order])


def run(task, retain=None, forget=None, seed=0, **hyperparameters):
    return unlearn(task.model, retain or task.retain, forget or task.forget, "ssd", seed=seed,
                   device="cpu", num_classes=task.num_classes, **hyperparameters).model


def test_contract(tiny_task):
    # Class forgetting (SSD's main use), the split the checks below use too.
    retain, forget = class_zero_task(tiny_task)
    before = tiny_task.state()
    first = run(tiny_task, retain, forget)
    again = run(tiny_task, retain, forget)
    for name, value in tiny_task.model.state_dict().items():
        assert torch.equal(value, before[name])
    assert any(not torch.equal(v, before[k]) for k, v in first.state_dict().items())
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])


def test_dampening_rule_by_hand():
    importance_all = torch.tensor([1.0, 1.0, 0.0, 2.0, 0.5, 0.0])
    importance_forget = torch.tensor([5.0, 20.0, 3.0, 0.0, 5.5, 0.0])
    # α = 10 selects I_f > 10·I_D: entries 1 (20 > 10), 2 (3 > 0) and 4 (5.5 > 5).
    selected, factor = dampening_factors(importance_all, importance_forget, alpha=10.0, lam=1.0)
    assert selected.tolist() == [False, True, True, False, True, False]
    torch.testing.assert_close(factor, torch.tensor([1.0, 1 / 20, 0.0, 1.0, 0.5 / 5.5, 1.0]))
    # λ = 15: 15·1/20 = 0.75 stays, 15·0.5/5.5 > 1 is capped at 1.
    _, factor = dampening_factors(importance_all, importance_forget, alpha=10.0, lam=15.0)
    torch.testing.assert_close(factor, torch.tensor([1.0, 0.75, 0.0, 1.0, 1.0, 1.0]))


def batch_sizes(n, batch_size):
    """⌈n / batch_size⌉ consecutive batch sizes differing by at most one, larger ones first."""
    count = -(-n // batch_size)
    return [n // count + (1 if i < n % count else 0) for i in range(count)]


def squared_batch_gradients(model, samples, batch_size):
    """The importances by the definition, one autograd call per mini-batch."""
    totals = [torch.zeros_like(p) for p in model.parameters()]
    sizes = batch_sizes(len(samples), batch_size)
    start = 0
    for size in sizes:
        x, y = samples.x[start : start + size], samples.y[start : start + size]
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
        totals = [t + g.square() for t, g in zip(totals, grads, strict=True)]
        start += size
    return {name: t / len(sizes) for (name, _), t in zip(model.named_parameters(), totals,
                                                            strict=True)}


def test_batches_are_near_equal():
    # 144 samples at batch 128: two batches of 72, not 128 + 16.
    assert batch_sizes(144, 128) == [72, 72]
    assert batch_sizes(10, 4) == [4, 3, 3]
    assert batch_sizes(5, 1) == [1, 1, 1, 1, 1]


@pytest.mark.parametrize("batch_size", [1, 50, 128])
def test_importances_match_the_definition(tiny_task, batch_size):
    model = tiny_task.fresh_model()
    got = fisher_diagonal(model, tiny_task.retain, batch_size, CPU)
    expected = squared_batch_gradients(model, tiny_task.retain, batch_size)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("batch_size", [1, 64])
def test_only_selected_entries_change_and_by_the_stated_factor(tiny_task, batch_size):
    retain, forget = class_zero_task(tiny_task)
    # D_f is a quarter of D here, so per-sample importances satisfy I_f ≤ 4·I_D (see below):
    # α = 2 selects some entries.
    alpha, lam = 2.0, 1.0
    result = run(tiny_task, retain, forget, alpha=alpha, lam=lam, batch_size=batch_size)
    model = tiny_task.fresh_model()
    everything = Samples(torch.cat([retain.x, forget.x]), torch.cat([retain.y, forget.y]))
    # the importance batches' documented draw: D shuffled with the seed (0), D_f with seed + 1
    importance_all = squared_batch_gradients(model, shuffled(everything, 0), batch_size)
    importance_forget = squared_batch_gradients(model, shuffled(forget, 1), batch_size)
    after = dict(result.named_parameters())
    chosen = 0
    for name, param in model.named_parameters():
        i_d, i_f = importance_all[name], importance_forget[name]
        selected = i_f > alpha * i_d
        # Entries far from the threshold only, so rounding cannot flip a selection.
        clear = (i_f - alpha * i_d).abs() > 1e-4 * (i_f + alpha * i_d)
        kept = ~selected & clear
        assert torch.equal(after[name][kept], param.detach()[kept]), name
        scaled = selected & clear
        factor = torch.clamp(lam * i_d[scaled] / i_f[scaled], max=1.0)
        torch.testing.assert_close(after[name][scaled], param.detach()[scaled] * factor,
                                   rtol=1e-4, atol=1e-7)
        chosen += int(scaled.sum())
    total = sum(p.numel() for p in model.parameters())
    assert 0 < chosen < total


def test_per_sample_importances_select_nothing_when_the_forget_share_exceeds_one_over_alpha(
        tiny_task):
    # Per-sample: I_D = (n_r·I_r + n_f·I_f)/n ≥ (n_f/n)·I_f, so I_f > α·I_D needs n_f/n < 1/α.
    # Class 0 is a quarter of D, so α = 5 > 4 can select nothing: the model comes back as it was.
    retain, forget = class_zero_task(tiny_task)
    assert len(forget) / (len(forget) + len(retain)) == pytest.approx(0.25)
    result = run(tiny_task, retain, forget, alpha=5.0, batch_size=1)
    for name, value in tiny_task.model.state_dict().items():
        assert torch.equal(result.state_dict()[name], value)


def test_in_order_batches_bound_the_ratio_and_the_shuffle_lifts_it(tiny_task):
    # Cut in order with D_f last, D's batches hold D_f's own batches intact: I_D >= (k_f/k_D)·I_f
    # entry-wise, so α above k_D/k_f can select nothing. The seeded shuffle mixes D_f into D's
    # batches, and the same α then dampens entries.
    retain, forget = class_zero_task(tiny_task)
    batch = 8  # both sets cut to whole batches, so D_f's batches are D's last ones exactly
    retain = Samples(retain.x[: len(retain) // batch * batch], retain.y[: len(retain) // batch
                                                                      * batch])
    forget = Samples(forget.x[: len(forget) // batch * batch], forget.y[: len(forget) // batch
                                                                      * batch])
    k_d = -(-(len(retain) + len(forget)) // batch)
    k_f = -(-len(forget) // batch)
    everything = Samples(torch.cat([retain.x, forget.x]), torch.cat([retain.y, forget.y]))
    model = tiny_task.fresh_model()
    in_order_d = squared_batch_gradients(model, everything, batch)
    in_order_f = squared_batch_gradients(model, forget, batch)
    alpha = 1.01 * k_d / k_f
    for name in in_order_d:
        assert not (in_order_f[name] > alpha * in_order_d[name] * (1 + 1e-6)).any(), name
    result = run(tiny_task, retain, forget, alpha=alpha, batch_size=batch)
    changed = sum(int((result.state_dict()[n] != v).sum())
                  for n, v in tiny_task.model.state_dict().items())
    assert changed > 0


@pytest.mark.parametrize(("settings", "message"), [
    ({"alpha": 0.0}, "alpha must be > 0"),
    ({"lam": -1.0}, "lam must be > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
])
def test_invalid_hyperparameters(tiny_task, settings, message):
    with pytest.raises(UnlearnError, match=message):
        run(tiny_task, **settings)
