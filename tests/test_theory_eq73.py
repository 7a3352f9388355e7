import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from vaediag.theory import eq73


@st.composite
def problems(draw):
    kappa = draw(st.integers(1, 6))
    r = draw(st.integers(1, kappa))
    d = draw(st.integers(r, 10))
    gamma = 10 ** draw(st.floats(-5, 0))
    seed = draw(st.integers(0, 2**31))
    return d, kappa, r, gamma, seed


@settings(max_examples=25)
@given(problems())
def test_eigenvalue_structure_of_eq73(p):
    d, kappa, r, gamma, seed = p
    J = eq73.random_jacobian(d, kappa, r, np.random.default_rng(seed))
    assert np.linalg.matrix_rank(J) == r
    sig = eq73.closed_form(J, gamma)
    ev = np.sort(np.linalg.eigvalsh(sig))
    s = np.sort(np.linalg.eigvalsh(J.T @ J))[::-1][:r]  # nonzero S_i
    # eq. (74): r eigenvalues gamma / (gamma + S_i) (all <= gamma / S_min), kappa - r eigenvalues 1
    np.testing.assert_allclose(ev[:r], np.sort(gamma / (gamma + s)), rtol=1e-6)
    np.testing.assert_allclose(ev[r:], 1.0, atol=1e-8)
    assert np.all(ev[:r] <= gamma / s.min() * (1 + 1e-9))


@settings(max_examples=10)
@given(problems())
def test_numerical_optimum_of_eq71_is_eq73(p):
    d, kappa, r, gamma, seed = p
    J = eq73.random_jacobian(d, kappa, r, np.random.default_rng(seed))
    S = eq73.optimise_covariance(J, gamma)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(S)), eq73.predicted_eigenvalues(J, gamma, r), rtol=1e-6)
    np.testing.assert_allclose(S, eq73.closed_form(J, gamma), atol=1e-6 * np.abs(S).max())


def test_objective_is_minimal_at_closed_form():
    # eq. (72): the gradient of eq. (71) in Sigma vanishes at eq. (73); random perturbations raise it
    rng = np.random.default_rng(0)
    J = eq73.random_jacobian(6, 4, 2, rng)
    jtj = torch.as_tensor(J.T @ J)
    sig = torch.as_tensor(eq73.closed_form(J, 0.01)).requires_grad_(True)
    f = eq73.objective(sig, jtj, 0.01)
    (g,) = torch.autograd.grad(f, sig)
    assert g.abs().max() < 1e-8
    for _ in range(5):
        a = torch.as_tensor(rng.standard_normal((4, 4))) * 1e-3
        assert eq73.objective(sig.detach() + a @ a.T, jtj, 0.01) > f
