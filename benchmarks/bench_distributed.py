"""Scaling of 2 CPU processes (torchrun, gloo) against 1, and memory of the streamed data path.

    python benchmarks/bench_distributed.py [--part scaling|memory|both] [--steps 60] [--images 50000]
                                           [--memory-steps 20]

scaling: `vaediag train` (quick preset: InfoGAN on the offline 28x28 digits, stage 1) as 1 process
and as 2 torchrun processes, one thread each, on this machine's cores. Images/s comes from the
run's own metrics (the `seconds` column, steps 11..N: after warm-up, without start-up and the final
encoding). Strong scaling keeps the global batch (100 = 2 x 50), weak scaling the per-process batch
(200 = 2 x 100); efficiency = (images/s of 2 processes / 2) / images/s of 1 process at that
per-process batch. A 1-process run with 2 threads, the plain alternative on 2 cores, is printed too.

memory: the stage-1 training loop (`vaediag.engine.loop.fit`, InfoGAN at 64x64x3 like CelebA, batch 100)
on a synthetic uint8 image set of --images images written as a .npy file, held three ways: read
into RAM (what decoding CelebA into memory did), memory-mapped and indexed in the training process
(`--loader memory`), and memory-mapped and streamed by 2 worker processes (`--loader stream`).
Memory is the proportional set size (PSS, /proc/PID/smaps_rollup) summed over the training process
and its workers, sampled every 100 ms: private = anonymous + shared memory (tensors, the batches
the workers hand over), file = pages of mapped files (the memmap; the kernel can drop them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ scaling
def _run_train(out: Path, nproc: int, threads: int, batch: int, steps: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    argv = ["train", "--preset", "quick", "--stages", "1", "--steps", str(steps), "--batch-size", str(batch),
            "--log-every", "1", "--checkpoint-every", str(10 * steps), "--quiet", "--out", str(out)]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                 "-m", "vaediag"] if nproc > 1 else [sys.executable, "-m", "vaediag"])
    r = subprocess.run(launcher + argv, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"training failed:\n{r.stderr[-2000:]}")
    from vaediag.engine.runs import Run

    sec = Run.open(out).read_metrics(1)["seconds"]
    return batch * (steps - 10) / (sec[steps - 1] - sec[9])  # images/s over steps 11..steps


def scaling(steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        r = {}
        for name, nproc, threads, batch in [("1 proc x 1 thread, batch 100", 1, 1, 100),
                                            ("2 procs x 1 thread, global batch 100 (2 x 50)", 2, 1, 100),
                                            ("2 procs x 1 thread, global batch 200 (2 x 100)", 2, 1, 200),
                                            ("1 proc x 1 thread, batch 50", 1, 1, 50),
                                            ("1 proc x 2 threads, batch 100", 1, 2, 100)]:
            r[name] = _run_train(Path(tmp) / f"r{len(r)}", nproc, threads, batch, steps)
            print(f"{name:52s} {r[name]:8.1f} images/s", flush=True)
    one100, one50 = r["1 proc x 1 thread, batch 100"], r["1 proc x 1 thread, batch 50"]
    strong, weak = r["2 procs x 1 thread, global batch 100 (2 x 50)"], r["2 procs x 1 thread, global batch 200 (2 x 100)"]
    print(f"strong scaling (global batch 100): 2-process speed-up {strong / one100:.2f}x, "
          f"efficiency {strong / 2 / one100:.2f} (per process vs 1 process at batch 100), "
          f"{strong / 2 / one50:.2f} (vs 1 process at batch 50)")
    print(f"weak scaling (100 per process): efficiency {weak / 2 / one100:.2f}")
    print(f"2 processes at global batch 100 vs 1 process with 2 threads: {strong / r['1 proc x 2 threads, batch 100']:.2f}x")


# ------------------------------------------------------------------------------------ memory
def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _pss(pid: int) -> tuple[int, int]:
    """(private, file) PSS in bytes of a process tree."""
    private = file = 0
    for p in _tree(pid):
        try:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:])
        except (OSError, ValueError):
            continue
        kb = {k: int(v.split()[0]) for k, v in fields.items()}
        private += 1024 * (kb.get("Pss_Anon", 0) + kb.get("Pss_Shmem", 0))
        file += 1024 * kb.get("Pss_File", 0)
    return private, file


def _child(mode: str, npy: str, steps: int, out: str) -> None:
    import torch

    from vaediag.engine.config import RunConfig
    from vaediag.data import Dataset
    from vaediag.engine.models import VAE
    from vaediag.engine.runs import Run
    from vaediag.engine.batches import image_batches
    from vaediag.engine.loop import StageSpec, fit

    torch.set_flush_denormal(True)
    x = torch.from_numpy(np.load(npy, mmap_mode="c"))
    info = {"storage": "memmap"}
    if mode == "ram":
        x, info = torch.from_numpy(np.load(npy)), {}
    data = Dataset("synthetic", x, x[:10], "image", info)
    cfg = RunConfig()
    cfg.model.input_shape, cfg.model.latent_dim = (3, 64, 64), 64
    t = cfg.train
    t.stage1.steps, t.stage1.epochs, t.stage1.lr_halve_every, t.checkpoint_every, t.log_every, t.stages = steps, None, None, 10**6, 10, "1"
    t.loader, t.workers = ("stream" if mode == "stream" else "memory"), 2
    run = Run.create(out, cfg)
    torch.manual_seed(0)
    model = VAE(cfg.model)
    batches = image_batches(data, 64, torch.device("cpu"), t.loader, t.workers)
    t0 = time.perf_counter()
    fit(run, StageSpec.of_run(cfg, 1, model, batches, len(x), torch.device("cpu")), progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def memory(images: int, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "images.npy"
        a = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(images, 3, 64, 64))
        rng = np.random.default_rng(0)
        for i in range(0, images, 5000):
            a[i:i + 5000] = rng.integers(0, 256, a[i:i + 5000].shape, dtype=np.uint8)
        a.flush()
        del a
        size = npy.stat().st_size
        print(f"data: {images} images of 3x64x64 uint8 = {size / 2**20:.0f} MiB; {steps} steps of batch 100")
        rows = {}
        for mode, label in [("ram", "in RAM (read into memory)"), ("mmap", "memory-mapped, --loader memory"),
                            ("stream", "memory-mapped, --loader stream (2 workers)")]:
            env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
            proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(npy), str(steps), str(Path(tmp) / mode)],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peak = [0, 0]

            def watch():
                while proc.poll() is None:
                    p, f = _pss(proc.pid)
                    peak[0], peak[1] = max(peak[0], p), max(peak[1], f)
                    time.sleep(0.1)

            w = threading.Thread(target=watch)
            w.start()
            out, err = proc.communicate()
            w.join()
            if proc.returncode != 0:
                sys.exit(f"{mode} failed:\n{err[-2000:]}")
            seconds = json.loads(out.strip().splitlines()[-1])["seconds"]
            rows[mode] = peak
            print(f"{label:46s} peak private {peak[0] / 2**20:7.0f} MiB, file-backed {peak[1] / 2**20:6.0f} MiB, "
                  f"{100 * steps / seconds:6.1f} images/s", flush=True)
        print(f"private memory, streamed / in RAM: {rows['stream'][0] / rows['ram'][0]:.2f} "
              f"(in RAM - streamed = {(rows['ram'][0] - rows['stream'][0]) / 2**20:.0f} MiB; the data: {size / 2**20:.0f} MiB)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["scaling", "memory", "both"], default="both")
    p.add_argument("--steps", type=int, default=60, help="training steps per measurement (default 60; at least 20)")
    p.add_argument("--images", type=int, default=50000, help="images in the memory benchmark's data set (default 50,000)")
    p.add_argument("--memory-steps", type=int, default=20, help="training steps per memory measurement (default 20)")
    args = p.parse_args()
    if args.steps < 20 or args.memory_steps < 1 or args.images < 1000:
        p.error("--steps must be at least 20, --memory-steps at least 1 and --images at least 1000")
    if args.part in ("scaling", "both"):
        scaling(args.steps)
    if args.part in ("memory", "both"):
        memory(args.images, args.memory_steps)


if __name__ == "__main__":
    main()
