"""The two-stage argument (section 4): the paper's second stage trained on the selected stage-1 VAE's
codes, its samples and aggregated posteriors compared by energy distance."""

from __future__ import annotations

import torch

from vaediag.theory.checks_common import Settings
from vaediag.theory.checks_sweep import KAPPA
from vaediag.theory.metrics import energy_distance, energy_distance_se, mean_distance
from vaediag.theory.separation import check_point, check_side
from vaediag.theory.sweep import train_stage2

# The paper's second stage (section 4): the engine's Stage2VAE (three dense ReLU layers, the input
# concatenated before the heads, its own learned gamma_z), trained like the engine trains it: Adam,
# weight decay 5e-4 on the networks (not on log gamma_z), z = mu_z + sigma_z * eps with a fresh eps for
# every draw, the learning rate halved twice (the paper's MNIST schedule halves at 300 of 800 epochs:
# here every 3/8 of the steps). Choices the paper leaves open, measured in docs/theory.md's sensitivity
# table: the width (the paper uses 1,024 for FID; 256 passed the earlier criterion, two-stage < 0.5 x
# stage 1, in every run measured, 64 and 128 did not, and run-to-run spread is as large as the width's effect) and gamma_z's starting
# value. Started at 1 (the authors' code), stage 2 collapses: q(u|z) = N(0, I), a constant decoder
# mean and gamma_z = E|z|^2 / kappa ~ 1 (stage 1's q(z) has unit second moments), a stationary point
# of eq. (2) that is not its optimum (gamma_z measured 0.98-0.99 after 4,000 steps); its samples carry
# unit noise in every coordinate of z. Started at 1e-2 it learns q(z); gamma_z stays a learned
# parameter. Steps and learning rate fit the CPU budget.
STAGE2_WIDTH, STAGE2_DEPTH, STAGE2_BATCH, STAGE2_LR, STAGE2_WD, STAGE2_GAMMA_INIT = 256, 3, 100, 1e-3, 5e-4, 1e-2
# q(u) and q(z) vs N(0, I) use Q_DRAWS posterior draws per held-out point (8,000 points in all): the energy
# distance's V-statistic carries a sampling floor of about (E|X-X'| + E|Y-Y'|) / n, which at n = 2,000
# (0.0026) is as large as q(z)'s whole distance to N(0, I); the floor is reported beside both.
Q_DRAWS = 4


# Alternatives: without the second stage (the claim false), two-stage samples are as far from mu_gt as
# stage 1's and q(u) is as far from N(0, I) as stage 1's Gaussian-prior q(z); with it, both reach the
# sampling floor (two draws of mu_gt, two draws of N(0, I)). Standard errors: ED_SE_BLOCKS disjoint blocks.
ED_SE_BLOCKS = 4


def judge_two_stage(m: dict) -> list[dict]:
    """Verdicts of the two-stage argument (keys as in :func:`check_two_stage`)."""
    ed1, ed2, ref = m["ed1"], m["ed2"], m["floor"]
    return [
        check_point("two-stage (section 4): energy distance of two-stage samples to held-out data (claim: the floor, "
                    "two draws of mu_gt; alternative: stage 1's, no second stage)", ed2, ref, [ed1], m["ed2_se"],
                    stage1=ed1, gamma_z=m["gamma_z"]),
        check_side("two-stage (section 4): stage-1 samples measurably far from mu_gt (energy distance; alternative: "
                   "the floor)", ed1, "> floor", ref, +1, m["ed1_se"]),
        check_point("two-stage (section 4): energy distance of q(u) to N(0,I) (claim: the floor, two draws of N(0,I); "
                    "alternative: q(z)'s, no second stage)", m["ed_qu"], m["floor_g"], [m["ed_qz"]], m["ed_qu_se"],
                    q_z=m["ed_qz"]),
    ]


def check_two_stage(s: Settings, art34: dict) -> tuple[list[dict], dict]:
    stage1 = art34["model"].select(art34["learned"][0]["group"])  # the selected learned-gamma VAE
    with torch.no_grad():
        mu, logvar = stage1.encode(torch.as_tensor(art34["X"], device=s.device)[None])
    s.progress(f"two-stage (section 4): training the paper's stage-2 VAE (width {STAGE2_WIDTH}, depth {STAGE2_DEPTH}) "
               f"on fresh z = mu + sigma eps, {s.steps} steps")
    stage2 = train_stage2(mu[0], logvar[0], STAGE2_WIDTH, STAGE2_DEPTH, steps=s.steps, batch=STAGE2_BATCH,
                          lr=STAGE2_LR, weight_decay=STAGE2_WD, gamma_init=STAGE2_GAMMA_INIT, seed=s.seed + 7,
                          device=s.device)
    with torch.no_grad():
        return _two_stage_compare(s, art34, stage1, stage2)


def _two_stage_compare(s: Settings, art34: dict, stage1, stage2) -> tuple[list[dict], dict]:
    X, Xt = art34["X"], art34["Xt"]
    gen = torch.Generator().manual_seed(s.seed + 1)
    n = len(Xt)
    dev = s.device
    x1 = stage1.decode(torch.randn(1, n, KAPPA, generator=gen).to(dev))[0].cpu().numpy()  # z ~ N(0, I), x = mu_x(z)
    u = torch.randn(n, KAPPA, generator=gen).to(dev)
    zz = stage2.decode(u) + stage2.gamma.sqrt() * torch.randn(n, KAPPA, generator=gen).to(dev)  # z ~ p(z|u)
    x2 = stage1.decode(zz[None])[0].cpu().numpy()  # u ~ N(0,I), z ~ p(z|u), x = mu_x(z)
    ed1, ed2 = energy_distance(x1, Xt), energy_distance(x2, Xt)
    ref = energy_distance(X[:n], Xt)  # two samples of mu_gt: the sampling floor
    # aggregated posteriors on held-out data, Q_DRAWS draws of z ~ q(z|x) per point (then u ~ q(u|z))
    m1, lv1 = stage1.encode(torch.as_tensor(Xt, device=dev)[None])
    m1, s1 = m1[0].repeat(Q_DRAWS, 1), lv1[0].mul(0.5).exp().repeat(Q_DRAWS, 1)
    zt = m1 + s1 * torch.randn(m1.shape, generator=gen).to(dev)
    m2, lv2 = stage2.encode(zt)
    ut = (m2 + lv2.mul(0.5).exp() * torch.randn(m2.shape, generator=gen).to(dev)).cpu().numpy()
    nq = len(ut)
    gauss = torch.randn(nq, KAPPA, generator=gen).numpy()
    gg = mean_distance(gauss, gauss)  # E|G - G'|, shared by the three distances to N(0, I)
    ed_qz, ed_qu = energy_distance(zt.cpu().numpy(), gauss, gg), energy_distance(ut, gauss, gg)
    ref_g = energy_distance(torch.randn(nq, KAPPA, generator=gen).numpy(), gauss, gg)
    m = {"ed1": ed1, "ed2": ed2, "floor": ref, "gamma_z": float(stage2.gamma), "ed_qu": ed_qu, "ed_qz": ed_qz,
         "floor_g": ref_g, "ed1_se": energy_distance_se(x1, Xt, ED_SE_BLOCKS),
         "ed2_se": energy_distance_se(x2, Xt, ED_SE_BLOCKS), "ed_qu_se": energy_distance_se(ut, gauss, ED_SE_BLOCKS)}
    return judge_two_stage(m), {"x1": x1, "x2": x2, "xt": Xt, "ed": (ed1, ed2, ref), "gamma_z": float(stage2.gamma),
                                "ed_q": (ed_qz, ed_qu, ref_g), "width": STAGE2_WIDTH, "measured": m}
