"""Settings for models and training, serialised as JSON beside the weights.

A run's ``config.json`` holds a :class:`RunConfig`; it is enough to rebuild every model of the run.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from vaediag.errors import UsageError, VaediagError

ARCHS = ("infogan", "resnet", "mlp")
PRECISIONS = ("fp32", "bf16", "fp16")
LOADERS = ("auto", "memory", "stream")


@dataclass
class ModelConfig:
    """Stage-1 VAE. ``input_shape`` is (C, H, W) for images or (d,) for vectors."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    arch: str = "infogan"
    latent_dim: int = 64  # kappa
    gamma_mode: str = "learned"  # "learned" (scalar, log-parameterised) or "fixed"
    gamma_init: float = 1.0  # the fixed value, or the learned parameter's start (variance)
    gamma_floor: float = 0.0  # optional lower bound on a learned gamma (variance); 0 = none
    decoder: str = "gaussian"  # "gaussian" (eq. 2) or "bernoulli" (cross-entropy baseline)
    output: str = "sigmoid"  # decoder mean activation: "sigmoid" for images in [0,1], "linear"
    mlp_hidden: tuple[int, ...] = (512, 512, 512)
    resnet_channels: int = 32
    resnet_scales: int = 0  # 0: 3 scales, or 4 when the image side is 64 or more (supplement Fig. 11)
    resnet_fc: int = 512
    resnet_dec_fc: int = 0  # 0: 2048, or 4096 when the image side is 64 or more

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise VaediagError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if int(self.latent_dim) < 1:
            raise UsageError(f"--latent-dim must be at least 1, got {self.latent_dim}")
        if self.gamma_mode not in ("learned", "fixed"):
            raise VaediagError(f"gamma mode must be 'learned' or 'fixed', got {self.gamma_mode!r}")
        if not (math.isfinite(self.gamma_init) and self.gamma_init > 0):
            raise VaediagError(f"gamma must be a positive number, got {self.gamma_init}")
        if not (math.isfinite(self.gamma_floor) and self.gamma_floor >= 0):
            raise UsageError(f"--gamma-floor must be >= 0, got {self.gamma_floor}")
        if self.decoder not in ("gaussian", "bernoulli"):
            raise VaediagError(f"decoder must be 'gaussian' or 'bernoulli', got {self.decoder!r}")
        if self.output not in ("sigmoid", "linear"):
            raise VaediagError(f"output must be 'sigmoid' or 'linear', got {self.output!r}")
        is_image = len(self.input_shape) == 3
        if self.arch in ("infogan", "resnet") and not is_image:
            raise VaediagError(
                f"--arch {self.arch} needs images (n, C, H, W); this data set holds vectors of "
                f"dimension {self.input_shape[0]}: use --arch mlp"
            )
        if self.arch == "infogan" and (self.input_shape[1] % 4 or self.input_shape[2] % 4):
            raise VaediagError(
                f"--arch infogan needs an image side divisible by 4, got {self.input_shape[1:]}; "
                "use --arch resnet or --arch mlp"
            )
        if self.decoder == "bernoulli" and self.output != "sigmoid":
            raise VaediagError("the cross-entropy decoder needs data in [0, 1] (images)")


@dataclass
class Stage2Config:
    """Second-stage VAE on stage-1 latents: 3 dense layers, input concatenated before the heads."""

    latent_dim: int = 64  # dimension of z (input) and of u (its latent); set from stage 1
    width: int = 1024
    depth: int = 3
    gamma_init: float = 1.0
    gamma_floor: float = 0.0


@dataclass
class TrainConfig:
    dataset: str = "mnist5k"
    data_dir: str = "data"
    data_cache: str | None = None  # folder of celeba's decoded cache; None = DATA/celeba/vaediag-cache
    seed: int = 0
    device: str = "auto"
    test_fraction: float = 0.1
    batch_size: int = 100
    lr: float = 1e-4
    weight_decay: float = 5e-4
    epochs: float | None = 400.0
    steps: int | None = None  # resolved from epochs once the data set size is known
    lr_halve_every: float | None = 150.0  # epochs; None = constant learning rate
    lr_halve_from: float | None = None  # epochs before stage 1's first halving; None = lr_halve_every
    stage2_batch_size: int = 100
    stage2_lr: float | None = None  # None: same as lr
    stage2_epochs: float | None = 800.0
    stage2_steps: int | None = None
    stage2_lr_halve_every: float | None = 300.0
    checkpoint_every: int = 500  # steps
    log_every: int = 1  # steps between metrics rows (each row is the mean over those steps)
    preset: str | None = None
    stages: str = "12"  # which stages this run trains: "1", "2" or "12"
    # Multiplies the learning rate of log gamma only. 1 = the paper. Adam moves a parameter by about
    # lr per step, so with lr 1e-3 log gamma can fall by at most ~1 per 1,000 steps; the CPU `quick`
    # preset raises this to reach the small-gamma regime within its short schedule.
    gamma_lr_scale: float = 1.0
    # How to compute, not what: fp32 (default; the bit-for-bit tested path), or bf16 / fp16 autocast
    # around the networks (gamma, the loss and the KL stay fp32; fp16 with a gradient scaler).
    precision: str = "fp32"
    # Stage 1's data loading: "memory" (index a tensor in RAM / on the GPU / memory-mapped), "stream"
    # (worker processes read ahead, pinned memory on CUDA) or "auto" (stream memory-mapped image
    # caches that do not fit on the GPU). Same batches either way.
    loader: str = "auto"
    workers: int | None = None  # loader worker processes; None: a share of the cores, at most 4

    def validate(self) -> None:
        for name in ("batch_size", "stage2_batch_size"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        for name in ("lr", "stage2_lr"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UsageError(f"--{name.replace('_', '-')} must be a positive number, got {v}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise UsageError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        for name in ("epochs", "steps", "stage2_epochs", "stage2_steps", "lr_halve_every", "stage2_lr_halve_every",
                     "lr_halve_from"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {v}")
        if not (math.isfinite(self.gamma_lr_scale) and self.gamma_lr_scale > 0):
            raise UsageError(f"--gamma-lr-scale must be positive, got {self.gamma_lr_scale}")
        if int(self.checkpoint_every) < 1 or int(self.log_every) < 1:
            raise UsageError("--checkpoint-every and --log-every must be positive integers")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.loader not in LOADERS:
            raise UsageError(f"--loader must be one of {', '.join(LOADERS)}, got {self.loader!r}")
        if self.workers is not None and int(self.workers) < 0:
            raise UsageError(f"--workers must be 0 or more, got {self.workers}")
        if not 0 < self.test_fraction < 1:
            raise UsageError(f"--test-fraction must be between 0 and 1, got {self.test_fraction}")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        try:
            model = _build(ModelConfig, d["model"])
            stage2 = _build(Stage2Config, d["stage2"])
            train = _build(TrainConfig, d["train"])
        except (KeyError, TypeError, ValueError) as e:
            raise VaediagError(f"the run's config.json is not a vaediag config ({e})") from None
        return cls(model=model, stage2=stage2, train=train)


def _build(cls, d: dict[str, Any]):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    kwargs = {}
    for k, v in d.items():
        if isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


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


# The options of `vaediag train` (and keyword arguments of `vaediag.train`) that set a config field,
# with the field they set.
TRAIN_FIELDS = {
    "dataset": "train.dataset", "data_dir": "train.data_dir", "data_cache": "train.data_cache", "seed": "train.seed",
    "batch_size": "train.batch_size", "lr": "train.lr", "weight_decay": "train.weight_decay",
    "epochs": "train.epochs", "steps": "train.steps", "lr_halve_every": "train.lr_halve_every",
    "lr_halve_from": "train.lr_halve_from",
    "stage2_epochs": "train.stage2_epochs", "stage2_steps": "train.stage2_steps",
    "stage2_batch_size": "train.stage2_batch_size", "stage2_lr": "train.stage2_lr",
    "stage2_lr_halve_every": "train.stage2_lr_halve_every",
    "checkpoint_every": "train.checkpoint_every", "log_every": "train.log_every",
    "test_fraction": "train.test_fraction", "arch": "model.arch", "latent_dim": "model.latent_dim",
    "gamma_floor": "model.gamma_floor", "stage2_width": "stage2.width",
    "gamma_lr_scale": "train.gamma_lr_scale", "precision": "train.precision", "loader": "train.loader",
    "workers": "train.workers",
}
# How to compute, not what: these may be changed when a run is resumed.
RESUME_FIELDS = ("precision", "loader", "workers")


def make_config(preset: str | None = None, gamma: str | float | None = None, decoder: str | None = None,
                stages: str | None = None, base: RunConfig | None = None, **given: Any) -> RunConfig:
    """A validated :class:`RunConfig`: ``base`` (default: the defaults), then the preset, then ``given``.

    Args:
        preset: a name of :data:`PRESETS`.
        gamma: "learned", "fixed" (gamma = 1) or a positive number (fixed at that variance).
        decoder: "gaussian" or "cross-entropy".
        stages: "1", "2" or "12" (default).
        given: the options of ``vaediag train`` by their Python names (:data:`TRAIN_FIELDS`),
            e.g. ``latent_dim=16, steps=2000, lr=1e-3``; ``steps`` replaces ``epochs`` and vice versa.
    """
    cfg = RunConfig.from_dict(base.to_dict()) if base is not None else RunConfig()
    unknown = sorted(set(given) - set(TRAIN_FIELDS))
    if unknown:
        raise VaediagError(f"unknown training option(s) {', '.join(unknown)}; the options are "
                           f"{', '.join(sorted(TRAIN_FIELDS))}")
    if preset is not None and preset not in PRESETS:
        raise VaediagError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    values: dict[str, object] = {}
    if preset:
        values.update(PRESETS[preset])
    given = {k: v for k, v in given.items() if v is not None}
    # --steps replaces --epochs (and the other way round), for each stage
    for steps, epochs in (("steps", "epochs"), ("stage2_steps", "stage2_epochs")):
        if steps in given and epochs in given:
            raise VaediagError(f"give --{epochs.replace('_', '-')} or --{steps.replace('_', '-')}, not both")
        if steps in given:
            values[epochs] = None
        if epochs in given:
            values[steps] = None
    values.update(given)
    for key, val in values.items():
        section, name = TRAIN_FIELDS.get(key, f"train.{key}").split(".")
        setattr(getattr(cfg, section), name, val)
    if gamma is not None:
        g = str(gamma).lower()
        if g == "learned":
            cfg.model.gamma_mode, cfg.model.gamma_init = "learned", 1.0
        elif g == "fixed":
            cfg.model.gamma_mode, cfg.model.gamma_init = "fixed", 1.0
        else:
            try:
                val = float(g)
            except ValueError:
                raise UsageError(f"--gamma must be 'learned', 'fixed' or a positive number, got {gamma!r}") from None
            if not (math.isfinite(val) and val > 0):
                raise UsageError(f"--gamma must be a positive variance, got {gamma}")
            cfg.model.gamma_mode, cfg.model.gamma_init = "fixed", val
    if decoder not in (None, "gaussian", "cross-entropy"):
        raise VaediagError(f"decoder must be 'gaussian' or 'cross-entropy', got {decoder!r}")
    if decoder == "cross-entropy":
        cfg.model.decoder = "bernoulli"
    if stages not in (None, "1", "2", "12"):
        raise VaediagError(f"stages must be '1', '2' or '12', got {stages!r}")
    cfg.train.preset = preset if base is None or preset else cfg.train.preset
    cfg.train.stages = stages or (cfg.train.stages if base is not None else "12")
    cfg.train.validate()
    return cfg


def finish_config(cfg: RunConfig, data, arch_given: bool) -> None:
    """Fill in what depends on the data: input shape, architecture and output for vectors."""
    cfg.model.input_shape = tuple(int(s) for s in data.shape)
    if data.kind == "vector":
        if not arch_given:
            cfg.model.arch = "mlp"
        cfg.model.output = "linear"
        if cfg.model.decoder == "bernoulli":
            raise VaediagError("the cross-entropy decoder needs images in [0, 1]; this data set holds vectors")
    cfg.stage2.latent_dim = cfg.model.latent_dim
    cfg.model.validate()
