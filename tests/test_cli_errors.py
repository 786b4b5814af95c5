"""Every user mistake on the command line: exit 2, one line `ftunlearn CMD: error: ...` on
stderr, never a traceback. Most cases fail in preflight, before any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ftunlearn.cli import main

N_TRAIN, N_TEST, WIDTH = 40, 10, 4

FACTORIES = '''
import torch
from torch import nn

def raises(input_shape, num_classes):
    raise ValueError("boom")

def wrong_width(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], num_classes + 1))

def wrong_input(input_shape, num_classes):
    return nn.Linear(999, num_classes)

def no_params(input_shape, num_classes):
    return nn.Flatten()

def not_a_module(input_shape, num_classes):
    return 3
'''


def _npz(path: Path, **changes: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(N_TRAIN, WIDTH)).astype(np.float32),
        "y_train": np.arange(N_TRAIN) % 2,
        "x_test": rng.normal(size=(N_TEST, WIDTH)).astype(np.float32),
        "y_test": np.arange(N_TEST) % 2,
    }
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bad (and one good) input file, written once."""
    root = tmp_path_factory.mktemp("errors")
    _npz(root / "good.npz")
    big = np.arange(N_TRAIN) % 2
    big[3] = 10**6  # bounded even if the class-count guard regressed (1e9: test_data_npz)
    _npz(root / "big.npz", y_train=big)
    _npz(root / "neg.npz", y_train=np.where(np.arange(N_TRAIN) == 5, -1, np.arange(N_TRAIN) % 2))
    _npz(root / "floaty.npz", y_train=np.full(N_TRAIN, 0.5))
    _npz(root / "short.npz", y_train=np.arange(N_TRAIN - 1) % 2)
    nan = np.random.default_rng(1).normal(size=(N_TRAIN, WIDTH)).astype(np.float32)
    nan[2, 1] = np.nan
    _npz(root / "nan.npz", x_train=nan)
    _npz(root / "oneclass.npz", y_train=np.zeros(N_TRAIN, int), y_test=np.zeros(N_TEST, int))
    _npz(root / "nokey.npz", x_test=None)
    _npz(root / "complex.npz", x_train=np.ones((N_TRAIN, WIDTH), complex))
    _npz(root / "five_d.npz", x_train=np.ones((N_TRAIN, 1, 1, 1, WIDTH), np.float32))
    _npz(root / "y2d.npz", y_train=np.zeros((N_TRAIN, 2), int))
    _npz(root / "testwidth.npz", x_test=np.ones((N_TEST, WIDTH + 1), np.float32))
    _npz(root / "empty.npz", x_train=np.ones((0, WIDTH), np.float32), y_train=np.zeros(0, int))
    doubled = np.random.default_rng(2).normal(size=(N_TRAIN // 2, WIDTH)).astype(np.float32)
    _npz(root / "doubled.npz", x_train=np.concatenate([doubled, doubled]),
         y_train=np.concatenate([np.arange(N_TRAIN // 2) % 2] * 2))
    (root / "text.npz").write_text("not a zip")
    np.save(root / "idx_2d.npy", np.zeros((2, 2), np.int64))
    np.save(root / "idx_float.npy", np.array([0.5, 1.5]))
    np.save(root / "idx_out.npy", np.array([0, N_TRAIN + 5]))
    np.save(root / "idx_empty.npy", np.zeros(0, np.int64))
    np.save(root / "idx_one.npy", np.array([3]))
    np.save(root / "idx_pair.npy", np.array([0, 1]))
    (root / "idx_text.txt").write_text("1\nseven\n")
    # a small valid run, each file changing one entry (the CLI flags would override the file)
    good = {"dataset": '"npz"', "data_dir": json.dumps(str(root / "good.npz")),
            "model": '"mlp:hidden=4"', "methods": '["ft"]', "seeds": "1"}
    tomls = {
        "syntax": ({"dataset": ""}, ""),
        "unknown": ({"colour": '"red"'}, ""),
        "seeds_type": ({"seeds": '"x"'}, ""),
        "methods_type": ({"methods": "3"}, ""),
        "recipe_type": ({}, '[recipe]\nepochs = "a"'),
        "recipe_float_epochs": ({}, "[recipe]\nepochs = 2.5"),
        "recipe_bool_lr": ({}, "[recipe]\nepochs = 1\nlr = true"),
        "recipe_unknown": ({}, "[recipe]\nwarmup = 3"),
        "mia_extras": ({"mia_extras": '"no"'}, ""),
        "attack_samples": ({"attack_samples": "2.5"}, ""),
        "hp_type": ({}, '[recipe]\nepochs = 1\n[hyperparameters.ft]\nlr = "fast"'),
        "hp_method": ({}, "[hyperparameters.nope]\nlr = 0.1"),
        "dataset_type": ({"dataset": "5"}, ""),
    }
    for name, (changes, tables) in tomls.items():
        keys = "".join(f"{key} = {value}\n" for key, value in (good | changes).items())
        (root / f"{name}.toml").write_text(keys + tables + "\n")
    (root / "factories_for_errors.py").write_text(FACTORIES)
    (root / "a_file").write_text("x")
    (root / "bad_json").mkdir()
    (root / "bad_json" / "run.json").write_text("{")
    (root / "bad_json" / "results.sqlite").write_bytes(b"")
    (root / "no_config").mkdir()
    (root / "no_config" / "run.json").write_text(json.dumps({"base": {}}))
    (root / "no_config" / "results.sqlite").write_bytes(b"")
    (root / "bad_db").mkdir()
    (root / "bad_db" / "run.json").write_text(json.dumps({"base": {}, "config": {}}))
    (root / "bad_db" / "results.sqlite").write_bytes(b"this is not an sqlite file" * 200)
    return root


TINY = ["--dataset", "npz", "--model", "mlp:hidden=4", "--methods", "ft", "--seeds", "1",
        "--recipe", "epochs=1", "--no-progress", "--no-report"]


def bench(*extra: str, data: str = "good.npz", out: str = "{out}") -> list[str]:
    return ["bench", *TINY, "--data-dir", "{w}/" + data, "--out", out, *extra]


CASES: dict[str, list[str]] = {
    # argparse: flags and their values
    "unknown flag": bench("--colour", "red"),
    "missing --out": ["bench", "--methods", "ft"],
    "threads 0": bench("--threads", "0"),
    "threads text": bench("--threads", "many"),
    "negative cell retries": bench("--cell-retries", "-1"),
    "cpus per cell 0": bench("--cpus-per-cell", "0"),
    "gpus per cell negative": bench("--gpus-per-cell", "-1"),
    "gpus per cell nan": bench("--gpus-per-cell", "nan"),
    "unknown executor": bench("--executor", "slurm"),
    "eval retain samples 0": bench("--eval-retain-samples", "0"),
    "eval retain samples text": bench("--eval-retain-samples", "most"),
    "attack samples 1": bench("--attack-samples", "1"),
    "unknown metric selection": bench("--metrics", "most"),
    "unknown preset": ["bench", "--preset", "huge", "--out", "{out}"],
    "report without folder": ["report"],
    "unknown command": ["frobnicate"],
    # names
    "unknown method": bench("--methods", "nope"),
    "method listed twice": bench("--methods", "ft,ft"),
    "unknown dataset": ["bench", "--dataset", "imagenet", "--out", "{out}"],
    "unknown model": bench("--model", "transformer"),
    "bad model option": bench("--model", "mlp:hidden"),
    "unknown model option": bench("--model", "mlp:colour=3"),
    "model module missing": bench("--model", "no_such_module_xyz:factory"),
    "model attribute missing": bench("--model", "factories_for_errors:absent"),
    "unknown device": bench("--device", "tpu"),
    # user model factories and the dry forward pass
    "factory raises": bench("--model", "factories_for_errors:raises"),
    "output width wrong": bench("--model", "factories_for_errors:wrong_width"),
    "input width wrong": bench("--model", "factories_for_errors:wrong_input"),
    "no parameters": bench("--model", "factories_for_errors:no_params"),
    "not a module": bench("--model", "factories_for_errors:not_a_module"),
    # seeds, recipe and hyperparameters
    "seeds text": bench("--seeds", "x"),
    "seeds zero": bench("--seeds", "0"),
    "seeds repeated": bench("--seeds", "1,1"),
    "recipe without =": bench("--recipe", "epochs"),
    "recipe unknown key": bench("--recipe", "warmup=3"),
    "recipe negative lr": bench("--recipe", "lr=-1"),
    "recipe infinite lr": bench("--recipe", "lr=inf"),
    "recipe bool lr": bench("--recipe", "lr=True"),
    "recipe float epochs": bench("--recipe", "epochs=3.0"),
    "recipe zero epochs": bench("--recipe", "epochs=0"),
    "hp without value": bench("--hp", "ft.lr"),
    "hp unknown key": bench("--hp", "ft.colour=1"),
    "hp text for a number": bench("--hp", "ft.lr=fast"),
    "hp negative lr": bench("--hp", "ft.lr=-1"),
    "hp infinite lr": bench("--hp", "ft.lr=inf"),
    "hp float epochs": bench("--hp", "ft.epochs=2.5"),
    "hp for a method not run": bench("--hp", "rbm.alpha=0.5"),
    # forget specs and index files
    "forget spec garbage": bench("--forget", "some"),
    "forget fraction above 1": bench("--forget", "random:1.5"),
    "forget fraction 0": bench("--forget", "random:0"),
    "forget unknown class": bench("--forget", "class:99"),
    "forget everything": bench("--forget", "class:0,1"),
    "forget one sample": bench("--forget", "indices:{w}/idx_one.npy"),
    "index file 2-D": bench("--forget", "indices:{w}/idx_2d.npy"),
    "index file floats": bench("--forget", "indices:{w}/idx_float.npy"),
    "index out of range": bench("--forget", "indices:{w}/idx_out.npy"),
    "index file empty": bench("--forget", "indices:{w}/idx_empty.npy"),
    "index file missing": bench("--forget", "indices:{w}/absent.npy"),
    "index file text": bench("--forget", "indices:{w}/idx_text.txt"),
    "forget copies in retain": bench("--forget", "indices:{w}/idx_pair.npy", data="doubled.npz"),
    # npz contents
    "npz label 1e6": bench(data="big.npz"),
    "npz negative label": bench(data="neg.npz"),
    "npz float labels": bench(data="floaty.npz"),
    "npz length mismatch": bench(data="short.npz"),
    "npz NaN feature": bench(data="nan.npz"),
    "npz one class": bench(data="oneclass.npz"),
    "npz missing key": bench(data="nokey.npz"),
    "npz complex samples": bench(data="complex.npz"),
    "npz 5-d samples": bench(data="five_d.npz"),
    "npz 2-d labels": bench(data="y2d.npz"),
    "npz test width": bench(data="testwidth.npz"),
    "npz empty train": bench(data="empty.npz"),
    "npz not a zip": bench(data="text.npz"),
    "npz missing file": bench(data="absent.npz"),
    # TOML files
    **{f"toml {name}": ["bench", "--config", f"{{w}}/{name}.toml", "--out", "{out}",
                        "--no-progress", "--no-report"] for name in (
        "syntax", "unknown", "seeds_type", "methods_type", "recipe_type", "recipe_float_epochs",
        "recipe_bool_lr", "recipe_unknown", "mia_extras", "attack_samples", "hp_type",
        "hp_method", "dataset_type",
    )},
    "toml missing": bench("--config", "{w}/absent.toml"),
    "toml is a folder": bench("--config", "{w}"),
    # unusable output folders and damaged runs
    "out is a file": bench(out="{w}/a_file"),
    "out under a file": bench(out="{w}/a_file/run"),
    "out in /proc": bench(out="/proc/ftunlearn-cannot-be-here"),
    "cache dir is a file": bench("--cache-dir", "{w}/a_file"),
    "bench on corrupt run.json": bench(out="{w}/bad_json"),
    "report missing folder": ["report", "{w}/absent"],
    "report corrupt run.json": ["report", "{w}/bad_json"],
    "report run.json without config": ["report", "{w}/no_config"],
    "report corrupt sqlite": ["report", "{w}/bad_db"],
    # the linear lab
    "theory unknown experiment": ["theory", "nonsense", "--quiet"],
    "theory steps text": ["theory", "--steps", "many"],
    "theory alpha 0": ["theory", "illustrative", "--alpha", "0", "--quiet", "--out", "{out}"],
    "theory unknown flag": ["theory", "--colour"],
    "theory trials text": ["theory", "--trials", "x"],
    # audit and tune share bench's run and machine options (cli_options)
    "audit ensemble 2": ["audit", *TINY[:6], "--ensemble", "2", "--out", "{out}"],
    "audit examples 0": ["audit", *TINY[:6], "--examples", "0", "--out", "{out}"],
    "audit threads 0": ["audit", *TINY[:6], "--threads", "0", "--out", "{out}"],
    "audit missing npz": ["audit", *TINY[:6], "--data-dir", "{w}/nothing.npz", "--out",
                          "{out}"],
    "tune threads 0": ["tune", *TINY[:6], "--threads", "0", "--out", "{out}"],
    "tune cpus per trial 0": ["tune", *TINY[:6], "--cpus-per-trial", "0", "--out", "{out}"],
    "tune bad recipe": ["tune", *TINY[:6], "--recipe", "epochs=2.5", "--out", "{out}"],
}


def test_the_table_covers_every_class_of_mistake() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("argv", CASES.values(), ids=CASES.keys())
def test_user_error_is_one_clean_line(world, tmp_path, capsys, monkeypatch, argv):
    monkeypatch.syspath_prepend(str(world))
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    argv = [a.replace("{w}", str(world)).replace("{out}", str(tmp_path / "out")) for a in argv]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    command = argv[0] if argv[0] in ("bench", "report", "theory", "audit", "tune") else ""
    prefix = f"ftunlearn {command}: error:" if command else "ftunlearn: error:"
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err


def test_a_full_disk_says_what_was_kept(tmp_path, capsys, monkeypatch):
    import errno

    from ftunlearn.experiments import runner

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x"))

    monkeypatch.setattr(runner, "_claim_out_dir", full)
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    assert main(["bench", "--methods", "ft", "--seeds", "1", "--out", str(tmp_path / "out"),
                 "--no-progress", "--no-report"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("ftunlearn bench: error: no space left on the device")
    assert f"every finished cell is kept in {tmp_path / 'out'}" in line


def test_our_own_bugs_keep_their_traceback(tmp_path, monkeypatch):
    import sqlite3

    from ftunlearn.experiments import runner

    def bug(*args, **kwargs):
        raise sqlite3.ProgrammingError("a bug of ours")

    monkeypatch.setattr(runner, "_claim_out_dir", bug)
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(sqlite3.ProgrammingError):
        main(["bench", "--methods", "ft", "--seeds", "1", "--out", str(tmp_path / "out"),
              "--no-progress", "--no-report"])
