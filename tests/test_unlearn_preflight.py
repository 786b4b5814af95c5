"""``ftunlearn unlearn`` checks everything it needs before any training: each bad input is
exit 2 with one line ``ftunlearn unlearn: error: ...``, and no method has run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ftunlearn.checkpoints import save
from ftunlearn.cli import main
from ftunlearn.data import load_dataset
from ftunlearn.models import build_model

MODEL = "mlp:hidden=4"


def _npz(path: Path) -> None:
    """40 training and 10 test rows of 6 features, two classes."""
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.normal(size=(40, 6)).astype(np.float32),
             y_train=np.arange(40) % 2, x_test=rng.normal(size=(10, 6)).astype(np.float32),
             y_test=np.arange(10) % 2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-row npz, fitting, wrong-layout and non-finite weights, and bad files."""
    root = tmp_path_factory.mktemp("unlearn_preflight")
    _npz(root / "data.npz")
    data = load_dataset("npz", root / "data.npz")

    def model(spec: str = MODEL) -> torch.nn.Module:
        return build_model(spec, data.input_shape, data.num_classes, seed=0)

    save(model(), root / "good.safetensors")
    save(model("mlp:hidden=8"), root / "wide.safetensors")
    broken = model()
    with torch.no_grad():
        next(broken.parameters())[0, 0] = float("nan")
    save(broken, root / "nan.safetensors")
    torch.save(broken.state_dict(), root / "inf.pt")
    (root / "text.safetensors").write_text("not weights")
    (root / "garbage.pt").write_bytes(b"\x80\x04garbage")
    (root / "a_file").write_text("x")
    (root / "taken").mkdir()
    save(model(), root / "taken" / "model.safetensors")
    return root


def unlearn(*extra: str, weights: str = "{w}/good.safetensors", out: str = "{out}",
            method: str = "ft") -> list[str]:
    return ["unlearn", "--model", MODEL, "--weights", weights, "--dataset", "npz",
            "--data-dir", "{w}/data.npz", "--forget", "random:0.2", "--method", method,
            *(["--hp", "epochs=1"] if method != "retrain" else []), "--device", "cpu",
            "--out", out, *extra]


# (argv, a fragment the one error line must hold)
CASES: dict[str, tuple[list[str], str]] = {
    "golden missing": (unlearn("--golden", "{w}/absent.safetensors"), "--golden: no checkpoint"),
    "golden is a folder": (unlearn("--golden", "{w}"), "--golden: no checkpoint"),
    "golden not safetensors": (unlearn("--golden", "{w}/text.safetensors"),
                               "not a safetensors file"),
    "golden not a pickle": (unlearn("--golden", "{w}/garbage.pt"), "weights-only"),
    "golden wrong shapes": (unlearn("--golden", "{w}/wide.safetensors"), "does not fit"),
    "golden NaN": (unlearn("--golden", "{w}/nan.safetensors"), "NaN or infinite"),
    "golden NaN .pt": (unlearn("--golden", "{w}/inf.pt"), "NaN or infinite"),
    "weights NaN": (unlearn(weights="{w}/nan.safetensors"), "--weights"),
    "weights missing": (unlearn(weights="{w}/absent.pt"), "--weights: no checkpoint"),
    "golden retrain without recipe": (unlearn("--golden", "retrain"), "--recipe KEY=VALUE"),
    "method retrain without recipe": (unlearn(method="retrain"), "--recipe KEY=VALUE"),
    "bad recipe": (unlearn("--recipe", "epochs"), "--recipe"),
    "bad hyperparameter": (unlearn("--hp", "lr=fast"), "lr"),
    "unknown method": (unlearn(method="nope"), "nope"),
    "bad device": (unlearn("--device", "tpu"), "tpu"),
    "out is a file": (unlearn(out="{w}/a_file"), "--out"),
    "out under a file": (unlearn(out="{w}/a_file/run"), "--out"),
    "out in /proc": (unlearn(out="/proc/ftunlearn-cannot-be-here"), "--out"),
    "out holds a model": (unlearn(out="{w}/taken"), "--force"),
}


def _run(argv: list[str], world: Path, out: Path) -> list[str]:
    return [a.replace("{w}", str(world)).replace("{out}", str(out)) for a in argv]


@pytest.mark.parametrize(("argv", "fragment"), CASES.values(), ids=CASES.keys())
def test_bad_input_stops_before_any_training(world, tmp_path, capsys, monkeypatch, argv,
                                             fragment):
    from ftunlearn.methods import base

    def no_training(*args, **kwargs):
        raise AssertionError("a method ran before the inputs were checked")

    monkeypatch.setattr(base, "_run_method", no_training)
    code = main(_run(argv, world, tmp_path / "out"))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("ftunlearn unlearn: error:"), err
    assert fragment in lines[0], err


def test_the_recipe_advice_is_in_cli_terms(world, tmp_path, capsys):
    main(_run(unlearn("--golden", "retrain"), world, tmp_path / "out"))
    err = capsys.readouterr().err
    assert "ftunlearn.Recipe" not in err and "recipe=" not in err
    assert "--golden retrain retrains from scratch and needs" in err


def test_force_overwrites_an_earlier_model(world, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_run(unlearn(), world, out)) == 0, capsys.readouterr().err
    first = (out / "model.safetensors").read_bytes()
    assert main(_run(unlearn(), world, out)) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == first  # refused: left as it was
    assert main(_run(unlearn("--force", "--hp", "lr=0.5"), world, out)) == 0
    assert (out / "model.safetensors").read_bytes() != first
    assert not list(out.glob(".*partial"))
