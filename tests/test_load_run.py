"""Results reload: checkpoints record their architecture, ``ftunlearn.load(path)`` rebuilds the
model, ``ftunlearn.load_run`` reads an ``unlearn`` folder, and the manifest hashes every input.
Also the user-facing edges of the same story: user modules found in the current folder, the
model list naming resnet18's stem, and HuggingFace-style dict batches."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import ftunlearn
from ftunlearn import UnlearnError
from ftunlearn.checkpoints import read_metadata, sha256_of
from ftunlearn.cli import main
from ftunlearn.registry import import_user_module

USER_MODULE = textwrap.dedent('''
    from torch import nn

    def build(input_shape, num_classes, width=4):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], width), nn.ReLU(),
                             nn.Linear(width, num_classes))
''')


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


def test_save_records_the_architecture_and_load_rebuilds_the_model(tmp_path) -> None:
    model = ftunlearn.build_model("mlp:hidden=8,depth=1", (1, 8, 8), 10, seed=3)
    path = ftunlearn.save(model, tmp_path / "m.safetensors", method="ft")
    assert read_metadata(path) == {"method": "ft", "architecture": {
        "model": "mlp:depth=1,hidden=8", "factory": "mlp", "options": {"hidden": 8, "depth": 1},
        "input_shape": [1, 8, 8], "num_classes": 10}}
    rebuilt = ftunlearn.load(path)
    assert same_weights(rebuilt, model)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(rebuilt.eval()(x), model.eval()(x))


def test_a_users_factory_is_found_in_the_current_folder_and_called_with_the_record(
        tmp_path, monkeypatch) -> None:
    (tmp_path / "reload_net.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "reload_net", raising=False)
    before = list(sys.path)
    model = ftunlearn.build_model("reload_net:build:width=6", (5,), 3, seed=1)
    assert sys.path == before  # the folder was searched for that import only
    path = ftunlearn.save(model, tmp_path / "m.safetensors")
    assert same_weights(ftunlearn.load(path), model)
    # the recorded factory gets the recorded shape, class count and options (width=6)
    import reload_net
    assert same_weights(ftunlearn.load(path, reload_net.build), model)
    # another factory of the same contract gets the shape and class count only
    with pytest.raises(UnlearnError, match=r"shape \(file vs model\) 1.weight \(6, 5\) vs "
                                           r"\(2, 5\)"):
        ftunlearn.load(path, lambda shape, classes: reload_net.build(shape, classes, width=2))
    sys.modules.pop("reload_net")


def test_import_user_module_leaves_sys_path_as_it_was(tmp_path, monkeypatch) -> None:
    (tmp_path / "cwd_only_module.py").write_text("VALUE = 7\n")
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    try:
        assert import_user_module("cwd_only_module").VALUE == 7
        assert sys.path == before
        with pytest.raises(ImportError):
            import_user_module("no_such_module_for_ftunlearn")
        assert sys.path == before
    finally:
        sys.modules.pop("cwd_only_module", None)


def test_a_file_without_an_architecture_asks_for_a_factory(tmp_path) -> None:
    plain = nn.Sequential(nn.Linear(4, 3))
    path = ftunlearn.save(plain, tmp_path / "plain.safetensors")
    torch.save(plain.state_dict(), tmp_path / "plain.pt")
    for source in (path, tmp_path / "plain.pt"):
        with pytest.raises(UnlearnError, match=r"records no model architecture.*pass the model "
                                               r"or a factory"):
            ftunlearn.load(source)
        with pytest.raises(UnlearnError, match="records no input shape or class count"):
            ftunlearn.load(source, lambda input_shape, num_classes: plain)
        assert same_weights(ftunlearn.load(source, lambda: nn.Sequential(nn.Linear(4, 3))),
                            plain)


def tiny_npz(path: Path) -> Path:
    """60 training and 30 test rows of 6 features in 3 well-separated classes."""
    generator = np.random.default_rng(0)

    def rows(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 3
        x = generator.normal(size=(n, 6)).astype(np.float32) * 0.3
        x[np.arange(n), y] += 2.0
        return x, y

    (x_train, y_train), (x_test, y_test) = rows(60), rows(30)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="module")
def unlearn_run(tmp_path_factory) -> Path:
    """One ``ftunlearn unlearn`` with an input file of every kind: .pt weights, a golden
    safetensors file, an .npz data file and an indices:FILE forget list."""
    folder = tmp_path_factory.mktemp("unlearn-run")
    data = tiny_npz(folder / "data.npz")
    torch.save(ftunlearn.build_model("mlp:hidden=8", (6,), 3, seed=1).state_dict(),
               folder / "original.pt")
    ftunlearn.save(ftunlearn.build_model("mlp:hidden=8", (6,), 3, seed=2),
                   folder / "golden.safetensors")
    (folder / "forget.txt").write_text("9 0 4\n13\n")
    code = main(["unlearn", "--model", "mlp:hidden=8", "--weights", str(folder / "original.pt"),
                 "--dataset", "npz", "--data-dir", str(data), "--forget",
                 f"indices:{folder / 'forget.txt'}", "--method", "ft", "--hp", "epochs=1",
                 "--golden", str(folder / "golden.safetensors"), "--device", "cpu",
                 "--out", str(folder / "out")])
    assert code == 0
    return folder


def test_the_manifest_hashes_every_input_file_and_the_forget_indices(unlearn_run) -> None:
    manifest = json.loads((unlearn_run / "out" / "manifest.json").read_text())
    for key, name in (("weights", "original.pt"), ("golden_weights", "golden.safetensors"),
                      ("data_file", "data.npz"), ("forget_file", "forget.txt")):
        assert manifest[key] == {"path": str(unlearn_run / name),
                                 "sha256": sha256_of(unlearn_run / name)}, key
    # the documented encoding: sorted, comma-joined ASCII decimal (docs/protocol.md)
    assert manifest["forget_indices"]["count"] == 4
    assert manifest["forget_indices"]["sha256"] == hashlib.sha256(b"0,4,9,13").hexdigest()
    assert manifest["output_sha256"] == sha256_of(unlearn_run / "out" / "model.safetensors")
    assert manifest["architecture"] == {"model": "mlp:hidden=8", "factory": "mlp",
                                        "options": {"hidden": 8}, "input_shape": [6],
                                        "num_classes": 3}
    stored = read_metadata(unlearn_run / "out" / "model.safetensors")
    assert stored["architecture"] == manifest["architecture"]
    assert stored["weights_sha256"] == manifest["weights"]["sha256"]
    assert stored["method"] == "ft" and stored["hyperparameters"]["epochs"] == 1
    # the golden model's own metrics, for the report's golden column
    assert set(manifest["golden_metrics"]) >= {"UA", "RA", "TA", "MIA", "MIA_attack_acc"}
    assert "avg_gap" in manifest["original_metrics"] and "avg_gap" in manifest["metrics"]


def test_load_run_returns_the_model_manifest_and_metrics(unlearn_run) -> None:
    run = ftunlearn.load_run(unlearn_run / "out")
    assert isinstance(run, ftunlearn.Run)
    assert same_weights(run.model, ftunlearn.load(unlearn_run / "out" / "model.safetensors"))
    manifest = json.loads((unlearn_run / "out" / "manifest.json").read_text())
    assert dict(run.metrics) == manifest["metrics"]
    assert run.manifest["method"] == "ft" and run.original_metrics == manifest["original_metrics"]
    with pytest.raises(AttributeError):
        run.model = None  # frozen


def test_load_run_refuses_a_replaced_model_and_a_folder_that_is_no_run(unlearn_run,
                                                                       tmp_path) -> None:
    copy = shutil.copytree(unlearn_run / "out", tmp_path / "copy")
    ftunlearn.save(ftunlearn.build_model("mlp:hidden=8", (6,), 3, seed=9),
                   copy / "model.safetensors")
    with pytest.raises(UnlearnError, match="sha256 differs"):
        ftunlearn.load_run(copy)
    with pytest.raises(UnlearnError, match=r"holds no manifest\.json"):
        ftunlearn.load_run(tmp_path)


def test_the_model_list_says_resnet18_has_the_cifar_stem(capsys) -> None:
    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith(
        "resnet18"))
    assert "CIFAR stem" in line and "no max-pool" in line
    stem = ftunlearn.build_model("resnet18:width=4", (3, 32, 32), 10).stem
    assert [(m.kernel_size, m.stride) for m in stem if isinstance(m, nn.Conv2d)] == [
        ((3, 3), (1, 1))]
    assert not any(isinstance(m, nn.MaxPool2d) for m in stem)


@pytest.mark.parametrize(("x_key", "y_key"), [("pixel_values", "labels"), ("image", "label")])
def test_huggingface_dict_batches_are_read(x_key, y_key) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(24, 4, generator=generator)
    y = torch.arange(24) % 2
    items = [{x_key: x[i], y_key: int(y[i])} for i in range(24)]
    model = nn.Linear(4, 2)
    result = ftunlearn.unlearn(model, DataLoader(items[:20], batch_size=8),
                               DataLoader(items[20:], batch_size=8), method="ft", epochs=1)
    assert not same_weights(result.model, model)
