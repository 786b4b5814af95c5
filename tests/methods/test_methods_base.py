"""The unlearning contract: input forms, validation, coercion of CLI values, the registry."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import available_methods, make_config, unlearn
from ftunlearn.methods.base import Samples, as_samples, shared_samples

EXPECTED = {"retrain", "ft", "dr-ft", "rbm", "salun", "ga", "neggrad+", "rl", "l1-sparse",
            "scrub", "iu", "ssd"}


def test_registry_holds_every_method_of_the_issue():
    assert set(available_methods()) >= EXPECTED


def test_cli_strings_are_coerced_to_declared_types():
    config = make_config("ft", {"epochs": "3", "lr": "0.1", "optimizer": "adam",
                                "grad_clip": "none"})
    assert (config.epochs, config.lr, config.optimizer, config.grad_clip) == (3, 0.1, "adam", None)
    assert make_config("ft", {"grad_clip": "2"}).grad_clip == 2.0
    with pytest.raises(UnlearnError, match="optimizer must be one of 'sgd', 'adam'"):
        make_config("ft", {"optimizer": "lbfgs"})
    with pytest.raises(UnlearnError, match="unknown hyperparameter"):
        make_config("ft", {"alpha": 1})
    with pytest.raises(UnlearnError, match="unknown method"):
        make_config("nope", {})
    with pytest.raises(UnlearnError, match="lr must be > 0"):
        make_config("ft", {"lr": 0})


def test_inputs_as_pairs_or_tensor_datasets():
    x, y = torch.randn(5, 3), torch.arange(5)
    assert torch.equal(as_samples(TensorDataset(x, y), "retain").x, x)
    assert torch.equal(as_samples((x, y), "retain").y, y)
    with pytest.raises(UnlearnError, match="x has 5 samples but y has 4"):
        as_samples((x, y[:4]), "retain")
    with pytest.raises(UnlearnError, match="integer class labels"):
        as_samples((x, y.float()), "forget")


def test_shared_samples_are_counted_exactly():
    x = torch.randn(6, 4)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    retain, forget = Samples(x[:4], y[:4]), Samples(x[3:], y[3:])
    assert shared_samples(retain, forget) == 1
    assert shared_samples(Samples(x[:3], y[:3]), forget) == 0
    same_input_other_label = Samples(x[3:4], torch.tensor([0]))
    assert shared_samples(retain, same_input_other_label) == 0


def test_unlearn_validates_sets_and_leaves_the_input_alone():
    model = nn.Sequential(nn.Linear(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(20, 4), torch.randint(0, 2, (20,))
    with pytest.raises(UnlearnError, match="forget set is empty"):
        unlearn(model, (x, y), (x[:0], y[:0]), "ft")
    with pytest.raises(UnlearnError, match="also appear in the retain set"):
        unlearn(model, (x, y), (x[:3], y[:3]), "ft")
    with pytest.raises(UnlearnError, match="num_classes is 1"):
        unlearn(model, (x[5:], y[5:]), (x[:5], y[:5]), "ft", num_classes=1)
    result = unlearn(model, (x[5:], y[5:]), (x[:5], y[:5]), "ft", epochs=1, device="cpu")
    assert result.method == "ft" and result.seconds > 0
    assert result.hyperparameters["epochs"] == 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in result.model.state_dict().items())
