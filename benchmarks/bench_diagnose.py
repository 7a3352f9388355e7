"""Cost of `diagnose` on a conv + BatchNorm VAE against its bare forward passes: time and peak memory ratios.

    python benchmarks/bench_diagnose.py [--n 200] [--side 64] [--hidden 16,32,64,128,256] [--latent 64] [--no-iw]

Model: the VanillaVAE of a widely copied VAE collection (tests/_wild.py: conv + BatchNorm + LeakyReLU,
Tanh output, data in [-1, 1], MSE (mean) + kld_weight * KL), 64 x 64 x 3 with hidden widths
``--hidden`` (the original is 32,64,128,256,512 with latent 128), freshly initialised (timing does not
depend on training). Data: random uint8 images (mapped into [-1, 1]).

Two subprocesses, one after the other, each single-threaded, each reporting its wall time and its peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) above the memory after building the
model and the data:

- ``bare``: what diagnose must compute anyway, written as a user would: encode the n inputs and decode
  their means (batches of 500), the perturbation decodes (8 inputs x kappa directions x 15) and the
  importance-weighted decodes (200 inputs x K = 50), in chunks of 256 decodes;
- ``diagnose``: :func:`vaediag.diagnose` of the adapted model (``--no-iw``: without the importance-weighted
  log-likelihood, and ``bare`` without its decodes), with the time of each part (the one pass of
  encodes, eigenvalues and moments; the perturbation decodes; I(x; z); the IW estimate; the effective
  gamma by eq. (73)) measured by wrapping the functions it calls.

The ratios diagnose / bare are the overhead of the diagnostics; the target is <= 1.5 for both. On a
busy machine only the ratios of one run are worth reading.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "tests"))  # the VAEs as their authors wrote them

PERTURB_INPUTS, N_DECODES, IW_N, IW_K, CHUNK = 8, 15, 200, 50, 256


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _setup(args):
    import torch

    import vaediag.diagnostics.summary  # noqa: F401 (imported before the baseline: both processes hold it)
    from _wild import VanillaVAE

    torch.set_num_threads(1)
    torch.manual_seed(0)
    hidden = [int(h) for h in args.hidden.split(",")]
    model = VanillaVAE(in_channels=3, latent_dim=args.latent, hidden_dims=hidden, size=args.side).eval()
    x = torch.randint(0, 256, (args.n, 3, args.side, args.side), dtype=torch.uint8)
    return model, x


def bare(model, x, iw: bool) -> dict:
    import torch

    t = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        for i in range(0, len(x), 500):
            xb = x[i:i + 500].float() / 255 * 2 - 1
            mu, logvar = model.encode(xb)
            model.decode(mu)
        t["encode + decode(mu)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        k = mu.shape[1]
        for _ in range(min(PERTURB_INPUTS, len(x))):
            z = torch.randn(k * N_DECODES, k)
            for j in range(0, len(z), CHUNK):
                model.decode(z[j:j + CHUNK])
        t["perturbation decodes"] = time.perf_counter() - t0
        if iw:
            t0 = time.perf_counter()
            for i in range(0, min(IW_N, len(x)), 50):
                mu, logvar = model.encode(x[i:i + 50].float() / 255 * 2 - 1)
                z = (mu + (0.5 * logvar).exp() * torch.randn(IW_K, *mu.shape)).reshape(-1, k)
                for j in range(0, len(z), CHUNK):
                    model.decode(z[j:j + CHUNK])
            t["IW decodes"] = time.perf_counter() - t0
    return t


def diagnosed(model, x, iw: bool) -> dict:
    import vaediag
    from vaediag.diagnostics import summary as S

    parts: dict[str, float] = {}

    def timed(name, f):
        def g(*a, **kw):
            t0 = time.perf_counter()
            try:
                return f(*a, **kw)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0
        return g

    S.perturb_directions = timed("perturbation decodes", S.perturb_directions)
    S.mutual_information = timed("I(x; z)", S.mutual_information)
    S.iw_log_likelihood = timed("IW estimate", S.iw_log_likelihood)
    S._effective = timed("gamma_effective (eq. 73)", S._effective)
    S._gather = timed("one pass (encode, decode(mu), eigen, moments) + perturbations", S._gather)
    m = vaediag.adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(-1, 1))
    vaediag.diagnose(m, x, n=None, iw=iw, device="cpu")
    parts["one pass (encode, decode(mu), eigen, moments)"] = parts.pop(
        "one pass (encode, decode(mu), eigen, moments) + perturbations") - parts["perturbation decodes"]
    return parts


def child(args) -> None:
    model, x = _setup(args)
    base = _rss_mb()
    t0 = time.perf_counter()
    parts = bare(model, x, not args.no_iw) if args.child == "bare" else diagnosed(model, x, not args.no_iw)
    out = {"seconds": time.perf_counter() - t0, "peak_mb_above_start": _rss_mb() - base, "parts": parts}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="inputs (default 200)")
    ap.add_argument("--side", type=int, default=64, help="image side (default 64)")
    ap.add_argument("--hidden", default="16,32,64,128,256", help="conv widths (VanillaVAE's own: 32,64,128,256,512)")
    ap.add_argument("--latent", type=int, default=64, help="latent dimension kappa (VanillaVAE's own: 128)")
    ap.add_argument("--no-iw", action="store_true", help="without the importance-weighted log-likelihood")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run bare and diagnose alternately this many times and keep each one's fastest (default 1)")
    ap.add_argument("--child", choices=("bare", "diagnose"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.n < 2 or args.side < 2 ** len(args.hidden.split(",")):
        ap.error("--n must be at least 2 and --side at least 2 ** (number of hidden widths)")
    if args.child:
        return child(args)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    got = {}
    for _ in range(max(1, args.repeat)):  # alternately: a load that changes over time hits both alike
        for which in ("bare", "diagnose"):
            cmd = [sys.executable, __file__, "--child", which] + sys.argv[1:]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                sys.exit(f"the {which} process failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            if which not in got or r["seconds"] < got[which]["seconds"]:
                r["peak_mb_above_start"] = min(r["peak_mb_above_start"], got.get(which, r)["peak_mb_above_start"])
                got[which] = r
            else:
                got[which]["peak_mb_above_start"] = min(r["peak_mb_above_start"], got[which]["peak_mb_above_start"])
    b, d = got["bare"], got["diagnose"]
    print(f"VanillaVAE {args.side}x{args.side}x3, hidden {args.hidden}, latent {args.latent}, n = {args.n}, 1 thread, "
          f"fastest of {max(1, args.repeat)}, "
          f"IW {'off' if args.no_iw else f'on ({IW_N} inputs x K = {IW_K})'}")
    for name, r in (("bare", b), ("diagnose", d)):
        print(f"  {name:9s} {r['seconds']:8.2f} s   peak memory +{r['peak_mb_above_start']:.0f} MB")
        for part, s in r["parts"].items():
            print(f"      {part:48s} {s:8.2f} s  ({100 * s / r['seconds']:.0f}%)")
    print(f"ratio diagnose / bare: time {d['seconds'] / b['seconds']:.2f}, peak memory "
          f"{d['peak_mb_above_start'] / max(b['peak_mb_above_start'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
