"""Writes the tour and your-own-VAE notebooks (outputs empty). Rerun after editing:
    python notebooks/make_notebooks.py
The theory-lab notebook is edited directly. Notebooks use the public API (``import vaediag``) and
never select a matplotlib backend: figures returned by the last line of a cell show inline."""

from pathlib import Path

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
HERE = Path(__file__).parent


def write(name, cells):
    nb = nbf.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, HERE / name)


write("01_tour.ipynb", [
    md("""# A tour of vaediag: train a two-stage VAE and read every diagnostic of the paper

Each section states the claim of Dai & Wipf it tests, then computes the evidence with the library
(the same functions as the `vaediag` verbs). Settings are small so the notebook runs in CI; set
`RUN` to a finished run (e.g. `runs/demo/learned` after `vaediag demo`) to read a real one instead."""),
    code("""from pathlib import Path
import tempfile
RUN = None                 # e.g. "runs/demo/learned"; None trains a small run below
STEPS, STAGE2_STEPS = 150, 1500   # the `quick` preset uses 1,000 and 8,000
N_DIAG = 1000              # inputs for the diagnostics"""),
    code("""import numpy as np
import vaediag
if RUN is None:
    RUN = Path(tempfile.mkdtemp()) / "tour"
    run = vaediag.train(RUN, preset="quick", steps=STEPS, stage2_steps=STAGE2_STEPS, log_every=5, progress=False)
else:
    run = vaediag.open_run(RUN)
print(run.config.train.dataset, run.config.model.arch, "kappa =", run.config.model.latent_dim)"""),
    md("""## Theorem 3: gamma goes to 0 when it is learned

*Claim*: with everything else optimal, a smaller decoder variance gamma always lowers the loss, so a
learned gamma falls towards 0 during training, and the squared pixel error falls with it."""),
    code("""from vaediag.diagnostics.gamma import gamma_trajectory, gamma_verdict
traj = gamma_trajectory(run.read_metrics(1))
print("gamma: first", traj["gamma"][0], "last", traj["gamma"][-1])
print("mean squared pixel error: first", traj["mse"][0], "last", traj["mse"][-1])
print(gamma_verdict(traj["step"], traj["log_gamma"]))"""),
    md("""## Eq. (9) and supplement Fig. 10: how many latent directions are used (r_hat)

*Claim*: near the optimum r_hat encoder variances lambda_j go to 0 (as fast as gamma) and the others
go to 1. `vaediag.diagnose` counts those below a threshold and reports how the count depends on it."""),
    code("""summary, arrays = vaediag.diagnose(run, n=N_DIAG, device="cpu")
print("gamma =", summary["gamma"], " r_hat =", summary["active_dims"], " near 1:", summary["near_one"])
print("r_hat by threshold:", summary["r_hat_by_threshold"])"""),
    code("""vaediag.figure10(run, n=N_DIAG, device="cpu")"""),
    md("""## Theorem 4 and supplement Fig. 9: noise along unused directions is ignored

*Claim*: the decoder reconstructs x from any z ~ q(z|x); perturbing mu_z along a direction with
lambda_j ≈ 1 changes nothing, along a small-lambda direction it moves the image along the manifold."""),
    code("""rows = sorted(summary["perturbation"], key=lambda r: r["lambda"])
for r in rows[:3] + rows[-3:]:
    print(f"direction {r['direction']:>2}: lambda = {r['lambda']:.3f}, image variance = {r['image_variance']:.3g}")"""),
    code("""vaediag.figure9(run, n=N_DIAG, device="cpu")"""),
    md("""## Section 4: the aggregated posterior q(z) is not N(0, I); stage 2's q(u) is closer

*Claim*: stage 1 learns the manifold but not the measure on it, so q(z) keeps structure that
N(0, I) lacks; the second VAE (where d = r = kappa, Theorem 1) makes q(u) close to N(0, I). We compare
normalised singular values of latent sample matrices with an i.i.d. Gaussian matrix (Fig. 1, right)."""),
    code("""print("spectrum gap  stage 1:", round(summary["spectrum_gap"]["stage1"], 3), " stage 2:", round(summary["spectrum_gap"]["stage2"], 3))
print("KL of a Gaussian fit to N(0, I):", summary["kl_gaussian_fit"])"""),
    md("""## Figure 1 of the paper, and samples

The three panels side by side (left: log gamma and pixel error; centre: perturbations; right: spectra),
then samples of stage 1 alone and of the two-stage process u → z → x."""),
    code("""vaediag.figure1(run, n=N_DIAG, device="cpu")"""),
    code("""from vaediag.plots.images import make_grid, samples_figure
panels = [("stage 1: z ~ N(0, I)", make_grid(vaediag.sample(run, stage=1, n=36), nrow=6)),
          ("two stages: u -> z -> x", make_grid(vaediag.sample(run, stage=2, n=36), nrow=6))]
samples_figure(panels)"""),
])

write("03_your_own_vae.ipynb", [
    md("""# Diagnosing your own VAE

vaediag's diagnostics take any PyTorch module with `encode(x) -> (mu, logvar)` (or `(mu, cov)`),
`decode(z) -> mean` and, optionally, `gamma` (the decoder **variance**) — see `vaediag.diagnostics.protocol`.
Here we define a small VAE that is *not* vaediag's, train it briefly on a curved 2-dimensional
manifold in R^10 whose truth we know, and ask vaediag what it learned."""),
    code("""R, D, KAPPA, STEPS, SEED = 2, 10, 6, 3000, 0   # change and rerun"""),
    code("""import math
import numpy as np, torch, torch.nn as nn
import vaediag
torch.manual_seed(SEED); torch.set_num_threads(1)
data = vaediag.load_dataset(f"manifold:embedding?r={R}&d={D}&n=3000", seed=SEED)
x, truth = data.train, data.info["truth"]
print(truth)"""),
    md("""## A VAE written from scratch (no vaediag code)

Gaussian decoder with a learned scalar log-variance, diagonal Gaussian encoder, the loss of eq. (2)."""),
    code("""class MyVAE(nn.Module):
    def __init__(self, d, k, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 2 * k))
        self.dec = nn.Sequential(nn.Linear(k, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))
        self.log_gamma = nn.Parameter(torch.zeros(()))
    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar
    def decode(self, z):
        return self.dec(z)
    @property
    def gamma(self):
        return self.log_gamma.exp()
    def loss(self, x):
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        rec = ((x - self.decode(z)) ** 2).sum(1) / (2 * self.gamma) + 0.5 * x.shape[1] * (math.log(2 * math.pi) + self.log_gamma)
        kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)
        return (rec + kl).mean()

vae = MyVAE(D, KAPPA)
opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
for step in range(STEPS):
    batch = x[torch.randint(0, len(x), (128,))]
    loss = vae.loss(batch)
    opt.zero_grad(); loss.backward(); opt.step()
print("final loss", float(loss.detach()), "gamma", float(vae.gamma.detach()))"""),
    md("""## What vaediag sees

Theorem 3: gamma should be small. Eq. (9): about r = 2 encoder variances near 0, kappa − r near 1.
Section 4: the aggregated posterior q(z) of a single VAE is not N(0, I)."""),
    code("""summary, arrays = vaediag.diagnose(vae.eval(), x)
print("gamma:", summary["gamma"])
print("lambda_j (mean over data):", np.round(arrays["lambda_mean"], 4))
print("r_hat =", summary["active_dims"], "(truth r =", truth["r"], ")  near 1:", summary["near_one"])
print("r_hat by threshold:", summary["r_hat_by_threshold"])
print("spectrum gap of q(z) against N(0, I):", round(summary["spectrum_gap"]["stage1"], 3))"""),
    code("""vaediag.figure10({"MyVAE": arrays})"""),
    code("""vaediag.figure9(arrays)   # vectors: output variance per direction, every direction"""),
])
