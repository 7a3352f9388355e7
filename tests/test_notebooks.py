"""Every notebook runs top to bottom in a real Jupyter kernel, as in JupyterLab, and its figures come
out as pictures (``image/png``), not as ``<Figure size ...>`` text."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# The least number of pictures each notebook shows (a figure per figure cell).
MIN_FIGURES = {"01_tour.ipynb": 4, "02_theory_lab.ipynb": 0, "03_your_own_vae.ipynb": 2, "04_enhance_your_vae.ipynb": 2,
               "05_outside_vaes.ipynb": 2}


def _outputs(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            yield i, out


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_and_shows_its_figures_inline(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert not any(True for _ in _outputs(nb)), f"{name} is committed with outputs: strip them"
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [(i, o) for i, o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, f"{name}: cell {errors[0][0]} raised {errors[0][1].get('ename')}"
    pictures = [i for i, o in _outputs(nb) if "image/png" in o.get("data", {})]
    as_text = [i for i, o in _outputs(nb)
               if o.get("data", {}).get("text/plain", "").startswith("<Figure") and "image/png" not in o.get("data", {})]
    assert not as_text, f"{name}: cells {as_text} show a figure as text, not as a picture"
    assert len(pictures) >= MIN_FIGURES.get(name, 1), f"{name}: {len(pictures)} pictures"
