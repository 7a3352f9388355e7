"""Table 1 of the paper from stored ``vaediag fid`` results, beside the published numbers.

Rows follow Table 1: VAE (cross-entr.), VAE (fixed gamma), VAE (learned gamma), 2-Stage VAE; one column
pair (ours, paper) per data set. Which of a run's scores fills which row is read from its config:
stage-1 samples of a Bernoulli-decoder run -> cross-entropy row; of a Gaussian run with fixed gamma ->
fixed row; with learned gamma -> learned row; two-stage samples of a learned-gamma Gaussian run ->
2-Stage VAE. A two-stage score on another stage 1 gets its own row, with no published value.
"""

from __future__ import annotations

from vaediag.errors import VaediagError
from vaediag.engine.runs import Run

# Table 1 of the paper (ICLR 2019 submission, 10 trials each): (mean, std); neutral InfoGAN architecture.
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "VAE (cross-entr.)": {"MNIST": (23.8, 0.6), "Fashion": (58.7, 1.2), "CIFAR-10": (155.7, 11.6), "CelebA": (85.7, 3.8)},
    "VAE (fixed γ)": {"MNIST": (51.2, 0.8), "Fashion": (104.5, 1.3), "CIFAR-10": (113.0, 0.7), "CelebA": (119.8, 0.9)},
    "VAE (learned γ)": {"MNIST": (47.0, 0.9), "Fashion": (51.5, 1.0), "CIFAR-10": (80.1, 0.6), "CelebA": (67.4, 2.1)},
    "2-Stage VAE": {"MNIST": (13.4, 1.3), "Fashion": (22.0, 0.6), "CIFAR-10": (71.0, 0.6), "CelebA": (45.9, 1.4)},
}
ROW_ORDER = ("VAE (cross-entr.)", "VAE (fixed γ)", "VAE (learned γ)", "2-Stage VAE")
PAPER_COLUMN = {"mnist": "MNIST", "mnist5k": "MNIST", "fashion-mnist": "Fashion", "cifar10": "CIFAR-10", "celeba": "CelebA"}


def rows_for(result: dict) -> list[tuple[str, str]]:
    """[(row label, source)] for one stored result, from the model settings it records."""
    m = result["model"]
    if m["decoder"] == "bernoulli":
        first, two = "VAE (cross-entr.)", "2-Stage VAE (cross-entr. stage 1)"
    elif m["gamma_mode"] == "fixed":
        first, two = "VAE (fixed γ)", f"2-Stage VAE (fixed γ = {m['gamma_init']:g} stage 1)"
    else:
        first, two = "VAE (learned γ)", "2-Stage VAE"
    out = [(first, "stage1")]
    if "stage2" in result:
        out.append((two, "stage2"))
    return out


def _cell(score: dict, proxy: bool) -> str:
    if proxy:  # proxy distances are small numbers: keep three significant digits
        text = f"{score['mean']:.3g} ± {score['std']:.2g} (proxy)"
    else:
        text = f"{score['mean']:.1f} ± {score['std']:.1f}"
    if "kid" in score:  # KID beside FID wherever FID is printed (results stored before KID have none)
        text += f", KID {score['kid']['mean']:.3g} ± {score['kid']['std']:.2g}"
    return f"{text} [n={score['n']}]"


def table_markdown(results: list[dict]) -> str:
    """Markdown in the layout of Table 1 for stored results (as returned by ``read_result``)."""
    datasets: list[str] = []
    cells: dict[tuple[str, str], list[str]] = {}
    rows = [r for r in ROW_ORDER if r != "VAE (cross-entr.)"]
    for res in results:
        ds = res["protocol"]["dataset"]
        if ds not in datasets:
            datasets.append(ds)
        for label, source in rows_for(res):
            if label not in rows:
                rows.append(label)
            cells.setdefault((label, ds), []).append(_cell(res[source], res["proxy"]))
    if any(r["model"]["decoder"] == "bernoulli" for r in results):
        rows.insert(0, "VAE (cross-entr.)")
    rows = [r for r in ROW_ORDER if r in rows] + [r for r in rows if r not in ROW_ORDER]
    head = ["model"]
    for ds in datasets:
        paper = PAPER_COLUMN.get(ds)
        head += [f"{ds} (ours)", f"{paper} (paper)" if paper else f"{ds} (paper)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        line = [row]
        for ds in datasets:
            line.append("; ".join(cells.get((row, ds), [])) or "—")
            pub = PUBLISHED.get(row, {}).get(PAPER_COLUMN.get(ds, ""))
            line.append(f"{pub[0]:.1f} ± {pub[1]:.1f}" if pub else "—")
        lines.append("| " + " | ".join(line) + " |")
    notes = ["Paper: Table 1 of Dai & Wipf (ICLR 2019 submission), FID of 10,000 samples vs 10,000 test "
             "images, mean ± std over 10 trials."]
    if any(r["proxy"] for r in results):
        notes.append("(proxy): Fréchet distance in a random-conv feature space (vaediag fid --proxy); "
                     "NOT an FID, not comparable to the paper's column.")
    if any(ds == "mnist5k" for ds in datasets):
        notes.append("mnist5k is 5,000 MNIST training digits (held-out split of the run), so its n is far below "
                     "the paper's 10,000 and FID at small n is biased upwards.")
    if any("kid" in r.get(src, {}) for r in results for src in ("stage1", "stage2")):
        notes.append("KID: unbiased kernel inception distance (cubic kernel) of the same features, mean ± std "
                     "over seeds; the paper reports none.")
    if any(r["protocol"]["n"] != 10000 for r in results):
        notes.append("[n=...] is the number of images per side; FIDs at different n are not comparable.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def load_results(runs: list[Run], prefer_proxy: bool = False) -> list[dict]:
    """The stored result of each run: the Inception FID if there is one, else the proxy (or the reverse)."""
    from vaediag.quality.evaluate import read_result

    out = []
    for run in runs:
        res = read_result(run, prefer_proxy) or read_result(run, not prefer_proxy)
        if res is None:
            raise VaediagError(f"{run.path} has no FID result yet; run vaediag.fid({str(run.path)!r}) "
                               "(or with proxy=True) first")
        out.append(res)
    return out
