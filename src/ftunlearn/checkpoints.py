"""Model checkpoints: safetensors weights plus JSON metadata, and plain PyTorch state dicts.

``save(model, "m.safetensors", method="dr-ft", seed=0)`` writes the state dict and the keyword
metadata (JSON-serialisable values) into one safetensors file, with the model's architecture
(spec, input shape, class count) under ``architecture`` when the model was built by
``build_model`` (or ``architecture=`` is given). ``load(path)`` rebuilds that model and loads the
weights into it; ``load(path, model)`` or ``load(path, factory)`` loads them into the given model
(a factory is called with no arguments, or, when it takes them, with the recorded input shape,
class count and, if it is the recorded factory, its options), with a clear error naming
missing, unexpected and mis-shaped keys. ``load_state(path)`` returns the tensors alone.
``.pt``/``.pth``/``.bin`` files are read with ``torch.load(weights_only=True)`` only, so nothing
is unpickled beyond tensors and plain containers; a ``{"state_dict": ...}`` wrapper is unwrapped.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.models.registry import MODELS, Architecture, ModelSpec, architecture_of

METADATA_KEY = "ftunlearn"
ARCHITECTURE_KEY = "architecture"
"""The metadata entry holding ``Architecture.to_dict()``."""
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model: nn.Module | Mapping[str, torch.Tensor], path: str | Path, *,
         architecture: Architecture | None = None, **metadata: Any) -> Path:
    """Write ``model``'s state dict (or a state dict) and ``metadata`` to a safetensors file;
    the architecture (``architecture`` or the one ``build_model`` recorded on ``model``) goes
    in too, so that ``load(path)`` can rebuild the model."""
    state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    if architecture is None and isinstance(model, nn.Module):
        architecture = architecture_of(model)
    if ARCHITECTURE_KEY in metadata:
        raise UnlearnError(f"metadata key {ARCHITECTURE_KEY!r} is reserved; pass "
                           "architecture=ftunlearn.models.Architecture(...) instead")
    if architecture is not None:
        metadata = {**metadata, ARCHITECTURE_KEY: architecture.to_dict()}
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
            # an empty message (torch's on an empty file) has no first line to quote
            first = next(iter(str(error).splitlines()), "").strip()[:200]
            reason = f"{type(error).__name__}: {first}" if first else type(error).__name__
            raise UnlearnError(
                f"{source}: not a weights-only PyTorch checkpoint ({reason}); save "
                "model.state_dict(), not the model"
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


def load(path: str | Path, model: nn.Module | Callable[..., nn.Module] | None = None
         ) -> nn.Module:
    """``model`` (or the model a factory builds, or with neither the recorded architecture
    rebuilt) holding the weights at ``path``."""
    state = load_state(path)
    recorded = read_architecture(path)
    if model is None:
        if recorded is None:
            raise UnlearnError(
                f"{path} records no model architecture (saved by an older ftunlearn, from a "
                "model not built by ftunlearn.build_model, or a plain PyTorch file); pass the "
                "model or a factory: ftunlearn.load(path, factory), or "
                "ftunlearn.checkpoints.load_state(path) for the tensors alone")
        target = recorded.build()
    elif isinstance(model, nn.Module):
        target = model
    else:
        target = _call_factory(model, recorded, str(path))
    if not isinstance(target, nn.Module):
        raise UnlearnError(f"the model factory returned a {type(target).__name__}, not a module")
    check_compatible(target, state, str(path))
    target.load_state_dict(state)
    return target


def read_architecture(path: str | Path) -> Architecture | None:
    """The architecture ``save`` recorded in the file, or ``None`` where it recorded none."""
    recorded = read_metadata(path).get(ARCHITECTURE_KEY)
    return Architecture.from_dict(recorded, str(path)) if recorded is not None else None


def _call_factory(factory: Callable[..., nn.Module], recorded: Architecture | None,
                  where: str) -> nn.Module:
    """A zero-argument factory called bare; a ``factory(input_shape, num_classes, **options)``
    called with the recorded shape and class count, and with the recorded options when it is
    the recorded factory (as ``build_model`` would call it)."""
    try:
        needs = [p for p in inspect.signature(factory).parameters.values()
                 if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                        p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # a builtin without a signature: call it bare
        needs = []
    if not needs:
        return factory()
    if recorded is None:
        raise UnlearnError(
            f"{where} records no input shape or class count to call "
            f"{getattr(factory, '__name__', 'the factory')}({', '.join(p.name for p in needs)}) "
            "with; pass a model, or a factory of no arguments, e.g. "
            "lambda: build(input_shape, num_classes)")
    options = recorded.spec.options if _is_recorded(factory, recorded.spec) else {}
    return factory(recorded.input_shape, recorded.num_classes, **options)


def _is_recorded(factory: Callable[..., nn.Module], spec: ModelSpec) -> bool:
    if spec.name in MODELS:
        return MODELS.get(spec.name).factory is factory
    return f"{getattr(factory, '__module__', '')}:{getattr(factory, '__qualname__', '')}" \
        == spec.name


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
    if source.stat().st_size == 0:  # a save cut short: say so, not what each reader chokes on
        raise UnlearnError(f"{source} is empty (0 bytes); save the weights again "
                           "(ftunlearn.save or torch.save(model.state_dict(), path))")
    return source
