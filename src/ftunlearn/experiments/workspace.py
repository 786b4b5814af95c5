"""Everything one process needs to run cells: data, splits, original and golden models.

A :class:`Workspace` memoises what cells of the same run share (the dataset, each seed's split,
the original and golden models and the golden model's outputs) and gets the models from the
checkpoint cache, so each is trained once per (dataset, split, model, recipe, seed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ftunlearn.data import Dataset, Split, load_dataset, make_split
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cache import CachedModel, CheckpointCache
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.identity import config_model_fingerprint, training_inputs
from ftunlearn.methods.base import Context, Samples
from ftunlearn.methods.finetune import from_scratch
from ftunlearn.metrics.evaluate import EXTRA_MIA_FEATURES, ModelOutputs, model_outputs
from ftunlearn.models import build_model
from ftunlearn.training import resolve_device


def load_weights(path: str | Path, build: Callable[[], nn.Module], flag: str) -> nn.Module:
    """A model from ``build`` holding the user's trained weights at ``path``; refused, naming
    ``flag``, when the file is missing, unreadable, not a checkpoint, of another layout, or
    holds NaN or infinity (no method or metric can start from those)."""
    from ftunlearn.checkpoints import load

    try:
        model = load(path, build)
    except UnlearnError as error:
        raise UnlearnError(f"{flag}: {error}") from error
    except OSError as error:
        raise UnlearnError(f"{flag} {path}: cannot read it ({error.strerror or error})"
                           ) from error
    bad = [name for name, value in model.state_dict().items()
           if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise UnlearnError(f"{flag} {path} holds NaN or infinite values in {shown}; these are "
                           "not usable trained weights (did its training diverge?)")
    return model


@dataclass(frozen=True)
class Reference:
    """A seed's split with its original and golden models (and the golden's outputs)."""

    split: Split
    original: CachedModel
    golden: CachedModel
    golden_outputs: ModelOutputs


class Workspace:
    """Per-process memo of a run's shared inputs. Not shared between processes."""

    def __init__(self, config: BenchConfig, cache_dir: str | Path, *, progress: bool = False,
                 dataset: Dataset | None = None):
        """``dataset``: the run's dataset where the caller holds it already (else it is loaded
        on first use)."""
        self.config = config
        self.cache = CheckpointCache(cache_dir)
        self.progress = progress
        self._dataset = dataset
        self._references: dict[int, Reference] = {}
        self._model_fingerprint: str | None = None

    @property
    def evaluation_options(self) -> dict[str, object]:
        """The run's protocol choices, as ``evaluate``/``model_outputs`` keywords."""
        return {"extra_mia_features": EXTRA_MIA_FEATURES if self.config.mia_extras else (),
                "mia_non_members": self.config.mia_non_members,
                **self.config.evaluation_sizes}

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = load_dataset(self.config.dataset, self.config.data_dir)
        return self._dataset

    def _build(self, seed: int) -> nn.Module:
        data = self.dataset
        return build_model(self.config.model, data.input_shape, data.num_classes, seed=seed)

    def _key(self, seed: int, role: str, split: Split | None) -> dict[str, object]:
        """Content-addressed: the data's content and folder, the model's code and layout, the
        recipe and ftunlearn's version (``identity.training_inputs``), the split and seed."""
        if self._model_fingerprint is None:
            self._model_fingerprint = config_model_fingerprint(self.config, self.dataset)
        return {
            **training_inputs(self.config, self.dataset, self._model_fingerprint),
            "role": role,
            "split": "full" if split is None else {"spec": split.spec,
                                                    "fingerprint": split.fingerprint},
            "seed": seed,
        }

    def _train_on(
        self, indices: torch.Tensor | None, seed: int, desc: str
    ) -> Callable[[nn.Module], None]:
        """A trainer of a fresh model on the training set (or the rows ``indices``)."""
        data = self.dataset
        x, y = data.x_train, data.y_train
        if indices is not None:
            x, y = x[indices], y[indices]
        plan = from_scratch(Samples(x, y), self.config.recipe, desc, initialised=True)
        context = Context(seed=seed, device=resolve_device(self.config.device),
                          recipe=self.config.recipe, progress=self.progress)

        def train(model: nn.Module) -> None:
            plan.run(model, context)

        return train

    def original(self, seed: int) -> CachedModel:
        """θ_o: trained on the whole training set (independent of the forget spec), or the
        user's ``original_weights`` (the same for every seed, keyed by the file's sha256)."""
        if self.config.original_weights is not None:
            from ftunlearn.checkpoints import sha256_of

            model = load_weights(self.config.original_weights, lambda: self._build(seed),
                                 "--original")
            return CachedModel(model, 0.0, True,
                               f"weights-sha256:{sha256_of(self.config.original_weights)}")
        return self.cache.get_or_train(
            self._key(seed, "original", None), lambda: self._build(seed),
            self._train_on(None, seed, f"original seed {seed}"),
        )

    def reference(self, seed: int) -> Reference:
        """The seed's split, original, golden (θ_g trained on D_r) and the golden's outputs."""
        if seed not in self._references:
            split = make_split(self.dataset, self.config.forget, seed=seed)
            original = self.original(seed)
            golden = self.cache.get_or_train(
                self._key(seed, "golden", split), lambda: self._build(seed),
                self._train_on(split.retain, seed, f"golden seed {seed}"),
            )
            outputs = model_outputs(
                golden.model, self.dataset, split, seed=seed, device=self.config.device,
                metrics=self.config.metrics, **self.evaluation_options,
            )
            self._references[seed] = Reference(split, original, golden, outputs)
        return self._references[seed]

    def original_copy(self, seed: int) -> nn.Module:
        """A private copy of θ_o for a method to work on."""
        return copy.deepcopy(self.reference(seed).original.model)
