"""Outside models from the command line: ``vaediag diagnose --model module:factory [--checkpoint F] --data F``.

- :func:`load_outside_model` imports the factory (``package.module:factory`` or ``path/to/file.py:factory``),
  calls it with no arguments (it returns the model, or the model already passed through
  :func:`vaediag.adapt` to declare its likelihood, gamma or loss, KL weight, data range or image shape)
  and loads a checkpoint into it: ``torch.load(weights_only=True)`` (a state dict, or a dict holding one
  under ``state_dict`` / ``model_state_dict`` / ``model``), or a ``.safetensors`` file when the
  safetensors package is installed.
- :func:`load_inputs` reads the data: a .npy / .npz array or a folder of PNG/JPEG images (uint8 images
  are mapped into the model's ``data_range``; float arrays are taken in the model's own units, as
  :func:`vaediag.diagnose` takes them), or a data-set name of :func:`vaediag.load_dataset` (its
  training images).
- :func:`diagnose_outside` diagnoses it and writes into ``out`` what ``vaediag diagnose --run`` writes
  for a run (summary.json, arrays.npz), the HTML report, and with ``figures`` Figure 1 (without a
  gamma history), Fig. 9 and Fig. 10 as PNG.

Every mistake is one sentence: a malformed spec or a factory that is not there is a usage mistake
(:class:`UsageError`, exit 2); a module or file that is missing or fails, a checkpoint that does not fit
the model, data the model cannot encode are runtime failures (:class:`VaediagError`, exit 1).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
import sys
import zipfile

import numpy as np
import torch

from vaediag.errors import UsageError, VaediagError

STATE_KEYS = ("state_dict", "model_state_dict", "model")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def _import(where: str):
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise VaediagError(f"spec={path}: the file does not exist")
        name = f"vaediag_model_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of neighbouring files
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # the user's code: any failure is one sentence
            raise VaediagError(f"spec={path}: importing it failed ({_first_line(e)})") from None
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as 'python -m' does: modules of the current folder
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name and where.startswith(e.name):
            raise VaediagError(f"spec={where}: no module named {where!r} (run from the folder that holds it, set "
                               "PYTHONPATH, or give path/to/file.py:factory)") from None
        raise VaediagError(f"spec={where}: importing it failed ({_first_line(e)})") from None
    except Exception as e:
        raise VaediagError(f"spec={where}: importing it failed ({_first_line(e)})") from None


def load_outside_model(spec: str, checkpoint: str | os.PathLike | None = None, device: str = "cpu"):
    """The model of ``spec`` (``module:factory`` or ``file.py:factory``; the factory is called with no
    arguments) with ``checkpoint`` loaded into it, on ``device``."""
    where, sep, attr = str(spec).rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise UsageError(f"spec={spec} must be module:factory or path/to/file.py:factory (the function that "
                         "returns the model)")
    module = _import(where)
    factory = getattr(module, attr, None)
    if factory is None:
        names = sorted(n for n in vars(module) if callable(vars(module)[n]) and not n.startswith("_"))[:8]
        raise UsageError(f"spec={where}: it has no {attr!r} (its functions and classes: {', '.join(names) or 'none'})")
    if not callable(factory):
        raise UsageError(f"spec={where}:{attr} is a {type(factory).__name__}, not a function returning the model")
    try:
        model = factory()
    except Exception as e:
        raise VaediagError(f"spec={where}:{attr}: calling it raised {_first_line(e)}") from None
    if model is None or not hasattr(model, "encode") and not hasattr(model, "encoder"):
        raise VaediagError(f"spec={where}:{attr}: it returned a {type(model).__name__}, not a VAE (it needs "
                           "encode/decode methods, or return vaediag.adapt(model, encode=..., decode=...))")
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    inner = getattr(model, "inner", None)
    for m in (model, inner):
        if isinstance(m, torch.nn.Module):
            m.to(device)
    return model


def _state_dict(path: Path) -> dict:
    if not path.is_file():
        raise VaediagError(f"checkpoint={path} does not exist")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise VaediagError(f"checkpoint={path} is a .safetensors file: install safetensors "
                               "(pip install 'vaediag[safetensors]') to read it") from None
        try:
            return load_file(str(path))
        except Exception as e:
            raise VaediagError(f"checkpoint={path} is not a readable safetensors file ({_first_line(e)})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, EOFError, RuntimeError, OSError, ValueError) as e:
        raise VaediagError(f"checkpoint={path} is not a readable torch checkpoint ({_first_line(e)})") from None
    except Exception as e:  # pickled objects other than tensors are refused by weights_only
        raise VaediagError(f"checkpoint={path} holds more than weights and is refused by torch.load(weights_only="
                           f"True) ({_first_line(e)}); save model.state_dict() instead") from None
    if isinstance(obj, dict):
        for k in STATE_KEYS:
            if isinstance(obj.get(k), dict):
                return obj[k]
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise VaediagError(f"checkpoint={path} holds a {type(obj).__name__}, not a state dict (save model.state_dict())")


def load_checkpoint(model, checkpoint: str | os.PathLike) -> None:
    """Load the state dict of ``checkpoint`` into ``model`` (or the model an adapter wraps), strictly."""
    target = model if not hasattr(model, "inner") else (model.inner if model.inner is not None else model)
    if not isinstance(target, torch.nn.Module):
        raise VaediagError("checkpoint=: the factory's model is not a torch.nn.Module, so it has no state dict to load")
    state = _state_dict(Path(checkpoint))
    own = target.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        bits = ([f"{len(missing)} of the model's keys are missing (e.g. {missing[0]})"] if missing else []) + \
               ([f"{len(extra)} are not the model's (e.g. {extra[0]})"] if extra else [])
        raise VaediagError(f"checkpoint={checkpoint} does not fit the model: {'; '.join(bits)}")
    wrong = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if wrong:
        k = wrong[0]
        raise VaediagError(f"checkpoint={checkpoint} does not fit the model: {k} has shape {tuple(state[k].shape)} "
                           f"in the checkpoint and {tuple(own[k].shape)} in the model ({len(wrong)} such keys)")
    target.load_state_dict(state)


def load_inputs(data: str | os.PathLike, n: int | None = None) -> torch.Tensor:
    """The inputs of ``--data``: a .npy / .npz array, a folder of PNG/JPEG images (uint8, (N, C, H, W)) or a
    data-set name (its training images); at most ``n`` rows."""
    from vaediag.quality.sets import IMAGE_EXTS, read_folder, load_array

    p = Path(data)
    if p.is_dir():
        arr = read_folder(p)
        arr = arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
    elif p.suffix.lower() in (".npy", ".npz") and p.is_file():
        arr = load_array(p, f"data={p}")
    elif p.suffix.lower() in (".npy", ".npz") + IMAGE_EXTS or os.sep in str(data):
        raise VaediagError(f"data={p} does not exist")
    else:
        from vaediag.data import load_dataset

        return load_dataset(str(data), progress=False).train[:n]
    if arr.dtype != np.uint8 and not np.issubdtype(arr.dtype, np.floating):
        raise VaediagError(f"data={p} has dtype {arr.dtype}; give uint8 images or float inputs in the model's units")
    if arr.ndim < 2 or len(arr) < 2:
        raise VaediagError(f"data={p} has shape {arr.shape}; give one input per row, (n, ...) with n >= 2")
    return torch.from_numpy(np.array(arr[:n]))  # a copy: a memory-mapped .npy is read-only


def check_encodes(model, x: torch.Tensor) -> None:
    """One sentence when the model cannot encode and decode two rows of ``x`` (wrong shape or dtype)."""
    from vaediag.diagnostics.adapt import adapt, model_floats
    from vaediag.diagnostics.protocol import frozen, model_device
    from vaediag.data import Dataset

    m = adapt(model)
    tf = model_floats(Dataset.to_float, m.data_range)
    try:
        with torch.no_grad(), frozen(m):
            mu, _ = m.encode(tf(x[:2].to(model_device(m))))
            m.decode(mu)
    except VaediagError:
        raise
    except Exception as e:
        raise VaediagError(f"the model cannot encode and decode the data of shape {tuple(x.shape[1:])} per input "
                           f"({_first_line(e)}); give data of the shape encode() takes (or reshape it in the factory "
                           "with vaediag.adapt(model, encode=...))") from None


def diagnose_outside(spec: str, data, checkpoint=None, out=None, *, n: int | None = 10000, device: str = "auto",
                     figures: bool = False, options=None) -> tuple:
    """``vaediag diagnose --model``: (Diagnosis, files written). Writes summary.json, arrays.npz and
    report.html into ``out`` (and figure1.png, figure9.png, figure10.png with ``figures``). ``options``: a
    :class:`vaediag.DiagnoseOptions` (seed, tau, iw, budgets, progress, overwrite, json_path); a diagnosis over
    its budgets is refused before any file is written."""
    from vaediag.api.analysis import (DiagnoseOptions, _check_n, _json_path, _out_dir, _refuse_existing, diagnose,
                                      report)
    from vaediag.engine.devices import resolve_device

    o = options or DiagnoseOptions()
    overwrite, json_path = o.overwrite, o.json_path
    _check_n(n)
    folder = None if out is None else _out_dir(out)
    json_path = None if json_path is None else _json_path(json_path)
    if folder is not None and not overwrite:
        _refuse_existing(folder)
        if (folder / "report.html").exists():
            raise UsageError(f"{folder} already holds report.html; choose another folder or pass overwrite=True")
    dev = resolve_device(device)
    model = load_outside_model(spec, checkpoint, device=str(dev))
    x = load_inputs(data, n)
    check_encodes(model, x)
    d = diagnose(model, x, n=n, device=dev,
                 options=DiagnoseOptions(seed=o.seed, tau=o.tau, iw=o.iw, budgets=o.budgets, progress=o.progress))
    if folder is not None:
        folder.mkdir(exist_ok=True)
    d = d.with_provenance(model={"factory": spec, "checkpoint": None if checkpoint is None else str(checkpoint),
                                 "data": str(data)})
    written = []
    if json_path is not None:
        from vaediag.io import write_json

        write_json(json_path, d.to_dict())
    if folder is not None:
        d.save(folder, overwrite=True)
        written += [folder / "summary.json", folder / "arrays.npz"]
        report(d, out=folder / "report.html", title=f"vaediag report: {spec}")
        written.append(folder / "report.html")
        if figures:
            from vaediag.api.analysis import figure1, figure9, figure10
            from vaediag.plots import save_figure

            for name, fig in (("figure1", figure1(d)), ("figure9", figure9(d)), ("figure10", figure10(d))):
                save_figure(fig, folder / f"{name}.png", dpi=90 if name == "figure9" else 110)
                written.append(folder / f"{name}.png")
    return d, written
