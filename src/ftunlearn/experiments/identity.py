"""Content-addressed identity of a run, its cells and its checkpoints.

A result is reused only when everything it was computed from is the same: the dataset's content
and folder, the forget set's indices, the model's code and structure, the training recipe,
ftunlearn's version and the method's own version. Names alone (a dataset name, a model spec, a
forget spec naming a file) are not enough, since the content behind a name can change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ftunlearn
from ftunlearn.data import Dataset, SplitSizes, load_dataset, make_split
from ftunlearn.experiments.config import BenchConfig, digest
from ftunlearn.experiments.pseudo import pseudo_method
from ftunlearn.methods.base import METHODS, reference_method
from ftunlearn.models import build_model
from ftunlearn.models.registry import model_fingerprint


def resolved_data_dir(data_dir: str | Path | None) -> str | None:
    """The absolute form of ``data_dir`` (two spellings of one folder are one input)."""
    return None if data_dir is None else str(Path(data_dir).expanduser().resolve())


def method_version(name: str) -> str:
    """A method's numerics version (bumped when its results change); golden has retrain's."""
    pseudo = pseudo_method(name)
    if pseudo is not None and not pseudo.reference:
        return "1"  # no method runs: the row is the model itself, under ftunlearn's version
    return METHODS.get(reference_method() if pseudo is not None else name).version


def config_model_fingerprint(config: BenchConfig, dataset: Dataset) -> str:
    """The fingerprint of the run's model, built once (seed 0) for its layout."""
    model = build_model(config.model, dataset.input_shape, dataset.num_classes, seed=0)
    return model_fingerprint(config.model, model)


def training_inputs(config: BenchConfig, dataset: Dataset, model_fp: str) -> dict[str, Any]:
    """What a trained original or golden model depends on besides its split and seed."""
    return {
        "dataset": config.dataset,
        "data_dir": resolved_data_dir(config.data_dir),
        "dataset_fingerprint": dataset.fingerprint,
        "model": config.model,
        "model_fingerprint": model_fp,
        "recipe": config.recipe.to_dict(),
        "ftunlearn": ftunlearn.__version__,
    }


@dataclass(frozen=True)
class RunIdentity:
    """The content behind a run's shared inputs, and each seed's forget-set fingerprint.

    ``digest`` covers ``parts`` (every input that all cells share); a cell's key adds its seed's
    split fingerprint, its method's version and its hyperparameters.
    """

    parts: Mapping[str, Any]
    splits: Mapping[int, str]
    sizes: Mapping[int, SplitSizes] = field(default_factory=dict, compare=False)
    """Each seed's split sizes: what reports show, not part of the identity."""

    @property
    def digest(self) -> str:
        return digest(dict(self.parts))

    def cell_inputs(self, method: str, seed: int) -> str:
        """A digest of what one cell adds to the shared inputs (its split and method code)."""
        return digest({"split": self.splits[seed], "method_version": method_version(method)})

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "parts": dict(self.parts),
                "splits": {str(seed): fp for seed, fp in self.splits.items()}}


def _weights_digest(path: str | None) -> str | None:
    """The user's original weights by content (the same file moved is the same input)."""
    if path is None:
        return None
    from ftunlearn.checkpoints import sha256_of

    return f"sha256:{sha256_of(path)}"


def run_identity(config: BenchConfig, dataset: Dataset | None = None) -> RunIdentity:
    """Load (unless given) the dataset, build the model and draw every seed's split."""
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir)
    parts = {
        **training_inputs(config, dataset, config_model_fingerprint(config, dataset)),
        "forget": config.forget,
        "mia_extras": config.mia_extras,
        "mia_non_members": config.mia_non_members,
        **config.evaluation_sizes,
        "original_weights": _weights_digest(config.original_weights),
        # only when set: runs of every metric keep the identity they always had
        **({"metrics": config.metrics} if config.metrics != "all" else {}),
    }
    drawn = {seed: make_split(dataset, config.forget, seed=seed) for seed in config.seeds}
    return RunIdentity(parts, {seed: split.fingerprint for seed, split in drawn.items()},
                       {seed: SplitSizes.of(dataset, split) for seed, split in drawn.items()})
