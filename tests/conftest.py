import os

import matplotlib
import pytest
from hypothesis import settings

matplotlib.use("Agg")

# A deterministic profile for CI (numpy/scipy habit); `HYPOTHESIS_PROFILE=dev` explores more.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True, max_examples=25)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
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
    from vaediag.engine import train as T

    real = T.Progress.update

    def arm(n: int) -> None:
        def update(self, k, **kw):
            real(self, k, **kw)
            if k == n:
                T._StopFlag.requested = True

        monkeypatch.setattr(T.Progress, "update", update)

    arm.disarm = lambda: monkeypatch.setattr(T.Progress, "update", real)
    return arm
