"""Settings for models and training, serialised as JSON beside the weights.

A run's ``config.json`` holds a :class:`RunConfig`; it is enough to rebuild every model of the run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vaediag.engine.presets import PRESETS as PRESETS  # the named schedules, applied by make_config
from vaediag.errors import UsageError, VaediagError, check_fraction, check_positive_int

ARCHS = ("infogan", "resnet", "mlp")
GammaMode = Literal["learned", "fixed"]  # a decoder variance learned (log-parameterised) or fixed
# p(x|z): Gaussian with variance gamma (eq. 2), or Bernoulli (the cross-entropy baseline of Table 1); the
# name the diagnostics use (``adapt(vae, likelihood="bernoulli")``)
Likelihood = Literal["gaussian", "bernoulli"]
LIKELIHOODS: tuple[str, ...] = typing.get_args(Likelihood)
PRECISIONS = ("fp32", "bf16", "fp16")
LOADERS = ("auto", "memory", "stream")


@dataclass(slots=True)  # slots: setting a key that does not exist fails
class ModelConfig:
    """Stage-1 VAE. ``input_shape`` is (C, H, W) for images or (d,) for vectors."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    arch: str = "infogan"
    latent_dim: int = 64  # kappa
    gamma_mode: GammaMode = "learned"  # "learned" (scalar, log-parameterised) or "fixed"
    gamma_init: float = 1.0  # the fixed value, or the learned parameter's start (variance)
    gamma_floor: float = 0.0  # optional lower bound on a learned gamma (variance); 0 = none
    likelihood: Likelihood = "gaussian"  # "gaussian" (eq. 2) or "bernoulli" (cross-entropy baseline)
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
            raise UsageError(f"latent_dim= must be at least 1, got {self.latent_dim}")
        if self.gamma_mode not in ("learned", "fixed"):
            raise VaediagError(f"gamma mode must be 'learned' or 'fixed', got {self.gamma_mode!r}")
        if not (math.isfinite(self.gamma_init) and self.gamma_init > 0):
            raise VaediagError(f"gamma must be a positive number, got {self.gamma_init}")
        if not (math.isfinite(self.gamma_floor) and self.gamma_floor >= 0):
            raise UsageError(f"gamma_floor= must be >= 0, got {self.gamma_floor}")
        if self.likelihood not in LIKELIHOODS:
            raise VaediagError(f"likelihood must be 'gaussian' or 'bernoulli', got {self.likelihood!r}")
        if self.output not in ("sigmoid", "linear"):
            raise VaediagError(f"output must be 'sigmoid' or 'linear', got {self.output!r}")
        is_image = len(self.input_shape) == 3
        if self.arch in ("infogan", "resnet") and not is_image:
            raise VaediagError(
                f"arch={self.arch} needs images (n, C, H, W); this data set holds vectors of "
                f"dimension {self.input_shape[0]}: use arch=mlp"
            )
        if self.arch == "infogan" and (self.input_shape[1] % 4 or self.input_shape[2] % 4):
            raise VaediagError(
                f"arch=infogan needs an image side divisible by 4, got {self.input_shape[1:]}; "
                "use arch=resnet or arch=mlp"
            )
        if self.likelihood == "bernoulli" and self.output != "sigmoid":
            raise VaediagError("the Bernoulli likelihood (cross-entropy) needs data in [0, 1] (images)")


@dataclass(slots=True)  # slots: setting a key that does not exist fails
class Stage2Config:
    """Second-stage VAE on stage-1 latents: 3 dense layers, input concatenated before the heads."""

    latent_dim: int = 64  # dimension of z (input) and of u (its latent); set from stage 1
    width: int = 1024
    depth: int = 3
    gamma_init: float = 1.0
    gamma_floor: float = 0.0


@dataclass(slots=True)  # slots: setting a key that does not exist fails
class StageSchedule:
    """How long one stage trains and with which learning rate (supplement section 6: Adam, the learning
    rate halved every ``lr_halve_every`` epochs). ``steps`` replaces ``epochs`` when given."""

    batch_size: int = 100
    lr: float | None = 1e-4  # stage 2: None = stage 1's
    epochs: float | None = 400.0
    steps: int | None = None  # resolved from epochs once the data set size is known
    lr_halve_every: float | None = 150.0  # epochs; None = constant learning rate
    lr_halve_from: float | None = None  # epochs before the first halving; None = lr_halve_every

    def validate(self, stage: int) -> None:
        pre = "" if stage == 1 else "stage2_"  # the names vaediag.train gives the options
        check_positive_int(f"{pre}batch_size", self.batch_size)
        if stage == 1 and self.lr is None:
            raise UsageError("lr= must be given for stage 1")
        for name in ("lr", "epochs", "steps", "lr_halve_every", "lr_halve_from"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UsageError(f"{pre}{name}= must be a positive number, got {v}")


def _stage2_schedule() -> StageSchedule:
    return StageSchedule(batch_size=100, lr=None, epochs=800.0, steps=None, lr_halve_every=300.0)


# The flat keys of configs written before the per-stage schedules (read, never written).
_OLD_SCHEDULE_KEYS = {"batch_size": ("stage1", "batch_size"), "lr": ("stage1", "lr"),
                      "epochs": ("stage1", "epochs"), "steps": ("stage1", "steps"),
                      "lr_halve_every": ("stage1", "lr_halve_every"), "lr_halve_from": ("stage1", "lr_halve_from"),
                      **{f"stage2_{k}": ("stage2", k) for k in ("batch_size", "lr", "epochs", "steps",
                                                                 "lr_halve_every")}}


@dataclass(slots=True)  # slots: setting a key that does not exist fails
class TrainConfig:
    dataset: str = "mnist5k"
    data_dir: str = "data"
    data_cache: str | None = None  # folder of celeba's decoded cache; None = DATA/celeba/vaediag-cache
    seed: int = 0
    device: str = "auto"
    test_fraction: float = 0.1
    stage1: StageSchedule = field(default_factory=StageSchedule)
    stage2: StageSchedule = field(default_factory=_stage2_schedule)
    weight_decay: float = 5e-4  # both stages, on network weights only (models.py: param_groups)
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

    def schedule(self, stage: int) -> StageSchedule:
        """The stage's schedule with its learning rate resolved (stage 2's None: stage 1's)."""
        s = self.stage1 if stage == 1 else self.stage2
        return s if s.lr is not None else dataclasses.replace(s, lr=self.stage1.lr)

    def validate(self) -> None:
        self.stage1.validate(1)
        self.stage2.validate(2)
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise UsageError(f"weight_decay= must be >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.gamma_lr_scale) and self.gamma_lr_scale > 0):
            raise UsageError(f"gamma_lr_scale= must be positive, got {self.gamma_lr_scale}")
        check_positive_int("checkpoint_every", self.checkpoint_every)
        check_positive_int("log_every", self.log_every)
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision= must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.loader not in LOADERS:
            raise UsageError(f"loader= must be one of {', '.join(LOADERS)}, got {self.loader!r}")
        if self.workers is not None and int(self.workers) < 0:
            raise UsageError(f"workers= must be 0 or more, got {self.workers}")
        check_fraction("test_fraction", self.test_fraction)


@dataclass(slots=True)  # slots: setting a key that does not exist fails
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
        """A config from its JSON form (a run's config.json, also one written before the per-stage
        schedules); every key and type is checked."""
        try:
            if not isinstance(d, dict) or set(d) != {"model", "stage2", "train"}:
                raise ConfigError("it needs exactly the sections model, stage2 and train")
            return build(cls, {**d, "model": _upgrade_model(d["model"]), "train": _upgrade_train(d["train"])})
        except ConfigError as e:
            raise VaediagError(f"the run's config.json is not a vaediag config ({e})") from None


class ConfigError(UsageError):
    """A config key that does not exist or a value of the wrong type (one sentence naming the key)."""


def _upgrade_model(model: Any) -> Any:
    """A model section with the key ``decoder`` of older configs read as ``likelihood``."""
    if not isinstance(model, dict) or "decoder" not in model or "likelihood" in model:
        return model
    return {("likelihood" if k == "decoder" else k): v for k, v in model.items()}


def _upgrade_train(train: Any) -> Any:
    """A train section with the flat schedule keys of older configs moved into stage1 / stage2."""
    if not isinstance(train, dict) or not set(train) & set(_OLD_SCHEDULE_KEYS):
        return train
    new = {k: v for k, v in train.items() if k not in _OLD_SCHEDULE_KEYS}
    for old, (stage, key) in _OLD_SCHEDULE_KEYS.items():
        if old in train:
            new.setdefault(stage, {})[key] = train[old]
    return new


def _check(value: Any, hint: Any, key: str) -> Any:
    """``value`` if it has the type ``hint`` (a tuple from a JSON list), else a :class:`ConfigError`."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (types.UnionType, typing.Union) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{key} must not be null")
    for t in options:
        if dataclasses.is_dataclass(t) and isinstance(value, dict):
            return build(t, value, key)
        if typing.get_origin(t) is tuple and isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if t in (int, str, bool) and type(value) is t:
            return value
        if typing.get_origin(t) is Literal and value in typing.get_args(t):
            return value
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    want = " or ".join(names.get(t, "a list of integers" if typing.get_origin(t) is tuple else
                                 "one of " + ", ".join(map(repr, typing.get_args(t))) if typing.get_origin(t) is Literal else
                                 "an object" if dataclasses.is_dataclass(t) else "null") for t in options)
    raise ConfigError(f"{key} must be {want}, got {value!r}")


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls, d: dict[str, Any], where: str = ""):
    """A ``cls`` dataclass from a dict; an unknown key or a value of the wrong type is a
    :class:`ConfigError` naming it (``where``: the key's section, e.g. ``train``)."""
    hints = _hints(cls)
    kwargs = {}
    for k, v in d.items():
        key = f"{where}.{k}" if where else k
        if k not in hints:
            raise ConfigError(f"unknown key {key}; the keys{' of ' + where if where else ''} are "
                              f"{', '.join(hints)}")
        kwargs[k] = _check(v, hints[k], key)
    return cls(**kwargs)


def override(cfg: RunConfig, path: str, value: Any) -> None:
    """Set the config value at ``path`` (e.g. ``train.stage1.lr``), checking that the key exists and
    the value has its type."""
    *parents, name = path.split(".")
    obj = cfg
    for p in parents:
        obj = getattr(obj, p)
    hints = _hints(type(obj))
    if name not in hints:
        raise ConfigError(f"unknown key {path}")
    setattr(obj, name, _check(value, hints[name], path))


def read_config(path: str | os.PathLike, option: str = "config=") -> tuple[RunConfig, bool]:
    """(a RunConfig from a JSON file, whether the file sets ``model.arch``): a run's config.json, or any
    subset of its sections and keys (the rest keeps the defaults). Mistakes are one sentence (exit 2)."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise VaediagError(f"{option}{path} cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise VaediagError(f"{option}{path} is not JSON ({e})") from None
    if not isinstance(d, dict) or not d or set(d) - {"model", "stage2", "train"} or not all(
            isinstance(v, dict) for v in d.values()):
        raise UsageError(f"{option}{path} must be a JSON object with the sections model, stage2 and/or train "
                         "(as in a run's config.json)")
    cfg = RunConfig()
    try:
        for section, values in d.items():
            values = _upgrade_train(values) if section == "train" else _upgrade_model(values) if section == "model" \
                else values
            for key, v in values.items():
                sub = getattr(cfg, section)
                if dataclasses.is_dataclass(getattr(sub, key, None)) and isinstance(v, dict):
                    for k2, v2 in v.items():
                        override(cfg, f"{section}.{key}.{k2}", v2)
                else:
                    override(cfg, f"{section}.{key}", v)
    except ConfigError as e:
        raise ConfigError(f"{option}{path}: {e}") from None
    return cfg, "arch" in d.get("model", {})


# The options of `vaediag train` (and keyword arguments of `vaediag.train`) that set a config field,
# with the field they set.
TRAIN_FIELDS = {
    "dataset": "train.dataset", "data_dir": "train.data_dir", "data_cache": "train.data_cache", "seed": "train.seed",
    "batch_size": "train.stage1.batch_size", "lr": "train.stage1.lr", "weight_decay": "train.weight_decay",
    "epochs": "train.stage1.epochs", "steps": "train.stage1.steps", "lr_halve_every": "train.stage1.lr_halve_every",
    "lr_halve_from": "train.stage1.lr_halve_from",
    "stage2_epochs": "train.stage2.epochs", "stage2_steps": "train.stage2.steps",
    "stage2_batch_size": "train.stage2.batch_size", "stage2_lr": "train.stage2.lr",
    "stage2_lr_halve_every": "train.stage2.lr_halve_every",
    "checkpoint_every": "train.checkpoint_every", "log_every": "train.log_every",
    "test_fraction": "train.test_fraction", "arch": "model.arch", "latent_dim": "model.latent_dim",
    "gamma_floor": "model.gamma_floor", "stage2_width": "stage2.width", "stage2_depth": "stage2.depth",
    "gamma_lr_scale": "train.gamma_lr_scale", "precision": "train.precision", "loader": "train.loader",
    "workers": "train.workers",
}
# The options that may be given when only stage 2 is (re)trained on a finished stage 1.
STAGE2_FIELDS = ("stage2_epochs", "stage2_steps", "stage2_batch_size", "stage2_lr", "stage2_lr_halve_every",
                 "stage2_width", "stage2_depth", "seed", "checkpoint_every", "log_every", "weight_decay")
# How to compute, not what: these may be changed when a run is resumed.
RESUME_FIELDS = ("precision", "loader", "workers")


def make_config(preset: str | None = None, gamma: str | float | None = None, likelihood: str | None = None,
                stages: str | None = None, base: RunConfig | None = None, **given: Any) -> RunConfig:
    """A validated :class:`RunConfig`: ``base`` (default: the defaults), then the preset, then ``given``.

    Args:
        preset: a name of :data:`PRESETS`.
        gamma: "learned", "fixed" (gamma = 1) or a positive number (fixed at that variance).
        likelihood: "gaussian" (eq. 2) or "bernoulli" (the cross-entropy baseline).
        stages: "1", "2" or "12" (default).
        given: the options of ``vaediag train`` by their Python names (:data:`TRAIN_FIELDS`),
            e.g. ``latent_dim=16, steps=2000, lr=1e-3``; ``steps`` replaces ``epochs`` and vice versa.
    """
    cfg = RunConfig.from_dict(base.to_dict()) if base is not None else RunConfig()
    if preset is not None and preset not in PRESETS:
        raise VaediagError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    values: dict[str, object] = {}
    if preset:
        values.update(PRESETS[preset])
    given = {k: v for k, v in given.items() if v is not None}
    values.update(steps_or_epochs(given))
    apply_options(cfg, values)
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
                raise UsageError(f"gamma= must be 'learned', 'fixed' or a positive number, got {gamma!r}") from None
            if not (math.isfinite(val) and val > 0):
                raise UsageError(f"gamma= must be a positive variance, got {gamma}")
            cfg.model.gamma_mode, cfg.model.gamma_init = "fixed", val
    likelihood = likelihood_of(likelihood)
    if likelihood is not None:
        cfg.model.likelihood = likelihood  # type: ignore[assignment]  (checked by likelihood_of)
    if stages not in (None, "1", "2", "12"):
        raise VaediagError(f"stages must be '1', '2' or '12', got {stages!r}")
    cfg.train.preset = preset if base is None or preset else cfg.train.preset
    cfg.train.stages = stages or (cfg.train.stages if base is not None else "12")
    cfg.train.validate()
    return cfg


def likelihood_of(likelihood: str | None) -> str | None:
    """The likelihood asked for, checked: ``likelihood`` ("gaussian" or "bernoulli") or None."""
    if likelihood not in (None, *LIKELIHOODS):
        raise VaediagError(f"likelihood must be 'gaussian' or 'bernoulli', got {likelihood!r}")
    return likelihood


def steps_or_epochs(given: dict[str, Any]) -> dict[str, Any]:
    """The options ``given``, with ``steps`` replacing ``epochs`` (and the other way round) for each stage."""
    out = {k: v for k, v in given.items() if v is not None}
    for steps, epochs in (("steps", "epochs"), ("stage2_steps", "stage2_epochs")):
        if steps in out and epochs in out:
            raise UsageError(f"give {epochs}= or {steps}=, not both")
        if steps in out:
            out = {epochs: None, **out}
        if epochs in out:
            out = {steps: None, **out}
    return out


def apply_options(cfg: RunConfig, options: dict[str, Any]) -> None:
    """Set options by their Python names (:data:`TRAIN_FIELDS`) through the dataclasses' types: an
    unknown option or a value of the wrong type is one sentence naming it."""
    unknown = sorted(set(options) - set(TRAIN_FIELDS))
    if unknown:
        raise UsageError(f"unknown training option(s) {', '.join(unknown)}; the options are "
                         f"{', '.join(sorted(TRAIN_FIELDS))}")
    for key, val in options.items():
        try:
            override(cfg, TRAIN_FIELDS[key], val)
        except ConfigError as e:
            raise ConfigError(f"option {key}: {e}") from None


def finish_config(cfg: RunConfig, data, arch_given: bool) -> None:
    """Fill in what depends on the data: input shape, architecture and output for vectors."""
    cfg.model.input_shape = tuple(int(s) for s in data.shape)
    if data.kind == "vector":
        if not arch_given:
            cfg.model.arch = "mlp"
        cfg.model.output = "linear"
        if cfg.model.likelihood == "bernoulli":
            raise VaediagError("the Bernoulli likelihood (cross-entropy) needs images in [0, 1]; this data set "
                               "holds vectors")
    cfg.stage2.latent_dim = cfg.model.latent_dim
    cfg.model.validate()
