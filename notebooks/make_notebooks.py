"""Writes the tour, your-own-VAE and enhance-your-VAE notebooks (outputs empty). Rerun after editing:
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
    for i, cell in enumerate(cells):  # fixed ids: regenerating changes only the cells edited
        cell.id = f"cell-{i:02d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, HERE / name)


write("01_tour.ipynb", [
    md("""# A tour of vaediag: train a two-stage VAE and read every diagnostic of the paper

Each section states the claim of Dai & Wipf it tests, then computes the evidence with the library
(the same functions as the `vaediag` verbs). Settings are small so the notebook runs in CI; set
`RUN` to a finished run (e.g. `vaediag-demo/runs/learned` after `vaediag demo`) to read a real one instead."""),
    code("""from pathlib import Path
import tempfile
RUN = None                 # e.g. "vaediag-demo/runs/learned"; None trains a small run below
STEPS, STAGE2_STEPS = 400, 400    # small, for CI; the `cpu-mnist5k` preset trains thousands of steps
N_DIAG = 1000              # inputs for the diagnostics"""),
    code("""import numpy as np
import vaediag
if RUN is None:
    RUN = Path(tempfile.mkdtemp()) / "tour"
    run = vaediag.train(RUN, preset="cpu-mnist5k", steps=STEPS, stage2_steps=STAGE2_STEPS, log_every=5, progress=False)
else:
    run = vaediag.open_run(RUN)
print(run.config.train.dataset, run.config.model.arch, "kappa =", run.config.model.latent_dim)"""),
    md("""## Theorem 3: gamma goes to 0 when it is learned

*Claim*: with everything else optimal, a smaller decoder variance gamma always lowers the loss, so a
learned gamma falls towards 0 during training, and the squared pixel error falls with it."""),
    code("""d = vaediag.diagnose(run, n=N_DIAG, device="cpu", write=True)   # saved: the figures reuse it
t = d.gamma.trajectory   # how log gamma moved over the logged training steps (Figure 1 below draws it)
print("gamma at the last step:", t.final_gamma, " log gamma over the last quarter moved by", t.tail_change, "nats")
print("converged:", t.converged, " fixed gamma:", t.fixed, " regime:", d.gamma.regime)
print("mean squared pixel error of mu_x(mu_z(x)) now:", d.gamma.recon_mse)"""),
    md("""## Eq. (9) and supplement Fig. 10: how many latent directions are used (r_hat)

*Claim*: near the optimum r_hat encoder variances lambda_j go to 0 (as fast as gamma) and the others
go to 1. `vaediag.diagnose` counts those below a threshold and reports how the count depends on it."""),
    code("""print("gamma =", d.gamma.value, " r_hat =", d.usage.r_hat, " near 1:", d.usage.near_one)
print("tau-count by tau:", d.usage.tau_count_by_tau)"""),
    code("""vaediag.figure10(run, n=N_DIAG, device="cpu")"""),
    md("""## Theorem 4 and supplement Fig. 9: noise along unused directions is ignored

*Claim*: the decoder reconstructs x from any z ~ q(z|x); perturbing mu_z along a direction with
lambda_j ≈ 1 changes nothing, along a small-lambda direction it moves the image along the manifold."""),
    code("""rows = sorted(d.perturbations.rows, key=lambda r: r.lam)
for r in rows[:3] + rows[-3:]:
    print(f"direction {r.direction:>2}: lambda = {r.lam:.3f}, image variance = {r.image_variance:.3g}")"""),
    code("""vaediag.figure9(run, n=N_DIAG, device="cpu")"""),
    md("""## Section 4: the aggregated posterior q(z) is not N(0, I); stage 2's q(u) is closer

*Claim*: stage 1 learns the manifold but not the measure on it, so q(z) keeps structure that
N(0, I) lacks; the second VAE (where d = r = kappa, Theorem 1) makes q(u) close to N(0, I). We compare
normalised singular values of latent sample matrices with an i.i.d. Gaussian matrix (Fig. 1, right)."""),
    code("""print("spectrum gap  stage 1:", round(d.spectra.gap_stage1, 3), " stage 2:", round(d.spectra.gap_stage2, 3))
print("KL of a Gaussian fit to N(0, I):", d.spectra.kl_fit_stage1, "->", d.spectra.kl_fit_stage2)"""),
    md("""## Figure 1 of the paper, and samples

The three panels side by side (left: log gamma and pixel error; centre: perturbations; right: spectra),
then samples of stage 1 alone and of the two-stage process u → z → x."""),
    code("""vaediag.figure1(run, n=N_DIAG, device="cpu")"""),
    code("""panels = [("stage 1: z ~ N(0, I)", vaediag.make_grid(vaediag.sample(run, stage=1, n=36), nrow=6)),
          ("two stages: u -> z -> x", vaediag.make_grid(vaediag.sample(run, stage=2, n=36), nrow=6))]
vaediag.samples_figure(panels)"""),
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
    code("""d = vaediag.diagnose(vae.eval(), x)
print("gamma:", d.gamma.value)
print("lambda_j (mean over data):", np.round(d.usage.lambda_mean, 4))
print("r_hat =", d.usage.r_hat, "(truth r =", truth["r"], ")  near 1:", d.usage.near_one)
print("tau-count by tau:", d.usage.tau_count_by_tau)
print("spectrum gap of q(z) against N(0, I):", round(d.spectra.gap_stage1, 3))"""),
    code("""vaediag.figure10({"MyVAE": d})"""),
    code("""vaediag.figure9(d)   # vectors: output variance per direction, every direction"""),
])

write("04_enhance_your_vae.ipynb", [
    md("""# Enhance your own VAE: diagnose it, add the second stage, score its samples

Most VAEs in the wild fix the decoder variance gamma, often without saying so: a loss
`sum((x - x_hat)**2) / (2 * GAMMA) + KL` is eq. (2) with gamma = GAMMA, pythae's `0.5 * sum` MSE is
gamma = 1. Here a small VAE written from scratch with a **fixed** gamma learns images of a blob at a
uniformly random position; vaediag diagnoses it (r_hat whatever gamma is, collapse statistics), trains
the paper's second stage on its codes (section 4), and scores samples before and after with a Fréchet
distance and KID. Settings are small so this runs in the test suite; the feature network is vaediag's
offline random-conv **proxy** (not FID; use `InceptionFeatures()` when the FID weights are installed)."""),
    code("""SIDE, N, KAPPA, GAMMA, SEED = 12, 2000, 6, 0.01, 0   # image side, images, latent dim, fixed gamma
STEPS, STAGE2_STEPS = 800, 800                       # raise both for a better model"""),
    code("""import numpy as np, torch, torch.nn as nn
import vaediag
torch.manual_seed(SEED); torch.set_num_threads(1)
g = torch.Generator().manual_seed(SEED)
pos = 2 + 8 * torch.rand(N, 2, generator=g)        # blob centres: uniform, not Gaussian
width = 1.5 + torch.rand(N, 1, generator=g)
yy, xx = torch.meshgrid(torch.arange(SIDE).float(), torch.arange(SIDE).float(), indexing="ij")
d2 = (xx[None] - pos[:, 0, None, None]) ** 2 + (yy[None] - pos[:, 1, None, None]) ** 2
images = torch.exp(-d2 / (2 * width[:, :, None] ** 2)).unsqueeze(1)   # (N, 1, SIDE, SIDE) in [0, 1]
images.shape"""),
    md("""## A VAE with a fixed decoder variance (no vaediag code)"""),
    code("""class MyVAE(nn.Module):
    def __init__(self, d=SIDE * SIDE, k=KAPPA, h=128):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2 * k))
        self.dec = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, d), nn.Sigmoid())
    def encode(self, x):
        return self.enc(x).chunk(2, dim=1)           # (mu, logvar)
    def decode(self, z):
        return self.dec(z).view(-1, 1, SIDE, SIDE)
    def loss(self, x):
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        rec = ((x - self.decode(z)) ** 2).flatten(1).sum(1) / (2 * GAMMA)   # gamma fixed at GAMMA
        kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)
        return (rec + kl).mean()

vae = MyVAE()
opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
for step in range(STEPS):
    loss = vae.loss(images[torch.randint(0, N, (100,), generator=g)])
    opt.zero_grad(); loss.backward(); opt.step()
vae.eval()
print("final loss", round(float(loss.detach()), 2))"""),
    md("""## Diagnose it

The model has no `gamma` attribute, so we declare the fixed one with `adapt` (otherwise vaediag says it
does not know gamma instead of assuming 1). With gamma fixed, eq. (73) puts a used direction at
lambda_j = gamma / (gamma + s_j^2), not near 0: r_hat counts lambda_j < 1/2 (s_j^2 > gamma); the
tau-count of the gamma -> 0 theory is shown beside it. The collapse statistics follow."""),
    code("""model = vaediag.adapt(vae, gamma=GAMMA)   # or vaediag.adapt(vae, loss="sum_sq_half") for pythae's MSE (gamma = 1)
d = vaediag.diagnose(model, images)
print("mean lambda_j:", np.round(d.usage.lambda_mean, 3))
print("r_hat =", d.usage.r_hat, " tau-count =", d.usage.tau_count, " active units =", d.collapse.active_units)
print("KL per dimension (nats):", np.round(d.collapse.kl_per_dim, 2))
print("I(x; z) ~", round(d.collapse.mutual_information, 2), "nats;  IW log-likelihood",
      round(d.likelihood.mean, 1), "±", round(d.likelihood.stderr, 2))
print("spectrum gap of q(z) against N(0, I):", round(d.spectra.gap_stage1, 3))"""),
    code("""for line in d.verdict:
    print("-", line)"""),
    code("""vaediag.figure10({"MyVAE (fixed gamma)": d})   # supplement Fig. 10: the lambda_j over the data"""),
    md("""## Enhance it: the second stage

`enhance` encodes the images with the model's `encode`, trains vaediag's stage-2 VAE on fresh draws
z ~ q(z|x) (the engine's loop, checkpoints and resume, in a run directory) and returns the two-stage
sampler u -> z -> x that decodes with *your* `decode`."""),
    code("""two = vaediag.enhance(model, images, stage2_steps=STAGE2_STEPS, stage2_width=128, stage2_lr=1e-3, stage2_lr_halve_every=None, progress=False, device="cpu")
print("stage-2 run:", two.run.path, " gamma_z =", round(float(two.stage2.gamma.detach()), 4))
d2 = vaediag.diagnose(model, images, stage2=two.stage2)
print("spectrum gap: q(z)", round(d2.spectra.gap_stage1, 3), "-> q(u)", round(d2.spectra.gap_stage2, 3))
print("Gaussian-fit KL to N(0, I):", round(d2.spectra.kl_fit_stage1, 3), "->", round(d2.spectra.kl_fit_stage2, 3))"""),
    md("""## Sample quality before and after

One-stage samples decode z ~ N(0, I); two-stage samples decode z from the second stage. Both are
scored against real images with the Fréchet distance and KID (unbiased, mean ± std over subsets) of
the proxy features."""),
    code("""gen = torch.Generator().manual_seed(1)
with torch.no_grad():
    one_stage = vae.decode(torch.randn(1000, KAPPA, generator=gen))
    two_stage = two.sample(1000, gen)
real = images[:1000].numpy()
features = vaediag.ProxyFeatures()
for name, x in (("one stage", one_stage), ("two stages", two_stage)):
    r = vaediag.score_sets(x.numpy(), real, features, kid_subsets=20, kid_subset_size=500)
    print(f"{name:10s}  proxy FD {r.fid:.4f}   KID {r.kid:.5f} ± {r.kid_std:.5f}")"""),
    code("""vaediag.samples_figure([("data", vaediag.make_grid(real[:36], nrow=6)),
                        ("one stage: z ~ N(0, I)", vaediag.make_grid(one_stage[:36].numpy(), nrow=6)),
                        ("two stages: u -> z -> x", vaediag.make_grid(two_stage[:36].numpy(), nrow=6))])"""),
])

write("05_outside_vaes.ipynb", [
    md("""# Two VAEs from the wild: diagnosed, enhanced and scored with the right likelihood

Two widely copied VAEs, written as their authors wrote them, trained for a few seconds on the 4,500
training digits of `mnist5k` (small, so this runs in CI; train longer for real numbers):

- the VAE of the **official PyTorch examples**: a 784-400-20 MLP with a sigmoid output, trained with
  binary cross-entropy + KL: a **Bernoulli** decoder, which has no gamma;
- a **conv + BatchNorm VAE with a Tanh output** on data in **[-1, 1]**, trained with the mean squared
  error (`F.mse_loss`, a mean over the d numbers of an image) + `kld_weight` * KL: a Gaussian decoder
  whose gamma is implied by the loss, gamma = kld_weight * d / 2 (eq. 2).

Each is told to vaediag with `vaediag.adapt` (its likelihood, loss, KL weight, data range), diagnosed,
given the paper's second stage with `vaediag.enhance`, and scored with `vaediag.score` (FID with the
Inception weights when installed, otherwise the offline proxy features, which are NOT an FID)."""),
    code("""STEPS, STAGE2_STEPS, SEED = 200, 300, 0      # a few seconds each; raise them for a real model
N_DIAG = 1000                                 # inputs to diagnose (10,000 by default)
KLD_WEIGHT = 0.005                            # the conv VAE's kld_weight (its loss: mse + kld_weight * KL)
PROXY = None                                  # scores: None = Inception if installed (minutes on a CPU), True = proxy (seconds)
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
import vaediag
torch.manual_seed(SEED); torch.set_num_threads(1)
digits = vaediag.load_dataset("mnist5k").train          # (4500, 1, 28, 28) uint8
x01 = digits.float() / 255                              # [0, 1]
print(digits.shape, digits.dtype)"""),
    md("""## The PyTorch-examples VAE (Bernoulli decoder)"""),
    code("""class ExamplesVAE(nn.Module):                      # as in pytorch/examples vae/main.py
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400); self.fc21 = nn.Linear(400, 20); self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400); self.fc4 = nn.Linear(400, 784)
    def encode(self, x):
        h1 = F.relu(self.fc1(x)); return self.fc21(h1), self.fc22(h1)
    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar

flat = x01.view(-1, 784)
ex = ExamplesVAE(); opt = torch.optim.Adam(ex.parameters(), lr=1e-3)
for step in range(STEPS):
    xb = flat[torch.randint(0, len(flat), (128,))]
    recon, mu, logvar = ex(xb)
    loss = F.binary_cross_entropy(recon, xb, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    opt.zero_grad(); loss.backward(); opt.step()
print("loss per image", round(float(loss) / 128, 1))"""),
    md("""A sigmoid decoder trained with cross-entropy is a Bernoulli decoder: `likelihood="bernoulli"`. It has
no gamma, so vaediag holds the encoder against eq. (73) with the decoder's Fisher metric: the
**Fisher calibration** c in Sigma_z^-1 = I + c J_p^T diag(1/(p(1-p))) J_p, 1 at the encoder's optimum,
below 1 under-confident, above 1 over-confident. The importance-weighted log-likelihood is the
Bernoulli one (nats per image). The flat 784-number decodes
are shown as 28 x 28 pictures (inferred from 784)."""),
    code("""ex_model = vaediag.adapt(ex, likelihood="bernoulli")
d_ex = vaediag.diagnose(ex_model, flat, n=N_DIAG)
u = d_ex.usage
print("r_hat =", u.r_hat, "of", d_ex.model.latent_dim, "  clear:", u.clear, " in the band:", u.in_band, " partly used:", u.partly_used)
print("Fisher calibration c =", round(d_ex.fisher.c, 3), "(", d_ex.fisher.reading, "; R^2 of log lambda", round(d_ex.fisher.r2, 2), ")")
print("IW log-likelihood (Bernoulli):", round(d_ex.likelihood.mean, 1), "±", round(d_ex.likelihood.stderr, 1), "nats")
print("KL", round(d_ex.collapse.kl_total, 2), "nats; active units", d_ex.collapse.active_units)"""),
    code("""for line in d_ex.verdict:
    print("-", line)"""),
    code("""vaediag.figure9(d_ex)     # decodes along each latent direction, ordered by lambda_j, as pictures"""),
    md("""## A conv + BatchNorm VAE with a Tanh output and kld_weight

Written as in a widely copied VAE collection (shrunk to 28 x 28, one channel): data in [-1, 1],
`F.mse_loss(recons, input) + kld_weight * kld`. Declaring `loss="mean_sq", kl_weight=KLD_WEIGHT`
gives gamma = KLD_WEIGHT * d / 2 (d = 784): the objective is, up to a factor, the negative ELBO of the
Gaussian decoder with that variance. `data_range=(-1, 1)` makes vaediag feed the model its own scale
(uint8 images are mapped into it) and report gamma in the model's units, with the [0, 1]-unit value
beside it. The model is left in train mode, as after a training loop: the diagnosis runs in eval mode
and gives it back unchanged (BatchNorm's running statistics included)."""),
    code("""class ConvVAE(nn.Module):
    def __init__(self, latent_dim=16, hidden_dims=(16, 32)):
        super().__init__()
        mods, c = [], 1
        for h in hidden_dims:
            mods.append(nn.Sequential(nn.Conv2d(c, h, 3, stride=2, padding=1), nn.BatchNorm2d(h), nn.LeakyReLU())); c = h
        self.encoder = nn.Sequential(*mods)
        self.fc_mu, self.fc_var = nn.Linear(c * 49, latent_dim), nn.Linear(c * 49, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, c * 49)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(c, hidden_dims[0], 3, stride=2, padding=1, output_padding=1),
                                     nn.BatchNorm2d(hidden_dims[0]), nn.LeakyReLU())
        self.final_layer = nn.Sequential(nn.ConvTranspose2d(hidden_dims[0], hidden_dims[0], 3, stride=2, padding=1, output_padding=1),
                                         nn.BatchNorm2d(hidden_dims[0]), nn.LeakyReLU(),
                                         nn.Conv2d(hidden_dims[0], 1, 3, padding=1), nn.Tanh())
        self.top = c
    def encode(self, x):
        r = torch.flatten(self.encoder(x), start_dim=1)
        return [self.fc_mu(r), self.fc_var(r)]                    # a list, as the original
    def decode(self, z):
        return self.final_layer(self.decoder(self.decoder_input(z).view(-1, self.top, 7, 7)))
    def forward(self, x):
        mu, log_var = self.encode(x)
        return [self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)), x, mu, log_var]

xm = x01 * 2 - 1                                               # its data: [-1, 1]
conv = ConvVAE(); opt = torch.optim.Adam(conv.parameters(), lr=5e-3)
conv.train()
for step in range(STEPS):
    recons, inp, mu, log_var = conv(xm[torch.randint(0, len(xm), (64,))])
    kld = torch.mean(-0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp(), dim=1), dim=0)
    loss = F.mse_loss(recons, inp) + KLD_WEIGHT * kld
    opt.zero_grad(); loss.backward(); opt.step()
print("loss", round(float(loss), 4), " still in train mode:", conv.training)"""),
    code("""conv_model = vaediag.adapt(conv, loss="mean_sq", kl_weight=KLD_WEIGHT, data_range=(-1, 1))
before = {k: v.clone() for k, v in conv.state_dict().items()}
d_conv = vaediag.diagnose(conv_model, digits, n=N_DIAG)   # uint8 digits, mapped into [-1, 1]
g, u, iw = d_conv.gamma, d_conv.usage, d_conv.likelihood
print("unchanged:", all(torch.equal(before[k], v) for k, v in conv.state_dict().items()), " train mode again:", conv.training)
print("gamma =", g.value, "(model units, = kld_weight * 784 / 2)   in [0, 1] units:", round(g.value_01, 4))
print("gamma_effective in [0, 1] units =", g.effective_01)
print("r_hat =", u.r_hat, "of", d_conv.model.latent_dim, "  clear:", u.clear, " range:", u.r_hat_range)
print("IW log-likelihood of the implied Gaussian model:", round(iw.mean, 1), "nats (model units),", round(iw.mean_01, 1), "with the data in [0, 1]")"""),
    code("""for line in d_conv.verdict:
    print("-", line)"""),
    code("""vaediag.figure1(d_conv)   # no training history passed: gamma drawn as a level, with a note"""),
    md("""## Enhance both: the second stage

`vaediag.enhance` encodes the data with each model (in its own range, eval mode), trains vaediag's
stage-2 VAE on draws z ~ q(z|x) and returns the two-stage sampler u -> z -> x that decodes with the
model's own decoder."""),
    code("""two_ex = vaediag.enhance(ex_model, flat, stage2_steps=STAGE2_STEPS, stage2_width=128, stage2_lr=1e-3, stage2_lr_halve_every=None, progress=False, device="cpu")
two_conv = vaediag.enhance(conv_model, digits, stage2_steps=STAGE2_STEPS, stage2_width=128, stage2_lr=1e-3, stage2_lr_halve_every=None, progress=False, device="cpu")
for name, m, data, two in (("examples", ex_model, flat, two_ex), ("conv", conv_model, digits, two_conv)):
    sp = vaediag.diagnose(m, data, stage2=two.stage2, n=N_DIAG, options=vaediag.DiagnoseOptions(iw=False)).spectra
    print(f"{name:8s} spectrum gap of q(z) {sp.gap_stage1:.3f} -> q(u) {sp.gap_stage2:.3f}")"""),
    md("""## Scores before and after

One-stage samples decode z ~ N(0, I); two-stage samples decode z from the second stage. `vaediag.score`
takes arrays in the model's range (`data_range`) and returns FID and KID (KID: mean ± std over random
subsets smaller than the sets). `PROXY = None` uses the Inception network when its weights are installed,
else the offline proxy (then the numbers are a proxy Fréchet distance, not an FID, and `notes` says so)."""),
    code("""gen = torch.Generator().manual_seed(1)
real = vaediag.load_dataset("mnist5k").test[:200]           # held-out digits, uint8
with torch.no_grad():
    ex.eval(); conv.eval()
    samples = {
        "examples, one stage": (ex.decode(torch.randn(200, 20, generator=gen)).view(-1, 1, 28, 28), (0, 1)),
        "examples, two stages": (two_ex.sample(200, gen).view(-1, 1, 28, 28), (0, 1)),
        "conv, one stage": (conv.decode(torch.randn(200, 16, generator=gen)), (-1, 1)),
        "conv, two stages": (two_conv.sample(200, gen), (-1, 1)),
    }
for name, (imgs, rng) in samples.items():
    sc = vaediag.score(imgs, real, proxy=PROXY, data_range=rng, device="cpu",
                       options=vaediag.FidOptions(kid_subsets=10, kid_subset_size=100))
    print(f"{name:22s} {sc}")
print("notes:", sc.notes)"""),
    md("""**Reading the numbers.** The examples VAE has no gamma; its effective gamma (eq. 73) is the noise level
its encoder behaves as if the decoder had, and r_hat counts the directions whose decoder gain exceeds
it (lambda_j < 1/2). Its IW log-likelihood is the Bernoulli one: reading the same model as a Gaussian
with gamma = 1 would give a number for another model. The conv VAE's gamma comes from its loss
(kld_weight * d / 2 = 1.96 in [-1, 1] units, 0.49 in [0, 1] units): a large gamma, so used directions
sit at lambda_j = gamma / (gamma + s_j^2), not near 0, and the tau-count of the gamma -> 0 theory
undercounts. When the lambda_j do not split clearly at 1/2 the verdict gives the range over cuts, not a
count. The second stage moves the latent distribution towards N(0, I) (smaller spectrum gap for both).
The scores of 200 samples per set, from models trained a few hundred steps, are those of barely trained
models: on one run here the examples VAE's FID fell from 273 to 172 with the second stage while the conv
VAE's stayed level (164 and 167); KID's spread says how much of a difference the subsets resolve. Train
longer (`STEPS`, `STAGE2_STEPS`) and score more images for numbers worth comparing."""),
])

write("06_spatial_latents.ipynb", [
    md("""# A Stable-Diffusion-style AutoencoderKL: channel maps, the second stage, scores

Stable Diffusion's VAE (diffusers' `AutoencoderKL`) has a **spatial** latent: a (C, H, W) map of
Gaussian posteriors, trained with a squared error on [-1, 1] and a KL weighted by 1e-6. vaediag reads it
as it is (`latent_dist` with `.mean`/`.logvar`, `DecoderOutput.sample`, `config.scaling_factor`), keeps
the shape in its answers (which channels and positions are used) and budgets the per-direction parts so
a diagnosis costs about as much as a few passes over the data. Here a tiny AutoencoderKL written as
diffusers writes it (the same interface; with diffusers installed, `diffusers.AutoencoderKL(...)` is read
the same way) learns the offline digits briefly (latent 4 x 14 x 14 = 784 numbers), is diagnosed with
its channel maps, gets the paper's second stage on its flattened latents, and is scored before and after
with the offline proxy features (not FID). Settings are small so this runs in the test suite."""),
    code("""N, STEPS, STAGE2_STEPS, SEED = 2000, 150, 600, 0   # raise STEPS for a better model"""),
    code("""from dataclasses import dataclass
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
import vaediag
torch.manual_seed(SEED); torch.set_num_threads(1)
digits = vaediag.load_dataset("mnist5k").train[:N]            # (N, 1, 28, 28) uint8
x = digits.float() / 255 * 2 - 1                              # SD's convention: [-1, 1]
x.shape"""),
    md("""## An AutoencoderKL as diffusers writes it (no vaediag code)"""),
    code("""class DiagonalGaussianDistribution:
    def __init__(self, parameters):
        self.mean, self.logvar = torch.chunk(parameters, 2, dim=1)
        self.logvar = torch.clamp(self.logvar, -30.0, 20.0)
        self.std, self.var = torch.exp(0.5 * self.logvar), torch.exp(self.logvar)
    def sample(self):
        return self.mean + self.std * torch.randn_like(self.mean)
    def kl(self):
        return 0.5 * torch.sum(self.mean ** 2 + self.var - 1.0 - self.logvar, dim=[1, 2, 3])

@dataclass
class AutoencoderKLOutput:
    latent_dist: DiagonalGaussianDistribution

@dataclass
class DecoderOutput:
    sample: torch.Tensor

class Config(dict):
    __getattr__ = dict.get

def block(cin, cout):
    return nn.Sequential(nn.GroupNorm(4, cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))

class TinyAutoencoderKL(nn.Module):
    def __init__(self, latent_channels=4, widths=(16, 32)):
        super().__init__()
        self.config = Config(latent_channels=latent_channels, scaling_factor=0.18215)
        a, b = widths
        self.encoder = nn.Sequential(nn.Conv2d(1, a, 3, padding=1), block(a, a), nn.Conv2d(a, b, 3, stride=2, padding=1),
                                     block(b, b), block(b, 2 * latent_channels))
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = nn.Sequential(nn.Conv2d(latent_channels, b, 3, padding=1), block(b, b), nn.Upsample(scale_factor=2.0),
                                     nn.Conv2d(b, a, 3, padding=1), block(a, a), block(a, 1))
    def encode(self, x):
        return AutoencoderKLOutput(latent_dist=DiagonalGaussianDistribution(self.quant_conv(self.encoder(x))))
    def decode(self, z):
        return DecoderOutput(sample=self.decoder(self.post_quant_conv(z)))

vae = TinyAutoencoderKL()
opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
for step in range(STEPS):                                     # SD's loss: MSE (mean) + 1e-6 KL
    xb = x[torch.randint(0, N, (32,))]
    post = vae.encode(xb).latent_dist
    loss = F.mse_loss(vae.decode(post.sample()).sample, xb) + 1e-6 * post.kl().mean()
    opt.zero_grad(); loss.backward(); opt.step()
vae.eval()
print("latent shape", tuple(vae.encode(x[:1]).latent_dist.mean.shape[1:]), " final loss", round(float(loss.detach()), 4))"""),
    md("""## Diagnose it: per channel and per position

`adapt` declares the loss (gamma = 1e-6 d / 2 follows from it, eq. 2) and the data range; nothing else is
needed. For a latent above 64 numbers the per-direction parts are budgeted (`d.provenance.budgets`):
16 perturbed directions (the most and least used), eq. (73) on 16 sampled directions per input, the
aggregated-posterior spectrum on 256 sampled coordinates."""),
    code("""model = vaediag.adapt(vae, loss="mean_sq", kl_weight=1e-6, data_range=(-1, 1))
d = vaediag.diagnose(model, digits[:1000], device="cpu", options=vaediag.DiagnoseOptions(iw=False))
print("latent", d.spatial.shape, " r_hat", d.usage.r_hat, "of", d.model.latent_dim, " gamma", round(d.gamma.value, 4),
      " gamma_effective", d.gamma.effective)
for line in d.spatial.channel_verdict:
    print("-", line)
print("budgets that changed the work:", d.provenance.active_budgets())"""),
    code("""vaediag.channel_maps_figure(d)   # one image per channel: mean lambda_j (dark = used)"""),
    code("""vaediag.where_figure(d)   # where in the image each perturbed direction acts"""),
    md("""## The second stage on the flattened latents, and the scores

`enhance` trains vaediag's stage-2 VAE on z ~ q(z|x) flattened to 784 numbers; its sampler
u -> z -> x reshapes z back to 4 x 14 x 14 and decodes with the model's own decoder. One-stage samples
decode z ~ N(0, I); both are scored against held-out digits with the proxy features' Fréchet distance
and KID."""),
    code("""two = vaediag.enhance(model, digits, stage2_steps=STAGE2_STEPS, stage2_width=256, stage2_lr=1e-3,
                     stage2_lr_halve_every=None, progress=False, device="cpu")
gen = torch.Generator().manual_seed(1)
with torch.no_grad():
    one_stage = (model.decode(torch.randn(500, d.model.latent_dim, generator=gen)).clamp(-1, 1) + 1) / 2
    two_stage = (two.sample(500, gen).clamp(-1, 1) + 1) / 2
real = vaediag.load_dataset("mnist5k").test[:500]
features = vaediag.ProxyFeatures()
for name, imgs in (("one stage", one_stage), ("two stages", two_stage)):
    r = vaediag.score_sets(imgs.numpy(), real, features, kid_subsets=10, kid_subset_size=250)
    print(f"{name:10s}  proxy FD {r.fid:.4f}   KID {r.kid:.5f} ± {r.kid_std:.5f}")"""),
    code("""vaediag.samples_figure([("one stage: z ~ N(0, I)", vaediag.make_grid(one_stage[:36].numpy(), nrow=6)),
                        ("two stages: u -> z -> x", vaediag.make_grid(two_stage[:36].numpy(), nrow=6))])"""),
])
