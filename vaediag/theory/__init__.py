"""The theory lab: numerical checks of Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument.

Modules: ``constructions`` (the constructive proofs of Theorems 1 and 2), ``eq73`` (optimal encoder
covariance), ``sweep`` (batched training of many small VAEs), ``estimators`` (intrinsic dimension),
``separation`` (the rule every check is judged by: closer to the claim than to its nearest alternative
by two standard errors), ``checks`` (every check as a dict claim/measured/predicted/alternative/margin/se/
verdict; by concern in ``checks_*``, the held-out teachers in ``checks_heldout``). Its figures are in
:mod:`vaediag.plots.theory`, its command in :mod:`vaediag.cli.theory`.
"""
