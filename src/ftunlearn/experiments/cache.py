"""A content-addressed checkpoint cache for original and golden models.

Each entry is ``<key>.safetensors`` (the state dict) plus ``<key>.json`` (the key's parts, the
weights' sha256, the training seconds, the time it was written). The JSON is written last, so an
entry without it is incomplete. On a read, every JSON field's type and range, the key parts, the
checksum and every tensor's name, shape, dtype and finiteness are checked against a freshly
built model; an entry that fails any check, or cannot be read at all, is logged with its file
name, removed and rebuilt, never used. Files are readable by group and others (a shared cache).
Nothing is ever unpickled.

These checks find damage (a torn write, a truncated or flipped file, an edit that breaks a
field), not forgery: whoever can write the folder can write weights, their sha256 and a
plausible ``train_seconds`` that pass every check. The folder is trusted like code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Real
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ftunlearn.disk import writing
from ftunlearn.errors import UnlearnError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
FILE_MODE = 0o644
FOLDER_MODE = 0o755
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, FILE_MODE)  # mkstemp makes 0o600: others sharing the cache read it
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def check_metadata(meta: Mapping[str, Any]) -> float:
    """An entry's training seconds, once every field of its JSON has the type and range the
    writer gives it; raises ``ValueError`` naming the first field that has not.

    ``train_seconds`` must be a finite number > 0: it is a measured duration, and a golden
    model's is the divisor of every ``rte_ratio``. A false but plausible value (999 for 1.2)
    passes: nothing else in the entry records how long the training took.
    """
    if type(meta.get("format")) is not int or meta["format"] != CACHE_FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, expected {CACHE_FORMAT}")
    if not isinstance(meta.get("parts"), dict):
        raise ValueError(f"its key parts are {meta.get('parts')!r}, not an object")
    digest = meta.get("sha256")
    if not isinstance(digest, str) or SHA256_HEX.fullmatch(digest) is None:
        raise ValueError(f"sha256 is {digest!r}, not 64 lowercase hex digits")
    seconds = checked_seconds(meta.get("train_seconds"))
    created = meta.get("created_at")
    try:
        when = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"created_at is {created!r}, not an ISO-8601 time with its zone")
    return seconds


def checked_seconds(value: object) -> float:
    """``value`` as training seconds: a finite number > 0, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"train_seconds is {value!r}, not a number")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"train_seconds is {value!r}, not a finite number > 0")
    return float(value)


class CheckpointCache:
    """Trained models stored under a content key in ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        try:
            if not self.root.is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                self.root.chmod(FOLDER_MODE)  # not the umask's: a shared cache stays readable
            mode = self.root.stat().st_mode
        except OSError as error:
            raise UnlearnError(f"cannot create the cache folder {self.root}: {error}") from error
        if stat.S_IMODE(mode) & stat.S_IWOTH:
            # no check can tell a forged entry from a real one: say who could have written it
            log.warning("the cache folder %s is writable by every user, so anyone can change "
                        "the models and training times it serves; keep it in a folder only "
                        "you (or your group) can write", self.root)

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.safetensors", self.root / f"{key}.json"

    def load(self, parts: Mapping[str, Any], build: Callable[[], nn.Module]) -> CachedModel | None:
        """The cached model for ``parts``, or ``None`` when absent or unusable for any reason
        (then a warning names the file, the entry is removed and the caller rebuilds it)."""
        key = cache_key(parts)
        weights, meta_path = self.paths(key)
        if not meta_path.exists() and not meta_path.is_symlink():
            return None
        model = build()  # outside the check: a failing model factory is not a bad entry
        try:
            seconds = self._read_entry(parts, weights, meta_path, model)
        except Exception as error:  # any defect of an entry, whatever raised it, means rebuild
            log.warning("cache entry %s is unusable (%s: %s); it will be rebuilt", meta_path,
                        type(error).__name__, error)
            self._discard(weights, meta_path)
            return None
        return CachedModel(model, seconds, True, key)

    @staticmethod
    def _read_entry(
        parts: Mapping[str, Any], weights: Path, meta_path: Path, model: nn.Module
    ) -> float:
        """Load a checked entry into ``model``; its training seconds. Raises on any defect."""
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError(f"its JSON is a {type(meta).__name__}, not an object")
        seconds = check_metadata(meta)
        if meta["parts"] != json.loads(json.dumps(parts, default=str)):
            raise ValueError("its key parts differ from the request")
        if _sha256_file(weights) != meta["sha256"]:
            raise ValueError("the weights' checksum does not match")
        state = load_file(str(weights))
        expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
        found = {k: (tuple(v.shape), v.dtype) for k, v in state.items()}
        if expected != found:
            raise ValueError("its tensors do not match the model's names, shapes and dtypes")
        bad = next((k for k, v in state.items()
                    if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
        if bad is not None:
            raise ValueError(f"tensor {bad!r} holds non-finite values")
        model.load_state_dict(state, strict=True)
        return seconds

    @staticmethod
    def _discard(*paths: Path) -> None:
        """Remove what is left of a bad entry (a file, or a folder in a file's place)."""
        for path in paths:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("cannot remove the bad cache file %s (%s)", path, error)

    def store(self, parts: Mapping[str, Any], model: nn.Module, train_seconds: float) -> str:
        """Write ``model`` under ``parts``; weights first, the JSON (the commit mark) last.
        Files are made readable by group and others, so a shared cache serves every user."""
        key = cache_key(parts)
        weights, meta_path = self.paths(key)
        seconds = checked_seconds(train_seconds)  # first: the reader would reject the entry
        self._discard(weights, meta_path)
        state = {
            k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()
        }
        with writing(weights):
            _atomic_write(weights, lambda path: save_file(state, str(path)))
        meta = {
            "format": CACHE_FORMAT,
            "parts": json.loads(json.dumps(parts, default=str)),
            "sha256": _sha256_file(weights),
            "train_seconds": seconds,
            "created_at": _now(),
        }
        with writing(meta_path):
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

