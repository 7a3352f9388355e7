"""Two-sample distances for the two-stage argument (section 4)."""

from __future__ import annotations

import numpy as np
import torch


def energy_distance(x, y) -> float:
    """Squared energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic, Euclidean norm).

    Zero iff the two laws agree; scipy's ``energy_distance`` (1-D) is the square root of this."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())
