"""Labelled sets that are streamed in batches: map-style ``Dataset``s and ``DataLoader``s.

``unlearn``, every method and ``evaluate_sets`` accept, for each set, ``(x, y)`` tensors (held in
memory, the fast path), a map-style :class:`torch.utils.data.Dataset` whose items are ``(x, y)``
pairs (a ``Subset``, a list of pairs, a dataset with augmenting transforms) or a
:class:`torch.utils.data.DataLoader`. The last two become a :class:`DataSource`, read batch by
batch and never held whole:

- a ``Dataset`` is batched here with the method's ``batch_size`` (shuffled by the run's seed for
  training, in order for gradient statistics), in the main process;
- a ``DataLoader`` is iterated as the user built it: its batch size, sampler, workers,
  transforms and ``collate_fn`` are respected, and the method's ``batch_size`` is ignored.

A batch (or an item) may be an ``(x, y, ...)`` tuple or list (extra elements ignored), or a
dict with the input under ``"x"``, ``"input"`` or ``"inputs"`` and the label under ``"y"``,
``"label"``, ``"labels"`` or ``"target"``; anything else needs the ``batch=`` hook, a function
from the raw batch to ``(x, y)``. Labels must be integers; integer inputs become float32 and
floating inputs are cast to the model's dtype (a float64 pipeline works with a float32 model).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torch.utils.data import Sampler as _Sampler

from ftunlearn.data.tensors import refuse_bad_labels, refuse_meta, refuse_non_finite
from ftunlearn.errors import UnlearnError
from ftunlearn.training import Batch, to_device

BatchHook = Callable[[Any], tuple[torch.Tensor, torch.Tensor]]
"""``batch(raw) -> (x, y)``: turns one raw item or batch of the user's pipeline into tensors."""

INPUT_KEYS = ("x", "input", "inputs", "pixel_values", "image")
LABEL_KEYS = ("y", "label", "labels", "target")


def is_streamed(data: object) -> bool:
    """Whether ``data`` is read in batches (a loader or a non-tensor map-style dataset)."""
    if isinstance(data, DataLoader):
        return True
    if isinstance(data, TensorDataset):
        return False
    if isinstance(data, Dataset):
        return True
    # a list of (x, y) tuples (or dicts), as opposed to one (x, y) pair of tensors or arrays
    return isinstance(data, list) and len(data) > 0 and isinstance(data[0], tuple | Mapping)


def pair_of(raw: Any, hook: BatchHook | None, role: str) -> tuple[Any, Any]:
    """``(x, y)`` from one item or batch, by the hook, a tuple's first two elements or dict keys."""
    if hook is not None:
        return hook(raw)
    if isinstance(raw, Mapping):
        x_key = next((key for key in INPUT_KEYS if key in raw), None)
        y_key = next((key for key in LABEL_KEYS if key in raw), None)
        if x_key is None or y_key is None:
            raise UnlearnError(
                f"{role}: a dict batch needs an input key ({', '.join(INPUT_KEYS)}) and a label "
                f"key ({', '.join(LABEL_KEYS)}); it has {sorted(map(str, raw))}. Pass "
                "batch=lambda b: (b['image'], b['class']) to say which"
            )
        return raw[x_key], raw[y_key]
    if isinstance(raw, tuple | list) and len(raw) >= 2:
        return raw[0], raw[1]
    raise UnlearnError(
        f"{role}: a batch must be an (x, y) tuple or a dict with x/y keys, got "
        f"{type(raw).__name__}; pass batch=... to turn it into (x, y)"
    )


def checked_batch(x: Any, y: Any, role: str, dtype: torch.dtype, classes: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors ``(x, y)`` with real inputs cast to ``dtype`` and 1-d integer labels in
    ``[0, classes)``, or an error."""
    if y is None or (isinstance(y, list | tuple) and any(v is None for v in y)):
        raise UnlearnError(f"{role}: a batch's labels are None; each sample needs an integer "
                           "class label")
    try:
        x, y = torch.as_tensor(x), torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError) as error:
        raise UnlearnError(f"{role}: a batch's inputs and labels must be tensors or numeric "
                           f"arrays ({error})") from error
    # first: every later check reads values, which a meta tensor does not have
    refuse_meta((f"{role} x", x), (f"{role} y", y))
    if x.dtype == torch.bool or x.is_complex():
        raise UnlearnError(f"{role}: inputs hold {x.dtype} values; give real-valued samples")
    if y.dim() == 0:
        y = y.reshape(1)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dim() != 1:
        raise UnlearnError(f"{role}: labels must be a 1-d tensor of integer classes, got "
                           f"{y.dtype} of shape {tuple(y.shape)}")
    if x.dim() == 0 or x.shape[0] != y.shape[0]:
        raise UnlearnError(f"{role}: a batch has inputs of shape {tuple(x.shape)} but "
                           f"{y.shape[0]} labels")
    refuse_bad_labels(y, role, classes)
    refuse_non_finite(x, f"{role} x")
    return x.to(dtype), y.long()


class DataSource:
    """A labelled set read in batches; ``len`` is its number of samples.

    Subclasses implement :meth:`raw_batches`; everything else (pair extraction, dtype checks,
    device moves, seeded shuffling) is shared.
    """

    role: str = "data"
    hook: BatchHook | None = None
    dtype: torch.dtype = torch.float32
    classes: int | None = None

    def __len__(self) -> int:
        raise NotImplementedError

    def raw_batches(self, batch_size: int, *, shuffle: bool, seed: int | None,
                    near_equal: bool = False) -> Iterator[Any]:
        raise NotImplementedError

    def batch_count(self, batch_size: int) -> int:
        """How many batches one pass yields with ``batch_size``."""
        return -(-len(self) // batch_size)

    def configured(self, *, dtype: torch.dtype, classes: int | None = None) -> DataSource:
        """The same set, its inputs cast to ``dtype`` and its labels checked against
        ``classes``."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, dtype=dtype, classes=classes)
        return copy

    def batches(self, batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                device: torch.device | None = None, near_equal: bool = False
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass of checked ``(x, y)`` batches (on ``device`` when given).

        Random transforms and a loader's sampler draw from the global RNG: it is seeded by
        ``seed`` (0 when ``None``) for the pass and restored afterwards, so passes repeat.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else seed)
            yield from self._checked(batch_size, shuffle, seed, near_equal, device)

    def _checked(self, batch_size: int, shuffle: bool, seed: int | None, near_equal: bool,
                 device: torch.device | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for raw in self.raw_batches(batch_size, shuffle=shuffle, seed=seed,
                                    near_equal=near_equal):
            x, y = checked_batch(*self.pair(raw), self.role, self.dtype, self.classes)
            if device is not None:
                x, y = to_device(x, device), to_device(y, device)
            yield x, y

    def pair(self, raw: Any) -> tuple[Any, Any]:
        """``(x, y)`` of one raw batch."""
        return pair_of(raw, self.hook, self.role)

    def take(self, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """At most ``count`` samples as tensors (a seeded random choice where the source allows)."""
        xs, ys, held = [], [], 0
        for x, y in self.batches(min(count, 256), shuffle=True, seed=seed):
            xs.append(x[: count - held])
            ys.append(y[: count - held])
            held += len(ys[-1])
            if held >= count:
                break
        return torch.cat(xs), torch.cat(ys)


class DatasetSource(DataSource):
    """A map-style dataset, batched here (in the main process) with the method's batch size."""

    def __init__(self, dataset: Any, role: str, hook: BatchHook | None = None) -> None:
        self.dataset = dataset
        self.role = role
        self.hook = hook
        self.size = len(dataset)

    def __len__(self) -> int:
        return self.size

    def raw_batches(self, batch_size: int, *, shuffle: bool, seed: int | None,
                    near_equal: bool = False) -> Iterator[Any]:
        if shuffle:
            generator = torch.Generator().manual_seed(seed or 0)
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        count = self.batch_count(batch_size)
        # near-equal cuts (sizes differ by at most one) avoid a tiny, noisy last batch
        pieces = order.tensor_split(count) if near_equal else order.split(batch_size)
        for piece in pieces:
            items = [(int(i), *pair_of(self.dataset[int(i)], self.hook, self.role))
                     for i in piece]
            yield (_stacked([(i, x) for i, x, _ in items], self.role),
                   torch.as_tensor([_label(y, i, self.role) for i, _, y in items]))

    def pair(self, raw: Any) -> tuple[Any, Any]:
        return raw  # items were paired one by one


class LoaderSource(DataSource):
    """A user's ``DataLoader``, iterated as built (its own batch size, sampler and workers)."""

    def __init__(self, loader: DataLoader, role: str, hook: BatchHook | None = None) -> None:
        self.loader = loader
        self.role = role
        self.hook = hook
        sampler: _Sampler | None = loader.sampler if loader.batch_size is not None else None
        try:
            self.size = len(sampler) if sampler is not None else len(loader.dataset)
            self.steps = len(loader)
        except TypeError:
            raise UnlearnError(f"{role}: the DataLoader's dataset has no length; unlearning "
                               "needs map-style (sized) datasets") from None

    def __len__(self) -> int:
        return self.size

    def batch_count(self, batch_size: int) -> int:
        return self.steps

    def raw_batches(self, batch_size: int, *, shuffle: bool, seed: int | None,
                    near_equal: bool = False) -> Iterator[Any]:
        batches = iter(self.loader)
        while True:
            try:  # only the loader's own step: errors thrown in at the yield are not ours
                raw = next(batches)
            except StopIteration:
                return
            except (RuntimeError, TypeError) as error:
                wrapped = _collate_error(error, self.role)
                if wrapped is None:
                    raise
                # the cause's traceback would keep a worker iterator alive until a later
                # collection stalls on torch's 5 s worker shutdown; its text holds the worker's
                batches = None
                raise wrapped from error.with_traceback(None)
            yield raw


COLLATE_FAILURES = (
    ("stack expects each tensor to be equal size", "cannot batch samples of different shapes; "
     "give every sample one shape, or a collate_fn that pads them"),
    ("default_collate: batch must contain", "cannot batch an item holding None or another "
     "non-numeric value (a label that is None?); give integer labels and tensor inputs"),
)
"""``(phrase, advice)``: torch collate messages that mean the user's items, not a bug."""


def _collate_error(error: BaseException, role: str) -> UnlearnError | None:
    """An ``UnlearnError`` for a DataLoader's collate failure on the user's items, else None."""
    text = str(error)
    for phrase, advice in COLLATE_FAILURES:
        if phrase in text:
            # a worker's error carries its traceback: quote only torch's own line
            line = next(part.strip() for part in text.splitlines() if phrase in part)
            return UnlearnError(f"{role}: the DataLoader {advice} ({line})")
    return None


def _stacked(items: list[tuple[int, Any]], role: str) -> torch.Tensor:
    """The items' inputs as one batch tensor, refusing inputs of different shapes by index."""
    tensors = []
    for index, x in items:
        try:
            tensors.append(torch.as_tensor(x))
        except (TypeError, ValueError, RuntimeError) as error:
            raise UnlearnError(f"{role}: item {index}'s input is not a tensor or numeric array "
                               f"({error})") from error
    first_index, first = items[0][0], tensors[0]
    for (index, _), tensor in zip(items, tensors, strict=True):
        if tensor.shape != first.shape:
            raise UnlearnError(f"{role}: samples differ in shape: item {first_index} is "
                               f"{tuple(first.shape)} but item {index} is {tuple(tensor.shape)}; "
                               "give every sample one shape (resize or pad them)")
    return torch.stack(tensors)


def _label(y: Any, index: int, role: str) -> int:
    """Item ``index``'s label as an ``int``, refusing None, text and fractional numbers."""
    if y is None or isinstance(y, str | bytes):
        raise UnlearnError(f"{role}: item {index} has label {y!r}; each sample needs an integer "
                           "class label")
    try:
        value = int(y)
        whole = float(y) == value
    except (TypeError, ValueError, RuntimeError) as error:
        raise UnlearnError(f"{role}: item {index} has label {y!r}, not an integer class label "
                           f"({error})") from error
    if not whole:
        raise UnlearnError(f"{role}: item {index} has label {y!r}; labels are integer class "
                           "indices")
    return value


def as_source(data: Any, role: str, hook: BatchHook | None = None) -> DataSource:
    """Wrap a ``DataLoader`` or a map-style dataset (anything with ``len`` and indexing)."""
    if isinstance(data, DataLoader):
        source: DataSource = LoaderSource(data, role, hook)
    else:
        if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            raise UnlearnError(f"{role}: an iterable-style dataset has no length; pass a "
                               "map-style Dataset, a DataLoader or (x, y) tensors")
        source = DatasetSource(data, role, hook)
    if len(source) == 0:
        raise UnlearnError(f"the {role} set is empty")
    return source


class SourceBatches:
    """A :class:`~ftunlearn.training.BatchSource` over a :class:`DataSource`.

    Each epoch draws a fresh shuffle seed from the fit loop's generator, so runs are
    reproducible given the seed (for a ``DataLoader`` with workers, as reproducible as the
    loader).
    """

    def __init__(self, source: DataSource, batch_size: int, shuffle: bool = True,
                 device: torch.device | None = None) -> None:
        if batch_size < 1:
            raise UnlearnError(f"batch_size must be >= 1, got {batch_size}")
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = device

    def __len__(self) -> int:
        return self.source.batch_count(self.batch_size)

    def to(self, device: torch.device) -> SourceBatches:
        return SourceBatches(self.source, self.batch_size, self.shuffle, device)

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        seed = int(torch.randint(2**62, (1,), generator=generator))
        yield from self.source.batches(self.batch_size, shuffle=self.shuffle, seed=seed,
                                       device=self.device)


class InterleavedBatches:
    """Whole batches of several sources in a seeded random order, each batch once per epoch.

    The streamed stand-in for a shuffled union: every sample is seen once an epoch, but a batch
    comes from one source only.
    """

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def __len__(self) -> int:
        return sum(len(source) for source in self.sources)

    def to(self, device: torch.device) -> InterleavedBatches:
        return InterleavedBatches(*(source.to(device) for source in self.sources))

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        owners = torch.cat([torch.full((len(s),), i) for i, s in enumerate(self.sources)])
        order = owners[torch.randperm(len(owners), generator=generator)]
        streams = [iter(source.epoch(generator)) for source in self.sources]
        for owner in order.tolist():
            yield from itertools.islice(streams[owner], 1)

