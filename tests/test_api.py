"""The Python API (vaediag.api) gives what the CLI gives, on a tiny vector run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _facts import facts
import vaediag
from vaediag.cli import main
from vaediag.errors import VaediagError

SPEC = "manifold:linear?r=2&d=6&n=400"
OPTS = dict(dataset=SPEC, latent_dim=4, steps=20, stage2_steps=20, stage2_width=32, lr=1e-3, log_every=5)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return vaediag.train(tmp_path_factory.mktemp("api") / "r", progress=False, device="cpu", **OPTS)


def test_train_writes_the_config_it_was_given(run):
    cfg = run.config
    assert (cfg.model.arch, cfg.model.latent_dim, cfg.model.input_shape) == ("mlp", 4, (6,))
    assert (cfg.train.stage1.steps, cfg.train.stage1.epochs, cfg.stage2.width) == (20, None, 32)
    assert run.stage_done(1) and run.stage_done(2)
    assert run.read_metrics(1)["step"].tolist() == [5, 10, 15, 20]


def test_sample_matches_the_cli(run, tmp_path):
    x = vaediag.sample(run, stage=2, n=7, seed=3)
    assert main(["sample", "--run", str(run.path), "--stage", "2", "--n", "7", "--seed", "3", "--device", "cpu",
                 "--out", str(tmp_path / "s.png")]) == 0
    np.testing.assert_array_equal(x, np.load(tmp_path / "s.npy"))
    assert not np.array_equal(x, vaediag.sample(run, stage=1, n=7, seed=3))


def test_reconstruct_returns_the_held_out_inputs_and_their_decodes(run):
    inputs, recons = vaediag.reconstruct(run, n=5)
    np.testing.assert_array_equal(inputs, run.dataset().test[:5].numpy())
    model = run.load_model(1)
    with torch.no_grad():
        expected = model.decode(model.encode(torch.as_tensor(inputs))[0]).numpy()
    np.testing.assert_allclose(recons, expected, rtol=1e-6)


def test_diagnose_a_run_and_a_model_give_the_same_numbers(run):
    d = vaediag.diagnose(run, n=100, device="cpu")
    data = run.dataset().train[:100]
    d2 = vaediag.diagnose(run.load_model(1), data, run.load_model(2), n=100, device="cpu")
    np.testing.assert_allclose(d.usage.lambda_mean, d2.usage.lambda_mean, rtol=1e-6)
    assert d.usage.tau_count == d2.usage.tau_count == int((d.usage.lambda_mean < 0.1).sum())


def test_figures_are_pictures_without_pyplot(run):
    d = vaediag.diagnose(run, n=100, device="cpu")
    summary, arrays = d  # the files' pair still reads as a diagnosis
    for fig in (vaediag.figure1(run, n=100, device="cpu"), vaediag.figure9(d), vaediag.figure10({"r": d}),
                vaediag.figure9((summary, arrays))):
        assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<html" in vaediag.report(run, n=100, device="cpu")


def test_mistakes_get_a_sentence(tmp_path, run):
    with pytest.raises(VaediagError, match=facts("latentdim", "latent_dim")):
        vaediag.train(tmp_path / "x", latentdim=4)
    with pytest.raises(VaediagError, match=facts(run.path, "overwrite=True")):
        vaediag.train(run.path, **OPTS)
    with pytest.raises(VaediagError, match=facts("stage", 3)):
        vaediag.sample(run, stage=3)
    assert not (tmp_path / "x").exists()


def test_every_training_entry_point_prepares_the_process(tmp_path):
    """vaediag.train (not only the command) flushes denormals: the CPU slowdown it prevents is the API's too."""
    import torch

    import vaediag

    torch.set_flush_denormal(False)
    vaediag.train(tmp_path / "r", stages="1", progress=False, device="cpu", **{**OPTS, "steps": 2})
    assert torch.tensor(1e-40).item() == 0.0  # a denormal float is flushed to zero


def test_fid_takes_the_options_of_the_command():
    import inspect

    from vaediag import api

    import dataclasses

    params = inspect.signature(api.fid).parameters
    assert {"proxy", "device", "options", "write", "overwrite", "json_path"} <= set(params)
    fields = {f.name for f in dataclasses.fields(api.FidOptions)}
    assert {"inception", "minmax", "fid_method", "cache_dir", "progress", "seeds", "sources"} <= fields


def test_the_theory_lab_function_is_not_shadowed_by_the_theory_subpackage():
    # importing vaediag.theory.* sets the package attribute `vaediag.theory` to the subpackage; the API's
    # function therefore has a name of its own, and stays callable after the subpackage is imported
    import types

    import vaediag
    import vaediag.theory.constructions  # noqa: F401

    assert isinstance(vaediag.theory, types.ModuleType)
    assert callable(vaediag.check_theory) and vaediag.check_theory.__module__ == "vaediag.api.theory_checks"


def test_stage2_on_codes_has_one_core_and_one_set_of_option_names(tmp_path):
    # vaediag.stage2 on arrays, on the same arrays in a .npz, and vaediag.enhance on a model whose encoder
    # returns them: one trainer, one option spelling, the same weights bit for bit
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(40, 3)).astype(np.float32)
    logvar = np.zeros_like(mu)  # variance 1: exp then log is exact, so enhance's codes equal these
    opts = dict(stage2_steps=12, stage2_width=16, stage2_depth=2, stage2_lr=1e-3, stage2_lr_halve_every=None,
                seed=3, device="cpu", progress=False)
    a = vaediag.stage2(tmp_path / "a", {"mu": mu, "logvar": logvar}, **opts)
    np.savez(tmp_path / "codes.npz", mu=mu, logvar=logvar)
    b = vaediag.stage2(tmp_path / "b", tmp_path / "codes.npz", **opts)

    class Codes(torch.nn.Module):
        def encode(self, x):
            return x[:, :3], x[:, 3:]

        def decode(self, z):
            return z

    two = vaediag.enhance(Codes(), torch.from_numpy(np.hstack([mu, logvar])), out=tmp_path / "c",
                          check_range=False, **opts)
    assert a.config.stage2.width == 16 and a.config.stage2.depth == 2 and a.config.train.stage2.lr == 1e-3
    assert a.config.to_dict() == b.config.to_dict() == two.run.config.to_dict()
    wa, wb, wc = (r.load_checkpoint(2)["model"] for r in (a, b, two.run))
    assert all(torch.equal(wa[k], wb[k]) and torch.equal(wa[k], wc[k]) for k in wa)
    with pytest.raises(vaediag.UsageError, match="stage2_lr= for lr="):  # the old spelling is named
        vaediag.enhance(Codes(), torch.zeros(4, 6), out=tmp_path / "d", lr=1e-3)
    assert not (tmp_path / "d").exists()


def test_vaediag_lab_is_the_theory_lab_module_itself():
    # a module attribute of the API (no module that names itself): the notebook's vaediag.lab.sweep etc.
    import types

    import vaediag
    from vaediag.api import theory_lab

    assert isinstance(vaediag.lab, types.ModuleType) and vaediag.lab is theory_lab
    assert "lab" in vaediag.api.__all__ and not hasattr(theory_lab, "lab")
    assert vaediag.lab.r_hat is vaediag.diagnostics.eigen.r_hat and callable(vaediag.lab.sweep.train_sweep)
