import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from vaediag.diagnostics.eigen import r_hat
from vaediag.objective import gaussian_nll, kl_std_normal
from vaediag.theory.metrics import energy_distance
from vaediag.theory.sweep import (
    FlatAdam,
    GroupedVAE,
    evaluate,
    lr_at,
    r_hat_per_model,
    train_sweep,
)


def test_gaussian_nll_and_kl_against_scipy():
    rng = np.random.default_rng(0)
    x, mean = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    lg = torch.tensor(math.log(0.3), dtype=torch.float64)
    nll = gaussian_nll(torch.as_tensor(x), torch.as_tensor(mean), lg).numpy()
    ref = -stats.norm(mean, math.sqrt(0.3)).logpdf(x).sum(1)
    np.testing.assert_allclose(nll, ref, rtol=1e-12)
    mu, logvar = np.array([[0.7, -1.2]]), np.array([[-0.5, 0.8]])
    kl = kl_std_normal(torch.as_tensor(mu), torch.as_tensor(logvar)).numpy()[0]
    ref = 0.0
    for m, lv in zip(mu[0], logvar[0]):
        q = stats.norm(m, math.exp(lv / 2))
        ref += integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - stats.norm.logpdf(z)), -30, 30)[0]
    assert kl == pytest.approx(ref, rel=1e-7)


@torch.no_grad()
def test_grouped_loss_is_eq2_per_group():
    m = GroupedVAE(d=3, kappa=2, gammas=[0.1, float("nan")], seeds=[0, 1], hidden=(8,))
    x, eps = torch.randn(2, 5, 3), torch.randn(2, 5, 2)
    out = m.losses(x, eps)
    for g in range(2):
        mu, logvar = m.encode(x)
        z = mu[g] + (0.5 * logvar[g]).exp() * eps[g]
        mean = m.decode(z[None].expand(2, -1, -1))[g]
        lg = m.log_gamma[g]
        recon = (0.5 * ((x[g] - mean) ** 2).sum(1) / lg.exp() + 1.5 * (math.log(2 * math.pi) + lg)).mean()
        kl = (0.5 * (mu[g] ** 2 + logvar[g].exp() - logvar[g] - 1).sum(1)).mean()
        assert out["loss"][g].item() == pytest.approx((recon + kl).item(), rel=1e-5)
    assert m.log_gamma[0].item() == pytest.approx(math.log(0.1))


def test_batched_group_follows_its_solo_trajectory():
    # Group g's init, batches and noise come from its own seed and Adam is elementwise: training it in a
    # batch of 4 or alone gives the same model.
    x = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    gam = [0.5, float("nan"), 0.05, float("nan")]
    batched = train_sweep(x, 2, gam, [10, 11, 12, 13], steps=60, batch=32, hidden=(16,), chunk=25)
    solo = train_sweep(x, 2, gam[3:], [13], steps=60, batch=32, hidden=(16,), chunk=25)
    for pb, ps in zip(batched.model.group_tensors(3), solo.model.group_tensors(0)):
        np.testing.assert_allclose(pb.numpy(), ps.numpy(), rtol=1e-4, atol=1e-5)
    sel = batched.model.select(3)
    for pb, ps in zip(sel.group_tensors(0), solo.model.group_tensors(0)):
        np.testing.assert_allclose(pb.numpy(), ps.numpy(), rtol=1e-4, atol=1e-5)


def test_hand_written_gradient_equals_autograd_of_eq2():
    # grad_step's hand-written backward against autograd through losses() (vaediag's eq. (2) functions),
    # in float64, with one fixed and two learned gammas (the fixed one must get a zero log-gamma gradient)
    m = GroupedVAE(5, 3, [0.1, float("nan"), float("nan")], [0, 1, 2], hidden=(7, 6)).double()
    with torch.no_grad():
        m.log_gamma_param.copy_(torch.tensor([0.3, -0.7, 0.2]))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 11, 5, generator=gen, dtype=torch.float64)
    eps = torch.randn(3, 11, 3, generator=gen, dtype=torch.float64)
    out = m.losses(x, eps)
    out["loss"].sum().backward()
    g = torch.zeros_like(m.flat)
    loss = m.grad_step(x, eps, g, want_loss=True)
    np.testing.assert_allclose(g.numpy(), m.flat.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.numpy(), out["loss"].detach().numpy(), rtol=1e-12)
    assert g[-3].item() == 0.0 and g[-2].item() != 0.0


@pytest.mark.parametrize("fused", [True, False])
def test_flat_adam_is_torch_adam(fused):
    # Known answer: Adam's first step moves every coordinate by lr * g / (|g| + eps) against the gradient;
    # then 5 steps with a changing learning rate match torch.optim.Adam (the fused kernel, or the
    # single-tensor update whose operation order the fallback copies).
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(50, generator=gen, dtype=torch.float64)
    grads = [torch.randn(50, generator=gen, dtype=torch.float64) for _ in range(6)]
    p, g = p0.clone(), torch.zeros(50, dtype=torch.float64)
    opt = FlatAdam(p, g, fused=fused)
    g.copy_(grads[0])
    opt.step(0.1)
    assert opt.fused == fused
    np.testing.assert_allclose(p.numpy(), (p0 - 0.1 * grads[0] / (grads[0].abs() + 1e-8)).numpy(), rtol=1e-12)
    q = torch.nn.Parameter(p0.clone())
    ref = torch.optim.Adam([q], lr=0.1, fused=True) if fused else torch.optim.Adam([q], lr=0.1, foreach=False)
    for i, gi in enumerate(grads):
        lr = 0.1 / (i + 1)
        if i:
            g.copy_(gi)
            opt.step(lr)
        q.grad = gi.clone()
        ref.param_groups[0]["lr"] = lr
        ref.step()
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_learning_rate_schedule():
    assert lr_at(0, 1000, 2e-3) == lr_at(699, 1000, 2e-3) == 2e-3
    assert lr_at(850, 1000, 2e-3) == pytest.approx(2e-3 * (1 - 0.9 * 0.5))
    assert lr_at(1000, 1000, 2e-3) == pytest.approx(2e-4)


def test_fixed_gamma_stays_fixed_and_learned_gamma_falls_on_a_line():
    # data on a line in R^3 (r=1 < d=3): Theorem 3 says a learned gamma must fall
    t = np.random.default_rng(1).uniform(-1, 1, (2000, 1))
    x = (t @ np.array([[0.6, -0.8, 0.0]])).astype(np.float32)
    res = train_sweep(x, 2, [0.2, float("nan")], [0, 1], steps=800, batch=64, hidden=(16,), lr=1e-2)
    ev = evaluate(res.model, x[:500])
    assert ev["gamma"][0] == pytest.approx(0.2, rel=1e-6)
    assert ev["gamma"][1] < 0.02
    assert res.log_gamma[-1, 1] < res.log_gamma[len(res.log_gamma) // 2, 1] < 0


def test_gamma_floor_holds_learned_gamma_then_releases_it_and_is_off_by_default():
    t = np.random.default_rng(1).uniform(-1, 1, (2000, 1))
    x = (t @ np.array([[0.6, -0.8, 0.0]])).astype(np.float32)
    kw = dict(steps=800, batch=64, hidden=(16,), lr=1e-2, log_every=50)
    plain = train_sweep(x, 2, [0.2, float("nan")], [0, 1], **kw)
    same = train_sweep(x, 2, [0.2, float("nan")], [0, 1], gamma_floor=None, **kw)
    assert torch.equal(plain.model.flat, same.model.flat)
    held = train_sweep(x, 2, [0.2, float("nan")], [0, 1], gamma_floor=(0.05, 0.5), **kw)
    first = held.steps_logged <= 400
    assert np.all(held.log_gamma[first, 1] >= math.log(0.05) - 1e-6)
    assert held.log_gamma[first, 1].min() == pytest.approx(math.log(0.05), abs=1e-6)  # it reached the floor
    assert held.log_gamma[-1, 1] < math.log(0.05) - 0.5  # released: it fell below afterwards
    assert np.all(held.log_gamma[:, 0] == pytest.approx(math.log(0.2), abs=1e-6))  # fixed gamma untouched
    for bad in ((0.0, 0.5), (0.05, 1.5)):
        with pytest.raises(ValueError, match="gamma_floor"):
            train_sweep(x, 2, [float("nan")], [0], gamma_floor=bad, **kw)


def test_r_hat_per_model_uses_the_explicit_threshold():
    ev = np.array([[1e-4, 0.01, 0.2, 0.9], [0.1, 0.2, 0.9, 1.0]])
    assert r_hat_per_model(ev, 0.05).tolist() == [2, 0]
    assert r_hat_per_model(ev, 0.15).tolist() == [2, 1]
    assert r_hat_per_model(ev[0], 0.0100001).item() == 2 == r_hat(ev[0], 0.0100001)
    assert r_hat_per_model(ev[0], 0.01).item() == 1  # strict: a variance exactly at the cut is not small


def test_energy_distance_against_scipy_1d():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(300), rng.standard_normal(200) * 1.5 + 0.3
    assert math.sqrt(energy_distance(a[:, None], b[:, None])) == pytest.approx(stats.energy_distance(a, b), rel=1e-10)
    assert energy_distance(a[:, None], a[:, None]) == pytest.approx(0.0, abs=1e-12)


def test_energy_distance_in_blocks_equals_the_whole_matrix(monkeypatch):
    """Several row blocks (a ragged last one) give the brute-force numpy V-statistic in 3-D."""
    import vaediag.theory.metrics as metrics

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((301, 3)), rng.standard_normal((97, 3)) * 0.7 + 0.2

    def brute(x, y):
        return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1).mean()

    want = 2 * brute(a, b) - brute(a, a) - brute(b, b)
    monkeypatch.setattr(metrics, "_BLOCK_ENTRIES", 1000)  # 10 rows of a per block against b, 3 against a
    # cdist's float64 matrix-product path leaves ~1e-10 of cancellation; a lost or doubled block is ~1e-2
    assert energy_distance(a, b) == pytest.approx(want, abs=1e-9)
    assert metrics.mean_distance(a, b) == pytest.approx(brute(a, b), abs=1e-9)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.mean_distance(a[:0], b)


@settings(deadline=None, max_examples=40)
@given(n=st.integers(1, 40), m=st.integers(1, 40), dim=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
       block=st.integers(1, 64))
def test_energy_distance_properties(n, m, dim, seed, block):
    """The V-statistic is a squared distance between the empirical laws: >= 0, symmetric, 0 for the same
    sample, unchanged by a rotation and a shift applied to both, and the same for any block size."""
    import vaediag.theory.metrics as metrics

    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, dim)), rng.standard_normal((m, dim)) * 1.3 + 0.4
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    shift = rng.standard_normal(dim) * 5
    e = energy_distance(x, y)
    assert e >= -1e-12
    assert energy_distance(y, x) == pytest.approx(e, rel=1e-9, abs=1e-9)
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert energy_distance(x @ q + shift, y @ q + shift) == pytest.approx(e, abs=1e-9)
    old = metrics._BLOCK_ENTRIES
    try:
        metrics._BLOCK_ENTRIES = block
        # one row per block takes cdist's direct path, many rows its matrix-product path: ~1e-10 apart
        assert energy_distance(x, y) == pytest.approx(e, rel=1e-9, abs=1e-9)
    finally:
        metrics._BLOCK_ENTRIES = old


def test_stage2_through_the_shared_step_equals_the_loop_it_replaced():
    """The lab's stage 2 runs through the engine's make_adam, param_groups, lr_at and adam_step; it must
    train exactly as the loop written out here (the lab's own loop before they were shared)."""
    from vaediag.engine.config import Stage2Config
    from vaediag.engine.models import Stage2VAE
    from vaediag.theory.sweep import train_stage2

    torch.manual_seed(3)
    mu, logvar = torch.randn(50, 4), torch.randn(50, 4) * 0.1 - 1
    got = train_stage2(mu, logvar, width=16, depth=2, steps=24, batch=10, lr=1e-2, weight_decay=5e-4, seed=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = Stage2VAE(Stage2Config(latent_dim=4, width=16, depth=2))
    gamma = [p for n, p in model.named_parameters() if n.startswith("log_gamma_")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("log_gamma_")]
    opt = torch.optim.Adam([{"params": rest, "weight_decay": 5e-4}, {"params": gamma, "weight_decay": 0.0}],
                           lr=1e-2, foreach=False)
    sd, halve, gen = logvar.mul(0.5).exp(), max(1, (3 * 24) // 8), torch.Generator().manual_seed(10_001)
    for step in range(24):
        for group in opt.param_groups:
            group["lr"] = 1e-2 * 0.5 ** (step // halve)
        idx = torch.randint(0, 50, (10,), generator=gen)
        e = torch.randn(10, 8, generator=gen)
        loss = model.loss(mu[idx] + sd[idx] * e[:, :4], e[:, 4:])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for a, b in zip(got.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # fused and reference Adam: rounding only


def test_stage2_fast_step_is_the_engine_step_to_the_bit():
    """After its first step train_stage2 calls the fused Adam kernel directly; it must train exactly (to the
    bit) as the engine's adam_step with make_adam's optimiser at every step, written out here."""
    from vaediag.engine.config import Stage2Config
    from vaediag.engine.loop import Precision, adam_step
    from vaediag.engine.models import Stage2VAE
    from vaediag.engine.schedule import lr_at, make_adam
    from vaediag.theory.sweep import train_stage2

    torch.manual_seed(4)
    mu, logvar = torch.randn(60, 3), torch.randn(60, 3) * 0.1 - 1
    got = train_stage2(mu, logvar, width=16, depth=2, steps=20, batch=8, lr=1e-2, weight_decay=5e-4,
                       gamma_init=1e-2, seed=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        model = Stage2VAE(Stage2Config(latent_dim=3, width=16, depth=2, gamma_init=1e-2))
    opt = make_adam(model.param_groups(5e-4), 1e-2)
    amp, sd, gen = Precision("fp32", torch.device("cpu")), logvar.mul(0.5).exp(), torch.Generator().manual_seed(10_002)
    for step in range(20):
        idx = torch.randint(0, 60, (8,), generator=gen)
        e = torch.randn(8, 6, generator=gen)
        adam_step(model, opt, lr_at(step, 1e-2, max(1, (3 * 20) // 8)), mu[idx] + sd[idx] * e[:, :3], e[:, 3:], amp)
    for a, b in zip(got.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_fused_adam_step_is_optimizer_step_with_lr_scale_and_weight_decay():
    from vaediag.engine.schedule import make_adam, set_lr
    from vaediag.theory.sweep import _FusedAdamStep

    torch.manual_seed(5)
    w0, g0 = torch.randn(7, 3), torch.randn(())
    runs = []
    for fast in (False, True):
        w, g = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(g0.clone())
        opt = make_adam([{"params": [w], "weight_decay": 0.1}, {"params": [g], "weight_decay": 0.0, "lr_scale": 3.0}],
                        1e-2)
        assert _FusedAdamStep.of(opt) is None  # no state before the first step
        stepper = None
        for t in range(6):
            w.grad, g.grad = torch.sin(w.detach() * (t + 1)), torch.cos(g.detach() * (t + 1))
            lr = 1e-2 / (t + 1)
            if fast and stepper is not None:
                stepper.step(lr)
            else:
                set_lr(opt, lr)
                opt.step()
                stepper = _FusedAdamStep.of(opt)
        runs.append((w.detach().clone(), g.detach().clone()))
    if not opt.param_groups[0].get("fused"):
        pytest.skip("no fused Adam in this torch build")
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    assert not torch.equal(runs[0][0], w0)  # it did move
    assert _FusedAdamStep.of(torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], foreach=False)) is None


def test_shared_data_and_stacked_copies_train_alike():
    """train_sweep gathers mini-batches by row index: one (N, d) data set for every group and the same set
    stacked (G, N, d) must give the same batches, so the same models (to the bit)."""
    x = torch.as_tensor(np.random.default_rng(3).standard_normal((40, 3)), dtype=torch.float32)
    kw = dict(steps=30, batch=8, hidden=(8,), chunk=7)
    a = train_sweep(x, 2, [0.2, float("nan")], [0, 1], **kw)
    b = train_sweep(x[None].expand(2, -1, -1).clone(), 2, [0.2, float("nan")], [0, 1], **kw)
    assert torch.equal(a.model.flat, b.model.flat)
    c = train_sweep(torch.stack([x, x.flip(0)]), 2, [0.2, float("nan")], [0, 1], **kw)
    assert torch.equal(c.model.group_tensors(0)[0], a.model.group_tensors(0)[0])  # group 0 sees x in both
    assert not torch.equal(c.model.group_tensors(1)[0], a.model.group_tensors(1)[0])  # group 1 another data set


def test_evaluate_is_eq2_averaged_over_its_noise_draws():
    """evaluate encodes once and decodes each draw once; it must give, to the bit, the mean over its draws of
    GroupedVAE.losses and of the squared error under noise, computed here the long way."""
    torch.manual_seed(6)
    model = GroupedVAE(4, 2, [0.1, float("nan"), 0.3], [1, 2, 3], hidden=(8,))
    x = torch.randn(3, 50, 4)
    ev = evaluate(model, x, n_eps=3, seed=5)
    gen = torch.Generator().manual_seed(5)
    want = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "mse_eps": 0.0}
    with torch.no_grad():
        mu, logvar = model.encode(x)
        for _ in range(3):
            eps = torch.randn(mu.shape, generator=gen)
            out = model.losses(x, eps)
            for k in ("loss", "recon", "kl"):
                want[k] = want[k] + out[k] / 3
            rec = model.decode(mu + torch.exp(0.5 * logvar) * eps)
            want["mse_eps"] = want["mse_eps"] + (rec - x).pow(2).sum(-1).mean(1) / 3
    for k, v in want.items():
        np.testing.assert_array_equal(ev[k], v.numpy())
