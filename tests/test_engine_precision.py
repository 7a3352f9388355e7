"""--precision: autocast around the networks, gamma / loss / KL in fp32, fp16 with a gradient scaler.

CPU autocast runs the same code as CUDA autocast, so these run here; fp32 (the default) is checked
bit-for-bit by tests/test_engine_train.py.
"""

import numpy as np
import pytest
import torch

from vaediag.cli import main
from vaediag.engine.config import ModelConfig, RunConfig, Stage2Config
from vaediag.engine.models import VAE, Stage2VAE
from vaediag.engine.runs import Run


def _stage1():
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_shape=(1, 28, 28), arch="infogan", latent_dim=8))
    g = torch.Generator().manual_seed(1)
    return model.train(), torch.rand(16, 1, 28, 28, generator=g), torch.randn(16, 8, generator=g)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_networks_run_in_low_precision_and_the_objective_in_fp32(dtype):
    model, x, eps = _stage1()
    ref = model.loss(x, eps)
    seen = {}
    model.decoder.register_forward_hook(lambda m, i, o: seen.update(decoder=o.dtype))
    with torch.autocast("cpu", dtype=dtype):
        out = model.loss(x, eps)
    assert seen["decoder"] == dtype  # the network ran under autocast
    for k in ("loss", "recon", "kl", "mse"):
        assert out[k].dtype == torch.float32, k
    assert model.log_gamma.dtype == torch.float32
    # the same weights and inputs: the objective agrees with fp32 to the networks' rounding
    for k in ("loss", "recon", "kl"):
        torch.testing.assert_close(out[k], ref[k], rtol=2e-2, atol=0.5)


def test_stage2_objective_in_fp32_under_autocast():
    torch.manual_seed(0)
    model = Stage2VAE(Stage2Config(latent_dim=6, width=32))
    z, eps = torch.randn(10, 6), torch.randn(10, 6)
    ref = model.loss(z, eps)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.loss(z, eps)
    assert all(out[k].dtype == torch.float32 for k in out)
    torch.testing.assert_close(out["loss"], ref["loss"], rtol=2e-2, atol=0.2)


def _small_run(path, precision: str, steps: int = 10, gamma: float = 1.0) -> Run:
    """mnist5k digits through a small MLP (fp16 is emulated, hence slow, on CPUs: keep it small)."""
    cfg = RunConfig()
    cfg.model = ModelConfig(input_shape=(1, 28, 28), arch="mlp", latent_dim=8, mlp_hidden=(128,), gamma_init=gamma)
    cfg.stage2.latent_dim = 8
    t = cfg.train
    s1 = t.stage1
    s1.steps, s1.epochs, s1.lr_halve_every, s1.lr, t.gamma_lr_scale = steps, None, None, 1e-3, 10.0
    t.precision, t.stages, t.checkpoint_every, t.log_every = precision, "1", 100, 1
    return Run.create(path, cfg)


def test_fp16_scaler_state_survives_a_resume_bit_for_bit(tmp_path, stop_at):
    """The gradient scaler skips steps whose fp16 gradients overflow (at its initial scale 2^16 they
    do with gamma = 1e-3: the reconstruction gradient is (x - mu_x) / gamma) and shrinks its scale;
    a resumed run continues with the saved scale, so it ends bit-identical to an uninterrupted one."""
    from vaediag.engine import train as T

    a = _small_run(tmp_path / "a", "fp16", gamma=1e-3)
    T.train(a, stages=(1,), device="cpu", progress=False)
    b = _small_run(tmp_path / "b", "fp16", gamma=1e-3)
    stop_at(6)
    with pytest.raises(T.Interrupted):
        T.train(b, stages=(1,), device="cpu", progress=False)
    stop_at.disarm()
    stopped = b.load_checkpoint(1)
    assert stopped["step"] == 6 and stopped["scaler"]["scale"] < 2.0**16
    T.train(b, stages=(1,), device="cpu", progress=False, resume=True)
    sa, sb = a.load_checkpoint(1), b.load_checkpoint(1)
    assert sa["scaler"] == sb["scaler"]
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    np.testing.assert_array_equal(a.read_metrics(1)["loss"], b.read_metrics(1)["loss"])


def test_bf16_training_follows_fp32(tmp_path):
    """Same weights, data and noise: the bf16 curve stays within bf16 rounding of the fp32 one."""
    from vaediag.engine.train import train

    runs = {p: _small_run(tmp_path / p, p, steps=20) for p in ("fp32", "bf16")}
    for run in runs.values():
        train(run, stages=(1,), device="cpu", progress=False)
    m32, m16 = runs["fp32"].read_metrics(1), runs["bf16"].read_metrics(1)
    assert not np.array_equal(m32["loss"], m16["loss"])  # autocast was on
    np.testing.assert_allclose(m16["loss"], m32["loss"], rtol=1e-2)
    np.testing.assert_allclose(m16["gamma"], m32["gamma"], rtol=1e-2)
    assert m16["loss"][-1] < m16["loss"][0] - 100 and m16["gamma"][-1] < 0.9


def test_bad_precision_gets_one_sentence(tmp_path, capsys):
    code = main(["train", "--precision", "fp8", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()
