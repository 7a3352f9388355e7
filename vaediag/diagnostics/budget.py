"""Budgets of a diagnosis: what keeps its time and memory at most linear in the latent size kappa.

Most of a diagnosis is one pass over the inputs (encode, decode the mean, sum the moments): linear in
kappa and in the number of inputs n. The parts that are per direction or quadratic in kappa are
budgeted, each by a named default. The budgets apply to latents of more than :data:`FLAT_MAX` = 64
numbers only: a latent of up to 64 numbers is diagnosed along every direction, exactly as before the
budgets existed (that is cheap), and a budget at least kappa is inactive too.

- ``perturb_directions`` (default 16): the directions perturbed (Theorem 4; supplement Fig. 9), each
  costing 15 decodes per perturbed input. When active, half are the most used directions (smallest
  mean lambda_j) and half the least used (largest): the two ends that the figures show.
- ``gain_directions`` (default 16): the directions per input whose decoder gain (J^T J)_jj enters the
  eq. (73) fit of gamma_effective, one Jacobian-vector product (about 3 decodes) each. When active,
  a random sample of that many coordinates (the same for every input, drawn from the seed): the
  least-squares fit is then over a sample of the pairs the full fit uses. Diagonal encoders only; a full
  covariance uses every direction (its eigenvectors mix them all).
- ``spectrum_dims`` (default 256): the coordinates whose aggregated-posterior moments (a kappa x kappa
  Gram matrix, an eigendecomposition and a log-determinant: quadratic memory, cubic time) give the
  spectrum, its gap and the Gaussian-fit KL. When active, a random sample of that many
  coordinates (drawn from the seed): the spectrum is that of the marginal of q(z) on them, against
  N(0, I)'s marginal (also N(0, I)), so the comparison of eq. (10) still holds.
- ``perturb_numbers`` and ``gain_numbers``: the decoded numbers the perturbations and the eq. (73)
  Jacobian-vector products may make in all, fixed costs (they do not grow with n) that grow with the
  output's size d. The defaults are the work of the defaults above on a 64 x 64 x 3 output
  (:data:`REFERENCE_OUTPUT`): 8 inputs x 16 directions x 15 decodes x 12,288 numbers
  (:data:`PERTURB_NUMBERS`) and 16 inputs x 16 products x 12,288 (:data:`GAIN_NUMBERS`), so every output up
  to 64 x 64 x 3 numbers keeps the work above unchanged, and a larger one does the work of a 64 x 64 x 3
  one: its fixed costs stay the fraction of the pass they are at 64 x 64 x 3 (a decode of a conv decoder
  costs about in proportion to its output). Over budget, :func:`share` lowers the inputs first (to 1),
  then the directions (to 2): at 256 x 256 x 3, 1 input x 8 directions are perturbed (120 decodes
  instead of 1,920) and eq. (73) is fitted on 1 input x 16 directions (16 products instead of 256).
- ``mi_numbers`` (default 2^21 = 2,097,152, :data:`MI_NUMBERS`): I(x; z) uses the first
  ``min(mi_n, mi_numbers // kappa)`` inputs (``mi_n`` = 2,000 by default): its arrays are a few
  float64 copies of (inputs x kappa) posterior parameters (17 MB each at this budget), kept from the
  pass, so their memory does not grow with n beyond the budget. Every latent up to 1,048 numbers keeps
  2,000 inputs; a 4 x 32 x 32 = 4,096 one uses 512 (log 512 = 6.2 nats is then the estimate's ceiling;
  an SD-like VAE's I(x; z) is far above either ceiling, which the result's note says).
- ``iw_n`` x ``iw_k`` (200 x 50 decodes) were already fixed. I(x; z) is computed for latents above 64
  numbers as a matrix product (memory n^2, not n^2 kappa).

Batches are cut so that a batch holds at most :data:`BATCH_NUMBERS` input numbers (500 inputs of up to
16,777 numbers: every image of 64 x 64 x 3 or less keeps its batch of 500), so memory is flat in n.

:func:`estimate` gives the time and memory before the work starts (from the time of one encode and decode
of a few inputs, measured first); :func:`check` turns a latent too large for the requested budgets into
one sentence naming the budget to change, with the estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math

import numpy as np

from vaediag.errors import UsageError
from vaediag.progress import duration

PERTURB_DIRECTIONS = 16
GAIN_DIRECTIONS = 16
SPECTRUM_DIMS = 256
FLAT_MAX = 64  # latents up to this size are diagnosed as before every budget existed
BATCH_NUMBERS = 2 ** 23  # input numbers per batch (x 4 bytes: 32 MB of float32 inputs)
JVP_NUMBERS = 2 ** 19  # decoded numbers of the Jacobian-vector products made at once (each keeps its graph:
# about 1 kB of activations per decoded number for a conv decoder: 3.3 GB for 16 JVPs at 256 x 256 x 3, 0.5 GB for 2)
JVP_DECODES = 3.0  # a Jacobian-vector product by the double-vjp identity costs about 3 decodes
MEMORY_GB = 4.0  # default limit on the diagnostics' own arrays (not the model's activations)
N_DECODES = 15  # decodes per perturbed direction and input (vaediag.diagnostics.perturb)
REFERENCE_OUTPUT = 64 * 64 * 3  # outputs up to this many numbers keep the per-direction work of the defaults
PERTURB_NUMBERS = 8 * PERTURB_DIRECTIONS * N_DECODES * REFERENCE_OUTPUT  # 23,592,960 decoded numbers
GAIN_NUMBERS = 16 * GAIN_DIRECTIONS * REFERENCE_OUTPUT  # 3,145,728 numbers of Jacobian-vector products
MI_NUMBERS = 2 ** 21  # posterior numbers (inputs x kappa) of I(x; z)
COUNTS = ("perturb_directions", "gain_directions", "spectrum_dims")
NUMBERS = ("perturb_numbers", "gain_numbers", "mi_numbers")


@dataclass(frozen=True)
class Budgets:
    """The budgets of a diagnosis, for latents of more than 64 numbers (None: no budget, every direction or
    coordinate; frozen, checked when made). What each budgets: this module's docstring.

    Args:
        perturb_directions: the directions perturbed (default 16; at least 2).
        gain_directions: the directions per input whose decoder gain enters the eq. (73) fit (default 16).
        spectrum_dims: the coordinates of the aggregated-posterior spectrum (default 256).
        max_memory_gb: the largest estimated memory of the diagnosis' own arrays (default 4 GB).
        max_seconds: the longest estimated time (default None: no limit).
        perturb_numbers: the decoded numbers of all the perturbations (default 23,592,960: the defaults'
            work on a 64 x 64 x 3 output; over it fewer inputs, then fewer directions; at least 1).
        gain_numbers: the decoded numbers of all of eq. (73)'s Jacobian-vector products (default 3,145,728,
            likewise).
        mi_numbers: the posterior numbers (inputs x kappa) of I(x; z) (default 2^21: the first
            ``min(mi_n, mi_numbers // kappa)`` inputs).

    Raises:
        UsageError: a direction budget below 2 (a budget in numbers below 1) or not a whole number, a limit
            that is not a positive number.
    """

    perturb_directions: int | None = PERTURB_DIRECTIONS
    gain_directions: int | None = GAIN_DIRECTIONS
    spectrum_dims: int | None = SPECTRUM_DIMS
    max_memory_gb: float | None = MEMORY_GB
    max_seconds: float | None = None
    perturb_numbers: int | None = PERTURB_NUMBERS
    gain_numbers: int | None = GAIN_NUMBERS
    mi_numbers: int | None = MI_NUMBERS

    def __post_init__(self):
        for name in COUNTS + NUMBERS:
            v, least = getattr(self, name), 2 if name in COUNTS else 1
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least):
                raise UsageError(f"{_arg(name, repr(v))} is not a budget: give a whole number of at least {least}, "
                                 "or None (no budget)")
        for name in ("max_memory_gb", "max_seconds"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise UsageError(f"{_arg(name, repr(v))} is not a limit: give a positive number, or None (no "
                                 "limit)")

    def limit(self, name: str, k: int) -> int | None:
        """The budget ``name`` for a latent of ``k`` numbers: None (every direction or coordinate) when
        k <= FLAT_MAX, when the budget is None or when it is at least k."""
        v = getattr(self, name)
        return None if (k <= FLAT_MAX or v is None or v >= k) else int(v)

    def record(self, k: int, d: int = 1, perturb_inputs: int = 8, gamma_fit_n: int = 16, full: bool = False,
               mi_n: int = 2000) -> dict:
        """The budgets as the result names them, with whether each was active for a latent of ``k`` numbers
        and outputs of ``d``, and the inputs and directions the perturbations, eq. (73) and I(x; z) use
        (:func:`shares`)."""
        out = asdict(self)
        out["active"] = {name: self.limit(name, k) is not None for name in COUNTS}
        used = shares(self, k, d, perturb_inputs, gamma_fit_n, full, mi_n)
        asked = shares(Budgets(**{n: getattr(self, n) for n in COUNTS}, **dict.fromkeys(NUMBERS)),
                       k, d, perturb_inputs, gamma_fit_n, full, mi_n)
        out["active"].update({name: used[part] != asked[part] for name, part in zip(NUMBERS, used)})
        out.update({f"{part}_used": {"inputs": m, "directions": p} for part, (m, p) in used.items()})
        return out


def batch_size(numbers_per_input: int, batch: int) -> int:
    """At most ``batch`` inputs and at most :data:`BATCH_NUMBERS` numbers per batch (at least one input)."""
    return max(1, min(int(batch), BATCH_NUMBERS // max(1, int(numbers_per_input))))


def jvp_rows(numbers_per_input: int, rows: int = 16) -> int:
    """Jacobian-vector products made at once: at most ``rows`` (16, unchanged up to 64 x 64 x 3 outputs) and
    at most :data:`JVP_NUMBERS` decoded numbers."""
    return max(1, min(int(rows), JVP_NUMBERS // max(1, int(numbers_per_input))))


def share(numbers: int | None, d: int, inputs: int, directions: int, per: int = 1,
          fixed_directions: bool = False) -> tuple[int, int]:
    """(inputs, directions) whose ``inputs x directions x per`` decodes of ``d`` numbers fit in ``numbers``
    (None: no budget): the inputs lowered first (to 1), then the directions (to 2, never below the
    budget's own minimum; ``fixed_directions``: never, e.g. a full covariance's eigenvectors)."""
    inputs, directions = int(inputs), int(directions)
    cost = per * max(1, int(d))  # decoded numbers of one direction of one input
    if numbers is None or inputs * directions * cost <= numbers:
        return inputs, directions
    m = max(1, int(numbers) // (directions * cost))
    if m > 1 or directions * cost <= numbers or fixed_directions:
        return min(m, inputs), directions
    return 1, max(min(2, directions), int(numbers) // cost)


def shares(budgets: Budgets, k: int, d: int, perturb_inputs: int, gamma_fit_n: int, full: bool = False,
           mi_n: int = 2000) -> dict:
    """The (inputs, directions) of the perturbations, of eq. (73)'s products and of I(x; z) for a latent of
    ``k`` numbers and outputs of ``d``: the direction budgets, then the budgets in numbers (:func:`share`;
    inactive up to :data:`FLAT_MAX` latent numbers, like every budget)."""
    flat = k <= FLAT_MAX
    pk = budgets.limit("perturb_directions", k) or k
    gk = k if full else (budgets.limit("gain_directions", k) or k)
    pn, gn, mn = (None, None, None) if flat else (budgets.perturb_numbers, budgets.gain_numbers, budgets.mi_numbers)
    return {"perturbations": share(pn, d, perturb_inputs, pk, N_DECODES),
            "gains": share(gn, d, gamma_fit_n, gk, 1, fixed_directions=full),
            "mutual_information": share(mn, 1, mi_n, k, 1, fixed_directions=True)}


def pick_directions(lambda_mean: np.ndarray, budget: int | None) -> np.ndarray:
    """Directions to perturb, ascending: all when ``budget`` is None or at least kappa, else the
    ``budget // 2`` smallest mean lambda (most used) and the rest largest (least used)."""
    lam = np.asarray(lambda_mean, dtype=np.float64)
    k = len(lam)
    if budget is None or budget >= k:
        return np.arange(k)
    order = np.argsort(lam, kind="stable")
    low = budget // 2
    return np.sort(np.concatenate([order[:low], order[k - (budget - low):]]))


def sample_coordinates(k: int, budget: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """A sorted random sample of ``budget`` of the ``k`` coordinates, or None (all) when the budget is inactive."""
    if budget is None or budget >= k:
        return None
    return np.sort(rng.choice(k, size=int(budget), replace=False))


def plan(k: int, d: int, n: int, budgets: Budgets, perturb_inputs: int, gamma_fit_n: int, mi_n: int,
         iw_n: int, iw_k: int, full: bool = False) -> dict:
    """Work of each part in decode-equivalents (and encodes), and the bytes of the diagnostics' largest
    arrays, for a latent of ``k`` numbers and inputs of ``d`` numbers."""
    (pm, pk), (gm, gk), (m, _) = shares(budgets, k, d, min(perturb_inputs, n), min(gamma_fit_n, n), full,
                                        min(mi_n, n)).values()
    sk = budgets.limit("spectrum_dims", k) or k
    iw = min(iw_n, n) * iw_k if iw_k > 0 else 0
    decodes = {"one pass": n, "perturbations": pm * pk * N_DECODES,
               "gamma_effective (eq. 73)": gm * gk * JVP_DECODES, "IW log-likelihood": iw}
    memory = {"spectrum_dims": 3 * sk * sk * 8,
              "perturb_directions": pk * 15 * d * 2 + 2 * batch_size(d, 256) * d * 8,
              "gain_directions": 16 * d * 8 * 4,
              "mi_n": (m * m * 8 * 3) if k > FLAT_MAX else 256 * m * k * 8 * 3,
              "batch": batch_size(d, 500) * (d + k) * 8 * 4}
    return {"decodes": decodes, "encodes": n + min(iw_n, n) * (iw_k > 0), "memory_bytes": memory,
            "flops": {"spectrum_dims": n * sk * sk * 3 + sk ** 3, "mi_n": 3 * m * m * k}}


def estimate(work: dict, seconds_per_decode: float, seconds_per_encode: float, gflops: float = 5.0) -> dict:
    """Seconds per part and in all, and the peak bytes of the diagnostics' arrays, from :func:`plan`'s
    work and measured seconds per decode and per encode (``gflops``: a conservative rate for the matrix
    parts)."""
    parts = {name: dec * seconds_per_decode for name, dec in work["decodes"].items()}
    parts["one pass"] += work["encodes"] * seconds_per_encode
    parts["moments and I(x; z)"] = sum(work["flops"].values()) / (gflops * 1e9)
    mem = work["memory_bytes"]
    return {"seconds": float(sum(parts.values())), "parts": parts, "memory_bytes": int(sum(mem.values())),
            "largest": max(mem, key=mem.get)}


def estimate_sentence(k: int, n: int, est: dict, budgets: Budgets, record: dict | None = None) -> str:
    """One line before the work: 'diagnose: 4,500 inputs, latent of 784 numbers: about 40 s and 0.3 GB ...'
    (``record``: :meth:`Budgets.record`, whose budgets in numbers are named with what they leave when active)."""
    bits = [f"{name} {budgets.limit(name, k)}" for name in COUNTS if budgets.limit(name, k) is not None]
    for name, (what, key) in USED.items():
        if record is not None and record["active"].get(name):
            u = record[key]
            bits.append(f"{what} on {u['inputs']:,} input(s)" + ("" if name == "mi_numbers" else f" x {u['directions']:,} directions"))
    return (f"diagnose: {n:,} inputs, a latent of {k:,} numbers: about {duration(est['seconds'])} and "
            f"{est['memory_bytes'] / 1e9:.2g} GB of diagnostic arrays on this device"
            + (f" (budgets: {', '.join(bits)})" if bits else ""))


def check(k: int, n: int, est: dict, budgets: Budgets) -> None:
    """Refuse, in one sentence with the estimate and the budget to change, a diagnosis whose estimated
    memory exceeds ``max_memory_gb`` or whose estimated time exceeds ``max_seconds``. The sentence names
    the Python arguments (``budgets=vaediag.Budgets(max_memory_gb=...)``, ``n=``, ``iw=False``); the command
    line puts its flags in their place (:mod:`vaediag.cli.words`)."""
    gb = est["memory_bytes"] / 1e9
    when = f"about {duration(est['seconds'])} and {gb:.3g} GB"
    if budgets.max_memory_gb is not None and gb > budgets.max_memory_gb:
        name = est["largest"]
        hint = ("lower n=" if name == "batch" else f"lower n= (I(x; z) uses up to {_default(name):,} inputs)"
                if name == "mi_n" else f"lower {_arg(name)} (now {_now(budgets, name)}; default {_default(name)})")
        raise UsageError(f"a latent of {k:,} numbers over {n:,} inputs needs {when}, over "
                         f"{_arg('max_memory_gb', f'{budgets.max_memory_gb:g}')}, most of it for {PARTS[name]}: "
                         f"{hint}, or raise {_arg('max_memory_gb')}")
    if budgets.max_seconds is not None and est["seconds"] > budgets.max_seconds:
        name = max(est["parts"], key=est["parts"].get)
        raise UsageError(f"a latent of {k:,} numbers over {n:,} inputs needs {when}, over "
                         f"{_arg('max_seconds', f'{budgets.max_seconds:g}')}, most of it for {name}: lower "
                         f"{_arg('perturb_directions')}, {_arg('gain_directions')} or n=, skip the IW log-likelihood "
                         f"(iw=False), or raise {_arg('max_seconds')}")


USED = {"perturb_numbers": ("perturbations", "perturbations_used"), "gain_numbers": ("eq. (73)", "gains_used"),
        "mi_numbers": ("I(x; z)", "mutual_information_used")}  # a budget in numbers: its part, and what it used
PARTS = {"spectrum_dims": "the aggregated-posterior spectrum", "perturb_directions": "the perturbations",
         "gain_directions": "the Jacobian-vector products of eq. (73)", "mi_n": "I(x; z)",
         "batch": "the batches of inputs"}  # the largest array of plan()'s memory, in words


def _arg(name: str, value: str = "...") -> str:
    """A budget as the Python caller writes it: ``budgets=vaediag.Budgets(name=value)``."""
    return f"budgets=vaediag.Budgets({name}={value})"


def _now(budgets: Budgets, name: str):
    v = getattr(budgets, name, None)
    return "all" if v is None else v


def _default(name: str):
    return {"spectrum_dims": SPECTRUM_DIMS, "perturb_directions": PERTURB_DIRECTIONS,
            "gain_directions": GAIN_DIRECTIONS, "mi_n": 2000}.get(name, "?")


# ---------------------------------------------------------------------------- before the work, and during it
def preflight(model, x, tf, device, budgets: Budgets, sizes: dict, bar=None) -> tuple[int, dict]:
    """Time one encode and decode of a few inputs, estimate the whole diagnosis (:func:`plan`,
    :func:`estimate`), refuse it when over a limit (:func:`check`: before any other work) and write the
    estimate on ``bar`` (a :class:`~vaediag.progress.Progress`). ``sizes``: n, perturb_inputs,
    gamma_fit_n, mi_n, iw_n, iw_k. Returns (kappa, whether the covariance is full, the estimate)."""
    import time

    import torch

    from vaediag.diagnostics.protocol import encode_posterior

    with torch.no_grad():
        mu, second, full = encode_posterior(model, tf(x[:1].to(device)))  # warm-up
        model.decode(mu)
        xb = tf(x[:min(4, len(x))].to(device))
        t0 = time.perf_counter()
        mu, second, full = encode_posterior(model, xb)
        t1 = time.perf_counter()
        model.decode(mu)
        t2 = time.perf_counter()
    k, d = int(mu.shape[1]), int(xb[0].numel())
    work = plan(k, d, sizes["n"], budgets, sizes["perturb_inputs"], sizes["gamma_fit_n"], sizes["mi_n"],
                sizes["iw_n"], sizes["iw_k"], full)
    est = estimate(work, (t2 - t1) / len(xb), (t1 - t0) / len(xb))
    check(k, sizes["n"], est, budgets)
    if bar is not None:
        n = sizes["n"]
        record = budgets.record(k, d, min(sizes["perturb_inputs"], n), min(sizes["gamma_fit_n"], n), full, min(sizes["mi_n"], n))
        bar.note(estimate_sentence(k, n, est, budgets, record))
    return k, full, est


def part_bar(enabled: bool, total: int, what: str):
    """A progress bar for one part of a diagnosis (stderr; silent when not ``enabled``)."""
    from vaediag.progress import Progress

    return Progress(max(1, int(total)), f"diagnose: {what}", enabled=enabled)
