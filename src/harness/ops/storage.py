"""What a pruned, quantized layer costs to store, as Han et al. (2016) count it.

Surviving weights are stored sparsely: each as a value code plus the gap to the previous
survivor in `index_bits` bits (relative indexing, §2). A gap larger than the index can express
needs a padding entry, a stored zero, and that padding is counted. Each tensor also stores a small
table of float32 numbers: its k centroids under k-means sharing, its scale under int8.
"""

from __future__ import annotations

import torch

FLOAT_BITS = 32  # the dense float32 reference


def stored_entries(mask: torch.Tensor, index_bits: int) -> int:
    """Entries (survivors plus padding zeros) needed to store one flattened mask with relative indices."""
    positions = torch.nonzero(mask.flatten() != 0).flatten()
    if positions.numel() == 0:
        return 0
    gaps = torch.diff(positions, prepend=positions.new_tensor([-1]))  # first gap counts from index −1
    max_gap = 2 ** index_bits  # a field of b bits encodes gaps 1..2^b
    padding = ((gaps - 1) // max_gap).sum()
    return int(positions.numel() + padding)


def compression_ratio(masks: dict[str, torch.Tensor], value_bits: int, *, index_bits: int = 5,
                      table_floats: int = 0) -> float:
    """Dense float32 bits / sparse bits for one seed's masks {name: tensor}; Han uses 5-bit
    indices for fully connected layers. table_floats float32 numbers are stored per tensor."""
    dense = sum(m.numel() for m in masks.values()) * FLOAT_BITS
    sparse = sum(stored_entries(m, index_bits) * (value_bits + index_bits) + table_floats * FLOAT_BITS
                 for m in masks.values())
    return dense / sparse
