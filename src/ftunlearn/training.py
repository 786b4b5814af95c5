"""The one fit loop (pretraining, retraining and every unlearning method) and the predict loop.

Data already lives in memory as tensors, so batches are cut from device-resident tensors by a
seeded permutation instead of going through a ``DataLoader``. On CUDA the host reads the loss
back only every ``Recipe.sync_every`` steps (and at epoch ends), so the GPU is never stalled per
batch; on CPU every step is checked, which costs nothing.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal, Protocol

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ftunlearn.errors import UnlearnError
from ftunlearn.params import Count, Fraction, NonNegative, Params, Positive, Range

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
"""``loss_fn(model, batch) -> scalar``; the batch is whatever the batch source yields."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` means CUDA when present, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise UnlearnError(f"unknown device {device!r}: use auto, cpu or cuda[:N]") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UnlearnError(
            f"device {device!r} asked for, but CUDA is not available: use auto or cpu"
        )
    return resolved


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a tensor once, through pinned memory when the target is a GPU."""
    if tensor.device == device:
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@dataclass(frozen=True)
class Recipe(Params):
    """How to train: optimiser, schedule and batch size. Recorded with every result."""

    owner: ClassVar[str] = "recipe"
    key_word: ClassVar[str] = "recipe field"

    epochs: Count = 10
    batch_size: Count = 128
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: Positive = 0.05
    momentum: Annotated[float, Range(ge=0, lt=1)] = 0.9
    weight_decay: NonNegative = 5e-4
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    step_epochs: Count = 5
    step_gamma: Fraction = 0.1
    grad_clip: Positive | None = None
    sync_every: Count = 50


class BatchSource(Protocol):
    """Anything the fit loop can draw an epoch of batches from."""

    def __len__(self) -> int: ...

    def to(self, device: torch.device) -> BatchSource: ...

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]: ...


class TensorBatches:
    """Shuffled mini-batches cut from tensors that share their first dimension."""

    def __init__(
        self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True, drop_last: bool = False
    ) -> None:
        if not tensors:
            raise UnlearnError("TensorBatches needs at least one tensor")
        sizes = {int(t.shape[0]) for t in tensors}
        if len(sizes) != 1:
            raise UnlearnError(f"tensors of a batch source differ in length: {sorted(sizes)}")
        self.tensors = tensors
        self.size = sizes.pop()
        if self.size == 0:
            raise UnlearnError("cannot train on an empty set of samples")
        if batch_size < 1:
            raise UnlearnError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last and self.size >= batch_size

    def __len__(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return math.ceil(self.size / self.batch_size)

    def to(self, device: torch.device) -> TensorBatches:
        moved = [to_device(t, device) for t in self.tensors]
        return TensorBatches(
            *moved, batch_size=self.batch_size, shuffle=self.shuffle, drop_last=self.drop_last
        )

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(self.size, generator=generator).to(device, non_blocking=True)
        for step in range(len(self)):
            start = step * self.batch_size
            if self.shuffle:
                index = order[start : start + self.batch_size]
                yield tuple(t.index_select(0, index) for t in self.tensors)
            else:
                yield tuple(t[start : start + self.batch_size] for t in self.tensors)


class ZippedBatches:
    """Interleave sources: each step yields one batch of each, concatenated as one tuple.

    The epoch length is the first source's; the others restart (reshuffled) when exhausted.
    """

    def __init__(self, lead: BatchSource, *others: BatchSource) -> None:
        self.sources = (lead, *others)

    def __len__(self) -> int:
        return len(self.sources[0])

    def to(self, device: torch.device) -> ZippedBatches:
        return ZippedBatches(*(source.to(device) for source in self.sources))

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        followers = [_cycle(source, generator) for source in self.sources[1:]]
        for batch in self.sources[0].epoch(generator):
            yield batch + tuple(item for follower in followers for item in next(follower))


def _cycle(source: BatchSource, generator: torch.Generator) -> Iterator[Batch]:
    while True:
        yield from source.epoch(generator)


def cross_entropy_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The default objective: cross-entropy of ``model(x)`` against ``y`` for a batch ``(x, y)``."""
    x, y = batch[0], batch[1]
    return F.cross_entropy(model(x), y)


@dataclass(frozen=True)
class FitResult:
    """What a fit did: wall-clock seconds, steps, and the mean loss of each epoch."""

    seconds: float
    steps: int
    epoch_losses: tuple[float, ...] = field(default=())


EpochCallback = Callable[[int, float], None]
"""``callback(epoch, mean_loss)``, called after every epoch (epochs count from 1)."""


def make_optimizer(params: Sequence[nn.Parameter], recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )


def make_schedule(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    total = recipe.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if recipe.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if recipe.schedule == "step":
            return recipe.step_gamma ** ((step // steps_per_epoch) // recipe.step_epochs)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _FrozenEntries:
    """Keeps chosen parameter entries bit-identical through training.

    Their gradients are zeroed before each step; after it their values are restored and their
    optimiser state (momentum, Adam moments) is zeroed, so neither weight decay nor momentum can
    move them.
    """

    def __init__(self, model: nn.Module, frozen: Mapping[str, torch.Tensor]) -> None:
        params = dict(model.named_parameters())
        unknown = sorted(set(frozen) - set(params))
        if unknown:
            raise UnlearnError(f"frozen masks name unknown parameters: {unknown[:5]}")
        self.entries: list[tuple[nn.Parameter, torch.Tensor, torch.Tensor]] = []
        for name, mask in frozen.items():
            param = params[name]
            if mask.shape != param.shape:
                raise UnlearnError(
                    f"mask for {name} has shape {tuple(mask.shape)}, parameter has "
                    f"{tuple(param.shape)}"
                )
            mask = mask.to(device=param.device, dtype=torch.bool)
            if bool(mask.any()):
                self.entries.append((param, mask, param.detach().clone()))

    def before_step(self) -> None:
        for param, mask, _ in self.entries:
            if param.grad is not None:
                param.grad.masked_fill_(mask, 0.0)

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        with torch.no_grad():
            for param, mask, saved in self.entries:
                param.copy_(torch.where(mask, saved, param))
                for value in optimizer.state.get(param, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == param.shape:
                        value.masked_fill_(mask, 0.0)


def fit(
    model: nn.Module,
    batches: BatchSource,
    recipe: Recipe,
    *,
    loss_fn: LossFn = cross_entropy_loss,
    seed: int = 0,
    device: str | torch.device = "auto",
    params: Sequence[nn.Parameter] | None = None,
    frozen: Mapping[str, torch.Tensor] | None = None,
    progress: bool = True,
    desc: str = "fit",
    on_epoch_end: EpochCallback | None = None,
) -> FitResult:
    """Train ``model`` in place for ``recipe.epochs`` epochs and return what happened.

    ``params`` restricts the optimiser to some parameters (default: all that require grad).
    ``frozen`` maps parameter names to boolean masks of entries that must not change at all.
    Deterministic given ``seed`` on CPU; the global RNG is left as it was. A non-finite loss
    raises ``UnlearnError`` naming the epoch and step.
    """
    target = resolve_device(device)
    model.to(target)
    model.train()
    source = batches.to(target)
    steps_per_epoch = len(source)
    chosen = list(params) if params is not None else [
        p for p in model.parameters() if p.requires_grad
    ]
    if not chosen:
        raise UnlearnError(f"{desc}: nothing to train (no parameter requires grad)")
    optimizer = make_optimizer(chosen, recipe)
    schedule = make_schedule(optimizer, recipe, steps_per_epoch)
    guard = _FrozenEntries(model, frozen) if frozen else None
    sync_every = 1 if target.type == "cpu" else recipe.sync_every
    generator = torch.Generator().manual_seed(seed)
    epoch_losses: list[float] = []
    started = time.perf_counter()
    bar = tqdm(
        total=recipe.epochs * steps_per_epoch, desc=desc, unit="step", disable=not progress,
        leave=False, dynamic_ncols=True,
    )
    rng_devices = [target.index or 0] if target.type == "cuda" else []
    with bar, torch.random.fork_rng(devices=rng_devices), fast_memory_format(model, target):
        torch.manual_seed(seed)
        for epoch in range(1, recipe.epochs + 1):
            pending: list[torch.Tensor] = []
            total = torch.zeros((), device=target)
            for step, batch in enumerate(source.epoch(generator), start=1):
                loss = loss_fn(model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if guard is not None:
                    guard.before_step()
                if recipe.grad_clip is not None:
                    nn.utils.clip_grad_norm_(chosen, recipe.grad_clip)
                optimizer.step()
                if guard is not None:
                    guard.after_step(optimizer)
                schedule.step()
                detached = loss.detach()
                total += detached
                pending.append(detached)
                if len(pending) >= sync_every or step == steps_per_epoch:
                    _check_finite(pending, epoch, step, desc, recipe)
                    bar.update(len(pending))
                    bar.set_postfix(epoch=epoch, loss=f"{float(pending[-1]):.4f}", refresh=False)
                    pending = []
            mean_loss = float(total) / steps_per_epoch
            epoch_losses.append(mean_loss)
            if on_epoch_end is not None:
                on_epoch_end(epoch, mean_loss)
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    return FitResult(time.perf_counter() - started, recipe.epochs * steps_per_epoch,
                     tuple(epoch_losses))


def _check_finite(
    pending: list[torch.Tensor], epoch: int, last_step: int, desc: str, recipe: Recipe
) -> None:
    values = torch.stack(pending).cpu()
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0])
    step = last_step - len(pending) + 1 + first
    raise UnlearnError(
        f"{desc}: the loss became {float(values[first])} at epoch {epoch}, step {step}; "
        f"lower the learning rate (lr={recipe.lr}) or set grad_clip"
    )


@dataclass(frozen=True)
class Predictions:
    """Per-sample outputs of a model: logits and, when labels were given, cross-entropy losses."""

    logits: torch.Tensor
    losses: torch.Tensor | None = None

    def accuracy(self, labels: torch.Tensor) -> float:
        """Percent of samples whose arg-max logit equals the label."""
        if labels.numel() == 0:
            return float("nan")
        return 100.0 * float((self.logits.argmax(1) == labels.cpu()).float().mean())


PREDICT_BATCH = {"cpu": 128, "cuda": 1024}
"""Prediction batch sizes: on the CPU a small batch's activations stay in the caches (128 ran
about 2.6 times as fast as 1024 for the built-in cnn, docs/performance.md); accelerators want
large batches."""


def predict_batch(device: torch.device) -> int:
    """The default prediction batch size on ``device`` (``PREDICT_BATCH``)."""
    return PREDICT_BATCH.get(device.type, PREDICT_BATCH["cuda"])


def predict(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
) -> Predictions:
    """Logits (and per-sample losses when ``y`` is given) in evaluation mode, on the CPU.

    ``batch_size`` defaults to ``PREDICT_BATCH`` of the device's kind."""
    target = resolve_device(device)
    batch_size = batch_size or predict_batch(target)
    model.to(target)
    logits: list[torch.Tensor] = []
    losses: list[torch.Tensor] = []
    with eval_mode(model), torch.inference_mode(), fast_memory_format(model, target):
        for start in range(0, int(x.shape[0]), batch_size):
            out = model(to_device(x[start : start + batch_size], target)).float()
            logits.append(out)
            if y is not None:
                labels = to_device(y[start : start + batch_size], target)
                losses.append(F.cross_entropy(out, labels, reduction="none"))
    all_logits = torch.cat(logits).cpu() if logits else torch.empty(0, 0)
    all_losses = None
    if y is not None:
        all_losses = torch.cat(losses).cpu() if losses else torch.empty(0)
    return Predictions(all_logits, all_losses)


def evaluate_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, device: str | torch.device = "auto"
) -> float:
    """Percent accuracy of ``model`` on ``(x, y)``."""
    return predict(model, x, device=device).accuracy(y)


SAFE_STRIDED_POINTWISE_CHANNELS = 8
"""Fewest input channels per group of a strided 1x1 convolution that channels-last may hold."""


def channels_last_is_safe(model: nn.Module) -> bool:
    """Whether ``model`` has convolutions and none that channels-last breaks on the CPU.

    With torch 2.13's oneDNN (3.12) on AVX2 CPUs, the weight gradient of a channels-last 1x1
    convolution with stride > 1 and 2 to 7 input channels per group corrupts the heap (a
    ResNet-18 of width 4 has one in its first down-sampling block), so any with fewer than 8
    keeps the contiguous order. ``tests/test_training.py`` runs such a fit in a child process.
    """
    if not any(p.dim() == 4 for p in model.parameters()):
        return False
    return not any(
        isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and max(conv.stride) > 1
        and conv.in_channels // conv.groups < SAFE_STRIDED_POINTWISE_CHANNELS
        for conv in model.modules()
    )


@contextlib.contextmanager
def fast_memory_format(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Convolution weights in channels-last order for the duration, restored afterwards.

    On the CPU, oneDNN's convolutions run about twice as fast on channels-last weights
    (docs/performance.md); the values are unchanged and the same parameter objects are kept, so
    optimisers and masks that hold them keep working. Models ``channels_last_is_safe`` refuses
    keep their order.
    """
    if device.type != "cpu" or not channels_last_is_safe(model):
        yield model
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        model.to(memory_format=torch.contiguous_format)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily put ``model`` in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
