"""The unlearning contract: one abstract class, one registry, one public call.

A method is a subclass of :class:`Unlearner` registered under a short name, with a frozen
dataclass of hyperparameters (:attr:`Unlearner.Config`). It sees the original model, the retain
and forget sets and a :class:`Context` (seed, device, the original's recipe, the test set's
size), never the golden model.
"""

from __future__ import annotations

import copy
import time
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ftunlearn.errors import UnlearnError
from ftunlearn.methods import inputs
from ftunlearn.methods.checks import check_finite_weights, check_same_device, floating_dtype
from ftunlearn.methods.context import Context
from ftunlearn.methods.overlap import check_disjoint, shared_samples  # noqa: F401 (public here)
from ftunlearn.methods.samples import Samples, as_samples
from ftunlearn.models.checks import check_model
from ftunlearn.params import GENERATOR_SEED_LIMIT, Params, check_seed
from ftunlearn.registry import Registry
from ftunlearn.training import Recipe, resolve_device

if typing.TYPE_CHECKING:
    from ftunlearn.methods.plan import FitPlan
    from ftunlearn.tuning.space import Dimension


@dataclass(frozen=True)
class Hyperparameters(Params):
    """Base of every method's hyperparameter dataclass: fields are validated from their type
    hints (:mod:`ftunlearn.params`); rules across fields go in ``check``."""

    owner: ClassVar[str] = "hyperparameters"
    key_word: ClassVar[str] = "hyperparameter"


class Unlearner(ABC):
    """Base class of every method: subclass, set ``name`` and ``Config``, implement ``run``."""

    name: ClassVar[str]
    Config: ClassVar[type[Hyperparameters]]
    summary: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    reference: ClassVar[bool] = False
    trains: ClassVar[bool] = True
    needs_recipe: ClassVar[bool] = False
    """True for methods that train from scratch with ``Context.recipe`` (``unlearn`` then
    refuses to run without an explicit recipe rather than train on a guessed one)."""
    search_space: ClassVar[tuple[Dimension, ...]] = ()
    """What ``ftunlearn tune`` searches (``ftunlearn.tuning.space``); empty: not tunable."""

    def __init__(self, config: Hyperparameters | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        """Unlearn ``forget`` from ``model`` (a private copy, free to modify) and return it.

        ``retain``/``forget`` are ``Samples`` or, for a user's ``Dataset``/``DataLoader``, a
        streamed :class:`ftunlearn.data.sources.DataSource`; read them through
        ``methods.common`` (``batches_of``, ``ordered_batches``, ``relabelled``, ``in_memory``)
        so every kind works."""

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan | None:
        """The single fit-loop call ``run`` makes, when that is all it does (``None`` here):
        ``ftunlearn.ensemble.unlearn_many`` trains many seeds of a plan in one pass."""
        return None


@dataclass(frozen=True)
class MethodEntry:
    """A registered method and the metadata every list and special case derives from."""

    name: str
    cls: type[Unlearner]

    @property
    def reference(self) -> bool:
        """A retraining reference (the golden model's own procedure), never a candidate for a
        best mark."""
        return self.cls.reference

    @property
    def trains(self) -> bool:
        """Whether the method runs a training loop (``iu`` and ``ssd`` edit weights at once)."""
        return self.cls.trains

    @property
    def version(self) -> str:
        """Bumped when the method's numbers change, so stored results of older code re-run."""
        return str(self.cls.version)

    @property
    def search_space(self) -> tuple[Dimension, ...]:
        """The dimensions ``ftunlearn tune`` searches (empty for references such as
        ``retrain``)."""
        return tuple(self.cls.search_space)


METHODS: Registry[MethodEntry] = Registry("method")
"""Every method, in the order reports and ``--methods all`` list them (registration order)."""


def register(cls: type[Unlearner]) -> type[Unlearner]:
    """Class decorator: add a method to the registry under ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise TypeError(f"{cls.__name__} needs a class attribute 'name'")
    if not (isinstance(cls.Config, type) and issubclass(cls.Config, Hyperparameters)):
        raise TypeError(f"{cls.__name__}.Config must subclass Hyperparameters")
    METHODS.add(MethodEntry(cls.name, cls))
    return cls


def reference_method() -> str:
    """The registry's retraining reference (``retrain``): the golden model's own procedure."""
    return next(entry.name for entry in METHODS if entry.reference)


def available_methods() -> list[str]:
    """The registered method names, in registry order."""
    return list(METHODS.names())


def method_class(name: str) -> type[Unlearner]:
    return METHODS.get(name).cls


def make_config(name: str, overrides: Mapping[str, Any]) -> Hyperparameters:
    """Build ``name``'s hyperparameters from defaults plus ``overrides`` (typed or text)."""
    return method_class(name).Config.from_values(overrides, where=f"method {name!r}")


@dataclass(frozen=True)
class UnlearnResult:
    """An unlearned model, how long the procedure took, and with what."""

    model: nn.Module
    seconds: float
    method: str
    hyperparameters: dict[str, Any]


def unlearn(
    model: nn.Module,
    retain: Samples | TensorDataset | tuple[torch.Tensor, torch.Tensor],
    forget: Samples | TensorDataset | tuple[torch.Tensor, torch.Tensor],
    method: str = "dr-ft",
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    recipe: Recipe | None = None,
    num_classes: int | None = None,
    n_test: int | None = None,
    progress: bool = False,
    on_epoch_end: Callable[[int, float], None] | None = None,
    output: Callable[[Any], torch.Tensor] | None = None,
    batch: Callable[[Any], tuple[torch.Tensor, torch.Tensor]] | None = None,
    **hyperparameters: Any,
) -> UnlearnResult:
    """Remove ``forget``'s influence from ``model`` with ``method``; the input is never modified.

    ``retain`` and ``forget`` are ``(x, y)`` tensors (or a ``TensorDataset``), a map-style
    ``Dataset`` of ``(x, y)`` items or a ``DataLoader`` (:mod:`ftunlearn.methods.inputs`;
    ``batch`` turns other items/batches into ``(x, y)``). ``output`` maps the model's output
    to logits (default: the tensor itself or its ``.logits``). ``recipe`` is the original's
    training recipe; methods that retrain (``retrain``) refuse to run without one.
    ``num_classes`` defaults to one more than the largest label seen (the model's output width
    when a set is streamed). Returns the new model and the seconds the procedure took
    (validation and copying excluded).
    """
    config = make_config(method, hyperparameters)
    seed = check_seed(seed, "unlearn: seed", GENERATOR_SEED_LIMIT)  # not torch's own error
    if not isinstance(model, nn.Module):
        raise UnlearnError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if recipe is None and method_class(method).needs_recipe:
        raise UnlearnError(
            f"method {method!r} retrains from scratch and needs the original's training recipe: "
            "pass recipe=ftunlearn.Recipe(epochs=..., lr=..., batch_size=...) (the recipe the "
            "model was trained with); without it the result would be an under-trained model"
        )
    if inputs.is_streamed(retain) or inputs.is_streamed(forget):
        model, retain_set, forget_set, classes = inputs.streamed_sets(
            model, retain, forget, num_classes=num_classes, output=output, batch=batch)
        return _run_method(model, method, config, retain_set, forget_set, Context(
            seed=seed, device=resolve_device(device), recipe=recipe or Recipe(),
            num_classes=classes, n_test=n_test, progress=progress, on_epoch_end=on_epoch_end))
    retain_samples = as_samples(retain, "retain", dtype=floating_dtype(model))
    forget_samples = as_samples(forget, "forget", dtype=floating_dtype(model))
    if len(forget_samples) == 0:
        raise UnlearnError("the forget set is empty: there is nothing to unlearn")
    if len(retain_samples) == 0:
        raise UnlearnError("the retain set is empty: unlearning needs data to keep")
    if retain_samples.x.shape[1:] != forget_samples.x.shape[1:]:
        raise UnlearnError(f"retain samples have shape {tuple(retain_samples.x.shape[1:])} but "
                           f"forget samples {tuple(forget_samples.x.shape[1:])}; they must match")
    check_same_device(("retain x", retain_samples.x), ("forget x", forget_samples.x))
    check_disjoint(retain_samples, forget_samples)
    largest = int(max(retain_samples.y.max(), forget_samples.y.max())) + 1
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(
            num_classes, int)):
        raise UnlearnError(f"num_classes must be a whole number, got {num_classes!r}")
    classes = num_classes if num_classes is not None else largest
    if classes < largest:
        raise UnlearnError(f"labels go up to {largest - 1} but num_classes is {classes}")
    model = inputs.with_logits(model, output, retain_samples.x[:1])
    # a dry forward pass: the model must take these inputs and score at least every class
    check_model(model, retain_samples.x[0], classes, type(model).__name__, exact=False)
    context = Context(
        seed=seed, device=resolve_device(device), recipe=recipe or Recipe(), num_classes=classes,
        n_test=n_test, progress=progress, on_epoch_end=on_epoch_end,
    )
    return _run_method(model, method, config, retain_samples, forget_samples, context)


def _run_method(model: nn.Module, method: str, config: Hyperparameters, retain: Any,
                forget: Any, context: Context) -> UnlearnResult:
    """Run ``method`` on a private copy of the (validated) model and time it."""
    working = copy.deepcopy(model)
    unlearner = method_class(method)(config)
    started = time.perf_counter()
    result = unlearner.run(working, retain, forget, context)
    if context.device.type == "cuda":
        torch.cuda.synchronize(context.device)
    seconds = time.perf_counter() - started
    result = inputs.unwrap(result)
    check_finite_weights(result, method)
    return UnlearnResult(result, seconds, method, config.to_dict())
