"""A content-addressed checkpoint cache for original and golden models.

Each entry is ``<key>.safetensors`` (the state dict) plus ``<key>.json`` (the key's parts, the
weights' sha256, the training seconds). The JSON is written last, so an entry without it is
incomplete. On a read, the key parts, the checksum and every tensor name and shape are checked
against a freshly built model; anything off is reported and rebuilt, never used. Nothing is
ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from ftunlearn.errors import UnlearnError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def cache_key(parts: Mapping[str, Any]) -> str:
    """The sha256 of the key parts written as canonical JSON."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedModel:
    """A model from the cache: ``hit`` tells whether it was read rather than trained now."""

    model: nn.Module
    train_seconds: float
    hit: bool
    key: str


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class CheckpointCache:
    """Trained models stored under a content key in ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UnlearnError(f"cannot create the cache folder {self.root}: {error}") from error

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.safetensors", self.root / f"{key}.json"

    def load(self, parts: Mapping[str, Any], build: Callable[[], nn.Module]) -> CachedModel | None:
        """The cached model for ``parts``, or ``None`` when absent or unusable (then logged)."""
        key = cache_key(parts)
        weights, meta_path = self.paths(key)
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != CACHE_FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {CACHE_FORMAT}")
            if meta.get("parts") != json.loads(json.dumps(parts, default=str)):
                raise ValueError("its key parts differ from the request")
            if _sha256_file(weights) != meta.get("sha256"):
                raise ValueError("the weights' checksum does not match")
            state = load_file(str(weights))
            model = build()
            expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            found = {k: tuple(v.shape) for k, v in state.items()}
            if expected != found:
                raise ValueError("its tensors do not match the model's names and shapes")
            model.load_state_dict(state, strict=True)
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            log.warning("cache entry %s is unusable (%s); it will be rebuilt", key[:12], error)
            return None
        return CachedModel(model, float(meta["train_seconds"]), True, key)

    def store(self, parts: Mapping[str, Any], model: nn.Module, train_seconds: float) -> str:
        """Write ``model`` under ``parts``; weights first, the JSON (the commit mark) last."""
        key = cache_key(parts)
        weights, meta_path = self.paths(key)
        state = {
            k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()
        }
        _atomic_write(weights, lambda path: save_file(state, str(path)))
        meta = {
            "format": CACHE_FORMAT,
            "parts": json.loads(json.dumps(parts, default=str)),
            "sha256": _sha256_file(weights),
            "train_seconds": train_seconds,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _atomic_write(meta_path, lambda path: path.write_text(json.dumps(meta, indent=2)))
        return key

    def get_or_train(
        self,
        parts: Mapping[str, Any],
        build: Callable[[], nn.Module],
        train: Callable[[nn.Module], None],
    ) -> CachedModel:
        """Return the cached model for ``parts``, training (and storing) it when needed.

        ``build`` makes a freshly initialised model; ``train`` trains it in place.
        """
        cached = self.load(parts, build)
        if cached is not None:
            return cached
        model = build()
        started = time.perf_counter()
        train(model)
        seconds = time.perf_counter() - started
        key = self.store(parts, model, seconds)
        return CachedModel(model, seconds, False, key)


def default_cache_dir() -> Path:
    """``$FTUNLEARN_CACHE`` if set, else ``~/.cache/ftunlearn``."""
    configured = os.environ.get("FTUNLEARN_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "ftunlearn"

