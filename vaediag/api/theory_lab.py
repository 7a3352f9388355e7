"""The theory lab's cores, for notebooks and scripts that change the lab's parameters (notebooks/02_theory_lab.ipynb):
``vaediag.lab`` is this module.

- ``manifolds``: synthetic manifolds with their ground truth (``manifolds.make(name, n, seed, r=, d=)``).
- ``constructions``: the constructions of Theorems 1 and 2 (``theorem1_1d``, ``theorem2_circle``) and
  ``loglog_slope``.
- ``eq73``: the optimal encoder covariance of supplement eq. (73) and its numerical optimum.
- ``sweep``: small VAEs at several gammas trained as one batch (``train_sweep``, ``evaluate``).
- ``r_hat``: the count of used latent directions (eq. 9); ``MLE``, ``TwoNN``: intrinsic-dimension estimators.

``vaediag.check_theory(...)`` runs every check of the lab; these are the pieces it is made of.
"""

from __future__ import annotations

from vaediag.data import manifolds
from vaediag.diagnostics.eigen import r_hat
from vaediag.theory import constructions, eq73, sweep
from vaediag.theory.estimators import MLE, TwoNN

__all__ = ["MLE", "TwoNN", "constructions", "eq73", "manifolds", "r_hat", "sweep"]
