"""The model registry and model specs: ``name[:key=value,...]`` or ``package.module:factory``."""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.params import GENERATOR_SEED_LIMIT, check_seed
from ftunlearn.registry import Registry, import_callable
from ftunlearn.values import parse_scalar

ModelFactory = Callable[..., nn.Module]
"""``factory(input_shape, num_classes, **options) -> nn.Module``."""

@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: ModelFactory
    description: str
    """One line for ``ftunlearn list`` and the docs: the architecture and its options."""


MODELS: Registry[ModelEntry] = Registry("model")
"""Built-in model factories (user factories are reached by import path instead)."""


def register_model(name: str, description: str) -> Callable[[ModelFactory], ModelFactory]:
    """Register a built-in model factory under ``name``, described in one line."""

    def decorate(factory: ModelFactory) -> ModelFactory:
        MODELS.add(ModelEntry(name, factory, description))
        return factory

    return decorate


def available_models() -> list[str]:
    return sorted(MODELS.names())


def model_descriptions() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in model, by name."""
    return [(name, MODELS.get(name).description) for name in available_models()]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``name`` is a registry key or an import path ``module:factory``."""

    name: str
    options: dict[str, int | float | str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        spec = spec.strip()
        if not spec:
            raise UnlearnError("empty model spec; use one of " + ", ".join(available_models()))
        head, sep, tail = spec.partition(":")
        if head in MODELS:
            return cls(head, _parse_options(tail, spec) if sep else {})
        factory, opt_sep, options = tail.partition(":")
        if sep and all(part.isidentifier() for part in head.split(".")) and factory.isidentifier():
            # package.module:factory[:key=value,...], options as for built-in models
            return cls(f"{head}:{factory}", _parse_options(options, spec) if opt_sep else {})
        raise UnlearnError(
            f"unknown model {spec!r}: use one of {', '.join(available_models())} "
            "(options as name:key=value,...), or a factory as package.module:function"
        )

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))

    @property
    def is_import_path(self) -> bool:
        return self.name not in MODELS


@dataclass(frozen=True)
class Architecture:
    """What rebuilds a model: its spec, the input shape (no batch axis) and the class count.

    ``build_model`` records it on the model it returns (``ARCHITECTURE_ATTRIBUTE``), and
    ``ftunlearn.save`` writes it into the file's metadata, so ``ftunlearn.load(path)`` can build
    the model again without being told how."""

    spec: ModelSpec
    input_shape: tuple[int, ...]
    num_classes: int

    def build(self, seed: int = 0) -> nn.Module:
        return build_model(self.spec, self.input_shape, self.num_classes, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``model`` (the spec as written), ``factory`` (a registry name or
        ``module:function``), ``options`` (its keyword arguments), ``input_shape`` and
        ``num_classes``."""
        return {"model": str(self.spec), "factory": self.spec.name,
                "options": dict(self.spec.options), "input_shape": list(self.input_shape),
                "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Architecture:
        try:
            factory, options = str(data["factory"]), dict(data.get("options") or {})
            shape = tuple(int(n) for n in data["input_shape"])
            num_classes = int(data["num_classes"])
        except (KeyError, TypeError, ValueError) as error:
            raise UnlearnError(f"{where}: its recorded model architecture is malformed "
                               f"({type(error).__name__}: {error}); pass the model or a factory"
                               ) from error
        # the name alone is checked as a spec; options stay as typed in the JSON
        return cls(ModelSpec(ModelSpec.parse(factory).name, options), shape, num_classes)


ARCHITECTURE_ATTRIBUTE = "ftunlearn_architecture"
"""The attribute of a model built by ``build_model`` that holds its :class:`Architecture`."""


def architecture_of(model: nn.Module) -> Architecture | None:
    """The architecture ``build_model`` recorded on ``model`` (``None`` for other models)."""
    found = getattr(model, ARCHITECTURE_ATTRIBUTE, None)
    return found if isinstance(found, Architecture) else None


def _parse_options(text: str, spec: str) -> dict[str, int | float | str]:
    options: dict[str, int | float | str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.isidentifier():
            raise UnlearnError(f"bad option {item!r} in model spec {spec!r}: write key=value")
        # factory keyword arguments carry no type hints to read them by (unlike ftunlearn.params)
        options[key] = parse_scalar(value)
    return options


def _import_factory(path: str) -> ModelFactory:
    return cast(ModelFactory, import_callable(path, "model"))


def build_model(
    spec: str | ModelSpec,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    seed: int = 0,
) -> nn.Module:
    """Build a model for inputs of ``input_shape`` (no batch axis) and ``num_classes`` outputs.

    The initialisation is fixed by ``seed`` and leaves the global torch RNG untouched.
    """
    seed = check_seed(seed, "build_model: seed", GENERATOR_SEED_LIMIT)  # not torch's own error
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    factory = _import_factory(spec.name) if spec.is_import_path else MODELS.get(spec.name).factory
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = factory(tuple(input_shape), int(num_classes), **spec.options)
        except UnlearnError:
            raise
        except TypeError as error:
            raise UnlearnError(f"model {spec}: {error}") from error
        except Exception as error:
            if not spec.is_import_path:
                raise  # a built-in factory failing is our bug: keep its traceback
            # the user's own code failed: say which factory and why, without a traceback
            raise UnlearnError(f"model factory {spec.name} raised {type(error).__name__}: "
                               f"{error}") from error
    if not isinstance(model, nn.Module):
        raise UnlearnError(f"model factory {spec.name!r} returned {type(model).__name__}, "
                           "not a torch.nn.Module")
    # a plain attribute, not a buffer: it travels with copies but never into the state dict
    object.__setattr__(model, ARCHITECTURE_ATTRIBUTE,
                       Architecture(spec, tuple(int(n) for n in input_shape), int(num_classes)))
    return model


def model_fingerprint(spec: str | ModelSpec, model: nn.Module) -> str:
    """A sha256 of what makes a model's code and structure: for an import-path factory the
    source of its module (so an edit that keeps every shape still changes it), and always the
    state-dict layout (names, shapes, dtypes) and the class names of ``model.modules()``."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    digest = hashlib.sha256(f"model|{spec}".encode())
    if spec.is_import_path:
        module = sys.modules.get(spec.name.partition(":")[0])
        try:
            source = inspect.getsource(module) if module is not None else ""
        except (OSError, TypeError):
            source = ""  # no source on disk (a compiled or interactive module): layout only
        digest.update(b"|source|" + source.encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"|{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
    for module in model.modules():
        digest.update(f"|{type(module).__module__}.{type(module).__qualname__}".encode())
    return digest.hexdigest()
