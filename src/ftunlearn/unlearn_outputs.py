"""The folder ``ftunlearn unlearn`` writes, read back: its file names, the input hashes its
manifest records, and :func:`load_run`.

Every hash is the hex sha256 (docs/protocol.md, "What the hashes cover"): of a file's raw bytes
for each input file, and of the sorted forget indices written as ASCII decimal text joined by
commas for the forget set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ftunlearn.errors import UnlearnError

if TYPE_CHECKING:
    from torch import nn

MODEL_FILENAME = "model.safetensors"
MANIFEST_FILENAME = "manifest.json"


def indices_sha256(indices: Iterable[int]) -> str:
    """The sha256 of the sorted forget indices (0-based positions in the training set) as ASCII
    decimal text joined by commas, no spaces, no brackets, no trailing comma: ``"3,17,42"``."""
    text = ",".join(str(i) for i in sorted(int(i) for i in indices))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"path": ..., "sha256": ...}``: the file's path as given and the sha256 of its bytes."""
    from ftunlearn.checkpoints import sha256_of

    return {"path": str(path), "sha256": sha256_of(path)}


INPUT_FILES = {"weights": "--weights", "golden_weights": "--golden FILE",
               "data_file": "--data-dir", "forget_file": "--forget indices:FILE"}
"""The manifest's record of each input file, and the option that names it."""


def input_records(*, weights: str | Path, golden_weights: str | Path | None,
                  data_dir: str | Path | None, forget: str) -> dict[str, dict[str, Any]]:
    """A ``file_record`` of every input file of a run (keys as in ``INPUT_FILES``):
    ``weights``; ``golden_weights`` for ``--golden FILE``; ``data_file`` for ``--data-dir``
    (a folder is recorded by path with ``sha256`` null: its files are not hashed);
    ``forget_file`` for an ``indices:FILE`` forget spec."""
    from ftunlearn.data.forget_specs import IndicesSpec, parse_forget_spec

    records: dict[str, dict[str, Any]] = {"weights": file_record(weights)}
    if golden_weights is not None:
        records["golden_weights"] = file_record(golden_weights)
    if data_dir is not None:
        records["data_file"] = (file_record(data_dir) if Path(data_dir).is_file()
                                else {"path": str(data_dir), "sha256": None})
    parsed = parse_forget_spec(forget)
    if isinstance(parsed, IndicesSpec):
        records["forget_file"] = file_record(parsed.path)
    return records


@dataclass(frozen=True)
class Run:
    """An ``ftunlearn unlearn`` output folder read back: the unlearned model (rebuilt from its
    recorded architecture), the manifest, and the unlearned model's metrics."""

    model: nn.Module
    manifest: Mapping[str, Any]
    metrics: Mapping[str, float]

    @property
    def original_metrics(self) -> Mapping[str, float]:
        return self.manifest.get("original_metrics", MappingProxyType({}))


def load_run(out_dir: str | Path, model: Any = None) -> Run:
    """The run ``ftunlearn unlearn --out out_dir`` wrote. The model file must still be the one the
    manifest hashed; ``model`` (a module or factory, as for ``ftunlearn.load``) is only needed
    for folders written before the architecture was recorded."""
    from ftunlearn.checkpoints import load, sha256_of

    folder = Path(out_dir)
    manifest_path, model_path = folder / MANIFEST_FILENAME, folder / MODEL_FILENAME
    for path in (manifest_path, model_path):
        if not path.is_file():
            raise UnlearnError(f"{folder} holds no {path.name}; is it an `ftunlearn unlearn` "
                               "output folder (--out)?")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnlearnError(f"{manifest_path} is not JSON ({error})") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("metrics"), dict):
        raise UnlearnError(f"{manifest_path} is not an `ftunlearn unlearn` manifest")
    expected = manifest.get("output_sha256")
    if expected is not None and sha256_of(model_path) != expected:
        raise UnlearnError(f"{model_path} is not the file this run wrote (its sha256 differs "
                           f"from {MANIFEST_FILENAME}'s output_sha256); was it replaced?")
    return Run(load(model_path, model), MappingProxyType(manifest),
               MappingProxyType(manifest["metrics"]))


def write_manifest(out: str | Path, manifest: Mapping[str, Any]) -> Path:
    """``out/manifest.json``: the manifest as sorted, indented JSON, written atomically."""
    from ftunlearn.atomic import write_atomic

    path = Path(out) / MANIFEST_FILENAME
    write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
                        ).encode())
    return path
