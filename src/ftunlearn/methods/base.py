"""The unlearning contract: one abstract class, one registry, one public call.

A method is a subclass of :class:`Unlearner` registered under a short name, with a frozen
dataclass of hyperparameters (:attr:`Unlearner.Config`). It sees the original model, the retain
and forget sets and a :class:`Context` (seed, device, the original's recipe, the test set's
size), never the golden model.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ftunlearn.errors import UnlearnError
from ftunlearn.training import Recipe, resolve_device


@dataclass(frozen=True)
class Samples:
    """A labelled set of samples held as two tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Context:
    """What a method may know besides the model and the two sets."""

    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    recipe: Recipe = field(default_factory=Recipe)
    """The original model's training recipe (``retrain`` reuses it)."""
    num_classes: int = 0
    n_test: int | None = None
    """The test set's size, for methods whose protocol needs it (no test samples are given)."""
    progress: bool = False
    on_epoch_end: Callable[[int, float], None] | None = None


@dataclass(frozen=True)
class Hyperparameters:
    """Base of every method's hyperparameter dataclass; subclasses validate in ``check``."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise :class:`UnlearnError` for an invalid value (override in subclasses)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Unlearner(ABC):
    """Base class of every method: subclass, set ``name`` and ``Config``, implement ``run``."""

    name: ClassVar[str]
    Config: ClassVar[type[Hyperparameters]]
    summary: ClassVar[str] = ""

    def __init__(self, config: Hyperparameters | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        """Unlearn ``forget`` from ``model`` (a private copy, free to modify) and return it."""


_METHODS: dict[str, type[Unlearner]] = {}


def register(cls: type[Unlearner]) -> type[Unlearner]:
    """Class decorator: add a method to the registry under ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise TypeError(f"{cls.__name__} needs a class attribute 'name'")
    if cls.name in _METHODS:
        raise TypeError(f"method {cls.name!r} is registered twice")
    if not (isinstance(cls.Config, type) and issubclass(cls.Config, Hyperparameters)):
        raise TypeError(f"{cls.__name__}.Config must subclass Hyperparameters")
    _METHODS[cls.name] = cls
    return cls


def available_methods() -> list[str]:
    """The registered method names."""
    return sorted(_METHODS)


def method_class(name: str) -> type[Unlearner]:
    try:
        return _METHODS[name]
    except KeyError:
        raise UnlearnError(
            f"unknown method {name!r}; available: {', '.join(available_methods())}"
        ) from None


def make_config(name: str, overrides: Mapping[str, Any]) -> Hyperparameters:
    """Build ``name``'s hyperparameters from defaults plus ``overrides`` (strings are coerced)."""
    config_type = method_class(name).Config
    known = {f.name: f for f in fields(config_type)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UnlearnError(
            f"unknown hyperparameter(s) {unknown} for method {name!r}; known: {sorted(known)}"
        )
    hints = typing.get_type_hints(config_type)
    values = {key: _coerce(name, key, value, hints[key]) for key, value in overrides.items()}
    try:
        return config_type(**values)
    except TypeError as error:
        raise UnlearnError(f"method {name!r}: {error}") from error


def _coerce(method: str, key: str, value: Any, hint: Any) -> Any:
    """Turn a CLI/TOML value into the field's declared type (bool, int, float, str, optional)."""
    if not isinstance(value, str):
        return value
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = [h for h in typing.get_args(hint) if h is not type(None)] if is_union else [hint]
    if is_union and value.lower() in ("none", "null") and type(None) in typing.get_args(hint):
        return None
    for option in options:
        origin = typing.get_origin(option)
        if origin is typing.Literal:
            if value in typing.get_args(option):
                return value
            continue
        try:
            if option is bool:
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                continue
            if option in (int, float, str):
                return option(value)
        except ValueError:
            continue
    raise UnlearnError(f"method {method!r}: cannot read {key}={value!r} as {hint}")


def as_samples(data: Samples | TensorDataset | tuple[torch.Tensor, torch.Tensor], role: str
               ) -> Samples:
    """Accept ``(x, y)`` pairs, ``TensorDataset``s or ``Samples``; validate shapes and labels."""
    if isinstance(data, Samples):
        samples = data
    elif isinstance(data, TensorDataset):
        if len(data.tensors) < 2:
            raise UnlearnError(f"{role} TensorDataset needs (x, y) tensors")
        samples = Samples(data.tensors[0], data.tensors[1])
    elif isinstance(data, tuple | list) and len(data) == 2:
        samples = Samples(torch.as_tensor(data[0]), torch.as_tensor(data[1]))
    else:
        raise UnlearnError(f"{role} must be an (x, y) pair of tensors or a TensorDataset")
    if samples.x.shape[0] != samples.y.shape[0]:
        raise UnlearnError(
            f"{role}: x has {samples.x.shape[0]} samples but y has {samples.y.shape[0]}"
        )
    if samples.y.dtype.is_floating_point or samples.y.dim() != 1:
        raise UnlearnError(f"{role}: y must be a 1-d tensor of integer class labels")
    return Samples(samples.x.float() if not samples.x.is_floating_point() else samples.x,
                   samples.y.long())


def shared_samples(retain: Samples, forget: Samples) -> int:
    """How many forget samples also appear (same input and label) in the retain set."""
    if len(retain) == 0 or len(forget) == 0:
        return 0
    generator = torch.Generator().manual_seed(0)
    width = int(retain.x[0].numel())
    probe = torch.randn(width, generator=generator, dtype=torch.float64)

    def keys(samples: Samples) -> torch.Tensor:
        flat = samples.x.reshape(len(samples), -1).to(torch.float64).cpu()
        return flat @ probe + samples.y.cpu().to(torch.float64) * 1e6

    retain_keys, forget_keys = keys(retain), keys(forget)
    candidates = torch.isin(forget_keys, retain_keys).nonzero().flatten()
    if candidates.numel() == 0:
        return 0
    retain_rows = {}
    for index, key in enumerate(retain_keys.tolist()):
        retain_rows.setdefault(key, []).append(index)
    shared = 0
    for index in candidates.tolist():
        for other in retain_rows.get(float(forget_keys[index]), []):
            if retain.y[other] == forget.y[index] and torch.equal(retain.x[other], forget.x[index]):
                shared += 1
                break
    return shared


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
    **hyperparameters: Any,
) -> UnlearnResult:
    """Remove ``forget``'s influence from ``model`` with ``method``; the input is never modified.

    ``recipe`` is the original's training recipe (used by ``retrain``; default ``Recipe()``).
    ``num_classes`` defaults to one more than the largest label seen. Returns the new model and
    the seconds the procedure took (validation and copying excluded).
    """
    config = make_config(method, hyperparameters)
    retain_samples = as_samples(retain, "retain")
    forget_samples = as_samples(forget, "forget")
    if len(forget_samples) == 0:
        raise UnlearnError("the forget set is empty: there is nothing to unlearn")
    if len(retain_samples) == 0:
        raise UnlearnError("the retain set is empty: unlearning needs data to keep")
    shared = shared_samples(retain_samples, forget_samples)
    if shared:
        raise UnlearnError(
            f"{shared} forget sample(s) also appear in the retain set; "
            "the two sets must be disjoint (D_r = D minus D_f)"
        )
    largest = int(max(retain_samples.y.max(), forget_samples.y.max())) + 1
    classes = num_classes if num_classes is not None else largest
    if classes < largest:
        raise UnlearnError(f"labels go up to {largest - 1} but num_classes is {classes}")
    context = Context(
        seed=seed, device=resolve_device(device), recipe=recipe or Recipe(), num_classes=classes,
        n_test=n_test, progress=progress, on_epoch_end=on_epoch_end,
    )
    working = copy.deepcopy(model)
    unlearner = method_class(method)(config)
    started = time.perf_counter()
    result = unlearner.run(working, retain_samples, forget_samples, context)
    if context.device.type == "cuda":
        torch.cuda.synchronize(context.device)
    seconds = time.perf_counter() - started
    return UnlearnResult(result, seconds, method, config.to_dict())
