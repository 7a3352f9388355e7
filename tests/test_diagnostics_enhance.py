"""Stage 2 for a model vaediag did not train: enhance() in Python, 'vaediag stage2' and 'vaediag sample'.

The constructed model: its encoder returns the input as mu with variance 0.01 (its decoder is the
identity), and the inputs form two clusters at z_1 = +-2 (sd 0.1) with z_2 ~ N(0, 0.25): the aggregated
posterior q(z) is bimodal with covariance diag(4.02, 0.26), far from N(0, I).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from _facts import facts, says
from vaediag.cli import main
from vaediag.diagnostics.spectrum import MomentAccumulator, gaussian_fit_kl, spectrum_gap
from vaediag.api import enhance, load_two_stage, stage2
from vaediag.errors import VaediagError
from vaediag.engine.runs import Run

N = 2000
STEPS = 400


class Codes(nn.Module):
    def encode(self, x):
        return x, torch.full_like(x, math.log(0.01))

    def decode(self, z):
        return 10.0 * z  # any decoder: the sampler must use it


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    sign = torch.randint(0, 2, (N,), generator=g) * 2 - 1
    return torch.stack([2.0 * sign + 0.1 * torch.randn(N, generator=g), 0.5 * torch.randn(N, generator=g)], 1)


def _sv(z):
    a = MomentAccumulator(z.shape[1])
    a.add(z)
    return a.singular_values()


def _kl_to(z, ref):
    """KL(N(m, S) || N(m_ref, S_ref)) of Gaussian fits: whiten by the reference fit, then KL to N(0, I)."""
    m, S = ref.double().mean(0), torch.cov(ref.double().T)
    L = torch.linalg.cholesky(S)
    w = torch.linalg.solve_triangular(L, (z.double() - m).T, upper=False).T
    a = MomentAccumulator(z.shape[1])
    a.add(w)
    return gaussian_fit_kl(*a.mean_cov())


@pytest.fixture(scope="module")
def enhanced(tmp_path_factory):
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest on a shared machine
    torch.set_flush_denormal(True)  # as the CLI does (stage 2 slows down on denormals)
    out = tmp_path_factory.mktemp("enh") / "run"
    try:
        two = enhance(Codes(), _data(), out=out, stage2_steps=STEPS, stage2_width=64, stage2_lr=3e-3,
                      stage2_lr_halve_every=None, progress=False, device="cpu")
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
    return two, out


def test_two_stage_latents_match_q_far_better_than_the_prior(enhanced):
    two, _ = enhanced
    g = torch.Generator().manual_seed(1)
    zq = _data(seed=1) + 0.1 * torch.randn(N, 2, generator=g)  # fresh draws from q(z)
    z2 = two.latents(N, torch.Generator().manual_seed(2))
    zn = torch.randn(N, 2, generator=g)
    gap2, gapn = spectrum_gap(_sv(z2), _sv(zq)), spectrum_gap(_sv(zn), _sv(zq))
    kl2, kln = _kl_to(z2, zq), _kl_to(zn, zq)
    # measured (shared 2-core machine, 400 steps): gap 0.04 vs 0.36, KL 0.08 vs 1.1, between 0.15 vs 0.68
    assert gapn > 0.3 and gap2 < 0.1 and gap2 < gapn / 4
    assert kln > 1.0 and kl2 < 0.25 and kl2 < kln / 4
    # the two modes: N(0, I) puts 68 % of its mass between them (|z_1| < 1), q(z) none, stage 2 little
    between = lambda z: float((z[:, 0].abs() < 1).float().mean())
    assert between(zq) == 0.0 and between(zn) > 0.6 and between(z2) < 0.3


def test_sampler_decodes_with_the_users_decoder_and_reloads(enhanced):
    two, out = enhanced
    x = two.sample(7, torch.Generator().manual_seed(3))
    z = two.latents(7, torch.Generator().manual_seed(3))
    torch.testing.assert_close(x, 10.0 * z)
    again = load_two_stage(out, Codes())
    torch.testing.assert_close(again.sample(7, torch.Generator().manual_seed(3)), x)
    with pytest.raises(VaediagError, match=facts("load_two_stage(run, model)")):
        load_two_stage(out).sample(3)


def test_run_is_the_engines_and_resume_is_a_no_op_when_done(enhanced):
    two, out = enhanced
    run = Run.open(out)
    assert run.stage2_only and run.stage_done(2) and run.progress(2)["step"] == STEPS
    assert len(run.read_metrics(2)["step"]) == STEPS
    again = load_two_stage(stage2(out, resume=True, progress=False, device="cpu"), Codes(), device="cpu")
    for a, b in zip(again.stage2.parameters(), two.stage2.parameters()):
        assert torch.equal(a, b)


def test_cli_stage2_then_sample_gives_latents(tmp_path, capsys):
    mu = _data().numpy()
    np.savez(tmp_path / "codes.npz", mu=mu, logvar=np.full_like(mu, math.log(0.01)))
    out = tmp_path / "run"
    assert main(["stage2", "--posteriors", str(tmp_path / "codes.npz"), "--out", str(out), "--stage2-steps", "30",
                 "--stage2-width", "16", "--quiet", "--device", "cpu"]) == 0
    assert main(["sample", "--run", str(out), "--n", "50", "--device", "cpu"]) == 0
    z = np.load(out / "samples" / "stage2.npy")
    assert z.shape == (50, 2) and np.isfinite(z).all()
    assert (out / "samples" / "stage2.png").is_file()
    # refused: a second time without --overwrite; stage-1 samples; resume of a finished run is fine
    assert main(["stage2", "--posteriors", str(tmp_path / "codes.npz"), "--out", str(out), "--quiet"]) == 1
    assert main(["sample", "--run", str(out), "--stage", "1"]) == 1
    assert main(["stage2", "--resume", str(out), "--quiet", "--device", "cpu"]) == 0
    before = sorted(p.name for p in out.iterdir())
    err = capsys.readouterr().err
    assert says(err, "--overwrite", "--stage 2", "vaediag.load_two_stage")
    # the verbs that read stage 1 say what this run is and how to diagnose it from Python
    for argv in (["diagnose", "--run", str(out)], ["report", "--run", str(out), "--out", str(tmp_path / "r.html")],
                 ["fid", "--run", str(out), "--proxy"]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says(err, out, "vaediag.load_two_stage"), err
    assert sorted(p.name for p in out.iterdir()) == before and not (tmp_path / "r.html").exists()


def test_cli_stage2_full_covariance(tmp_path):
    mu = _data().numpy()[:200]
    cov = np.broadcast_to(np.array([[0.02, 0.01], [0.01, 0.02]], np.float32), (200, 2, 2)).copy()
    np.savez(tmp_path / "codes.npz", mu=mu, cov=cov)
    out = tmp_path / "run"
    assert main(["stage2", "--posteriors", str(tmp_path / "codes.npz"), "--out", str(out), "--stage2-steps", "5",
                 "--stage2-width", "8", "--quiet", "--device", "cpu"]) == 0
    run = Run.open(out)
    np.testing.assert_allclose(run.load_posterior_cov(), cov)


@pytest.mark.parametrize("arrays, match", [({"mu": np.zeros((5, 2))}, "neither"),
                                           ({"z": np.zeros((5, 2))}, "no 'mu'"),
                                           ({"mu": np.zeros((5, 2)), "logvar": np.zeros((5, 3))}, "shape"),
                                           ({"mu": np.zeros((5, 2)), "cov": -np.ones((5, 2, 2))}, "positive definite"),
                                           ({"mu": np.full((5, 2), np.nan), "logvar": np.zeros((5, 2))}, "NaN")])
def test_cli_stage2_bad_codes_are_one_sentence(tmp_path, capsys, arrays, match):
    np.savez(tmp_path / "c.npz", **arrays)
    # a file whose content is wrong is a runtime failure (exit 1), not a usage error (docs/cli.md)
    assert main(["stage2", "--posteriors", str(tmp_path / "c.npz"), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
