"""The checkpoint cache: hits, misses, and corrupt or mismatched entries rebuilt."""

import json

import torch

from ftunlearn.experiments.cache import CheckpointCache, cache_key
from ftunlearn.models import build_model

PARTS = {"dataset": "toy", "split": "full", "model": "mlp", "recipe": {"epochs": 1}, "seed": 0}


def make_build(spec="mlp:hidden=4,depth=1"):
    return lambda: build_model(spec, (3,), 2, seed=0)


def make_train(counter):
    def train(model):
        counter.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)

    return train


def test_second_request_is_a_hit_with_identical_weights(tmp_path):
    cache = CheckpointCache(tmp_path)
    calls = []
    first = cache.get_or_train(PARTS, make_build(), make_train(calls))
    second = cache.get_or_train(PARTS, make_build(), make_train(calls))
    assert (first.hit, second.hit, len(calls)) == (False, True, 1)
    assert second.train_seconds == first.train_seconds
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert not any(p.suffix == ".pkl" or p.suffix == ".pt" for p in tmp_path.iterdir())


def test_other_key_parts_train_again(tmp_path):
    cache = CheckpointCache(tmp_path)
    calls = []
    cache.get_or_train(PARTS, make_build(), make_train(calls))
    cache.get_or_train({**PARTS, "seed": 1}, make_build(), make_train(calls))
    assert len(calls) == 2
    assert cache_key(PARTS) != cache_key({**PARTS, "seed": 1})


def test_corrupt_weights_are_detected_and_rebuilt(tmp_path, caplog):
    cache = CheckpointCache(tmp_path)
    calls = []
    cache.get_or_train(PARTS, make_build(), make_train(calls))
    weights, _ = cache.paths(cache_key(PARTS))
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    again = cache.get_or_train(PARTS, make_build(), make_train(calls))
    assert not again.hit and len(calls) == 2
    assert "checksum" in caplog.text
    assert cache.get_or_train(PARTS, make_build(), make_train(calls)).hit


def test_mismatched_architecture_or_metadata_is_rebuilt(tmp_path):
    cache = CheckpointCache(tmp_path)
    calls = []
    cache.get_or_train(PARTS, make_build(), make_train(calls))
    other = cache.get_or_train(PARTS, make_build("mlp:hidden=5,depth=1"), make_train(calls))
    assert not other.hit and len(calls) == 2
    _, meta = cache.paths(cache_key(PARTS))
    record = json.loads(meta.read_text())
    record["parts"]["seed"] = 99
    meta.write_text(json.dumps(record))
    assert not cache.get_or_train(PARTS, make_build("mlp:hidden=5,depth=1"),
                                  make_train(calls)).hit
    meta.write_text("{not json")
    assert not cache.get_or_train(PARTS, make_build("mlp:hidden=5,depth=1"),
                                  make_train(calls)).hit
    assert len(calls) == 4


def test_weights_without_metadata_are_not_used(tmp_path):
    cache = CheckpointCache(tmp_path)
    calls = []
    cache.get_or_train(PARTS, make_build(), make_train(calls))
    _, meta = cache.paths(cache_key(PARTS))
    meta.unlink()
    assert not cache.get_or_train(PARTS, make_build(), make_train(calls)).hit
