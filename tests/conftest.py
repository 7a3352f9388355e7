import os

# In an xdist worker (the default: `-n 2` in pyproject), one thread per process: two workers share the
# cores, and torch's own threads would only wait for each other. Set before torch is imported, so that
# subprocesses (torchrun jobs, notebook kernels) inherit it too.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import matplotlib  # noqa: E402
import pytest
from hypothesis import settings

matplotlib.use("Agg")

# A deterministic profile for CI (numpy/scipy habit); `HYPOTHESIS_PROFILE=dev` explores more.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True, max_examples=25)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # xdist (3.6 on) queues the groups by their number of tests, most first, unless told not to: the
    # notebooks (one test each, the longest groups after the torchrun runs) came last and made the tail.
    # HEAVY_FIRST below orders the queue instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


# The test files that take longest, longest first (CPU seconds per file in one thread, as in a worker; see
# docs/results/install.md), started first so that the two xdist workers finish together: a worker takes
# the next file when it runs dry, so the long ones must not come last.
HEAVY_FIRST = ("test_engine_distributed.py", "test_engine_train.py", "test_notebooks.py", "test_cli_diagnostics.py",
               "test_bench_table1.py", "test_first_hour.py", "test_api_outside.py", "test_typing.py",
               "test_theory_checks_constructions.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # xdist (`--dist loadfile`, pyproject.toml) hands a worker whole files, in the order collected: heavy files
    # first (HEAVY_FIRST), so that none of them starts last.
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda it: rank.get(it.path.name, len(rank)))  # stable: the rest keep their order
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)



@pytest.fixture(autouse=True)
def _restore_torch_state():
    # `vaediag.cli.main` flushes denormals for the process and some verbs (e.g. `vaediag theory
    # --threads 1`) set the thread count; every test starts from the default state (Hypothesis
    # refuses to draw floats while denormals are flushed).
    import torch

    n = torch.get_num_threads()
    torch.set_flush_denormal(False)
    yield
    torch.set_num_threads(n)
    torch.set_flush_denormal(False)


@pytest.fixture
def stop_at(monkeypatch):
    """``stop_at(n)``: the next training run stops as after a Ctrl-C once it reaches step n (it writes
    a checkpoint and raises Interrupted); ``stop_at.disarm()`` lets later runs go on."""
    from vaediag.engine import loop as T

    real = T.Progress.update

    def arm(n: int) -> None:
        def update(self, k, **kw):
            real(self, k, **kw)
            if k == n:
                T.StopFlag.requested = True

        monkeypatch.setattr(T.Progress, "update", update)

    arm.disarm = lambda: monkeypatch.setattr(T.Progress, "update", real)
    return arm


# ---------------------------------------------------------------------------- trained runs, shared
# Small runs that many test files need, trained once per worker process (session scope) and handed out
# as fresh copies, so a test may change its copy. FAST_TRAIN: 30 steps of the MLP VAE on a sphere in R^8,
# stage 1 only (about a second). Files that need another run keep their own fixture.
FAST_TRAIN = ("--dataset", "manifold:sphere?r=2&d=8&n=400", "--arch", "mlp", "--stages", "1", "--steps", "30")


@pytest.fixture(scope="session")
def _fast_run_source(tmp_path_factory):
    from vaediag.cli import main

    out = tmp_path_factory.mktemp("shared") / "fast"
    assert main(["train", *FAST_TRAIN, "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def fast_run(_fast_run_source, tmp_path):
    """A fresh copy, in this test's tmp_path/run, of the run ``vaediag train FAST_TRAIN`` makes."""
    import shutil

    return shutil.copytree(_fast_run_source, tmp_path / "run")
