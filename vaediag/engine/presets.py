"""The named schedules of ``vaediag train --preset NAME`` (options by their Python names,
:data:`vaediag.engine.config.TRAIN_FIELDS`), applied by :func:`vaediag.engine.config.make_config`."""

from __future__ import annotations

from typing import Any

# The supplement's section 6 schedules (epochs; lr halved every `lr_halve_every` epochs), the
# neutral InfoGAN architecture of Table 1, kappa = 64, Adam lr 1e-4, weight decay 5e-4, batch 100.
_PAPER = dict(arch="infogan", latent_dim=64, batch_size=100, stage2_batch_size=100, lr=1e-4,
              weight_decay=5e-4, stage2_width=1024)
PRESETS: dict[str, dict[str, Any]] = {
    "paper-mnist": dict(_PAPER, dataset="mnist", epochs=400, lr_halve_every=150,
                        stage2_epochs=800, stage2_lr_halve_every=300),
    "paper-fashion": dict(_PAPER, dataset="fashion-mnist", epochs=400, lr_halve_every=150,
                          stage2_epochs=800, stage2_lr_halve_every=300),
    "paper-cifar10": dict(_PAPER, dataset="cifar10", epochs=1000, lr_halve_every=300,
                          stage2_epochs=2000, stage2_lr_halve_every=600),
    "paper-celeba": dict(_PAPER, dataset="celeba", epochs=120, lr_halve_every=48,
                         stage2_epochs=300, stage2_lr_halve_every=120),
    # A CPU run of a few minutes on the offline digits: a larger learning rate and a short schedule
    # (not the paper's; gamma still falls by two orders of magnitude).
    "quick": dict(dataset="mnist5k", arch="infogan", latent_dim=64, batch_size=100,
                  stage2_batch_size=100, lr=1e-3, weight_decay=5e-4, steps=1000, epochs=None,
                  lr_halve_every=None, stage2_steps=8000, stage2_epochs=None,
                  stage2_lr_halve_every=None, stage2_width=256, checkpoint_every=200,
                  gamma_lr_scale=10.0),
    # Real digits on a CPU (docs/digits.md): the paper's learning rate for log gamma (scale 1), so gamma
    # falls while the networks organise and a few directions carry the digits; an MLP encoder/decoder
    # (784-512-512-512, about a ninth of InfoGAN's FLOPs per image) for 6,000 steps, lr 1e-3 constant for
    # 4,000 steps, then halved every 250 (the paper halves on a schedule too; a fast final decay lets
    # log gamma settle: it moves < 0.1 over the last quarter). 45 steps are one epoch of the 4,500
    # training digits. Not the paper's settings; `vaediag demo` trains this preset.
    "cpu-mnist5k": dict(dataset="mnist5k", arch="mlp", latent_dim=64, batch_size=100, stage2_batch_size=100,
                        lr=1e-3, weight_decay=5e-4, steps=6000, epochs=None, lr_halve_from=4000 / 45,
                        lr_halve_every=250 / 45,
                        stage2_steps=8000, stage2_epochs=None, stage2_lr_halve_every=None, stage2_width=256,
                        checkpoint_every=500, gamma_lr_scale=1.0),
}
