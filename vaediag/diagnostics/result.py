"""The result of a diagnosis: :class:`Diagnosis`, the summary (plain JSON values) and the arrays (numpy),
with the verdict and an atomic ``save``. It is a pair, so ``summary, arrays = diagnose(...)`` works."""

from __future__ import annotations

import json
import os
from pathlib import Path
import zipfile

import numpy as np

from vaediag.errors import UsageError, VaediagError
from vaediag.io import atomic_save_npz, write_json

SUMMARY, ARRAYS = "summary.json", "arrays.npz"


class Diagnosis(tuple):
    """(summary, arrays) of a diagnosis, with ``.summary``, ``.arrays``, ``.verdict`` and ``.save(dir)``."""

    def __new__(cls, summary: dict, arrays: dict):
        return super().__new__(cls, (summary, arrays))

    def __getnewargs__(self):  # pickle and copy rebuild it from the pair
        return (self[0], self[1])

    @property
    def summary(self) -> dict:
        return self[0]

    @property
    def arrays(self) -> dict:
        return self[1]

    @property
    def verdict(self) -> list[str]:
        """Plain-language answers (:func:`vaediag.diagnostics.verdict.verdict`), one sentence or two each."""
        from vaediag.diagnostics.verdict import verdict

        return verdict(self.summary)

    def save(self, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``summary.json`` and ``arrays.npz`` into ``out_dir`` (created), each atomically; an existing
        file is refused unless ``overwrite``. Returns the folder."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} is a file; give a folder to save the diagnosis in")
        if not overwrite:
            there = [p.name for p in (out / SUMMARY, out / ARRAYS) if p.exists()]
            if there:
                raise UsageError(f"{out} already holds {' and '.join(there)}; choose another folder or pass overwrite=True")
        try:
            atomic_save_npz(out / ARRAYS, **{k: np.asarray(v) for k, v in self.arrays.items()})
            write_json(out / SUMMARY, self.summary)
        except OSError as e:
            raise VaediagError(f"cannot write the diagnosis to {out}: {e.strerror or e}") from None
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike, missing_ok: bool = False) -> "Diagnosis | None":
        """A saved diagnosis (``summary.json`` + ``arrays.npz``); None when missing or unreadable and
        ``missing_ok``, else a :class:`VaediagError`."""
        s, a = Path(folder) / SUMMARY, Path(folder) / ARRAYS
        try:
            summary = json.loads(s.read_text())
            with np.load(a, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            if missing_ok:
                return None
            raise VaediagError(f"no readable diagnosis in {folder} ({type(e).__name__}): save one with Diagnosis.save") from None
        return cls(summary, arrays)

    def __repr__(self) -> str:
        s = self.summary
        g = s.get("gamma")
        ge = s.get("gamma_effective")
        bits = [f"r_hat={s.get('r_hat')} of {s.get('latent_dim')}", f"gamma={'none' if g is None else f'{g:.4g}'}"]
        if ge is not None:
            bits.append(f"gamma_effective={ge:.4g}")
        return f"Diagnosis({', '.join(bits)}, n={s.get('n')}; .summary, .arrays, .verdict, .save(dir))"
