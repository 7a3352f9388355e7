"""Cost of `diagnose` on a conv + BatchNorm VAE against its bare forward passes: time and peak memory ratios.

    python benchmarks/bench_diagnose.py [--n 200] [--side 64] [--hidden 16,32,64,128,256] [--latent 64] [--no-iw]
    python benchmarks/bench_diagnose.py --model kl784 --n 4500       # diffusers-style AutoencoderKL, latent 4 x 14 x 14
    python benchmarks/bench_diagnose.py --model sd --n 1000 --no-iw  # SD-shaped: 256 x 256 RGB, latent 4 x 32 x 32
    python benchmarks/bench_diagnose.py --table --n 500 --no-iw      # time and memory against latent size 64 ... 4096

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

Spatial latents (``--model kl784`` / ``sd`` / ``--table``): diffusers' ``AutoencoderKL`` built from a config
when diffusers is installed, else the interface-faithful stand-in of tests/_kl.py, freshly initialised,
adapted with the SD loss (``loss="mean_sq", kl_weight=1e-6, data_range=(-1, 1)``). ``kl784``: 1 x 28 x 28
inputs, widths (16, 32), latent 4 x 14 x 14 = 784; ``sd``: 3 x 256 x 256 inputs, widths (8, 16, 16, 16)
(8x down-sampling, narrow enough for a CPU), latent 4 x 32 x 32 = 4096; ``--table``: 3 x 64 x 64 inputs
and latents 64 (1 x 8 x 8), 256 (4 x 8 x 8), 1024 (4 x 16 x 16) and 4096 (4 x 32 x 32). Here ``bare`` is
the encode + decode(mean) of the n inputs in the batches diagnose uses, and, beside it, the IW decodes
(200 inputs x K = 50) a user's own log-likelihood estimate makes; the ratios are given against both.
The machine's fp32 matmul GFLOP/s (2048 x 2048, one thread) is printed with them.
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


KL_MODELS = {  # name: (channels, side, widths, latent channels)
    "kl784": (1, 28, (16, 32), 4),
    "sd": (3, 256, (8, 16, 16, 16), 4),
    "t64": (3, 64, (8, 16, 16, 16), 1),
    "t256": (3, 64, (8, 16, 16, 16), 4),
    "t1024": (3, 64, (8, 16, 16), 4),
    "t4096": (3, 64, (8, 16), 4),
}
TABLE = ("t64", "t256", "t1024", "t4096")


def _setup_kl(args):
    import torch

    import vaediag.diagnostics.summary  # noqa: F401
    from _kl import autoencoder_kl

    torch.set_num_threads(1)
    c, side, widths, lat = KL_MODELS[args.model]
    model = autoencoder_kl(in_channels=c, block_out_channels=widths, latent_channels=lat).eval()
    x = torch.randint(0, 256, (args.n, c, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return model, x


def bare_kl(model, x, iw: bool) -> dict:
    """encode + decode(mean) of every input in diagnose's batches; the IW decodes beside them."""
    import torch

    from vaediag.diagnostics.budget import batch_size

    t, batch = {}, batch_size(x[0].numel(), 500)
    f = lambda b: b.float() / 255 * 2 - 1  # noqa: E731
    with torch.no_grad():
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            model.decode(model.encode(f(x[i:i + batch])).latent_dist.mean)
        t["encode + decode(mu)"] = time.perf_counter() - t0
        if iw:
            t0 = time.perf_counter()
            chunk = batch_size(x[0].numel(), CHUNK)
            for i in range(0, min(IW_N, len(x)), 50):
                post = model.encode(f(x[i:i + 50])).latent_dist
                z = (post.mean + post.std * torch.randn(IW_K, *post.mean.shape)).reshape(-1, *post.mean.shape[1:])
                for j in range(0, len(z), chunk):
                    model.decode(z[j:j + chunk])
            t["IW decodes"] = time.perf_counter() - t0
    return t


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


def diagnosed(model, x, iw: bool, kl_weight: float | None = None) -> dict:
    import torch

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
    S._encoder_fit = timed("gamma_effective (eq. 73)", S._encoder_fit)
    S.preflight = timed("estimate before the work", S.preflight)
    S._gather = timed("one pass (encode, decode(mu), eigen, moments) + perturbations", S._gather)
    m = vaediag.adapt(model, loss="mean_sq", kl_weight=0.005 if kl_weight is None else kl_weight, data_range=(-1, 1))
    # freshly initialised decoders may range beyond the data: the range check is for users' models, not timing
    d = S.diagnose(m, x, iw_k=50 if iw else 0, device=torch.device("cpu"), check_range=False)
    parts["latent numbers"] = d.summary["latent_dim"]
    parts["one pass (encode, decode(mu), eigen, moments)"] = parts.pop(
        "one pass (encode, decode(mu), eigen, moments) + perturbations") - parts["perturbation decodes"]
    return parts


def child(args) -> None:
    kl = args.model != "vanilla"
    model, x = _setup_kl(args) if kl else _setup(args)
    base = _rss_mb()
    t0 = time.perf_counter()
    if args.child == "bare":
        parts = (bare_kl if kl else bare)(model, x, not args.no_iw)
    else:
        parts = diagnosed(model, x, not args.no_iw, 1e-6 if kl else None)
    out = {"seconds": time.perf_counter() - t0, "peak_mb_above_start": _rss_mb() - base, "peak_mb": _rss_mb(),
           "parts": parts}
    print(json.dumps(out))


def _run(which: str, argv: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run([sys.executable, __file__, "--child", which] + argv, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"the {which} process failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _bracketed(argv: list[str]) -> dict:
    """bare, diagnose, bare: the bare time is the mean of the two around diagnose (a load that drifts
    during the run hits both sides alike), its peak memory the larger."""
    before, d, after = _run("bare", argv), _run("diagnose", argv), _run("bare", argv)
    parts = {p: (before["parts"][p] + after["parts"][p]) / 2 for p in before["parts"]}
    bare = dict(before, seconds=(before["seconds"] + after["seconds"]) / 2, parts=parts,
                each=[before["seconds"], after["seconds"]],
                **{key: max(before[key], after[key]) for key in ("peak_mb_above_start", "peak_mb")})
    return {"bare": bare, "diagnose": d}


def _pair(argv: list[str], repeat: int) -> dict:
    """bare and diagnose children, alternately ``repeat`` times; each one's fastest time and least peak
    (``repeat`` 0: :func:`_bracketed`)."""
    if repeat == 0:
        return _bracketed(argv)
    got = {}
    for _ in range(max(1, repeat)):  # alternately: a load that changes over time hits both alike
        for which in ("bare", "diagnose"):
            r = _run(which, argv)
            if which in got:
                for key in ("peak_mb_above_start", "peak_mb"):
                    r[key] = min(r[key], got[which][key])
                if r["seconds"] >= got[which]["seconds"]:
                    r = dict(got[which], peak_mb_above_start=r["peak_mb_above_start"], peak_mb=r["peak_mb"])
            got[which] = r
    return got


def _matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def _report(title: str, got: dict) -> None:
    b, d = got["bare"], got["diagnose"]
    print(title)
    if "each" in b:
        print(f"  bare before and after diagnose: {b['each'][0]:.2f} s, {b['each'][1]:.2f} s (their mean below)")
    for name, r in (("bare", b), ("diagnose", d)):
        print(f"  {name:9s} {r['seconds']:8.2f} s   peak RSS {r['peak_mb']:.0f} MB (+{r['peak_mb_above_start']:.0f} MB "
              "above the model and data)")
        for part, s in r["parts"].items():
            if part != "latent numbers":
                print(f"      {part:48s} {s:8.2f} s  ({100 * s / r['seconds']:.0f}%)")
    enc = b["parts"].get("encode + decode(mu)")
    iw = b["parts"].get("IW decodes", 0.0)
    print(f"ratio diagnose / bare: time {d['seconds'] / b['seconds']:.2f}, peak memory above start "
          f"{d['peak_mb_above_start'] / max(b['peak_mb_above_start'], 1e-9):.2f}"
          + (f"; time against encode + decode(mu) alone {d['seconds'] / enc:.2f}" if enc and iw else ""))


def _table(args, argv: list[str]) -> None:
    rows = []
    for name in TABLE:
        got = _pair(argv + ["--model", name], args.repeat)
        b, d = got["bare"], got["diagnose"]
        c, side, widths, lat = KL_MODELS[name]
        rows.append(f"| {d['parts']['latent numbers']:,} ({lat} x {side // 2 ** (len(widths) - 1)} x "
                    f"{side // 2 ** (len(widths) - 1)}) | {b['seconds']:.1f} | {d['seconds']:.1f} | "
                    f"{d['seconds'] / b['seconds']:.2f} | {b['peak_mb']:.0f} | {d['peak_mb']:.0f} |")
        print(rows[-1], flush=True)
    print("| latent numbers | bare s | diagnose s | ratio | bare peak RSS MB | diagnose peak RSS MB |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="inputs (default 200)")
    ap.add_argument("--side", type=int, default=64, help="image side (default 64)")
    ap.add_argument("--hidden", default="16,32,64,128,256", help="conv widths (VanillaVAE's own: 32,64,128,256,512)")
    ap.add_argument("--latent", type=int, default=64, help="latent dimension kappa (VanillaVAE's own: 128)")
    ap.add_argument("--model", default="vanilla", choices=("vanilla",) + tuple(KL_MODELS),
                    help="vanilla (the VanillaVAE above), kl784 or sd (AutoencoderKLs; see the docstring)")
    ap.add_argument("--table", action="store_true", help="time and memory against latent size, 64 ... 4096")
    ap.add_argument("--no-iw", action="store_true", help="without the importance-weighted log-likelihood")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run bare and diagnose alternately this many times and keep each one's fastest (default 1); "
                    "0: bare, diagnose, bare, with the mean of the two bare times")
    ap.add_argument("--child", choices=("bare", "diagnose"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.n < 2 or args.side < 2 ** len(args.hidden.split(",")):
        ap.error("--n must be at least 2 and --side at least 2 ** (number of hidden widths)")
    if args.child:
        return child(args)
    argv = [a for a in sys.argv[1:] if a != "--table"]
    iw = "off" if args.no_iw else f"on ({IW_N} inputs x K = {IW_K})"
    print(f"fp32 matmul (2048 x 2048, 1 thread): {_matmul_gflops():.1f} GFLOP/s; n = {args.n}, 1 thread, "
          + (f"fastest of {args.repeat}" if args.repeat else "bare before and after diagnose") + f", IW {iw}", flush=True)
    if args.table:
        _table(args, argv)
    else:
        _single(args, argv)
    print(f"fp32 matmul (2048 x 2048, 1 thread) at the end: {_matmul_gflops():.1f} GFLOP/s", flush=True)


def _single(args, argv: list[str]) -> None:
    got = _pair(argv, args.repeat)
    if args.model == "vanilla":
        title = f"VanillaVAE {args.side}x{args.side}x3, hidden {args.hidden}, latent {args.latent}"
    else:
        c, side, widths, lat = KL_MODELS[args.model]
        title = (f"AutoencoderKL {c} x {side} x {side}, widths {widths}, latent {got['diagnose']['parts']['latent numbers']:,} "
                 f"({lat} x {side // 2 ** (len(widths) - 1)} x {side // 2 ** (len(widths) - 1)})")
    _report(title, got)


if __name__ == "__main__":
    main()
