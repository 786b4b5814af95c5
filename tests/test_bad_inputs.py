"""Bad inputs that once gave a traceback or a silent wrong result: on the command line each is
one line and exit 2 (130 for Ctrl-C); in the Python API a clear exception raised by ftunlearn
itself, not from deep inside torch or numpy. Every case fails before any training."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import ftunlearn
from ftunlearn import cli
from ftunlearn.errors import UnlearnError

N_TRAIN, N_TEST, WIDTH = 40, 10, 4


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bad files of the CLI cases, written once."""
    root = tmp_path_factory.mktemp("bad_inputs")
    tomls = {
        "recipe_int": "recipe = 3\n",
        "hp_text": 'hyperparameters = "x"\n',
        "hp_method_int": "[hyperparameters]\nft = 3\n",
        "tuning_int": "tuning = 2\n",
    }
    for name, text in tomls.items():
        (root / f"{name}.toml").write_text(text)
    (root / "latin1.toml").write_bytes('dataset = "données"\n'.encode("latin-1"))
    (root / "empty.pt").write_bytes(b"")
    (root / "empty.safetensors").write_bytes(b"")
    data = ftunlearn.load_dataset("digits")
    model = ftunlearn.build_model("mlp", data.input_shape, data.num_classes, seed=0)
    ftunlearn.save(model, root / "mlp.safetensors")
    rng = np.random.default_rng(0)
    np.savez(root / "unseen.npz", x_train=rng.normal(size=(N_TRAIN, WIDTH)).astype(np.float32),
             y_train=np.arange(N_TRAIN) % 2,
             x_test=rng.normal(size=(N_TEST, WIDTH)).astype(np.float32),
             y_test=np.arange(N_TEST) % 3)  # class 2 is never trained on
    return root


QUICK = ["--methods", "ft", "--seeds", "1", "--no-progress", "--no-report", "--out", "{out}"]
UNLEARN = ["unlearn", "--model", "mlp", "--dataset", "digits", "--forget", "random:0.1",
           "--method", "ft", "--out", "{out}"]


def _interrupt(*args: Any, **kwargs: Any) -> None:
    raise KeyboardInterrupt


# (argv, exit code, fragment of the one line, what to patch in ftunlearn.cli to raise Ctrl-C)
CLI_CASES: dict[str, tuple[list[str], int, str, str | None]] = {
    "a: a 21-digit seed count": (
        ["bench", "--seeds", "123456789012345678901", "--out", "{out}"], 2,
        "the number of seeds must be 1..10000", None),
    "a: a 5000-digit seed count": (
        ["bench", "--seeds", "9" * 5000, "--out", "{out}"], 2,
        "the number of seeds must be 1..10000", None),
    "a: a 21-digit seed in a list": (
        ["bench", "--seeds", "123456789012345678901,", "--out", "{out}"], 2,
        "seeds must be a comma-separated list, each in [0, 2147483648)", None),
    "a: a negative seed in a list": (
        ["bench", "--seeds=-1,", "--out", "{out}"], 2, "each in [0, 2147483648)", None),
    "a: unlearn --seed of 21 digits": (
        [*UNLEARN, "--weights", "{w}/mlp.safetensors", "--seed", "123456789012345678901"], 2,
        "argument --seed: must be >= 0 and <= 2147483647", None),
    "a: tune --seed -1": (
        ["tune", "--seed=-1", "--out", "{out}"], 2,
        "argument --seed: must be >= 0 and <= 2147483647, got '-1'", None),
    "a: audit --seed 2**31": (
        ["audit", "--seed", "2147483648", "--out", "{out}"], 2,
        "argument --seed: must be >= 0 and <= 2147483647, got '2147483648'", None),
    "b: recipe = 3": (
        ["bench", "--config", "{w}/recipe_int.toml", *QUICK], 2,
        "recipe_int.toml: recipe must be a table", None),
    "b: hyperparameters = text": (
        ["bench", "--config", "{w}/hp_text.toml", *QUICK], 2,
        "hp_text.toml: hyperparameters must be a table", None),
    "b: hyperparameters.ft = 3": (
        ["bench", "--config", "{w}/hp_method_int.toml", *QUICK], 2,
        "hp_method_int.toml: hyperparameters.ft must be a table", None),
    "b: tuning = 2": (
        ["tune", "--config", "{w}/tuning_int.toml", "--out", "{out}"], 2,
        "tuning_int.toml: tuning must be a table", None),
    "b: a config that is not UTF-8": (
        ["bench", "--config", "{w}/latin1.toml", *QUICK], 2,
        "latin1.toml is not UTF-8 text (byte 0xe9", None),
    "b: a config that is a folder": (
        ["bench", "--config", "{w}", *QUICK], 2, "is a folder; give a .toml file", None),
    "c: theory --d-lap 1e8": (
        ["theory", "--d-lap", "1e8", "--out", "{out}"], 2,
        "--d-lap: expected int <= 100000, got '1e8'", None),
    "c: theory --d-lap 100000000": (
        ["theory", "alpha", "--d-lap", "100000000", "--out", "{out}"], 2,
        "--d-lap: must be <= 100000, got '100000000'", None),
    "c: theory --n-test 10**9": (
        ["theory", "alpha", "--n-test", "1000000000", "--out", "{out}"], 2,
        "--n-test: must be <= 1000000", None),
    "c: theory blocks within bounds, too many entries": (
        ["theory", "alpha", "--d-f", "90000", "--d-lap", "90000", "--out", "{out}"], 2,
        "entries per trial, over the lab's bound of 67108864", None),
    "c: theory sweeps a huge d_lap": (
        ["theory", "overlap", "--sweep", "d_lap=0,100000000", "--out", "{out}"], 2,
        "2090 x 100000200 = 209000418000 entries per trial", None),
    "c: theory --seed 2**31": (
        ["theory", "--seed", str(2**31), "--out", "{out}"], 2,
        "--seed: must be <= 2147483647", None),
    "e: unlearn --weights empty.pt": (
        [*UNLEARN, "--weights", "{w}/empty.pt"], 2, "empty.pt is empty (0 bytes)", None),
    "e: unlearn --weights empty.safetensors": (
        [*UNLEARN, "--weights", "{w}/empty.safetensors"], 2,
        "empty.safetensors is empty (0 bytes)", None),
    "e: bench --original empty.pt": (
        ["bench", "--original", "{w}/empty.pt", *QUICK], 2,
        "empty.pt is empty (0 bytes)", None),
    "g: Ctrl-C while the parser imports the commands": (
        ["report", "{out}"], 130, "ftunlearn: interrupted", "build_parser"),
    "g: Ctrl-C in the command itself": (
        ["report", "{out}"], 130, "ftunlearn: interrupted", "_run_report"),
    "h: npz test labels never trained on": (
        ["bench", "--dataset", "npz", "--data-dir", "{w}/unseen.npz", *QUICK], 2,
        "the test labels 2 in", None),
}


@pytest.mark.parametrize(("argv", "code", "fragment", "patch"), CLI_CASES.values(),
                         ids=CLI_CASES.keys())
def test_a_cli_mistake_is_one_clean_line(world, tmp_path, capsys, monkeypatch, argv, code,
                                         fragment, patch):
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    if patch is not None:
        monkeypatch.setattr(cli, patch, _interrupt)
    argv = [a.replace("{w}", str(world)).replace("{out}", str(tmp_path / "out")) for a in argv]
    assert cli.main(argv) == code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.out + captured.err
    assert len(lines) == 1, captured.err
    assert fragment in lines[0], lines[0]


def test_ctrl_c_while_python_m_imports_the_cli_is_one_line(tmp_path):
    """``python -m ftunlearn`` interrupted while ``ftunlearn.cli`` is imported (before
    ``main`` exists to catch it): a meta-path finder raises as that import starts."""
    script = (
        "import runpy, sys\n"
        "class Stop:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ftunlearn.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Stop())\n"
        "runpy.run_module('ftunlearn', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "ftunlearn: interrupted"


# ---------------------------------------------------------------- the Python API

FEATURES, CLASSES = 8, 3


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(FEATURES, CLASSES))


def _sets() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    retain = (torch.randn(12, FEATURES, generator=generator), torch.arange(12) % CLASSES)
    forget = (torch.randn(6, FEATURES, generator=generator), torch.arange(6) % CLASSES)
    return retain, forget


class Ragged(Dataset):
    """Items of two lengths; the pooling model below takes either, so only batching fails."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.ones(1, FEATURES if index % 2 else FEATURES // 2), index % CLASSES


class NoLabels(Dataset):
    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> tuple[torch.Tensor, None]:
        return torch.ones(FEATURES), None


def _pooling_model() -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool1d(4), nn.Flatten(), nn.Linear(4, CLASSES))


def _unlearn(retain: Any = None, forget: Any = None, method: str = "ft", model: Any = None,
             **options: Any) -> Any:
    default_retain, default_forget = _sets()
    return ftunlearn.unlearn(model or _model(), default_retain if retain is None else retain,
                             default_forget if forget is None else forget, method,
                             device="cpu", **options)


def _with_inf(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = pair[0].clone()
    x[0, 0] = float("inf")
    return x, pair[1]


def _loader(pair: tuple[torch.Tensor, torch.Tensor], **options: Any) -> DataLoader:
    return DataLoader(TensorDataset(*pair), batch_size=4, **options)


def _digits() -> Any:
    return ftunlearn.load_dataset("digits")


def _load_empty(path: Path) -> Any:
    path.write_bytes(b"")
    return ftunlearn.load(path, _model())


META_X = torch.empty(6, FEATURES, device="meta")
META_Y = torch.empty(6, dtype=torch.long, device="meta")
NEGATIVE = (torch.ones(6, FEATURES), torch.tensor([0, 1, -1, 0, 1, 0]))
POOLED = (torch.ones(6, 1, FEATURES), torch.arange(6) % CLASSES)

# callable(tmp_path) -> the exception type and a fragment of its message
API_CASES: dict[str, tuple[Callable[[Path], Any], type[BaseException], str]] = {
    "a: make_split seed 2**70": (
        lambda _: ftunlearn.make_split(_digits(), "random:0.1", seed=2**70), UnlearnError,
        "the split seed must be a non-negative integer below 2147483648 (2**31), got 1180"),
    "a: unlearn seed 2**70": (
        lambda _: _unlearn(seed=2**70), UnlearnError,
        "unlearn: seed must be a non-negative integer below 4294967296"),
    "d: make_split spec None": (
        lambda _: ftunlearn.make_split(_digits(), None), TypeError,
        "make_split: spec must be a forget spec text"),
    "d: make_split dataset by name": (
        lambda _: ftunlearn.make_split("digits", "random:0.1"), TypeError,
        "make_split: dataset must be an ftunlearn Dataset"),
    "d: make_split seed 'a'": (
        lambda _: ftunlearn.make_split(_digits(), "random:0.1", seed="a"), UnlearnError,
        "the split seed must be a non-negative integer below 2147483648 (2**31), got 'a'"),
    "d: load_dataset(None)": (
        lambda _: ftunlearn.load_dataset(None), TypeError,
        "load_dataset: name must be a dataset name"),
    "d: load_dataset data_dir 3": (
        lambda _: ftunlearn.load_dataset("digits", 3), TypeError,
        "load_dataset: data_dir must be a path or None, got int"),
    "d: unlearn seed 'a'": (
        lambda _: _unlearn(seed="a"), UnlearnError, "unlearn: seed must be a non-negative "
        "integer below 4294967296 (2**32), got 'a' (str)"),
    "d: unlearn seed 1.5": (
        lambda _: _unlearn(seed=1.5), UnlearnError, "got 1.5 (float)"),
    "d: unlearn seed -1": (
        lambda _: _unlearn(seed=-1), UnlearnError, "got -1"),
    "d: evaluate seed 'a'": (
        lambda _: ftunlearn.evaluate(nn.Linear(64, 10), _digits(),
                                     ftunlearn.make_split(_digits(), "random:0.1"), seed="a"),
        UnlearnError, "evaluate: seed must be a non-negative integer below 4294967296"),
    "d: evaluate_sets seed -1": (
        lambda _: ftunlearn.evaluate_sets(nn.Linear(FEATURES, 2), retain=_sets()[0],
                                          forget=_sets()[1], test=_sets()[1], seed=-1),
        UnlearnError, "evaluate_sets: seed must be a non-negative integer below 4294967296"),
    "d: build_model seed 'a'": (
        lambda _: ftunlearn.build_model("mlp", (4,), 2, seed="a"), UnlearnError,
        "build_model: seed must be a non-negative integer below 4294967296 (2**32), got 'a'"),
    "e: load_state of an empty .pt": (
        lambda tmp: _load_empty(tmp / "e.pt"), UnlearnError, "e.pt is empty (0 bytes)"),
    "e: load of an empty .safetensors": (
        lambda tmp: _load_empty(tmp / "e.safetensors"), UnlearnError,
        "e.safetensors is empty (0 bytes)"),
    "f: a Dataset whose samples differ in shape": (
        lambda _: _unlearn(retain=Ragged(), forget=POOLED, model=_pooling_model(),
                           batch_size=12),
        UnlearnError, "retain: samples differ in shape: item"),
    "f: a DataLoader whose samples differ in shape": (
        lambda _: _unlearn(retain=DataLoader(Ragged(), batch_size=12), forget=POOLED,
                           model=_pooling_model()),
        UnlearnError, "retain: the DataLoader cannot batch samples of different shapes"),
    "f: a DataLoader with workers, samples of two shapes": (
        lambda _: _unlearn(retain=DataLoader(Ragged(), batch_size=12, num_workers=1),
                           forget=POOLED, model=_pooling_model()),
        UnlearnError, "stack expects each tensor to be equal size"),
    "f: a Dataset whose labels are None": (
        lambda _: _unlearn(retain=NoLabels()), UnlearnError,
        "has label None; each sample needs an integer class label"),
    "f: a DataLoader whose labels are None": (
        lambda _: _unlearn(retain=DataLoader(NoLabels(), batch_size=4)), UnlearnError,
        "retain: the DataLoader cannot batch an item holding None"),
    "f: a loader collating labels None": (
        lambda _: _unlearn(retain=DataLoader(NoLabels(), batch_size=4, collate_fn=lambda b: (
            torch.stack([x for x, _ in b]), [y for _, y in b]))), UnlearnError,
        "retain: a batch's labels are None"),
    "f: tensors with labels None": (
        lambda _: _unlearn(forget=(torch.ones(6, FEATURES), None)), UnlearnError,
        "forget: the labels y are None"),
    "f: tensors on the meta device": (
        lambda _: _unlearn(forget=(META_X, META_Y)), UnlearnError,
        "forget x lies on the meta device"),
    "f: inputs on the meta device, labels on the cpu": (
        lambda _: _unlearn(forget=(META_X, torch.zeros(6, dtype=torch.long))), UnlearnError,
        "forget x lies on the meta device"),
    "f: a DataLoader on the meta device": (
        lambda _: _unlearn(retain=_loader((META_X, META_Y))), UnlearnError,
        "retain x lies on the meta device"),
    "i: ssd, inf in forget tensors": (
        lambda _: _unlearn(forget=_with_inf(_sets()[1]), method="ssd"), UnlearnError,
        "forget x holds 0 NaN and 1 infinite value(s)"),
    "i: ssd, inf in a forget DataLoader": (
        lambda _: _unlearn(forget=_loader(_with_inf(_sets()[1])), method="ssd"), UnlearnError,
        "forget x holds 0 NaN and 1 infinite value(s)"),
    "j: a negative label in a DataLoader": (
        lambda _: _unlearn(retain=_loader(NEGATIVE)), UnlearnError,
        "retain: labels must be class indices 0..K-1; found -1"),
    "j: a negative label in tensors": (
        lambda _: _unlearn(forget=NEGATIVE), UnlearnError,
        "forget: y holds the negative label -1; labels are class indices 0, 1, ..., K-1"),
}


@pytest.mark.parametrize(("call", "kind", "fragment"), API_CASES.values(), ids=API_CASES.keys())
def test_an_api_mistake_raises_a_clear_error_of_ours(tmp_path, call, kind, fragment):
    with pytest.raises(kind) as caught:
        call(tmp_path)
    assert fragment in str(caught.value)
    # raised by ftunlearn itself: the message is ours, not torch's or numpy's internals
    assert "/ftunlearn/" in str(caught.traceback[-1].path)
