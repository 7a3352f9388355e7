"""Budgets of a diagnosis: which directions and coordinates, batch sizes, the estimate and the refusal
before any work, and flat latents left exactly as they were."""

import io

import numpy as np
import pytest
import torch
import torch.nn as nn

from vaediag.diagnostics import budget as B
from vaediag.diagnostics.adapt import adapt
from vaediag.diagnostics.collapse import log_normal_diag, log_normal_diag_matrix, mutual_information
from vaediag.diagnostics.summary import diagnose
from vaediag.errors import UsageError


def test_pick_directions_takes_both_ends():
    lam = np.array([0.5, 0.1, 0.9, 0.01, 1.0, 0.3])
    assert B.pick_directions(lam, 4).tolist() == [1, 2, 3, 4]  # smallest 0.01 (3), 0.1 (1); largest 1.0 (4), 0.9 (2)
    assert B.pick_directions(lam, 3).tolist() == [2, 3, 4]  # one smallest (3), two largest (4, 2)
    assert B.pick_directions(lam, None).tolist() == list(range(6))
    assert B.pick_directions(lam, 6).tolist() == list(range(6))


def test_limits_are_inactive_for_flat_latents():
    b = B.Budgets()
    assert b.limit("perturb_directions", 64) is None and b.limit("spectrum_dims", 64) is None
    assert b.limit("perturb_directions", 65) == B.PERTURB_DIRECTIONS
    assert b.limit("spectrum_dims", 200) is None and b.limit("spectrum_dims", 784) == B.SPECTRUM_DIMS
    assert B.Budgets(gain_directions=None).limit("gain_directions", 4096) is None
    with pytest.raises(UsageError, match=r"Budgets\(perturb_directions=1\)"):
        B.Budgets(perturb_directions=1)
    with pytest.raises(UsageError, match="max_seconds"):
        B.Budgets(max_seconds=-1)


def test_sample_coordinates_and_batch_size():
    rng = np.random.default_rng(0)
    assert B.sample_coordinates(10, None, rng) is None
    c = B.sample_coordinates(100, 7, rng)
    assert len(set(c.tolist())) == 7 and list(c) == sorted(c) and c.max() < 100
    assert B.batch_size(784, 500) == 500 and B.batch_size(64 * 64 * 3, 500) == 500
    assert B.batch_size(3 * 256 * 256, 500) == 2 ** 23 // (3 * 256 * 256) == 42
    assert B.batch_size(10 ** 9, 500) == 1
    assert B.jvp_rows(784) == 16 and B.jvp_rows(64 * 64 * 3) == 16 and B.jvp_rows(3 * 256 * 256) == 2


def test_plan_counts_decodes_by_hand():
    w = B.plan(k=784, d=784, n=4500, budgets=B.Budgets(), perturb_inputs=8, gamma_fit_n=16, mi_n=2000, iw_n=200, iw_k=50)
    assert w["decodes"] == {"one pass": 4500, "perturbations": 8 * 16 * 15,
                            "gamma_effective (eq. 73)": 16 * 16 * B.JVP_DECODES, "IW log-likelihood": 200 * 50}
    assert w["memory_bytes"]["spectrum_dims"] == 3 * 256 * 256 * 8
    est = B.estimate(w, seconds_per_decode=0.01, seconds_per_encode=0.0, gflops=1e9)
    assert est["seconds"] == pytest.approx(0.01 * (4500 + 1920 + 768 + 10000), rel=1e-6)


def test_too_large_is_refused_in_one_sentence_with_the_budget():
    k = 16384
    b = B.Budgets(spectrum_dims=None)
    est = B.estimate(B.plan(k, 3 * 512 * 512, 100, b, 8, 16, 2000, 200, 50), 0.1, 0.1)
    with pytest.raises(UsageError) as e:
        B.check(k, 100, est, b)
    msg = str(e.value)
    assert "spectrum_dims" in msg and "GB" in msg and "16,384" in msg and "\n" not in msg
    assert "budgets=vaediag.Budgets(max_memory_gb=4)" in msg and "--" not in msg  # the Python argument, no flag
    fast = B.Budgets(max_seconds=1.0)
    with pytest.raises(UsageError, match="max_seconds"):
        B.check(k, 100, B.estimate(B.plan(k, 100, 100, fast, 8, 16, 2000, 200, 50), 0.1, 0.1), fast)


class Linear(nn.Module):
    """A linear Gaussian VAE with a latent of k numbers: decode z -> W z, encoder variances fixed."""

    def __init__(self, k, d=20, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(d, k, generator=g) * torch.linspace(0.01, 2, k))
        self.E = nn.Parameter(torch.randn(k, d, generator=g) / d)
        self.lv = nn.Parameter(torch.linspace(-4, 0.5, k))

    def encode(self, x):
        return x @ self.E.T, self.lv.expand(len(x), -1)

    def decode(self, z):
        return z @ self.W.T


def _x(n=40, d=20):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(1))


def test_flat_latent_unchanged_by_the_budgets():
    m = adapt(Linear(12), gamma=0.1)
    a = diagnose(m, _x(), iw_k=5, iw_n=10)
    b = diagnose(m, _x(), iw_k=5, iw_n=10, budgets=B.Budgets(perturb_directions=None, gain_directions=None,
                                                             spectrum_dims=None, max_memory_gb=None))
    for key in ("r_hat", "lambda_mean", "perturbation", "spectrum", "kl_gaussian_fit", "mutual_information",
                "gamma_effective", "iw_log_likelihood"):
        assert a.summary[key] == b.summary[key], key


def test_active_budgets_on_a_large_flat_latent():
    k = 100
    m = adapt(Linear(k), gamma=0.1)
    d = diagnose(m, _x(), iw_k=0, perturb_inputs=2, gamma_fit_n=3,
                 budgets=B.Budgets(perturb_directions=6, gain_directions=5, spectrum_dims=10))
    lam = d.usage.lambda_mean
    order = np.argsort(lam, kind="stable")
    assert sorted(r.direction for r in d.perturbations.rows) == sorted(order[:3].tolist() + order[-3:].tolist())
    assert d.effective_fit.directions == 5 and d.effective_fit.pairs == 15
    assert len(d.spectra.stage1) == 10 and len(d.spectra.coordinates) == 10
    b = d.provenance.budgets
    assert b["active"] == {"perturb_directions": True, "gain_directions": True, "spectrum_dims": True,
                           "perturb_numbers": False, "gain_numbers": False, "mi_numbers": False}
    assert b["iw_k"] == 0 and b["perturb_inputs"] == 2


def test_share_lowers_the_inputs_then_the_directions():
    assert B.share(None, 10 ** 6, 8, 16, 15) == (8, 16)
    assert B.share(8 * 16 * 15 * 100, 100, 8, 16, 15) == (8, 16)  # exactly the budget
    assert B.share(8 * 16 * 15 * 100 - 1, 100, 8, 16, 15) == (7, 16)
    assert B.share(2 * 16 * 15 * 100 + 99, 100, 8, 16, 15) == (2, 16)
    assert B.share(16 * 15 * 100 - 1, 100, 8, 16, 15) == (1, 15)  # one input, then fewer directions
    assert B.share(1, 100, 8, 16, 15) == (1, 2)  # never under 2 directions
    assert B.share(1, 100, 8, 16, 1, fixed_directions=True) == (1, 16)  # a full covariance keeps them all


def test_shares_keep_outputs_up_to_64x64x3_and_cut_larger_ones():
    b = B.Budgets()
    for d in (784, 28 * 28 * 3, 64 * 64 * 3):  # the defaults' work, unchanged
        assert B.shares(b, 784, d, 8, 16) == {"perturbations": (8, 16), "gains": (16, 16), "mutual_information": (2000, 784)}
    assert B.shares(b, 1048, 784, 8, 16)["mutual_information"] == (2000, 1048)
    sd = 3 * 256 * 256  # 16 x 64 x 64 x 3: the work of one 64 x 64 x 3 diagnosis
    assert B.shares(b, 4096, sd, 8, 16) == {"perturbations": (1, 8 * 16 * 15 // (16 * 15)), "gains": (1, 16),
                                            "mutual_information": (2 ** 21 // 4096, 4096)}
    assert B.shares(b, 4096, 3 * 128 * 128, 8, 16, mi_n=300) == {"perturbations": (2, 16), "gains": (4, 16),
                                                                "mutual_information": (300, 4096)}
    assert B.shares(b, 64, sd, 8, 16) == {"perturbations": (8, 64), "gains": (16, 64),  # flat_max: every direction
                                          "mutual_information": (2000, 64)}
    full = B.shares(b, 100, sd, 8, 16, full=True)["gains"]
    assert full == (1, 100)
    w = B.plan(4096, sd, 250, b, 8, 16, 2000, 200, 0)["decodes"]
    assert w["perturbations"] == 120 and w["gamma_effective (eq. 73)"] == 16 * B.JVP_DECODES
    with pytest.raises(UsageError, match=r"Budgets\(gain_numbers=0\)"):
        B.Budgets(gain_numbers=0)


def test_numbers_budgets_cut_the_work_not_the_numbers():
    """Over the decoded-numbers budgets the first inputs are kept: their perturbation variances are those
    of the unbudgeted diagnosis (the same draws, up to float32 batching), and eq. (73) is fitted on fewer inputs and coordinates."""
    k, d = 100, 20
    m = adapt(Linear(k, d), gamma=0.1)
    kw = dict(iw_k=0, perturb_inputs=4, gamma_fit_n=3)
    free = diagnose(m, _x(), **kw, budgets=B.Budgets(perturb_directions=6, gain_directions=5))
    cut = diagnose(m, _x(), **kw, budgets=B.Budgets(perturb_directions=6, gain_directions=5,
                                                    perturb_numbers=2 * 6 * 15 * d + 1, gain_numbers=3 * d))
    assert free.perturbations.inputs == 4 and cut.perturbations.inputs == 2
    np.testing.assert_allclose(cut.perturbations.variance, free.perturbations.variance[:2], rtol=1e-4)  # float32 batches
    np.testing.assert_array_equal(cut.perturbations.directions, free.perturbations.directions)
    assert (cut.effective_fit.n, cut.effective_fit.directions, cut.effective_fit.pairs) == (1, 3, 3)
    b = cut.provenance.budgets
    assert b["active"]["perturb_numbers"] and b["active"]["gain_numbers"]
    assert b["perturbations_used"] == {"inputs": 2, "directions": 6} and b["gains_used"] == {"inputs": 1, "directions": 3}
    assert not free.provenance.budgets["active"]["perturb_numbers"]
    assert any("perturb_numbers 3,601 (2 input(s) x 6 directions)" in n for n in cut.summary["notes"])


def test_mi_numbers_takes_the_first_inputs():
    """Over the mi_numbers budget I(x; z) is that of the first mi_numbers // kappa inputs, exactly the
    value asked for with mi_n= of that many."""
    k = 100
    m = adapt(Linear(k), gamma=0.1)
    kw = dict(iw_k=0, perturb_inputs=2, gamma_fit_n=2)
    cut = diagnose(m, _x(), **kw, budgets=B.Budgets(mi_numbers=25 * k + 7))
    asked = diagnose(m, _x(), **kw, mi_n=25)
    assert cut.collapse.mutual_information_n == 25 == asked.collapse.mutual_information_n
    assert cut.collapse.mutual_information == asked.collapse.mutual_information
    assert cut.provenance.budgets["active"]["mi_numbers"] and not asked.provenance.budgets["active"]["mi_numbers"]
    assert cut.provenance.budgets["mutual_information_used"] == {"inputs": 25, "directions": k}
    assert any("mi_numbers 2,507 (I(x; z) on 25 inputs)" in n for n in cut.summary["notes"])


def test_the_pass_keeps_the_first_mi_n_inputs_across_batches():
    """I(x; z) and the reconstruction error are the same whether the pass cuts the inputs into batches of 3
    (I(x; z)'s 10 inputs ending inside a batch) or takes them at once."""
    m = adapt(Linear(100), gamma=0.1)
    kw = dict(iw_k=0, perturb_inputs=2, gamma_fit_n=2, mi_n=10)
    small, whole = diagnose(m, _x(), batch=3, **kw), diagnose(m, _x(), **kw)
    assert small.collapse.mutual_information_n == 10
    assert small.collapse.mutual_information == pytest.approx(whole.collapse.mutual_information, rel=1e-5)
    assert small.summary["recon_mse"] == pytest.approx(whole.summary["recon_mse"], rel=1e-5)


def test_squared_error_in_pieces_is_the_whole():
    from vaediag.diagnostics.summary import _squared_error

    g = torch.Generator().manual_seed(0)
    rec, xb = torch.randn(5, 3, 7, 7, generator=g), torch.randn(5, 3, 7, 7, generator=g)
    direct = float(((rec.double() - xb.double()) ** 2).sum())
    assert _squared_error(rec, xb, numbers=11) == pytest.approx(direct, rel=1e-12)
    assert _squared_error(rec, xb) == pytest.approx(direct, rel=1e-12)


def test_the_estimate_names_the_directions_the_numbers_budgets_leave():
    est = {"seconds": 10.0, "memory_bytes": 10 ** 8}
    b = B.Budgets()
    sd = B.estimate_sentence(4096, 1000, est, b, b.record(4096, 3 * 256 * 256, 8, 16, False, 1000))
    assert "perturb_directions 16" in sd and "perturbations on 1 input(s) x 8 directions" in sd
    assert "eq. (73) on 1 input(s) x 16 directions" in sd and "I(x; z) on 512 input(s)" in sd
    small = B.estimate_sentence(784, 250, est, b, b.record(784, 784, 8, 16, False, 250))
    assert "input(s)" not in small and "gain_directions 16" in small




def test_gains_along_sampled_directions_are_the_linear_decoders():
    """(J^T J)_jj of decode z -> W z is the squared norm of column j of W, at any z."""
    from vaediag.diagnostics.gamma import decoder_gains

    lin = Linear(30)
    mu, lv = lin.encode(_x(3))
    lam, gain = decoder_gains(lin, mu.detach(), lv.exp().detach(), False, directions=[3, 7, 29])
    W = lin.W.detach().double()
    np.testing.assert_allclose(gain, np.tile((W * W).sum(0).numpy()[[3, 7, 29]], (3, 1)), rtol=1e-5)
    np.testing.assert_allclose(lam, lv.exp().detach().double().numpy()[:, [3, 7, 29]])


def test_mutual_information_matrix_form_is_the_loop():
    g = torch.Generator().manual_seed(0)
    mu, var = torch.randn(30, 80, generator=g, dtype=torch.float64), torch.rand(30, 80, generator=g, dtype=torch.float64) + 0.05
    z = torch.randn(7, 80, generator=g, dtype=torch.float64)
    direct = log_normal_diag(z[:, None, :], mu[None], var[None])
    torch.testing.assert_close(log_normal_diag_matrix(z, mu, var), direct, rtol=1e-10, atol=1e-8)
    a = mutual_information(mu, var, False, torch.Generator().manual_seed(3), matrix_above=10 ** 6)
    b = mutual_information(mu, var, False, torch.Generator().manual_seed(3), matrix_above=0)
    assert a == pytest.approx(b, rel=1e-9)


def test_progress_on_request_only(capsys):
    m = adapt(Linear(8), gamma=0.1)
    diagnose(m, _x(), iw_k=2, iw_n=4)
    assert capsys.readouterr().err == ""
    diagnose(m, _x(), iw_k=2, iw_n=4, progress=True)
    err = capsys.readouterr().err
    for part in ("diagnose: 40 inputs, a latent of 8 numbers: about", "one pass", "perturbations", "IW", "eq. 73"):
        assert part in err


def test_refused_before_any_decode():
    calls = []

    class Counting(Linear):
        def decode(self, z):
            calls.append(len(z))
            return super().decode(z)

    with pytest.raises(UsageError, match="max_seconds"):
        diagnose(adapt(Counting(8), gamma=0.1), _x(), budgets=B.Budgets(max_seconds=1e-9))
    assert len(calls) == 2  # the warm-up and the timed decode of the estimate, nothing else


def test_figure9_names_the_perturbed_directions_not_their_positions():
    """Under a perturbation budget the arrays hold a subset of directions: Fig. 9's rows carry the latent
    direction (as the perturbation table does), not the column of the subset."""
    from vaediag.plots.paper import _perturb_rows

    d = diagnose(adapt(Linear(100), gamma=0.1), _x(), iw_k=0, perturb_inputs=1, gamma_fit_n=0,
                 budgets=B.Budgets(perturb_directions=6))
    table = {r.direction: r.lam for r in d.perturbations.rows}
    rows = _perturb_rows(d, all_rows=True)
    assert sorted(j for j, *_ in rows) == sorted(table) and len(table) == 6
    assert max(table) > 5  # the subset is not the first six directions, so positions would mislabel them
    for j, lam, *_ in rows:
        assert lam == pytest.approx(table[j])
