"""More Swiss-roll diagnostics for the full theory run (docs/theory.md, "Swiss roll"): three small probes.

    PYTHONPATH=. python benchmarks/theory_swissroll_more.py scan  [--hidden 64] [--steps 8000]
        [--gammas 1e-1,3e-2,1e-2,3e-3,1e-3,3e-4,1e-4] [--seeds 22,23]
    PYTHONPATH=. python benchmarks/theory_swissroll_more.py third [--manifold swissroll|sphere]
        [--hidden 64x64x64] [--seeds 22,23,24,25]
    PYTHONPATH=. python benchmarks/theory_swissroll_more.py part  [--part others|main] [--hidden 64x64x64] [--seed 0]
    PYTHONPATH=. python benchmarks/theory_swissroll_more.py arc   [--degrees 90,270] [--hidden 64] [--steps 8000]
        [--seeds 22,23,24,25]
    PYTHONPATH=. python benchmarks/theory_swissroll_more.py bent  [--hidden 64] [--steps 8000] [--seeds 22,23,24,25]

scan   fixed gammas on the full run's Swiss roll (8,000 points, the lab's trainer): r_hat, held-out loss,
       mean squared reconstruction error and the smallest encoder variances at the half and at the end.
       Question: at which scale does the 3-direction basin appear?
third  learned-gamma restarts (8,000 steps) at a given network; for each, the third-smallest encoder
       variance's direction: the spread of its posterior mean over points, its KL per point, and its
       correlation with the roll's t (Swiss roll) or with the 3-D coordinates (sphere). Question: is an
       r_hat = 2 reading a 2-direction solution, or a third direction in use just above the lab's cut?
part   one part of the full run's sweep (``checks._train_part``: "main" = the embedding's fixed gammas and
       restarts, "others" = linear, sphere, torus, Swiss roll) at another network, printing every restart
       (r_hat, held-out loss, gamma, third variance) and the selected one per manifold.
arc    the Swiss roll's question one dimension down: an arc of a circle (r = 1, one chart: its angle),
       uniform in angle, radius 1, in a 2-D plane of R^10 (the lab's rotation). A decoder linear in 2 latent
       directions reproduces it exactly; the 1-D chart needs the decoder to follow (cos t, sin t). For each
       arc length, learned-gamma restarts of the lab's VAE (kappa = 6): r_hat, held-out loss, gamma and the
       smallest variances at the half and at the end.
bent   the Swiss roll bent out of its 3-D subspace: its 3-D points y go through the embedding manifold's
       map x = A y + B tanh(y C + b) W (``manifolds.embedding_map``, A and B orthonormal with orthogonal
       ranges), so M is still a 2-D graph over the roll but spans all of R^10 (no exact linear decoder with
       fewer than 10 directions). Learned-gamma restarts: r_hat, held-out loss, gamma, smallest variances,
       and the data's affine dimension.
Held-out: 2,000 points, eq. (2) with 8 noise draws; r_hat with the lab's cut (checks.VAR_THRESHOLD).
One thread, denormals flushed, as the ``vaediag`` command.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vaediag.data import manifolds
from vaediag.data.manifolds import _rotation
from vaediag.theory import checks_common, checks_rhat, checks_sweep
from vaediag.theory.sweep import evaluate, r_hat_per_model, train_sweep


def _ints(s: str) -> list[int]:
    try:
        return [int(v) for v in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 22,23, got {s!r}") from None


def _floats(s: str) -> list[float]:
    try:
        out = [float(v) for v in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1e-2,1e-3, got {s!r}") from None
    if not all(v > 0 for v in out):
        raise argparse.ArgumentTypeError(f"gammas must be positive, got {s!r}")
    return out


def _hidden(s: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in s.split("x"))
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected hidden widths such as 64x64x64, got {s!r}")
    return out


def _positive(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _data(name: str):
    x, _ = manifolds.make(name, n=8000, seed=0, r=2, d=10)
    xt, _ = manifolds.make(name, n=2000, seed=10_000, r=2, d=10)
    return x, xt


def scan(a) -> None:
    x, xt = _data("swissroll")
    gs, seeds0 = a.gammas, a.seeds
    gam = [g for g in gs for _ in seeds0]
    seeds = [s for _ in gs for s in seeds0]

    def on_log(step, m):
        ev = evaluate(m, xt, seed=0)
        rh = r_hat_per_model(ev["enc_var"], checks_common.VAR_THRESHOLD)
        for g in range(len(gam)):
            v = ", ".join(f"{e:.2g}" for e in ev["enc_var"][g][:4])
            print(f"gamma {gam[g]:.0e} seed {seeds[g]} step {step}: r_hat {rh[g]} loss {ev['loss'][g]:.3f} "
                  f"mse {ev['mse_mean'][g]:.2e} variances [{v}]", flush=True)

    train_sweep(x, checks_sweep.KAPPA, gam, seeds, steps=a.steps, hidden=(a.hidden, a.hidden), log_every=max(1, a.steps // 2),
                on_log=on_log)


def third(a) -> None:
    x, xt = _data(a.manifold)
    seeds, hidden = a.seeds, a.hidden
    res = train_sweep(x, checks_sweep.KAPPA, [float("nan")] * len(seeds), seeds, steps=8000, hidden=hidden, log_every=8000)
    m, ev = res.model, evaluate(res.model, xt, seed=0)
    rh = r_hat_per_model(ev["enc_var"], checks_common.VAR_THRESHOLD)
    with torch.no_grad():
        mu, lv = m.encode(torch.as_tensor(xt)[None].expand(len(seeds), -1, -1))
    var, mu, lv = lv.exp().mean(1).numpy(), mu.numpy(), lv.numpy()
    y = xt @ _rotation(10, 3, np.random.default_rng(1234)).T  # back to the 3-D coordinates (the rotation is an isometry)
    t = np.random.default_rng(10_000).uniform(1.5 * np.pi, 4.5 * np.pi, 2000)  # the held-out draw's t (swissroll)
    for g, s in enumerate(seeds):
        o = np.argsort(var[g])
        j = o[2]  # the third-smallest variance's latent coordinate
        c = mu[g][:, j]
        kl = 0.5 * (c ** 2 + np.exp(lv[g][:, j]) - lv[g][:, j] - 1).mean()  # eq. (2)'s KL of that coordinate
        line = (f"{a.manifold} seed {s}: r_hat {rh[g]}, loss {ev['loss'][g]:.2f}, gamma {ev['gamma'][g]:.1e}, "
                f"variances {[float(f'{v:.2g}') for v in var[g][o][:4]]}; third direction: Var over points of its "
                f"mean {c.var():.3g}, KL {kl:.2f} nats/point")
        if a.manifold == "swissroll":
            line += f", corr(mean, t) {np.corrcoef(c, t)[0, 1]:+.3f}"
        else:
            line += ", corr(mean, y_i) " + " ".join(f"{np.corrcoef(c, y[:, i])[0, 1]:+.3f}" for i in range(3))
        print(line, flush=True)


def part(a) -> None:
    s = checks_common.Settings.make(quick=False, seed=a.seed)
    s.hidden = a.hidden
    out = checks_sweep._train_part(s, a.part)
    ev, R = out["eval"], checks_sweep._restarts(s)
    rh = r_hat_per_model(ev["enc_var"], checks_common.VAR_THRESHOLD)
    names = [t["name"] for t in out["truths"]]
    first = 0 if a.part == "others" else len(checks_sweep.GAMMA_GRID)
    for j in range((len(names) - first) // R):
        ids = list(range(first + j * R, first + (j + 1) * R))
        best = ids[checks_sweep.select_restart(ev["loss"][ids])]
        rows = "; ".join(f"{rh[i]} ({ev['loss'][i]:.2f}, gamma {ev['gamma'][i]:.1e}, third variance "
                         f"{ev['enc_var'][i][2]:.3g})" for i in ids)
        print(f"{names[ids[0]]:10s} selected r_hat {rh[best]}; restarts: {rows}", flush=True)


def _restarts(tag: str, x, xt, a, logs: int, shown: int) -> None:
    """Learned-gamma restarts (seeds ``a.seeds``, kappa = 6, hidden ``a.hidden`` x 2, ``a.steps`` steps) on x;
    ``logs`` times during training, each restart's r_hat, held-out loss, gamma and ``shown`` smallest variances."""
    def on_log(step, m):
        ev = evaluate(m, xt, seed=0)
        rh = r_hat_per_model(ev["enc_var"], checks_common.VAR_THRESHOLD)
        for g, s in enumerate(a.seeds):
            v = ", ".join(f"{e:.2g}" for e in ev["enc_var"][g][:shown])
            print(f"{tag} seed {s} step {step}: r_hat {rh[g]} loss {ev['loss'][g]:.3f} gamma {ev['gamma'][g]:.2e} "
                  f"variances [{v}]", flush=True)

    train_sweep(x, checks_sweep.KAPPA, [float("nan")] * len(a.seeds), a.seeds, steps=a.steps, hidden=(a.hidden, a.hidden),
                log_every=max(1, a.steps // logs), on_log=on_log)


def arc(a) -> None:
    rot = _rotation(10, 2, np.random.default_rng(1234))

    def sample(n, seed, deg):
        t = np.random.default_rng(seed).uniform(-0.5, 0.5, n) * np.deg2rad(deg)
        return (np.stack([np.cos(t), np.sin(t)], 1) @ rot).astype(np.float32)

    for deg in a.degrees:
        _restarts(f"arc {deg:g} degrees", sample(8000, 0, deg), sample(2000, 10_000, deg), a, logs=2, shown=3)


def bent(a) -> None:
    from vaediag.theory.estimators import affine_dimension

    rot = _rotation(10, 3, np.random.default_rng(1234))  # the roll's rotation into R^10, undone below

    def sample(n, seed):
        x, _ = manifolds.make("swissroll", n=n, seed=seed, r=2, d=10)
        return manifolds.embedding_map(x @ rot.T, 10).astype(np.float32)  # 3-D roll -> bent into R^10

    x, xt = sample(8000, 0), sample(2000, 10_000)
    print(f"bent Swiss roll: affine dimension {affine_dimension(x, checks_rhat.AFFINE_REL_TOL)} "
          f"(the roll itself: {affine_dimension(_data('swissroll')[0], checks_rhat.AFFINE_REL_TOL)})", flush=True)

    _restarts("bent", x, xt, a, logs=4, shown=4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="probe", required=True)
    p = sub.add_parser("scan", help="fixed gammas on the Swiss roll")
    p.add_argument("--hidden", type=_positive, default=64, help="width of both hidden layers")
    p.add_argument("--steps", type=_positive, default=8000)
    p.add_argument("--gammas", type=_floats, default="1e-1,3e-2,1e-2,3e-3,1e-3,3e-4,1e-4")
    p.add_argument("--seeds", type=_ints, default="22,23")
    p = sub.add_parser("third", help="what the third direction of each restart encodes")
    p.add_argument("--manifold", choices=("swissroll", "sphere"), default="swissroll")
    p.add_argument("--hidden", type=_hidden, default="64x64x64", help="hidden widths, e.g. 64x64x64")
    p.add_argument("--seeds", type=_ints, default="22,23,24,25")
    p = sub.add_parser("part", help="one part of the full run's sweep at another network")
    p.add_argument("--part", choices=("others", "main"), default="others")
    p.add_argument("--hidden", type=_hidden, default="64x64x64", help="hidden widths, e.g. 64x64x64")
    p.add_argument("--seed", type=int, default=0, help="the lab's --seed")
    p = sub.add_parser("arc", help="an arc of a circle in a 2-D plane: r = 1 inside a 2-D subspace")
    p.add_argument("--degrees", type=_floats, default="90,270", help="arc lengths in degrees, comma-separated")
    p.add_argument("--hidden", type=_positive, default=64, help="width of both hidden layers")
    p.add_argument("--steps", type=_positive, default=8000)
    p.add_argument("--seeds", type=_ints, default="22,23,24,25")
    p = sub.add_parser("bent", help="the Swiss roll bent out of its 3-D subspace")
    p.add_argument("--hidden", type=_positive, default=64, help="width of both hidden layers")
    p.add_argument("--steps", type=_positive, default=8000)
    p.add_argument("--seeds", type=_ints, default="22,23,24,25")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    {"scan": scan, "third": third, "part": part, "arc": arc, "bent": bent}[a.probe](a)
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
