"""The package's public names: the issue's one-liner flow on digits."""

import pytest

import ftunlearn
from ftunlearn.training import TensorBatches


def test_load_split_train_and_report_accuracy():
    data = ftunlearn.load_dataset("digits")
    assert (data.num_classes, data.input_shape) == (10, (1, 8, 8))
    for spec in ("random:0.1", "class:3"):
        split = ftunlearn.make_split(data, spec, seed=0)
        assert len(split.forget) + len(split.retain) == data.n_train
    model = ftunlearn.build_model("cnn", data.input_shape, data.num_classes, seed=0)
    recipe = ftunlearn.Recipe(epochs=1, batch_size=64)
    batches = TensorBatches(data.x_train, data.y_train, batch_size=64)
    ftunlearn.fit(model, batches, recipe, progress=False)
    accuracy = ftunlearn.predict(model, data.x_test).accuracy(data.y_test)
    assert 10 < accuracy <= 100


def test_unknown_attribute_and_error_type():
    assert issubclass(ftunlearn.UnlearnError, ValueError)
    with pytest.raises(AttributeError):
        ftunlearn.no_such_name  # noqa: B018
    assert "dr-ft" in ftunlearn.available_methods()
