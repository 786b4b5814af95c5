"""What ``unlearn`` and ``evaluate_sets`` accept: the kinds of sets and of model outputs.

Sets: ``(x, y)`` tensors / ``TensorDataset`` / ``Samples`` stay in memory (validated by
``as_samples``; when both sets are in memory their overlap is checked); a map-style
``Dataset``, a list of ``(x, y)`` pairs or a ``DataLoader`` become a streamed
:class:`~ftunlearn.data.sources.DataSource` (see that module for batch formats). For streamed
sets the overlap check is the caller's responsibility: it would need a full pass over both
sets, and augmenting transforms change the inputs on every pass.

Model outputs: the ``output=`` hook maps whatever ``model(x)`` returns to a logits tensor. By
default a tensor is taken as is and an object with a ``.logits`` attribute (or a dict with a
``"logits"`` key, as Hugging Face models return) gives that; a tuple or anything else is an
error asking for ``output=`` (e.g. ``output=lambda out: out[0]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ftunlearn.data.sources import BatchHook, DataSource, as_source, is_streamed
from ftunlearn.errors import UnlearnError
from ftunlearn.methods.checks import floating_dtype
from ftunlearn.methods.samples import Samples, as_samples
from ftunlearn.models.checks import FORWARD_ERRORS, check_model

SampleSet = Samples | DataSource

OutputHook = Callable[[Any], torch.Tensor]
"""``output(model_output) -> logits`` of shape ``(batch, classes)``."""


def default_output(out: Any) -> torch.Tensor:
    """The logits in a model's output: the tensor itself, ``out.logits`` or ``out["logits"]``."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise UnlearnError(
        f"the model returned a {type(out).__name__}, not a logits tensor (nor an object with "
        ".logits); pass output=... to say where the logits are, e.g. output=lambda out: out[0]"
    )


class LogitsModel(nn.Module):
    """Wraps a model so that its forward returns logits, through an output hook."""

    def __init__(self, model: nn.Module, output: OutputHook) -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.output(self.model(x))
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            raise UnlearnError("the output hook must return a (batch, classes) logits tensor")
        return logits


def with_logits(model: nn.Module, output: OutputHook | None, probe: torch.Tensor) -> nn.Module:
    """``model`` itself when it returns a logits tensor, else wrapped by the output hook.

    Without a hook the model is probed once on ``probe`` (eval mode, no gradients); a probe
    that fails leaves the model as it is, for ``check_model`` to explain.
    """
    if output is not None:
        return LogitsModel(model, output)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(probe.to(device))
    except FORWARD_ERRORS:
        return model
    finally:
        model.train(was_training)
    if isinstance(out, torch.Tensor):
        return model
    default_output(out)  # a clear error unless it holds .logits
    return LogitsModel(model, default_output)


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a :class:`LogitsModel` (or the model itself)."""
    return model.model if isinstance(model, LogitsModel) else model


def streamed_sets(model: nn.Module, retain: Any, forget: Any, *, num_classes: int | None,
                  output: OutputHook | None, batch: BatchHook | None
                  ) -> tuple[nn.Module, SampleSet, SampleSet, int]:
    """The model (wrapped for its logits), both sets and the class count, when at least one
    set is streamed. The class count defaults to the model's output width (labels are then
    checked batch by batch); in-memory sets get ``as_samples``'s checks."""
    dtype = floating_dtype(model)
    sets: list[SampleSet] = []
    for data, role in ((retain, "retain"), (forget, "forget")):
        sets.append(as_source(data, role, batch).configured(dtype=dtype) if is_streamed(data)
                    else as_samples(data, role, dtype=dtype))
        if len(sets[-1]) == 0:
            raise UnlearnError(f"the {role} set is empty")
    probe = first_inputs(sets[0])
    model = with_logits(model, output, probe)
    width = check_logits_width(model, probe)
    classes = num_classes if num_classes is not None else width
    check_model(model, probe[0], classes, type(unwrap(model)).__name__,
                exact=num_classes is not None)
    for data in sets:
        if isinstance(data, Samples) and int(data.y.max()) >= classes:
            raise UnlearnError(f"labels go up to {int(data.y.max())} but there are {classes} "
                               "classes")
    configured = [s.configured(dtype=dtype, classes=classes) if isinstance(s, DataSource)
                  else s for s in sets]
    return model, configured[0], configured[1], classes


def first_inputs(samples: SampleSet) -> torch.Tensor:
    """A couple of inputs of a set, to probe the model with."""
    if isinstance(samples, DataSource):
        x, _ = samples.take(2, seed=0)
        return x
    return samples.x[:2]


def check_logits_width(model: nn.Module, probe: torch.Tensor) -> int:
    """The number of classes the model scores (its logits' width)."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(probe[:1].to(device))
    except FORWARD_ERRORS as error:
        raise UnlearnError(f"the model cannot take inputs of shape {tuple(probe.shape[1:])}: "
                           f"{type(error).__name__}: {error}") from error
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise UnlearnError("the model's logits must be a (batch, classes) tensor")
    return int(out.shape[1])
