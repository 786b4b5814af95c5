"""evaluate / model_outputs on a tiny dataset whose predictions are known by construction.

The model is a bias-free linear layer with identity weights, so its logits are the inputs.
Each input is ``SCALE`` times a one-hot vector: of its label (predicted right) or of the next
class (predicted wrong), so every accuracy and loss can be counted by hand.
"""

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from ftunlearn.data.dataset import Dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.metrics import (
    ModelOutputs,
    evaluate,
    loss_mia,
    mia_efficacy,
    model_outputs,
)
from ftunlearn.metrics.mia import mia_attack_accuracy
from ftunlearn.metrics.registry import METRICS

N_CLASSES = 3
SCALE = 4.0
TRAIN_WRONG = {0, 3, 15, 20, 33}
TEST_WRONG = {1, 2, 5, 11}
EXPECTED_KEYS = {
    "UA",
    "RA",
    "TA",
    "MIA",
    "MIA_entropy",
    "MIA_m_entropy",
    "MIA_loss",
    "MIA_attack_acc",
    "loss_MIA",
    "forget_CE",
    "max_logit",
}


@dataclass(frozen=True)
class StandInSplit:
    forget: torch.Tensor
    retain: torch.Tensor
    forgotten_classes: tuple[int, ...] = ()


def inputs(labels: torch.Tensor, wrong: set[int]) -> torch.Tensor:
    predicted = torch.tensor(
        [(int(y) + 1) % N_CLASSES if i in wrong else int(y) for i, y in enumerate(labels)]
    )
    return SCALE * nn.functional.one_hot(predicted, N_CLASSES).float()


def tiny_dataset() -> Dataset:
    y_train = torch.arange(40) % N_CLASSES
    y_test = torch.arange(30) % N_CLASSES
    return Dataset(
        name="tiny",
        x_train=inputs(y_train, TRAIN_WRONG),
        y_train=y_train,
        x_test=inputs(y_test, TEST_WRONG),
        y_test=y_test,
        num_classes=N_CLASSES,
        input_shape=(N_CLASSES,),
        fingerprint="tiny",
    )


def identity_model(scale: float = 1.0) -> nn.Module:
    model = nn.Linear(N_CLASSES, N_CLASSES, bias=False)
    with torch.no_grad():
        model.weight.copy_(scale * torch.eye(N_CLASSES))
    return model


def percent_right(indices, wrong: set[int]) -> float:
    indices = list(indices)
    return 100.0 * sum(i not in wrong for i in indices) / len(indices)


# Cross-entropy of a sample whose logits are s * one-hot: right, log(1 + 2 e^-s);
# wrong, log(e^s + 2).
def ce_right(s: float) -> float:
    return math.log(1.0 + 2.0 * math.exp(-s))


def ce_wrong(s: float) -> float:
    return math.log(math.exp(s) + 2.0)


RANDOM_SPLIT = StandInSplit(forget=torch.arange(10), retain=torch.arange(10, 40))


def test_random_split_metrics_by_hand():
    metrics = evaluate(identity_model(), tiny_dataset(), RANDOM_SPLIT, device="cpu")
    assert set(metrics) == EXPECTED_KEYS
    # Forget 0..9 holds the wrong samples 0 and 3: 80 % right, UA = 20.
    assert metrics["UA"] == pytest.approx(100.0 - percent_right(range(10), TRAIN_WRONG))
    assert metrics["UA"] == pytest.approx(20.0)
    assert metrics["RA"] == pytest.approx(percent_right(range(10, 40), TRAIN_WRONG))
    assert metrics["TA"] == pytest.approx(percent_right(range(30), TEST_WRONG))
    expected_ce = (8 * ce_right(SCALE) + 2 * ce_wrong(SCALE)) / 10
    assert metrics["forget_CE"] == pytest.approx(expected_ce, rel=1e-6)
    # Every logit is SCALE or 0, so the largest |logit| is SCALE.
    assert metrics["max_logit"] == pytest.approx(SCALE)


def test_weights_changed_is_reported_as_given():
    metrics = evaluate(identity_model(), tiny_dataset(), RANDOM_SPLIT, device="cpu",
                       weights_changed=0)
    assert metrics["weights_changed"] == 0.0
    assert "weights_changed" not in evaluate(identity_model(), tiny_dataset(), RANDOM_SPLIT,
                                             device="cpu")


def test_mia_keys_wire_the_pure_functions():
    dataset = tiny_dataset()
    metrics = evaluate(identity_model(), dataset, RANDOM_SPLIT, seed=3, device="cpu")
    logits_f, y_f = dataset.x_train[:10], dataset.y_train[:10]
    logits_r, y_r = dataset.x_train[10:], dataset.y_train[10:]
    for feature, key in [("confidence", "MIA"), ("modified_entropy", "MIA_m_entropy")]:
        expected = mia_efficacy(
            logits_r, y_r, dataset.x_test, dataset.y_test, logits_f, y_f, feature=feature, seed=3
        )
        assert metrics[key] == pytest.approx(expected)
    ce = nn.functional.cross_entropy
    expected_loss_mia = loss_mia(
        ce(logits_f, y_f, reduction="none"),
        ce(dataset.x_test, dataset.y_test, reduction="none"),
        seed=3,
    )
    assert metrics["loss_MIA"] == pytest.approx(expected_loss_mia)
    expected_quality = mia_attack_accuracy(logits_r, y_r, dataset.x_test, dataset.y_test, seed=3)
    assert metrics["MIA_attack_acc"] == pytest.approx(expected_quality)


def test_class_wise_mia_non_members_can_be_the_kept_classes_only():
    dataset = tiny_dataset()
    forget = torch.nonzero(dataset.y_train == 2).flatten()
    retain = torch.nonzero(dataset.y_train != 2).flatten()
    split = StandInSplit(forget=forget, retain=retain, forgotten_classes=(2,))
    kept = dataset.y_test != 2
    whole = evaluate(identity_model(), dataset, split, seed=1, device="cpu")
    only_kept = evaluate(identity_model(), dataset, split, seed=1, device="cpu",
                         mia_non_members="kept-classes")
    args = (dataset.x_train[retain], dataset.y_train[retain])
    targets = (dataset.x_train[forget], dataset.y_train[forget])
    for metrics, x_test, y_test in ((whole, dataset.x_test, dataset.y_test),
                                    (only_kept, dataset.x_test[kept], dataset.y_test[kept])):
        assert metrics["MIA"] == pytest.approx(mia_efficacy(*args, x_test, y_test, *targets,
                                                            seed=1))
        assert metrics["MIA_attack_acc"] == pytest.approx(
            mia_attack_accuracy(*args, x_test, y_test, seed=1))
    # a random split has no kept classes: the option changes nothing there
    assert evaluate(identity_model(), dataset, RANDOM_SPLIT, device="cpu",
                    mia_non_members="kept-classes") == evaluate(identity_model(), dataset,
                                                                RANDOM_SPLIT, device="cpu")
    with pytest.raises(UnlearnError, match="mia_non_members"):
        evaluate(identity_model(), dataset, split, device="cpu", mia_non_members="train")


def test_class_wise_split_measures_ta_on_kept_classes():
    dataset = tiny_dataset()
    forget = torch.nonzero(dataset.y_train == 2).flatten()
    retain = torch.nonzero(dataset.y_train != 2).flatten()
    split = StandInSplit(forget=forget, retain=retain, forgotten_classes=(2,))
    metrics = evaluate(identity_model(), dataset, split, device="cpu")
    assert set(metrics) == EXPECTED_KEYS | {"TA_forgotten"}
    kept_test = [i for i in range(30) if i % N_CLASSES != 2]
    forgotten_test = [i for i in range(30) if i % N_CLASSES == 2]
    # Wrong test samples: 1 (class 1) among the 20 kept; 2, 5 and 11 (class 2) among the 10
    # forgotten.
    assert metrics["TA"] == pytest.approx(percent_right(kept_test, TEST_WRONG))
    assert metrics["TA"] == pytest.approx(95.0)
    assert metrics["TA_forgotten"] == pytest.approx(70.0)
    assert metrics["TA_forgotten"] == pytest.approx(percent_right(forgotten_test, TEST_WRONG))
    # Train wrong samples 20 (class 2) is forgotten; 0, 3, 15, 33 (class 0) are retained.
    assert metrics["UA"] == pytest.approx(100.0 - percent_right(forget.tolist(), TRAIN_WRONG))
    assert metrics["RA"] == pytest.approx(percent_right(retain.tolist(), TRAIN_WRONG))


def test_golden_comparison_against_itself_is_zero():
    dataset = tiny_dataset()
    golden = model_outputs(identity_model(), dataset, RANDOM_SPLIT, device="cpu")
    metrics = evaluate(identity_model(), dataset, RANDOM_SPLIT, golden=golden, device="cpu")
    assert metrics["avg_gap"] == 0.0
    assert metrics["forget_loss_gap"] == 0.0
    assert metrics["JS_forget"] == 0.0
    assert metrics["JS_test"] == 0.0
    assert {k: metrics[k] for k in golden.metrics} == dict(golden.metrics)


def test_golden_comparison_by_hand():
    # A golden model with doubled logits predicts the same classes with other confidences.
    dataset = tiny_dataset()
    golden = model_outputs(identity_model(2.0), dataset, RANDOM_SPLIT, device="cpu")
    metrics = evaluate(identity_model(), dataset, RANDOM_SPLIT, golden=golden, device="cpu")
    for key in ("UA", "RA", "TA"):
        assert metrics[key] == pytest.approx(golden.metrics[key])
    assert metrics["avg_gap"] == pytest.approx(abs(metrics["MIA"] - golden.metrics["MIA"]) / 4)
    golden_ce = (8 * ce_right(2 * SCALE) + 2 * ce_wrong(2 * SCALE)) / 10
    assert golden.metrics["forget_CE"] == pytest.approx(golden_ce, rel=1e-6)
    assert metrics["forget_loss_gap"] == pytest.approx(
        abs(metrics["forget_CE"] - golden_ce), rel=1e-5
    )
    assert 0.0 < metrics["JS_forget"] < math.log(2.0)
    assert 0.0 < metrics["JS_test"] < math.log(2.0)


def test_primary_metrics_are_the_main_tables_with_the_same_values():
    dataset = tiny_dataset()
    golden = model_outputs(identity_model(2.0), dataset, RANDOM_SPLIT, device="cpu")
    options = {"golden": golden, "device": "cpu", "rte_seconds": 2.0, "retrain_seconds": 4.0}
    every = evaluate(identity_model(), dataset, RANDOM_SPLIT, **options)
    primary = evaluate(identity_model(), dataset, RANDOM_SPLIT, metrics="primary", **options)
    wanted = {s.name for s in METRICS if s.primary or s.in_avg_gap}
    assert set(primary) == wanted and wanted < set(every)
    assert {"MIA_attack_acc", "loss_MIA", "rte_ratio"}.isdisjoint(primary)
    assert primary == {key: every[key] for key in wanted}
    with pytest.raises(UnlearnError, match="metrics must be one of"):
        evaluate(identity_model(), dataset, RANDOM_SPLIT, metrics="main", device="cpu")


def test_golden_from_another_split_is_rejected():
    dataset = tiny_dataset()
    other = StandInSplit(
        forget=torch.arange(1, 11), retain=torch.cat([torch.tensor([0]), torch.arange(11, 40)])
    )
    golden = model_outputs(identity_model(), dataset, other, device="cpu")
    with pytest.raises(UnlearnError, match="different split"):
        evaluate(identity_model(), dataset, RANDOM_SPLIT, golden=golden, device="cpu")


def test_timing_keys():
    dataset = tiny_dataset()
    metrics = evaluate(
        identity_model(), dataset, RANDOM_SPLIT, device="cpu", rte_seconds=2.0, retrain_seconds=8.0
    )
    assert metrics["rte_seconds"] == 2.0
    assert metrics["rte_ratio"] == pytest.approx(0.25)
    only_rte = evaluate(identity_model(), dataset, RANDOM_SPLIT, device="cpu", rte_seconds=2.0)
    assert "rte_ratio" not in only_rte
    with pytest.raises(UnlearnError, match="rte_seconds"):
        evaluate(identity_model(), dataset, RANDOM_SPLIT, device="cpu", rte_seconds=-1.0)
    with pytest.raises(UnlearnError, match="retrain_seconds"):
        evaluate(
            identity_model(),
            dataset,
            RANDOM_SPLIT,
            device="cpu",
            rte_seconds=1.0,
            retrain_seconds=0.0,
        )


def test_evaluate_is_deterministic_and_leaves_the_model_as_it_was():
    model = identity_model()
    model.train()
    first = evaluate(model, tiny_dataset(), RANDOM_SPLIT, seed=4, device="cpu")
    assert model.training
    assert first == evaluate(model, tiny_dataset(), RANDOM_SPLIT, seed=4, device="cpu")


def test_model_outputs_holds_cpu_tensors_and_read_only_metrics():
    outputs = model_outputs(identity_model(), tiny_dataset(), RANDOM_SPLIT, device="cpu")
    assert isinstance(outputs, ModelOutputs)
    assert outputs.forget.logits.shape == (10, N_CLASSES)
    assert outputs.retain.losses.shape == (30,)
    assert outputs.test.labels.dtype == torch.int64
    assert outputs.forget.logits.device.type == "cpu"
    with pytest.raises(TypeError):
        outputs.metrics["UA"] = 0.0  # type: ignore[index]


def test_extra_mia_features_can_be_left_out():
    metrics = evaluate(
        identity_model(), tiny_dataset(), RANDOM_SPLIT, device="cpu", extra_mia_features=()
    )
    assert set(metrics) == {"UA", "RA", "TA", "MIA", "MIA_attack_acc", "loss_MIA", "forget_CE",
                            "max_logit"}
    with pytest.raises(UnlearnError, match="unknown MIA feature"):
        evaluate(identity_model(), tiny_dataset(), RANDOM_SPLIT, extra_mia_features=("x",))


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (StandInSplit(torch.arange(0), torch.arange(40)), "forget is empty"),
        (StandInSplit(torch.arange(10), torch.arange(10, 41)), "outside"),
        (StandInSplit(torch.arange(10), torch.arange(5, 40)), "overlap"),
        (StandInSplit(torch.arange(10.0), torch.arange(10, 40)), "integer"),
        (StandInSplit(torch.arange(10), torch.arange(10, 40), (3,)), "forgotten_classes"),
        (StandInSplit(torch.arange(10), torch.arange(10, 40), (0, 1, 2)), "kept-class"),
    ],
)
def test_invalid_splits_raise_unlearn_error(split, message):
    with pytest.raises(UnlearnError, match=message):
        evaluate(identity_model(), tiny_dataset(), split, device="cpu")


def test_ra_is_measured_on_the_seeded_stratified_retain_subsample():
    from ftunlearn.data.splits import stratified_subsample

    data = tiny_dataset()
    retain = RANDOM_SPLIT.retain
    for seed in (0, 7):
        rows = stratified_subsample(data.y_train[retain].numpy(), 12, seed)
        chosen = retain[torch.from_numpy(rows)].tolist()
        metrics = evaluate(identity_model(), data, RANDOM_SPLIT, seed=seed, device="cpu",
                           retain_samples=12)
        assert metrics["RA"] == pytest.approx(percent_right(chosen, TRAIN_WRONG))
        outputs = model_outputs(identity_model(), data, RANDOM_SPLIT, seed=seed, device="cpu",
                                retain_samples=12)
        assert outputs.retain.labels.tolist() == data.y_train[chosen].tolist()
        assert torch.bincount(outputs.retain.labels).tolist() == [4, 4, 4]
    # the default, or a cap at or above the retain set's size, evaluates on all of D_r
    for everything in ({}, {"retain_samples": 30}, {"retain_samples": 10_000}):
        metrics = evaluate(identity_model(), data, RANDOM_SPLIT, device="cpu", **everything)
        assert metrics["RA"] == pytest.approx(percent_right(range(10, 40), TRAIN_WRONG))


def test_attack_samples_reaches_the_mia_attack():
    outputs = model_outputs(identity_model(), tiny_dataset(), RANDOM_SPLIT, seed=2,
                            device="cpu", attack_samples=6, extra_mia_features=())
    retain, test, forget = outputs.retain, outputs.test, outputs.forget
    expected = mia_efficacy(retain.logits, retain.labels, test.logits, test.labels,
                            forget.logits, forget.labels, seed=2, attack_samples=6)
    assert outputs.metrics["MIA"] == pytest.approx(expected)
