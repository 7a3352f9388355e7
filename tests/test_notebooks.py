"""Every notebook runs top to bottom in a real Jupyter kernel, as in JupyterLab, and its figures come
out as pictures (``image/png``), not as ``<Figure size ...>`` text.

A kernel costs a Python, torch and vaediag import (about 4 CPU seconds): the default suite starts one per
test process and runs each notebook in it from an emptied namespace (``%reset -f``, as after "Restart
Kernel" but with the modules already imported), so a name a notebook uses without defining still fails.
The notebooks as shipped (--runslow) run in a fresh kernel each, as a reader's."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# The least number of pictures each notebook shows (a figure per figure cell).
MIN_FIGURES = {"01_tour.ipynb": 4, "02_theory_lab.ipynb": 0, "03_your_own_vae.ipynb": 2, "04_enhance_your_vae.ipynb": 2,
               "05_outside_vaes.ipynb": 2, "06_spatial_latents.ipynb": 3}


# What this test holds is that every cell runs and draws; the numbers a notebook prints are the reader's
# (the library's numbers have tests of their own). So the default suite runs each notebook with the
# sizes of its first code cell turned down, as a reader would for a first look (a tenth to a twentieth
# of the steps; a tenth of the inputs to diagnose): the same cells, calls and figures. The notebooks
# exactly as shipped run with --runslow (test_notebook_as_shipped_runs).
FAST_PARAMETERS = {
    "01_tour.ipynb": {"STEPS, STAGE2_STEPS = 400, 400": "STEPS, STAGE2_STEPS = 20, 20", "N_DIAG = 1000 ": "N_DIAG = 100 "},
    "02_theory_lab.ipynb": {"STEPS = 3000 ": "STEPS = 300 "},
    "03_your_own_vae.ipynb": {"STEPS, SEED = 2, 10, 6, 3000, 0": "STEPS, SEED = 2, 10, 6, 300, 0"},
    "04_enhance_your_vae.ipynb": {"STEPS, STAGE2_STEPS = 800, 800": "STEPS, STAGE2_STEPS = 50, 50"},
    # 05 also scores with the offline proxy features (Inception on a CPU takes minutes; its FID path has
    # tests of its own)
    "05_outside_vaes.ipynb": {"PROXY = None ": "PROXY = True ", "STEPS, STAGE2_STEPS, SEED = 200, 300, 0":
                              "STEPS, STAGE2_STEPS, SEED = 20, 30, 0", "N_DIAG = 1000 ": "N_DIAG = 100 "},
    "06_spatial_latents.ipynb": {"N, STEPS, STAGE2_STEPS, SEED = 2000, 150, 600, 0":
                                 "N, STEPS, STAGE2_STEPS, SEED = 300, 20, 40, 0"},
}


def _outputs(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            yield i, out


@pytest.fixture(scope="session")
def kernel(tmp_path_factory):
    """A Jupyter kernel (its manager) shared by the notebooks this process runs; shut down at the end."""
    from jupyter_core.utils import run_sync

    km = nbclient.NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3").create_kernel_manager()
    run_sync(km.start_kernel)(cwd=str(tmp_path_factory.mktemp("kernel")),
                              extra_arguments=["--HistoryManager.hist_file=:memory:"])
    yield km
    run_sync(km.shutdown_kernel)()


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_and_shows_its_figures_inline(name, tmp_path, kernel):
    _run_and_check(name, tmp_path, FAST_PARAMETERS.get(name, {}), kernel)


@pytest.mark.slow  # minutes: the notebooks' own step counts (01 alone trains 400 + 400 steps)
@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_as_shipped_runs(name, tmp_path):
    _run_and_check(name, tmp_path, {k: v for k, v in FAST_PARAMETERS.get(name, {}).items() if "PROXY" in k})


def _run_and_check(name, tmp_path, parameters, km=None):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert not any(True for _ in _outputs(nb)), f"{name} is committed with outputs: strip them"
    # Parameters set as a reader would in the first code cell
    for old, new in parameters.items():
        cell = next(c for c in nb.cells if c.cell_type == "code")
        assert old in cell.source, f"{name}: parameter line {old!r} not found in the first code cell"
        cell.source = cell.source.replace(old, new)
    if km is not None:  # a kernel that ran other notebooks: an empty namespace, in tmp_path
        from jupyter_core.utils import run_sync

        if not run_sync(km.is_alive)():  # a notebook before this one killed it
            run_sync(km.restart_kernel)(now=True)
        nb.cells.insert(0, nbformat.v4.new_code_cell(f"%reset -f\n__import__('os').chdir({str(tmp_path)!r})"))
    client = nbclient.NotebookClient(nb, km=km, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:
        if km is not None and client.kc is not None:  # this test's connection to the shared kernel
            client.kc.stop_channels()
    if km is not None:
        assert not nb.cells.pop(0).outputs, "the kernel's reset printed something"
    errors = [(i, o) for i, o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, f"{name}: cell {errors[0][0]} raised {errors[0][1].get('ename')}"
    pictures = [i for i, o in _outputs(nb) if "image/png" in o.get("data", {})]
    as_text = [i for i, o in _outputs(nb)
               if o.get("data", {}).get("text/plain", "").startswith("<Figure") and "image/png" not in o.get("data", {})]
    assert not as_text, f"{name}: cells {as_text} show a figure as text, not as a picture"
    assert len(pictures) >= MIN_FIGURES.get(name, 1), f"{name}: {len(pictures)} pictures"


# What a notebook may import: vaediag (its public API, ``vaediag.name``), the standard library and the
# libraries a reader already has.
ALLOWED_IMPORTS = {"vaediag", "numpy", "torch", "matplotlib"}


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_uses_the_public_api_only(name):
    import ast
    import json
    import re
    import sys

    bad = []
    for i, cell in enumerate(json.loads((NOTEBOOKS / name).read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                internal = top == "vaediag" and mod != "vaediag"
                if internal or (top not in ALLOWED_IMPORTS and top not in sys.stdlib_module_names):
                    bad.append(f"{name} cell {i}: import {mod}")
        # vaediag.x.y reaches past the API into a module (vaediag.lab.* is the lab's API)
        for m in re.finditer(r"\bvaediag\.(\w+)\.", source):
            if m.group(1) != "lab":
                bad.append(f"{name} cell {i}: {m.group(0)}")
    assert not bad, "notebooks use only `import vaediag` and its names:\n" + "\n".join(bad)
