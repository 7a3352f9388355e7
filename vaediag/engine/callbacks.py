"""Training callbacks: send each metrics row somewhere besides the CSV (TensorBoard, wandb, MLflow...).

``vaediag.train(..., callbacks=[f, ...])`` (and :func:`vaediag.engine.train.train`) calls every
``f(row)`` on rank 0 right after a row is appended to ``RUN/stageS/metrics.csv``; ``row`` is a dict
with ``stage`` (1 or 2) and the CSV's columns (``step, loss, recon, kl, mse, gamma, log_gamma, lr,
seconds``), numbers as in the CSV. The CSV stays the source of truth (``--resume`` drops rows past the
checkpoint from it; a callback has already seen them and sees them again after the resume). A callback
that has a ``close()`` is closed when training ends. An exception in a callback stops training like
any other error; the last checkpoint stays.

Example, wandb::

    import wandb
    wandb.init(project="vae")
    vaediag.train("runs/x", preset="quick", callbacks=[lambda row: wandb.log(row, step=row["step"])])
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterable

from vaediag.errors import VaediagError

Callback = Callable[[dict[str, Any]], None]
_ACTIVE: ContextVar[tuple[Callback, ...]] = ContextVar("vaediag_training_callbacks", default=())


@contextmanager
def using(callbacks: Iterable[Callback] | None):
    """Make ``callbacks`` receive the metrics rows of the training inside the ``with`` block."""
    cbs = tuple(callbacks or ())
    for cb in cbs:
        if not callable(cb):
            raise VaediagError(f"a training callback must be callable (it gets each metrics row), got {cb!r}")
    token = _ACTIVE.set(_ACTIVE.get() + cbs)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
        for cb in cbs:
            close = getattr(cb, "close", None)
            if callable(close):
                close()


def emit(row: dict[str, Any]) -> None:
    """Send one metrics row to the active callbacks (the training loop calls this on rank 0)."""
    for cb in _ACTIVE.get():
        cb(dict(row))


class TensorBoardLogger:
    """A callback writing every metric as a TensorBoard scalar ``stageS/NAME`` at its step
    (``vaediag.train(..., callbacks=[TensorBoardLogger(dir)])``; ``vaediag train --tensorboard DIR``).

    The package is checked when the logger is made (before anything is written); its writer, and so the
    folder, is made at the first row, which only rank 0 of a torchrun job sees.
    """

    def __init__(self, log_dir: str | Path):
        if importlib.util.find_spec("tensorboard") is None:
            raise VaediagError("tensorboard= needs the tensorboard package, which is not installed: "
                               "pip install tensorboard (or pip install 'vaediag[tensorboard]'); the metrics "
                               "are in RUN/stageS/metrics.csv either way")
        self.log_dir, self.writer = str(log_dir), None

    def __call__(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=self.log_dir)
        stage, step = row["stage"], int(row["step"])
        for name, value in row.items():
            if name not in ("stage", "step"):
                self.writer.add_scalar(f"stage{stage}/{name}", float(value), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
