"""Model checkpoints: safetensors weights plus JSON metadata, and plain PyTorch state dicts.

``save(model, "m.safetensors", method="dr-ft", seed=0)`` writes the state dict and the keyword
metadata (JSON-serialisable values) into one safetensors file. ``load(path)`` returns the state
dict; ``load(path, model)`` or ``load(path, factory)`` loads it into a model (a factory is called
with no arguments) and returns the model, with a clear error naming missing, unexpected and
mis-shaped keys. ``.pt``/``.pth``/``.bin`` files are read with ``torch.load(weights_only=True)``
only, so nothing is unpickled beyond tensors and plain containers; a ``{"state_dict": ...}``
wrapper is unwrapped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ftunlearn.errors import UnlearnError

METADATA_KEY = "ftunlearn"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model: nn.Module | Mapping[str, torch.Tensor], path: str | Path, **metadata: Any
         ) -> Path:
    """Write ``model``'s state dict (or a state dict) and ``metadata`` to a safetensors file."""
    state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    # safetensors refuses tensors sharing storage; private contiguous copies have none
    tensors = {name: value.detach().cpu().contiguous().clone() for name, value in state.items()}
    try:
        text = json.dumps(metadata, sort_keys=True)
    except TypeError as error:
        raise UnlearnError(f"checkpoint metadata must be JSON-serialisable: {error}") from error
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata={METADATA_KEY: text})
    return target


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata ``save`` stored ({} for other safetensors files and for pickled ones)."""
    source = _existing(path)
    if source.suffix in PICKLE_SUFFIXES:
        return {}
    with safe_open(str(source), framework="pt") as handle:
        stored = (handle.metadata() or {}).get(METADATA_KEY)
    return json.loads(stored) if stored else {}


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or of a ``torch.save``-d state dict."""
    source = _existing(path)
    if source.suffix in PICKLE_SUFFIXES:
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as error:  # any unpickling failure is the file's fault
            raise UnlearnError(
                f"{source}: not a weights-only PyTorch checkpoint ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:200]}); save model.state_dict(), not the model"
            ) from error
        if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not all(
                isinstance(v, torch.Tensor) for v in state.values()):
            raise UnlearnError(f"{source}: expected a state dict (names -> tensors)")
        return dict(state)
    try:
        return load_file(str(source))
    except (SafetensorError, OSError) as error:
        raise UnlearnError(f"{source}: not a safetensors file ({error})") from error


def load(path: str | Path, model: nn.Module | Callable[[], nn.Module] | None = None
         ) -> Any:
    """The state dict at ``path``, or ``model`` (built by a factory if callable) holding it."""
    state = load_state(path)
    if model is None:
        return state
    target = model if isinstance(model, nn.Module) else model()
    if not isinstance(target, nn.Module):
        raise UnlearnError(f"the model factory returned a {type(target).__name__}, not a module")
    check_compatible(target, state, str(path))
    target.load_state_dict(state)
    return target


def check_compatible(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise naming missing, unexpected and mis-shaped keys of ``state`` for ``model``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{name} {tuple(state[name].shape)} vs {tuple(value.shape)}"
              for name, value in expected.items()
              if name in state and state[name].shape != value.shape]
    problems = []
    if missing:
        problems.append(f"missing {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}" + (" ..." if len(unexpected) > 5 else ""))
    if shapes:
        problems.append("shape (file vs model) " + "; ".join(shapes[:5]))
    if problems:
        raise UnlearnError(f"{where} does not fit the model: " + ", ".join(problems)
                           + "; was it saved from another architecture or width?")


def _existing(path: str | Path) -> Path:
    source = Path(path)
    if not source.is_file():
        raise UnlearnError(f"no checkpoint file at {source}")
    return source
