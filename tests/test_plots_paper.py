"""Figure functions return figures with the expected panels and labelled axes (constructed arrays)."""

import numpy as np
import pytest

from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.verdict import verdict
from vaediag.errors import VaediagError
from vaediag.plots.paper import figure1, figure9, figure10
from vaediag.plots.report import report_html


def _traj(n=50, end=-5.0):
    step = np.arange(n) * 10.0
    return {"step": step, "log_gamma": np.linspace(0, end, n), "mse": np.linspace(0.08, 0.01, n)}


def _spectra(k=16):
    s = np.linspace(1, 0.5, k)
    return {"stage1": (s ** 3).tolist(), "stage2": s.tolist(), "gaussian": s.tolist()}


def _constructed(images=True, k=3):
    """A Diagnosis built from constructed numbers (no model): lambda 0.01, 0.02 and 1 with known image variances."""
    rng = np.random.default_rng(0)
    lam = np.array([[0.01, 0.02, 1.0][:k]])
    summary = {"latent_dim": k, "lambda_mean": lam[0].tolist(), "gamma": 0.002, "gamma_mode": "learned",
               "spectrum": _spectra(), "spectrum_gap": {"stage1": 0.3, "stage2": 0.01}}
    arrays = {"perturb_lambda": lam, "perturb_variance": np.array([[357.0, 37.7, 0.0][:k]]),
              "lambda_hist_counts": np.array([5, 0, 0, 1, 9, 0]), "lambda_hist_edges": np.linspace(0, 1.5, 7)}
    if images:
        arrays["perturb_images"] = rng.random((k, 15, 1, 8, 8))
    return Diagnosis.from_dict(summary, arrays)


def test_figure1_has_three_panels_with_labels():
    fig = figure1(_constructed(), history={"learned": _traj(), "fixed": _traj(end=0.0)})
    left, centre, right, twin = fig.axes
    assert left.get_xlabel() == "training iterations" and "log" in left.get_ylabel()
    assert twin.get_ylabel() == "squared pixel error (dashed)"
    assert len(left.get_lines()) == 2 and len(twin.get_lines()) == 2
    texts = [t.get_text() for t in centre.texts]  # as the paper: lambda near 1, then the two smallest
    assert texts[0] == "$\\lambda$ = 1.000, image variance = 0" and "357" in texts[2]
    assert right.get_xlabel() == "singular value index" and right.get_ylabel() == "singular value / largest"
    assert [ln.get_label() for ln in right.get_lines()] == ["first-stage VAE $q(z)$", "second-stage VAE $q(u)$", "ideal Gaussian"]


def test_figure1_vector_centre_is_a_scatter():
    fig = figure1(_constructed(images=False), history=_traj())
    centre = fig.axes[1]
    assert centre.get_xlabel().startswith("$\\lambda_j$") and len(centre.collections) == 1


def test_figure9_one_row_per_direction_with_lambda_and_variance():
    fig = figure9(_constructed())
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title() == "dim 0: $\\lambda$ = 0.010, image variance = 357"
    assert fig.axes[2].get_title().endswith("image variance = 0")
    assert fig.axes[0].images[0].get_array().shape[1] == 15 * 9 - 1  # 15 decodes of width 8, 1-pixel gaps


def test_figure10_side_by_side_histograms():
    fig = figure10({"MNIST": _constructed(), "CelebA": _constructed()})
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ["MNIST", "CelebA"]):
        assert ax.get_xlabel() == "$\\lambda_j$" and ax.get_ylabel() == "frequency" and name in ax.get_title()
        assert [round(p.get_height()) for p in ax.patches][:2] == [5, 0]


def test_figures_refuse_what_is_not_a_diagnosis():
    for fig in (figure1, figure9, figure10):
        with pytest.raises(VaediagError, match="Diagnosis"):
            fig({"summary": 1})


def test_plots_import_no_model_loading_or_diagnosis_code():
    import ast
    from pathlib import Path

    import vaediag.plots as plots

    for path in Path(plots.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vaediag."):
                mod = node.module  # no run loading (engine, api), no diagnosis code (the result type only)
                assert mod.split(".")[1] not in ("engine", "api", "data", "diagnostics") or \
                    mod == "vaediag.diagnostics.result", f"{path.name} imports {mod}"


def _summary(gap2=0.01, tail=-0.01, fixed=False):
    return {"gamma": 0.002, "gamma_stage2": 0.01, "recon_mse": 0.01, "active_dims": 2, "latent_dim": 6,
            "threshold": 0.1, "near_one": 4, "in_between": 0, "r_hat_by_threshold": {"0.05": 2, "0.1": 2, "0.5": 2},
            "lambda_mean": [0.01, 0.02, 1, 1, 1, 1],
            "perturbation": [{"direction": 0, "lambda": 0.01, "image_variance": 30.0}],
            "spectrum": {"stage1": [1, 0.5], "stage2": [1, 0.9], "gaussian": [1, 0.9]},
            "spectrum_gap": {"stage1": 0.3, "stage2": gap2}, "kl_gaussian_fit": {"stage1": 2.0, "stage2": 0.1, "gaussian": 0.05},
            "gamma_trajectory": {"final_gamma": 0.002, "tail_change": tail, "converged": abs(tail) < 0.1, "fixed": fixed}}


@pytest.mark.parametrize("gap2,tail,fixed,expect", [
    (0.01, -0.01, False, ["gamma has converged", "r_hat = 2 of 6", "Stage 2 repairs"]),
    (0.4, -1.0, False, ["gamma has not converged", "Stage 2 does not repair"]),
    (0.1, 0.0, True, ["fixed at", "not yet close"]),
])
def test_verdict_answers_the_three_questions(gap2, tail, fixed, expect):
    text = " ".join(verdict(_summary(gap2, tail, fixed)))
    for e in expect:
        assert e in text


def test_report_html_embeds_figures_and_numbers():
    page = report_html(Diagnosis.from_dict(_summary()), {"Figure X": b"\x89PNGfake"})
    assert "data:image/png;base64,iVBOR2Zha2U=" in page
    assert "<td>30</td>" in page  # the perturbation table's image variance
    assert "Stage 2 repairs" in page


# ---------------------------------------------------------------------------- figures of any model's Diagnosis
def _flat_diagnosis(lo=0.0, hi=1.0):
    """A flat-output (784 numbers) linear model whose decodes lie in [lo, hi]."""
    import torch

    from _lingauss import LinearGaussianDiagVAE
    from vaediag.diagnostics import diagnose
    from vaediag.diagnostics.adapt import adapt

    m = LinearGaussianDiagVAE([3.0, 10.0, 0.0], 0.05, d=784)
    dec = lambda z: lo + (hi - lo) * torch.sigmoid(z.double() @ m.W.T)  # noqa: E731
    x = lo + (hi - lo) * torch.rand(40, 784, dtype=torch.float64)
    return diagnose(adapt(m, decode=dec, data_range=(lo, hi)), x, iw_k=0)


def _images_on(fig):
    return [im.get_array() for ax in fig.axes for im in ax.get_images()]


def test_figure9_of_a_flat_decoder_shows_pictures_mapped_to_0_1():
    from vaediag.plots.paper import figure9

    d = _flat_diagnosis(-1.0, 1.0)
    fig = figure9(d)  # 784 -> 28 x 28: pictures, not bars
    imgs = _images_on(fig)
    assert imgs and imgs[0].shape[0] == 28
    raw = d.perturbations.images.astype(np.float32)
    lam = d.perturbations.lam[0]
    first = int(np.argsort(lam, kind="stable")[0])
    expect = np.clip((raw[first, 0, 0] + 1) / 2, 0, 1)  # decode 0 of the smallest-lambda direction, in [0, 1]
    np.testing.assert_allclose(np.asarray(imgs[0])[:, :28], expect, atol=1e-3)


def test_figure1_of_a_diagnosis_with_and_without_history():
    from vaediag.plots.paper import figure1

    d = _flat_diagnosis()
    fig = figure1(d)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "no training history given" in texts and "no history" in fig.axes[0].get_title()
    hist = {"step": [0, 10, 20], "gamma": [1.0, 0.1, 0.05], "mse": [0.2, 0.1, 0.05]}
    fig2 = figure1(d, history=hist)
    line = fig2.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), np.log([1.0, 0.1, 0.05]))
    with pytest.raises(VaediagError, match="gamma"):
        figure1(d, history={"step": [0, 1]})


def test_figure10_and_report_of_a_diagnosis():
    from vaediag.plots.paper import figure10
    from vaediag.plots.report import report

    d = _flat_diagnosis()
    fig = figure10({"a": d, "b": d})
    assert len(fig.axes) == 2 and sum(p.get_height() for p in fig.axes[0].patches) == d.usage.hist_counts.sum()
    page = report(d)
    assert page.count("data:image/png;base64,") == 3 and "standard error" in page
    assert d.verdict[0][:40] in page.replace("&#x27;", "'")
