"""The two-stage VAE engine.

- :mod:`~vaediag.engine.config`: the settings (a config dataclass beside the models it builds), presets.
- :mod:`~vaediag.engine.models`: stage-1 networks (InfoGAN, ResNet, MLP) and the stage-2 VAE.
- :mod:`~vaediag.engine.schedule`: a stage's length, its learning rate at each step, Adam (fused where possible).
- :mod:`~vaediag.engine.batches`: the batch order, stage 1's images or vectors, stage 2's latents.
- :mod:`~vaediag.engine.loop`: the training loop of one stage, read in phases, from a ``StageSpec``.
- :mod:`~vaediag.engine.train`: a run's stages (stage 1, then stage 2 on its posteriors), resume.
- :mod:`~vaediag.engine.enhance`: stage 2 alone on another model's codes; the two-stage sampler.
- :mod:`~vaediag.engine.runs`: the run directory (the one module that knows its file names).
- :mod:`~vaediag.engine.sampling`: reparameterisation draws and the two-stage sampler.
- :mod:`~vaediag.engine.devices`, :mod:`~vaediag.engine.distributed`: where it computes; torchrun.
"""
