"""Typed config: every key and type is checked through the dataclasses, and older run configs (flat
stage2_* keys) still open."""

from __future__ import annotations

import json

import pytest

from _facts import facts, says
from vaediag.engine.config import ConfigError, RunConfig, make_config, read_config
from vaediag.errors import UsageError, VaediagError


def test_round_trip_through_json():
    cfg = make_config(preset="cpu-mnist5k", steps=20, stage2_steps=30)
    back = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert back == cfg
    assert (back.train.stage1.steps, back.train.stage1.epochs, back.train.stage2.steps) == (20, None, 30)


def test_a_config_written_before_the_per_stage_schedules_still_opens():
    d = json.loads(RunConfig().to_json())
    s1, s2 = d["train"].pop("stage1"), d["train"].pop("stage2")
    d["train"].update({k: v for k, v in s1.items()})  # stage 1 flat, as older config.json files
    d["train"].update({f"stage2_{k}": v for k, v in s2.items() if k != "lr_halve_from"})
    d["train"].update(lr=1e-3, stage2_steps=77, stage2_epochs=None, stage2_lr=None)
    cfg = RunConfig.from_dict(d)
    assert (cfg.train.stage1.lr, cfg.train.stage2.steps, cfg.train.stage2.epochs) == (1e-3, 77, None)
    assert cfg.train.schedule(2).lr == 1e-3  # stage 2's None: stage 1's learning rate


@pytest.mark.parametrize("options, message", [
    (dict(steps="100"), "option steps: train.stage1.steps must be an integer or null, got '100'"),
    (dict(lr=True), "option lr: train.stage1.lr must be a number or null, got True"),
    (dict(latent_dim=2.5), "option latent_dim: model.latent_dim must be an integer, got 2.5"),
    (dict(stpes=100), "unknown training option(s) stpes"),
])
def test_options_of_the_wrong_type_or_name_are_one_sentence(options, message):
    with pytest.raises(UsageError) as e:
        make_config(**options)
    assert message in str(e.value)


def test_config_files_are_checked_key_by_key(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"train": {"stage2": {"steps": 5}, "lr": 0.01}, "model": {"arch": "mlp"}}))
    cfg, sets_arch = read_config(f)
    assert (cfg.train.stage2.steps, cfg.train.stage1.lr, cfg.model.arch, sets_arch) == (5, 0.01, "mlp", True)
    for content, key in (({"train": {"stage2": {"stpes": 5}}}, "train.stage2.stpes"),
                         ({"model": {"mlp_hidden": ["a"]}}, "model.mlp_hidden"),
                         ({"train": {"seed": None}}, "train.seed")):
        f.write_text(json.dumps(content))
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            read_config(f)


def test_a_run_config_with_a_wrong_type_is_refused_as_not_a_vaediag_config():
    d = json.loads(RunConfig().to_json())
    d["model"]["latent_dim"] = "64"
    with pytest.raises(VaediagError, match=facts("config.json", "model.latent_dim", "integer")):
        RunConfig.from_dict(d)


def test_the_likelihood_has_the_diagnostics_name_in_config_python_and_cli(tmp_path, capsys):
    import typing

    from vaediag.cli import build_parser
    from vaediag.engine.config import LIKELIHOODS, ModelConfig

    cfg = make_config(likelihood="bernoulli")
    assert cfg.model.likelihood == "bernoulli" and cfg.to_dict()["model"]["likelihood"] == "bernoulli"
    assert "decoder" not in cfg.to_dict()["model"] and make_config().model.likelihood == "gaussian"
    assert LIKELIHOODS == ("gaussian", "bernoulli")  # diagnostics' adapt(likelihood=...) spells them so
    # the older spelling of 0.2's development (decoder=, --decoder) is gone: refused, not aliased
    with pytest.raises(VaediagError, match="decoder"):
        make_config(decoder="cross-entropy")
    with pytest.raises(VaediagError, match=facts("likelihood", "'gaussian'", "'bernoulli'")):
        make_config(likelihood="cross-entropy")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", str(tmp_path / "r"), "--decoder", "cross-entropy"])
    assert says(capsys.readouterr().err, "--decoder")
    # a config.json written with the older key opens, whole or as a partial --config
    old = make_config().to_dict()
    old["model"]["decoder"] = old["model"].pop("likelihood")
    old["model"]["decoder"] = "bernoulli"
    assert RunConfig.from_dict(old).model.likelihood == "bernoulli"
    (tmp_path / "c.json").write_text(json.dumps({"model": {"decoder": "bernoulli"}}))
    assert read_config(tmp_path / "c.json")[0].model.likelihood == "bernoulli"
    assert not hasattr(ModelConfig(likelihood="bernoulli"), "decoder")  # one name: likelihood


def test_modes_are_literal_types_checked_by_name():
    import typing

    from vaediag.engine.config import ModelConfig

    hints = typing.get_type_hints(ModelConfig)
    assert typing.get_args(hints["gamma_mode"]) == ("learned", "fixed")
    assert typing.get_args(hints["likelihood"]) == ("gaussian", "bernoulli")
    bad = make_config().to_dict()
    bad["model"]["gamma_mode"] = "learnt"
    with pytest.raises(VaediagError, match=facts("model.gamma_mode", "'learned'", "'fixed'", "'learnt'")):
        RunConfig.from_dict(bad)
