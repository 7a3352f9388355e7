"""The two-stage VAE engine.

- :mod:`~vaediag.engine.config`: the settings (a config dataclass beside the models it builds), presets.
- :mod:`~vaediag.engine.models`: stage-1 networks (InfoGAN, ResNet, MLP) and the stage-2 VAE.
- :mod:`~vaediag.engine.train`: the training loop of both stages, read in phases.
- :mod:`~vaediag.engine.runs`: the run directory (the one module that knows its file names).
- :mod:`~vaediag.engine.sampling`: reparameterisation draws and the two-stage sampler.
- :mod:`~vaediag.engine.devices`, :mod:`~vaediag.engine.distributed`: where it computes; torchrun.
"""
