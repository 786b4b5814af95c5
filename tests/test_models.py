"""Models: shapes, seeded initialisation, specs and user factories."""

import sys
import textwrap

import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.models import ModelSpec, available_models, build_model


@pytest.mark.parametrize(
    ("spec", "shape"),
    [("mlp", (1, 8, 8)), ("mlp:hidden=16,depth=1", (20,)), ("cnn", (1, 28, 28)),
     ("cnn:width=4", (3, 32, 32)), ("resnet18:width=4", (3, 32, 32))],
)
def test_models_map_inputs_to_class_logits(spec, shape):
    model = build_model(spec, shape, 7, seed=0)
    assert model(torch.zeros(2, *shape)).shape == (2, 7)


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("cnn:width=4", (1, 8, 8), 10, seed=5)
    after = torch.rand(1)
    b = build_model("cnn:width=4", (1, 8, 8), 10, seed=5)
    c = build_model("cnn:width=4", (1, 8, 8), 10, seed=6)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(),
                                                 strict=True))
    assert not torch.equal(a[0].weight, c[0].weight)


def test_resnet18_has_the_cifar_stem_and_eight_blocks():
    model = build_model("resnet18:width=8", (3, 32, 32), 10)
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert len(model.stages) == 8
    assert model.head.in_features == 64


def test_spec_parsing_and_errors():
    assert ModelSpec.parse("cnn:width=8").options == {"width": 8}
    assert str(ModelSpec.parse("cnn:width=8")) == "cnn:width=8"
    assert set(available_models()) >= {"mlp", "cnn", "resnet18"}
    with pytest.raises(UnlearnError, match="unknown model"):
        ModelSpec.parse("vgg")
    with pytest.raises(UnlearnError, match="key=value"):
        ModelSpec.parse("cnn:8")
    with pytest.raises(UnlearnError, match="image inputs"):
        build_model("cnn", (20,), 3)
    with pytest.raises(UnlearnError, match="model cnn"):
        build_model("cnn:depth=3", (1, 8, 8), 3)


def test_user_factory_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        from torch import nn
        def tiny(input_shape, num_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], num_classes))
        def not_a_module(input_shape, num_classes):
            return 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        model = build_model("my_models:tiny", (5,), 3, seed=1)
        assert model(torch.zeros(4, 5)).shape == (4, 3)
        with pytest.raises(UnlearnError, match=r"not a torch\.nn\.Module"):
            build_model("my_models:not_a_module", (5,), 3)
        with pytest.raises(UnlearnError, match="no callable"):
            build_model("my_models:missing", (5,), 3)
        with pytest.raises(UnlearnError, match="cannot import"):
            build_model("no_such_pkg.mod:f", (5,), 3)
    finally:
        sys.modules.pop("my_models", None)
