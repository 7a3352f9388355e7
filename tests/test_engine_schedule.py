"""The one schedule and optimiser of every training loop (engine stages, enhance, the theory lab)."""

from __future__ import annotations

import math

import pytest
import torch

from vaediag.engine.config import Stage2Config, StageSchedule
from vaediag.engine.models import Stage2VAE
from vaediag.engine.schedule import lr_at, make_adam, plan, resolve_steps, set_lr


def test_halving_by_hand():
    # the paper's schedule (supplement section 6): lr0, then halved every period
    assert [lr_at(s, 8.0, 3) for s in range(10)] == [8, 8, 8, 4, 4, 4, 2, 2, 2, 1]
    # the first halving after 5 steps, then every 2
    assert [lr_at(s, 8.0, (5, 2)) for s in range(10)] == [8, 8, 8, 8, 8, 4, 4, 2, 2, 1]
    assert lr_at(123, 0.5) == 0.5


def test_linear_anneal_by_hand():
    # constant until step 70 of 100, then linear to lr0 / 10 at step 100
    assert lr_at(69, 1.0, anneal=(70.0, 30.0)) == 1.0
    assert lr_at(85, 1.0, anneal=(70.0, 30.0)) == pytest.approx(0.55)
    assert lr_at(100, 1.0, anneal=(70.0, 30.0)) == pytest.approx(0.1)


def test_plan_resolves_epochs_and_the_first_halving():
    # 4,500 examples in batches of 100: 45 steps an epoch
    assert plan(StageSchedule(100, 1.0, 2.0, None, 1.0), 4500) == (100, 90, (45, 45))
    assert plan(StageSchedule(100, 1.0, None, 7, 1.0, 3.0), 4500) == (100, 7, (135, 45))
    assert plan(StageSchedule(1000, 1.0, 1.0, None, None), 50) == (50, 1, None)  # batch capped at n
    assert resolve_steps(None, 0.5, 1000, 100) == 5


def test_param_groups_keep_weight_decay_off_log_gamma_and_scale_its_rate():
    model = Stage2VAE(Stage2Config(latent_dim=3, width=8, depth=1))
    groups = model.param_groups(0.1, gamma_lr_scale=10.0)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert len(groups[1]["params"]) == 1 and groups[1]["params"][0] is model.log_gamma_.raw
    n_all = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for g in groups for p in g["params"]) == n_all
    opt = make_adam(groups, 1e-3)
    set_lr(opt, 0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 5.0]


def test_make_adam_is_torch_adam():
    """make_adam (fused where available) takes the same steps as torch's reference Adam (foreach off)."""
    torch.manual_seed(0)
    a = torch.randn(20, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    opt_a = make_adam([{"params": [a], "weight_decay": 0.01}], 1e-2)
    opt_b = torch.optim.Adam([{"params": [b], "weight_decay": 0.01}], lr=1e-2, foreach=False)
    for step in range(5):
        for p, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            (p.pow(2).sum() * (step + 1)).backward()
            opt.step()
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_the_sweeps_schedule_is_the_shared_one():
    from vaediag.theory.sweep import lr_at as sweep_lr_at

    steps, lr = 1000, 2e-3
    for s in (0, 699, 700, 850, 999):
        s0 = 0.7 * steps  # the formula the sweep documents: constant for 70 %, then linear to lr / 10
        want = lr if s < s0 else lr * (1.0 - 0.9 * (s - s0) / (0.3 * steps))
        assert sweep_lr_at(s, steps, lr) == want
    assert math.isclose(sweep_lr_at(steps, steps, lr), lr / 10)
