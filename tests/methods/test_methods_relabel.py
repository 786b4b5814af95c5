"""``rl``: contract, the relabelled union's composition, and forget predictions moving away."""

import math

import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import unlearn
from ftunlearn.methods.base import Samples
from ftunlearn.methods.relabel import RelabelledUnion
from ftunlearn.training import predict


def run(task, method="rl", seed=0, **hyperparameters):
    return unlearn(task.model, task.retain, task.forget, method, seed=seed, device="cpu",
                   num_classes=task.num_classes, recipe=task.recipe, **hyperparameters).model


def test_contract(method_contract):
    method_contract("rl")


def keyed(x, y):
    """Rows of ``x`` as tuples (hashable), each with its label."""
    return sorted((tuple(row.tolist()), int(label)) for row, label in zip(x, y, strict=True))


def test_union_holds_every_sample_once_with_forget_labels_wrong(tiny_task):
    retain, forget = tiny_task.retain, tiny_task.forget
    union = RelabelledUnion.of(retain, forget, tiny_task.num_classes, batch_size=50)
    assert len(union) == math.ceil((len(retain) + len(forget)) / 50)
    generator = torch.Generator().manual_seed(3)
    epochs = []
    for _ in range(2):
        batches = list(union.epoch(generator))
        assert len(batches) == len(union)
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        assert x.shape[0] == len(retain) + len(forget)
        retain_keys = {tuple(row.tolist()) for row in retain.x}
        is_retain = torch.tensor([tuple(row.tolist()) in retain_keys for row in x])
        # The retain part is exactly D_r with its true labels.
        assert keyed(x[is_retain], y[is_retain]) == keyed(retain.x, retain.y)
        # The forget part is exactly D_f's inputs, each with a label other than its own.
        true_label = {tuple(row.tolist()): int(label) for row, label in zip(forget.x, forget.y,
                                                                            strict=True)}
        forget_rows = [tuple(row.tolist()) for row in x[~is_retain]]
        assert sorted(forget_rows) == sorted(true_label)
        wrong = y[~is_retain].tolist()
        assert all(label != true_label[row] for row, label in zip(forget_rows, wrong, strict=True))
        assert all(0 <= label < tiny_task.num_classes for label in wrong)
        epochs.append(dict(zip(forget_rows, wrong, strict=True)))
    # The wrong labels are redrawn each epoch.
    assert epochs[0] != epochs[1]


def test_union_is_shuffled_by_the_generator(tiny_task):
    union = RelabelledUnion.of(tiny_task.retain, tiny_task.forget, tiny_task.num_classes, 64)

    def first_batch(seed):
        return next(union.epoch(torch.Generator().manual_seed(seed)))

    assert all(torch.equal(a, b) for a, b in zip(first_batch(0), first_batch(0), strict=True))
    assert not torch.equal(first_batch(0)[0], first_batch(1)[0])


def true_label_probability(model, samples):
    probabilities = predict(model, samples.x, device="cpu").logits.softmax(1)
    return float(probabilities.gather(1, samples.y.view(-1, 1)).mean())


def test_rl_moves_forget_predictions_away_from_the_true_labels(tiny_task):
    # Same optimiser settings, same seed: fine-tuning on D_r alone versus rl.
    settings = {"epochs": 10, "lr": 0.05, "batch_size": 32}
    relabelled = run(tiny_task, "rl", **settings)
    finetuned = run(tiny_task, "ft", **settings)
    forget, retain = tiny_task.forget, tiny_task.retain
    original = true_label_probability(tiny_task.model, forget)
    assert true_label_probability(relabelled, forget) < original - 0.1
    assert true_label_probability(relabelled, forget) < true_label_probability(finetuned, forget)
    assert predict(relabelled, retain.x, device="cpu").accuracy(retain.y) > 85


def test_a_single_class_has_no_wrong_label(tiny_task):
    zeros = Samples(tiny_task.retain.x, torch.zeros_like(tiny_task.retain.y))
    forget = Samples(tiny_task.forget.x, torch.zeros_like(tiny_task.forget.y))
    with pytest.raises(UnlearnError, match="at least 2 classes"):
        unlearn(tiny_task.model, zeros, forget, "rl", device="cpu", num_classes=1)


@pytest.mark.parametrize(("settings", "message"), [
    ({"lr": -1.0}, "lr must be > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"optimizer": "rmsprop"}, "optimizer"),
])
def test_invalid_hyperparameters(tiny_task, settings, message):
    with pytest.raises(UnlearnError, match=message):
        run(tiny_task, **settings)
