"""Data: what vaediag trains and diagnoses on.

- :mod:`~vaediag.data.core`: :class:`Dataset` and the seeded train/test split.
- :mod:`~vaediag.data.datasets`: ``load_dataset(spec)`` — the offline MNIST subset, IDX, CIFAR-10,
  CelebA, .npy/.npz arrays and ``manifold:NAME?...`` specs.
- :mod:`~vaediag.data.imagecache`: CelebA decoded once into a memory-mapped uint8 cache.
- :mod:`~vaediag.data.manifolds`: synthetic manifolds with their ground truth (r, d, one chart or not).
"""

from vaediag.data.core import Dataset, split_train_test
from vaediag.data.datasets import NAMED, load_array, load_dataset, load_mnist5k, parse_manifold_spec

__all__ = ["Dataset", "NAMED", "load_array", "load_dataset", "load_mnist5k", "parse_manifold_spec",
           "split_train_test"]
