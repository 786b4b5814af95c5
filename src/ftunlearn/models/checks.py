"""A dry run of a model before any training: it takes the data's inputs, has something to train
and answers with one score per class."""

from __future__ import annotations

import torch
from torch import nn

from ftunlearn.errors import UnlearnError

FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, AssertionError)
"""What a forward pass raises when the input does not fit the model (shape, dtype, channels)."""


def check_model(
    model: object, sample: torch.Tensor, num_classes: int, name: str, *, exact: bool = True
) -> None:
    """Raise :class:`UnlearnError` unless ``model`` is an ``nn.Module`` with a trainable
    parameter whose forward pass maps ``sample`` (one input, no batch axis) to finite logits of
    shape ``(1, num_classes)`` (at least ``num_classes`` columns when ``exact`` is False).

    The pass runs in eval mode without gradients (so batch norm keeps its statistics) and the
    model's training mode is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise UnlearnError(f"model {name} is a {type(model).__name__}, not a torch.nn.Module")
    params = list(model.parameters())
    if not any(p.requires_grad for p in params):
        raise UnlearnError(f"model {name} has no trainable parameter; unlearning needs at least "
                           "one (check requires_grad)")
    devices = {p.device for p in params}
    if len(devices) > 1 or torch.device("meta") in devices:
        raise UnlearnError(f"model {name} has parameters on {sorted(map(str, devices))}; put "
                           "the whole model on one real device (model.to(device))")
    batch = sample.unsqueeze(0).to(next(iter(devices)))
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(batch)
    except FORWARD_ERRORS as error:
        raise UnlearnError(
            f"model {name} cannot take one input of shape {tuple(batch.shape)} (the data's "
            f"sample shape {tuple(sample.shape)} with a batch axis): {type(error).__name__}: "
            f"{' '.join(str(error).split())}"
        ) from error
    finally:
        model.train(training)
    if not isinstance(output, torch.Tensor):
        raise UnlearnError(f"model {name} returned a {type(output).__name__}; it must return a "
                           "tensor of logits of shape (batch, num_classes)")
    wide_enough = output.shape[-1] == num_classes if exact else output.shape[-1] >= num_classes
    if output.dim() != 2 or output.shape[0] != 1 or not wide_enough:
        wanted = f"(1, {num_classes})" if exact else f"(1, >= {num_classes})"
        raise UnlearnError(f"model {name} maps one input to shape {tuple(output.shape)}, not "
                           f"{wanted}: its output width must be the number of classes")
    if not torch.isfinite(output).all():
        raise UnlearnError(f"model {name} returns NaN or infinite logits before any training; "
                           "check its initialisation and the data's scale")
