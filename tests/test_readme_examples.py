"""The README's own-checkpoint examples run as written (on tiny data)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

README = Path(__file__).resolve().parents[1] / "README.md"

MYNET = '''
from torch import nn

def build(input_shape, num_classes, width=16):
    size = 1
    for n in input_shape:
        size *= n
    return nn.Sequential(nn.Flatten(), nn.Linear(size, width), nn.ReLU(),
                         nn.Linear(width, num_classes))
'''


def example(name: str) -> str:
    """The fenced block that follows ``<!-- tested: name -->`` in the README."""
    match = re.search(rf"<!-- tested: {name} -->\n```\w+\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no tested block {name!r}"
    return match.group(1)


VENV_BIN = Path(sys.executable).parent


def clean_env(home: Path) -> dict[str, str]:
    """What a new user's shell has: PATH (with the venv's ``ftunlearn``) and HOME, nothing else
    (no PYTHONPATH, so ``mynet`` must be found in the current folder as the README says)."""
    return {"PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(home),
            "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def shell_run(tmp_path_factory) -> Path:
    """A fresh folder holding mynet.py and original.pt, after the README's shell example ran
    in it exactly as written."""
    folder = tmp_path_factory.mktemp("newcomer")
    (folder / "mynet.py").write_text(MYNET)
    spec = importlib.util.spec_from_file_location("readme_mynet", folder / "mynet.py")
    assert spec is not None and spec.loader is not None
    mynet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mynet)
    torch.manual_seed(0)
    torch.save(mynet.build((1, 8, 8), 10, width=32).state_dict(), folder / "original.pt")
    done = subprocess.run(["bash", "-euc", example("shell-unlearn")], cwd=folder,
                          env=clean_env(folder), capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


@pytest.mark.slow
def test_the_shell_example_runs_as_written_in_a_fresh_folder(shell_run) -> None:
    out = shell_run / "runs" / "forget-3"
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "manifest.json",
                                                "report.md", "report.html"}


@pytest.mark.slow
def test_the_shell_examples_output_loads_back_as_written(shell_run) -> None:
    done = subprocess.run([str(VENV_BIN / "python"), "-"], input=example("shell-load"),
                          cwd=shell_run, env=clean_env(shell_run), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((shell_run / "runs" / "forget-3" / "manifest.json").read_text())
    # the block prints UA and the model's output width: the manifest's UA, 10 digit classes
    ua, width = done.stdout.split()
    assert float(ua) == pytest.approx(manifest["metrics"]["UA"]) and width == "10"


class Blobs(Dataset):
    """Four Gaussian blobs in 6 dimensions; ``flip`` negates a random feature (augmentation)."""

    def __init__(self, n: int, seed: int, flip: bool = False) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 4, (n,), generator=generator)
        self.x = torch.randn(n, 6, generator=generator) * 0.3
        self.x[torch.arange(n), self.y] += 2.0
        self.flip = flip

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.x[index].clone()
        if self.flip:
            x[4 + int(torch.randint(0, 2, ()))] *= -1  # features 4 and 5 carry no class
        return x, int(self.y[index])


def test_the_python_example_runs_on_the_users_loaders(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace = {
        "model": nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)),
        "retain_set": Blobs(160, seed=1, flip=True), "retain_eval": Blobs(160, seed=1),
        "forget_set": Blobs(32, seed=2), "test_set": Blobs(64, seed=3),
    }
    exec(compile(example("python-loaders"), "README.md", "exec"), namespace)
    assert set(namespace["metrics"]) >= {"UA", "RA", "TA", "MIA", "forget_CE"}
    assert (tmp_path / "unlearned.safetensors").is_file()
