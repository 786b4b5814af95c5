"""How far a procedure moved a model: the number of state entries that differ."""

from __future__ import annotations

import torch
from torch import nn


def changed_entries(before: nn.Module, after: nn.Module) -> int:
    """How many entries of ``after``'s state (parameters and buffers) differ from ``before``'s;
    0 means the two are bit-identical. A state key present in only one counts all its entries."""
    old, new = before.state_dict(), after.state_dict()
    changed = 0
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a is None or b is None or a.shape != b.shape:
            changed += (a if b is None else b).numel()
            continue
        a, b = a.detach().cpu(), b.detach().cpu()
        if a.is_floating_point():  # NaN in both places is no change
            changed += int((~((a == b) | (torch.isnan(a) & torch.isnan(b)))).sum())
        else:
            changed += int((a != b).sum())
    return changed
