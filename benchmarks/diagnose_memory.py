"""Peak memory of `diagnose` on the SD-shaped AutoencoderKL against the number of inputs (memory flat in n).

    python benchmarks/diagnose_memory.py --n 48 192 768

One single-threaded subprocess per n: builds the model of ``bench_diagnose.py --model sd`` (3 x 256 x 256
inputs, latent 4 x 32 x 32) and n random uint8 inputs, reads its resident memory (the base), runs
``diagnose(..., iw_k=0, check_range=False)`` with the default budgets, and reports its peak resident memory
(ru_maxrss) above the base. A thread samples the resident memory every 50 ms and names the part of the
diagnosis running (the pass, the perturbations, I(x; z), eq. (73)); the memory at the start of each batch of
the pass is printed too (it must not grow with the batches). The fp32 matmul rate is printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import resource
import subprocess
import sys
import threading
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_diagnose import _matmul_gflops  # noqa: E402 (the same one-thread measurement as bench_diagnose.py)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(n: int) -> None:
    import torch

    import vaediag
    from vaediag.diagnostics import summary as S
    from _kl import autoencoder_kl

    torch.set_num_threads(1)
    model = autoencoder_kl(in_channels=3, block_out_channels=(8, 16, 16, 16), latent_channels=4).eval()
    x = torch.randint(0, 256, (n, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    phase, peaks, starts, done = ["pass"], {}, [], []

    def sample():
        while not done:
            peaks[phase[0]] = max(peaks.get(phase[0], 0.0), _rss_mb())
            time.sleep(0.05)

    def named(name, f):
        def g(*a, **kw):
            old, phase[0] = phase[0], name
            try:
                return f(*a, **kw)
            finally:
                phase[0] = old
        return g

    for fn, name in (("_perturb", "perturbations"), ("mutual_information", "I(x; z)"), ("_encoder_fit", "eq. (73)")):
        setattr(S, fn, named(name, getattr(S, fn)))
    encode = S.encode_posterior
    S.encode_posterior = lambda *a, **kw: (starts.append(round(_rss_mb())) if phase[0] == "pass" else None) or encode(*a, **kw)
    base = _rss_mb()
    threading.Thread(target=sample, daemon=True).start()
    m = vaediag.adapt(model, loss="mean_sq", kl_weight=1e-6, data_range=(-1, 1))
    t0 = time.perf_counter()
    S.diagnose(m, x, iw_k=0, check_range=False)
    done.append(True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t0, "base_mb": base, "peak_mb": peak,
                      "parts_mb": {k: round(v) for k, v in peaks.items()}, "batch_starts_mb": starts}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[48, 192, 768], help="numbers of inputs (default 48 192 768)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    print(f"fp32 matmul (2048 x 2048, 1 thread): {_matmul_gflops():.1f} GFLOP/s", flush=True)
    print("| n | base MB | peak RSS MB | above the base MB | seconds |")
    print("|---|---|---|---|---|")
    for n in args.n:
        res = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="1"))
        if res.returncode != 0:
            sys.exit(f"n = {n} failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {n:,} | {r['base_mb']:.0f} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['base_mb']:.0f} | {r['seconds']:.0f} |", flush=True)
        print(f"    parts (MB): {r['parts_mb']}; the pass's batch starts (MB): {r['batch_starts_mb']}",
              flush=True)
    print(f"fp32 matmul at the end: {_matmul_gflops():.1f} GFLOP/s", flush=True)


if __name__ == "__main__":
    main()
