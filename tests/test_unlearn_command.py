"""``ftunlearn unlearn`` on a checkpoint written by plain PyTorch, with the user's own factory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from ftunlearn.checkpoints import load, sha256_of
from ftunlearn.cli import main
from ftunlearn.data import load_dataset
from ftunlearn.training import Recipe, TensorBatches, fit

FACTORY = textwrap.dedent('''
    from torch import nn

    def small(input_shape, num_classes, width=8):
        size = 1
        for n in input_shape:
            size *= n
        return nn.Sequential(nn.Flatten(), nn.Linear(size, width), nn.ReLU(),
                             nn.Linear(width, num_classes))
''')


def test_unlearn_a_plain_pytorch_checkpoint_and_load_the_result_back(tmp_path, monkeypatch,
                                                                       capsys) -> None:
    (tmp_path / "mymodels.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import mymodels

    data = load_dataset("digits")
    torch.manual_seed(0)
    model = mymodels.small(data.input_shape, data.num_classes, width=24)
    fit(model, TensorBatches(data.x_train, data.y_train, batch_size=64),
        Recipe(epochs=15, batch_size=64, lr=0.05), device="cpu", progress=False)
    torch.save(model.state_dict(), tmp_path / "original.pt")
    out = tmp_path / "run"
    code = main(["unlearn", "--model", "mymodels:small:width=24", "--weights",
                 str(tmp_path / "original.pt"), "--dataset", "digits", "--forget", "class:3",
                 "--method", "rl", "--hp", "epochs=3", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["weights"]["sha256"] == sha256_of(tmp_path / "original.pt")
    assert manifest["output_sha256"] == sha256_of(out / "model.safetensors")
    assert manifest["method"] == "rl" and manifest["hyperparameters"]["epochs"] == 3
    from ftunlearn.data import make_split
    from ftunlearn.unlearn_command import indices_sha256
    split = make_split(data, "class:3", seed=0)
    assert manifest["forget_indices"]["sha256"] == indices_sha256(split.forget)
    unlearned = load(out / "model.safetensors",
                     lambda: mymodels.small(data.input_shape, data.num_classes, width=24))
    forget_x, forget_y = data.x_train[split.forget], data.y_train[split.forget]
    before = float((model(forget_x).argmax(1) == forget_y).float().mean())
    after = float((unlearned(forget_x).argmax(1) == forget_y).float().mean())
    assert before > 0.9 and after < before - 0.5
    assert abs(manifest["metrics"]["UA"] - 100.0 * (1 - after)) < 1e-3
    report = (out / "report.md").read_text()
    assert "| UA |" in report and "| RA |" in report and (out / "report.html").exists()


def test_unlearn_reports_user_mistakes_in_one_line(tmp_path, capsys) -> None:
    code = main(["unlearn", "--model", "mlp", "--weights", str(tmp_path / "missing.pt"),
                 "--dataset", "digits", "--forget", "class:3", "--method", "ft",
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "ftunlearn unlearn: error: --weights: no checkpoint file")


@pytest.mark.slow
def test_python_dash_m_runs_the_command_line() -> None:
    # -X importtime lists every module the start-up (the whole parser) imports, on stderr
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ftunlearn", "--version"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.startswith("ftunlearn ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "ftunlearn.cli" in imported
    # scikit-learn (about a second) loads only where an attack is fitted or digits are read
    assert {"sklearn", "scipy.stats"}.isdisjoint(imported)


@pytest.mark.usefixtures("no_report_plots")
def test_bench_starts_from_the_users_original_weights(tmp_path, capsys) -> None:
    from ftunlearn.experiments.config import BenchConfig
    from ftunlearn.experiments.workspace import Workspace
    from ftunlearn.models import build_model

    data = load_dataset("digits")
    mine = build_model("mlp", data.input_shape, data.num_classes, seed=7)
    torch.save(mine.state_dict(), tmp_path / "mine.pt")
    config = BenchConfig(methods=("ft",), seeds=(0,), original_weights=str(tmp_path / "mine.pt"))
    original = Workspace(config, tmp_path / "cache").original(0)
    assert original.key == f"weights-sha256:{sha256_of(tmp_path / 'mine.pt')}"
    for a, b in zip(mine.state_dict().values(), original.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    code = main(["bench", "--dataset", "digits", "--model", "mlp", "--methods", "ft",
                 "--seeds", "1", "--recipe", "epochs=1", "--original", str(tmp_path / "mine.pt"),
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
