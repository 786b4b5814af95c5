"""Datasets (one module per file format), forget specs and forget/retain splits.

Importing this package registers every built-in dataset loader.

Layer ``data`` (docs/architecture.md): owns datasets, their file formats, streamed sources,
forget specs and splits. May import the foundation (errors, params, the registry) and
``training`` (the batch type and device moves a streamed source uses); nothing above.
"""

from ftunlearn.data import cifar, digits, idx, npz, svhn
from ftunlearn.data.dataset import Dataset, content_fingerprint
from ftunlearn.data.forget_specs import (
    ClassSpec,
    ForgetSpec,
    IndicesSpec,
    RandomSpec,
    describe_forget_spec,
    parse_forget_spec,
)
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.data.registry import available_datasets, load_dataset
from ftunlearn.data.splits import Split, SplitSizes, make_split

del cifar, digits, idx, npz, svhn  # imported for their registrations only

__all__ = [
    "ClassSpec",
    "Dataset",
    "ForgetSpec",
    "IndicesSpec",
    "Normalisation",
    "RandomSpec",
    "Split",
    "SplitSizes",
    "available_datasets",
    "content_fingerprint",
    "describe_forget_spec",
    "load_dataset",
    "make_split",
    "parse_forget_spec",
]
