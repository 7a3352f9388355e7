"""What every data set is: :class:`Dataset` (uint8 images or float vectors, split into train and
test) and the seeded random split used wherever a data set has no official one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vaediag.errors import VaediagError


@dataclass
class Dataset:
    name: str
    train: torch.Tensor  # uint8 (N, C, H, W) images or float32 (N, d) vectors
    test: torch.Tensor
    kind: str  # "image" or "vector"
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: (C, H, W) or (d,)."""
        return tuple(self.train.shape[1:])

    @staticmethod
    def to_float(batch: torch.Tensor) -> torch.Tensor:
        return batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch


def split_train_test(x: np.ndarray, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle with the run's seed and hold out ``test_fraction`` (at least one example each side)."""
    if len(x) < 2:
        raise VaediagError(f"the data set has {len(x)} example(s); at least 2 are needed (train and test)")
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = min(max(1, int(round(test_fraction * len(x)))), len(x) - 1)
    return x[perm[n_test:]], x[perm[:n_test]]
