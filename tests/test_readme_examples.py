"""The README's own-checkpoint examples run as written (on tiny data)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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


def test_the_shell_example_unlearns_a_plain_pytorch_checkpoint(tmp_path) -> None:
    (tmp_path / "mynet.py").write_text(MYNET)
    sys.path.insert(0, str(tmp_path))
    try:
        import mynet
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(0)
    torch.save(mynet.build((64,), 10, width=32).state_dict(), tmp_path / "original.pt")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-euc", example("shell-unlearn")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "runs" / "forget-3"
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "manifest.json",
                                                "report.md", "report.html"}


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
