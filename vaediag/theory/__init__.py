"""The theory lab: numerical checks of Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument.

Modules: ``constructions`` (the constructive proofs of Theorems 1 and 2), ``eq73`` (optimal encoder
covariance), ``sweep`` (batched training of many small VAEs), ``estimators`` (intrinsic dimension),
``checks`` (every check as a dict claim/measured/predicted/tolerance/verdict). Its figures are in
:mod:`vaediag.plots.theory`, its command in :mod:`vaediag.cli.theory`.
"""
