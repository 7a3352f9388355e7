"""The Dataset record and the seeded train/test split (data/core.py)."""

import numpy as np
import pytest
import torch

from _facts import facts
from vaediag.data.core import Dataset, split_train_test
from vaediag.errors import VaediagError


def test_split_is_a_seeded_partition_with_the_rounded_test_fraction():
    x = np.arange(10)
    tr, te = split_train_test(x, seed=3, test_fraction=0.25)
    assert len(te) == 2 and len(tr) == 8  # round(2.5) = 2
    assert sorted(np.r_[tr, te]) == list(range(10))
    perm = np.random.default_rng(3).permutation(10)
    np.testing.assert_array_equal(te, perm[:2])
    np.testing.assert_array_equal(split_train_test(x, 3, 0.25)[0], tr)  # same seed, same split


@pytest.mark.parametrize("frac,n_test", [(0.0, 1), (1.0, 1), (0.5, 1)])
def test_two_examples_keep_one_on_each_side(frac, n_test):
    tr, te = split_train_test(np.arange(2), seed=0, test_fraction=frac)
    assert len(te) == n_test and len(tr) == 1


def test_one_example_is_refused_with_a_sentence():
    with pytest.raises(VaediagError, match=facts("1 example", 2)):
        split_train_test(np.arange(1), seed=0, test_fraction=0.1)


def test_dataset_shape_and_float_conversion():
    ds = Dataset("x", torch.full((4, 1, 2, 3), 255, dtype=torch.uint8), torch.zeros(1, 1, 2, 3, dtype=torch.uint8), "image")
    assert ds.shape == (1, 2, 3)
    assert Dataset.to_float(ds.train).max().item() == 1.0
    v = torch.tensor([[0.25, 2.0]])
    assert Dataset.to_float(v) is v  # float vectors pass unchanged
