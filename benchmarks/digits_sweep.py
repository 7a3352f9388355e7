"""Short learned-gamma stage-1 runs on the offline digits (mnist5k) and what the diagnostics see.

    python benchmarks/digits_sweep.py KAPPA,HIDDEN,STEPS,LR,GAMMA_LR_SCALE[,HALVE_EVERY] [...] [--arch mlp] [--threads 1]

e.g. ``16,128x128,600,2e-3,1`` (HIDDEN: the MLP's hidden widths, ignored by --arch infogan;
HALVE_EVERY: halve the lr every so many steps, default never). Each run uses the library's defaults
otherwise (batch 100, Adam, weight decay 5e-4, seed 0),
then ``vaediag.diagnostics.summary.diagnose`` on 500 held-out digits with the standard perturbation
protocol (unit-scale noise along each direction, 15 decodes, variance summed over pixels in
[0, 1], 4 inputs). Prints per run: minutes, gamma, r_hat by threshold, the number of directions with
mean lambda > 0.9, gamma's change over the last quarter of training (the report's convergence
rule: |change of log gamma| < 0.1), and (lambda, image variance) per direction by increasing lambda. The table in
docs/digits.md was made with it.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from vaediag.data import load_dataset
from vaediag.diagnostics.gamma import gamma_verdict
from vaediag.diagnostics.summary import diagnose
from vaediag.engine.config import ModelConfig, RunConfig, StageSchedule, TrainConfig
from vaediag.engine.runs import Run
from vaediag.engine.train import train_stage1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="KAPPA,HIDDEN,STEPS,LR,GAMMA_LR_SCALE")
    ap.add_argument("--arch", default="mlp", choices=("mlp", "infogan"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    data = load_dataset("mnist5k")
    for spec in args.runs:
        k, hid, steps, lr, gls, *halve = spec.split(",")
        halve_steps = int(halve[0]) if halve else None
        model_cfg = ModelConfig(input_shape=(1, 28, 28), arch=args.arch, latent_dim=int(k),
                                mlp_hidden=tuple(int(h) for h in hid.split("x")))
        cfg = RunConfig(model=model_cfg, train=TrainConfig(stage1=StageSchedule(steps=int(steps), epochs=None, lr=float(lr),
                                                                                lr_halve_every=None), gamma_lr_scale=float(gls), checkpoint_every=10**6, log_every=50))
        n_train = len(data.train)
        if halve_steps:  # the config counts the halving period in epochs
            cfg.train.stage1.lr_halve_every = halve_steps / (n_train // cfg.train.stage1.batch_size)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run = Run.create(f"{tmp}/r", cfg)
            model = train_stage1(run, data, torch.device("cpu"), progress=False)
            minutes = (time.perf_counter() - t) / 60
            m = run.read_metrics(1)
            verdict = gamma_verdict(m["step"], m["log_gamma"])
            d = diagnose(model, data.test[:500], perturb_inputs=4, seed=0)
        print(f"{spec} ({args.arch}): {minutes:.1f} min, gamma {d.gamma.value:.3g}, r_hat by threshold "
              f"{d.usage.tau_count_by_tau}, lambda > 0.9: {d.usage.near_one}, log gamma moved "
              f"{verdict['tail_change']:+.3f} over the last quarter")
        print("   (lambda, image variance):", [(round(r.lam, 3), round(r.image_variance, 3))
                                               for r in d.perturbations.rows], flush=True)


if __name__ == "__main__":
    main()
