"""Every numerical check of the theory lab, as a dict: claim, measured, predicted, alternative, margin, se,
tolerance, verdict (the rule of :mod:`vaediag.theory.separation`).

Each ``check_*`` function computes its numbers through the cores in ``constructions``, ``eq73``,
``sweep``, ``estimators`` and returns a list of checks plus the arrays its figure needs. Choices the
paper leaves open (alternatives, thresholds, fit ranges, grids) are module constants, documented here
and in docs/theory.md ("Choices the paper leaves open"). The checks live by concern in ``checks_common``,
``checks_constructions`` (Theorems 1, 2, eq. 73), ``checks_sweep`` (Theorems 3, 4, eqs. 8, 9),
``checks_two_stage`` (section 4) and ``checks_rhat`` (r_hat against the estimators); this module runs them
all (:func:`run_all`); each name is imported from the module that defines it.
"""

from __future__ import annotations

import time

import torch

from vaediag.theory.checks_common import Settings
from vaediag.theory.checks_constructions import check_eq73, check_theorem1, check_theorem2
from vaediag.theory.checks_heldout import HELDOUT_DS, check_heldout, train_heldout
from vaediag.theory.checks_rhat import check_estimators, train_mixture
from vaediag.theory.checks_sweep import check_theorems34, selected_stage1, train_main, train_others
from vaediag.theory.checks_two_stage import check_two_stage

CONSTRUCTIONS = (("theorem1", check_theorem1), ("theorem2", check_theorem2), ("eq73", check_eq73))
# With jobs = 2 the second process trains the other manifolds' 38 VAEs and the held-out teachers of the last ambient
# dimension, runs the constructions in SECOND_CONSTRUCTIONS and trains the mixture's VAE; this one the sweep
# manifold's VAEs, stage 2 (which needs them), the other constructions and the other held-out teachers: about the
# same CPU time each (docs/theory.md, "Speed"). Each part seeds its own generators, so where a part runs changes
# no number.
SECOND_CONSTRUCTIONS = ("theorem1", "theorem2")


def _second_process(quick: bool, seed: int, device: str, flush: bool,
                    started: float) -> tuple[dict, list, dict, dict, list]:
    """The work of the second process: the other manifolds' part of the sweep, the held-out teachers of the
    last ambient dimension, the constructions of SECOND_CONSTRUCTIONS ((rows, artifacts) by key) and the mixture's
    VAE (its train_mixture record); with its timeline: (part, start, end) in seconds after ``started`` (a
    time.time()) and the part's CPU seconds."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(flush)  # as in the parent, so that both processes compute the same numbers
    s = Settings.make(quick, seed=seed, device=device)
    with _one_blas_thread():  # else numpy's BLAS runs 2 threads on the 2 cores it shares with the first process
        t0, c0 = time.time(), time.process_time()
        oth = train_others(s)
        oth["res"] = None  # the model stays here: only numbers go back
        t1, c1 = time.time(), time.process_time()
        last = train_heldout(s, HELDOUT_DS[-1])
        t2, c2 = time.time(), time.process_time()
        cons = {key: check(s) for key, check in CONSTRUCTIONS if key in SECOND_CONSTRUCTIONS}
        t3, c3 = time.time(), time.process_time()
        mixture = train_mixture(s)
    times = [(f"the other manifolds' {len(oth['eval']['loss'])} VAEs", t0 - started, t1 - started, c1 - c0),
             (f"the held-out teachers at d={HELDOUT_DS[-1]}", t1 - started, t2 - started, c2 - c1),
             (f"the constructions of {', '.join(cons)}", t2 - started, t3 - started, c3 - c2),
             ("the mixture's VAE", t3 - started, time.time() - started, time.process_time() - c3)]
    return oth, last, cons, mixture, times


def _timeline(times: list) -> str:
    return "; ".join(f"{what} {a:.1f}-{b:.1f} s ({b - a:.1f} s, {cpu:.1f} s CPU)" for what, a, b, cpu in times)


def _one_blas_thread():
    """One thread for numpy's and scipy's BLAS while the second process works (a context manager)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _denormals_flushed() -> bool:
    return bool((torch.tensor([1e-39]) * 1.0).item() == 0.0)


def run_all(s: Settings) -> tuple[list[dict], dict]:
    """Every check, in the paper's order; returns (checks, artifacts by section for figures and tables).

    With ``s.jobs >= 2`` a second (spawned) process trains the other manifolds' VAEs and the held-out teachers of
    the last ambient dimension, runs the constructions of SECOND_CONSTRUCTIONS and trains the mixture's VAE while
    this one trains the sweep manifold's VAEs and stage 2, runs the other constructions and trains the other held-out
    teachers: the same numbers as ``jobs = 1`` (each part seeds its own generators and is one batched run either
    way; the constructions run numpy's BLAS on one thread in both)."""
    art, parts = {}, {}
    pool = future = None
    if s.jobs >= 2:
        import concurrent.futures as cf
        import multiprocessing as mp

        pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
        future = pool.submit(_second_process, s.quick, s.seed, str(s.device), _denormals_flushed(), time.time())
        s.progress(f"the other manifolds' VAEs, the held-out teachers at d={HELDOUT_DS[-1]}, the constructions of "
                   f"{', '.join(SECOND_CONSTRUCTIONS)} and the mixture's VAE: in a second process")
    try:
        main = train_main(s, second_process=future is not None)
        c2s, art["two_stage"] = check_two_stage(s, selected_stage1(s, main))
        with _one_blas_thread():  # one thread, as in the second process: the same numbers wherever they run
            for key, check in CONSTRUCTIONS:
                if future is None or key not in SECOND_CONSTRUCTIONS:
                    parts[key], art[key] = check(s)
        heldout = [c for d in HELDOUT_DS[:-1] for c in train_heldout(s, d)]
        if future is not None:
            s.progress("waiting for the second process")
            oth, last, cons, mixture, times = future.result()
            for key, (rows, a) in cons.items():
                parts[key], art[key] = rows, a
            s.progress(f"second process (seconds from its start): {_timeline(times)}")
        else:
            oth, last, mixture = train_others(s), train_heldout(s, HELDOUT_DS[-1]), train_mixture(s)
        heldout += last
        c34, art["theorems34"] = check_theorems34(s, main, oth)
        cest, art["estimators"] = check_estimators(s, art["theorems34"], mixture=mixture)
        cho, art["heldout"] = check_heldout(s, heldout)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    checks = parts["theorem1"] + parts["theorem2"] + parts["eq73"] + c34 + c2s + cest + cho
    return checks, {k: art[k] for k in ("theorem1", "theorem2", "eq73", "theorems34", "two_stage", "estimators",
                                        "heldout")}
