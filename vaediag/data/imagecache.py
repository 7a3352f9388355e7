"""CelebA decoded once into a uint8 file that every later load memory-maps.

Decoding 202,599 JPEGs (:func:`celeba_image`: centre crop 140, bicubic resize to 64)
takes minutes; the cache is decoded once and then opened in about the time it takes to checksum it.

Layout (CACHE = ``--data-cache DIR``, by default ``DATA/celeba/vaediag-cache/``)::

    CACHE/celeba-64px-crop140-official.npy    uint8 (N, 3, 64, 64): the n_train training rows,
                                              then the n_test test rows (split order)
    CACHE/celeba-64px-crop140-official.json   the manifest, written last: the commit marker
    CACHE/celeba-64px-crop140-seed0-test0.1.*  the same for a folder without list_eval_partition.txt,
                                              whose random split (seed, test fraction) fixes the order
    CACHE/.celeba-....npy.tmp                 a build in progress (unique name, locked; never read;
                                              removed by a later build once unlocked and a minute old)

The split is the one ``load_celeba`` always used: the official one when ``list_eval_partition.txt``
is there (2 = test, 0 and 1 = train) unless it leaves a side empty, otherwise
``vaediag.data.core.split_train_test(seed, test_fraction)``. Manifest fields: ``format``, ``dataset``, ``source``,
``split``, ``split_key``, ``crop``, ``size``, ``n_train``, ``n_test``, ``shape``, ``dtype``,
``fingerprint`` (sha256 over the sorted JPEG names with their sizes and mtime_ns, the partition
file, crop, size, split key and ``FORMAT``: stat() only, no decoding), ``data_sha256`` (sha256 of
the data bytes after the .npy header; ``tail -c +$((data_offset + 1)) FILE.npy | sha256sum`` gives
the same), ``data_offset``, ``created``, ``vaediag_version``.

Opening: no committed cache -> build; source changed (fingerprint) -> one line on stderr and
rebuild; source JPEGs gone -> use the cache (one note on stderr). The checksum is verified on every
open (1.6 s for CelebA's 2.49 GB here: ``benchmarks/bench_imagecache.py``): a corrupt cache is
refused with a :class:`VaediagError` and never deleted or overwritten, except by ``rebuild=True``.
Builds write a temporary file in CACHE, ``os.replace`` it, then write the manifest; concurrent builds
are safe (identical content, last rename wins).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaediag.data.core import split_train_test
from vaediag.errors import VaediagError, check_positive_int
from vaediag.io import atomic_write_text, first_line, umask
from vaediag.progress import Progress

try:
    import fcntl
except ImportError:  # Windows: stray temporary files are then left for the user to delete
    fcntl = None

FORMAT = 1
CROP, SIZE = 140, 64
CACHE_FOLDER = "vaediag-cache"
CHUNK = 256  # images per decoding task
_HASH_BLOCK = 1 << 24  # bytes per sha256 update
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_FIELDS = {"format": int, "dataset": str, "source": str, "split": str, "split_key": str, "crop": int,
           "size": int, "n_train": int, "n_test": int, "shape": list, "dtype": str, "fingerprint": str,
           "data_sha256": str, "data_offset": int, "created": str, "vaediag_version": str}


@dataclass
class _Plan:
    """What a cache is built from: the source files in split order, and its key."""

    folder: Path
    files: list[str]  # names, train rows then test rows
    n_train: int
    key: str  # "official" or "seed{S}-test{F}"
    split: str  # human-readable description
    fingerprint: str


def celeba_image(path: Path, crop: int = 140, size: int = 64) -> np.ndarray:
    """Centre-crop to crop x crop, resize to size x size (PIL bicubic with antialiasing) -> (3, s, s) uint8."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            left, top = (w - crop) // 2, (h - crop) // 2
            im = im.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except OSError as e:
        raise VaediagError(f"cannot read image {path}: {e}") from None


def celeba_arrays(data_dir: str | os.PathLike, seed: int = 0, test_fraction: float = 0.1,
                  cache_dir: str | os.PathLike | None = None, progress: bool = True,
                  workers: int | None = None, rebuild: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """Open (building it first if needed) the CelebA cache of ``DATA/celeba``.

    Returns ``(train, test, info)``: uint8 (n, 3, 64, 64) views of one copy-on-write memmap (writing to
    them never touches the file) and ``info`` (the manifest plus ``path``, ``built``, ``seconds``).
    ``rebuild=True`` rebuilds even a sound or corrupt cache. ``workers``: decoding processes
    (default min(8, CPUs); 1 decodes in this process).
    """
    t0 = time.perf_counter()
    npy, plan, cmd = _locate(Path(data_dir), seed, test_fraction, cache_dir)
    built = False
    if plan is None:  # no source JPEGs: the cache is all there is
        if rebuild:
            raise VaediagError(f"cannot rebuild the CelebA cache: no CelebA JPEGs in {_folder(Path(data_dir))}")
        print(f"vaediag: note: no CelebA JPEGs in {_folder(Path(data_dir))}; using the cache {npy} "
              "without checking it against them", file=sys.stderr)
    else:
        state = "rebuild" if rebuild else _state(npy, plan, cmd)
        if state == "changed":
            print(f"vaediag: the CelebA images in {plan.folder} changed since the cache {npy} was built; "
                  "rebuilding it", file=sys.stderr)
        if state != "sound":
            _build(plan, npy, workers, progress)
            built = True
    mm, manifest = _open_verified(npy, cmd)
    info = dict(manifest, path=str(npy), built=built, seconds=time.perf_counter() - t0)
    n = manifest["n_train"]
    return mm[:n], mm[n:], info


def check_cache(data_dir: str | os.PathLike, seed: int = 0, test_fraction: float = 0.1,
                cache_dir: str | os.PathLike | None = None) -> dict:
    """Verify the cache without building it: its manifest, header, size, checksum and (when the JPEGs
    are there) that it matches them. Returns ``info`` as :func:`celeba_arrays`; raises
    :class:`VaediagError` if the cache is absent, out of date or corrupt."""
    t0 = time.perf_counter()
    npy, plan, cmd = _locate(Path(data_dir), seed, test_fraction, cache_dir)
    if plan is not None:
        state = _state(npy, plan, cmd)
        if state == "absent":
            raise VaediagError(f"there is no CelebA cache at {npy}; build it with {cmd})")
        if state == "changed":
            raise VaediagError(f"the CelebA cache {npy} is out of date (the images in {plan.folder} changed); "
                               f"rebuild it with {cmd})")
    mm, manifest = _open_verified(npy, cmd)
    del mm
    return dict(manifest, path=str(npy), checked_against_source=plan is not None,
                seconds=time.perf_counter() - t0)


def _command(data_dir: Path, cache_dir, seed: int, test_fraction: float, key: str) -> str:
    """The call that builds the cache, ``vaediag.cache(...)`` without its closing parenthesis (so that
    ``rebuild=True`` may follow); the command line reads it as the ``vaediag cache`` command."""
    cmd = f"vaediag.cache(data_dir={str(data_dir)!r}"
    if cache_dir is not None:
        cmd += f", data_cache={str(cache_dir)!r}"
    if key != "official":
        cmd += f", seed={int(seed)}, test_fraction={float(test_fraction)!r}"
    return cmd


# --------------------------------------------------------------------------- source and split
def _folder(data_dir: Path) -> Path:
    base = data_dir / "celeba"
    return base / "img_align_celeba" if (base / "img_align_celeba").is_dir() else base


def _locate(data_dir: Path, seed: int, test_fraction: float, cache_dir) -> tuple[Path, _Plan | None, str]:
    """The cache file to use, the build plan (None when the JPEGs are absent) and the `vaediag cache` command for it."""
    base, folder = data_dir / "celeba", _folder(data_dir)
    cdir = Path(cache_dir) if cache_dir is not None else base / CACHE_FOLDER
    random_key = f"seed{int(seed)}-test{float(test_fraction)!r}"
    stat = _stat_jpegs(folder)
    if stat:
        plan = _plan(folder, base / "list_eval_partition.txt", stat, seed, test_fraction, random_key)
        return _npy(cdir, plan.key), plan, _command(data_dir, cache_dir, seed, test_fraction, plan.key)
    keys = ["official", random_key] if (base / "list_eval_partition.txt").is_file() else [random_key, "official"]
    for key in keys:
        npy = _npy(cdir, key)
        if npy.is_file() and npy.with_suffix(".json").is_file():
            return npy, None, _command(data_dir, cache_dir, seed, test_fraction, key)
    raise VaediagError(f"no CelebA JPEGs found in {folder} and no cache in {cdir}: unzip img_align_celeba.zip "
                       f"into {base}/ (so that celeba/img_align_celeba/000001.jpg exists) or pass data_dir=")


def _npy(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"celeba-{SIZE}px-crop{CROP}-{key}.npy"


def _stat_jpegs(folder: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of every *.jpg file in the folder, sorted by name."""
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.endswith(".jpg") and e.is_file():
                st = e.stat()
                out.append((e.name, st.st_size, st.st_mtime_ns))
    return sorted(out)


def _plan(folder: Path, part: Path, stat: list, seed: int, test_fraction: float, random_key: str) -> _Plan:

    names = [s[0] for s in stat]
    part_bytes = part.read_bytes() if part.is_file() else None
    order = None
    if part_bytes is not None:  # the official split: 0 train, 1 validation, 2 test
        split = _parse_partition(part, part_bytes)
        is_test = np.array([split.get(n, 0) == 2 for n in names])
        if is_test.any() and (~is_test).any():
            order, n_train = np.concatenate([np.flatnonzero(~is_test), np.flatnonzero(is_test)]), int((~is_test).sum())
            key, desc = "official", f"official ({part.name}: 0 and 1 train, 2 test)"
    if order is None:
        tr, te = split_train_test(np.arange(len(names)), seed, test_fraction)
        order, n_train, key = np.concatenate([tr, te]), len(tr), random_key
        desc = f"random (vaediag.data.core.split_train_test, seed {int(seed)}, test fraction {float(test_fraction)!r})"
    h = hashlib.sha256(json.dumps({"format": FORMAT, "crop": CROP, "size": SIZE, "split": key}).encode())
    h.update(b"\0" if part_bytes is None else hashlib.sha256(part_bytes).digest())
    for name, size, mtime in stat:
        h.update(f"{name}\0{size}\0{mtime}\n".encode())
    return _Plan(folder, [names[i] for i in order], n_train, key, desc, h.hexdigest())


def _parse_partition(path: Path, raw: bytes) -> dict[str, int]:
    split = {}
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        if line.strip():
            try:
                fname, k = line.split()
                split[fname] = int(k)
            except ValueError:
                raise VaediagError(f"{path} has a line that is not 'NAME.jpg PARTITION': {line.strip()[:80]!r}") from None
    return split


# --------------------------------------------------------------------------- open and verify
def _state(npy: Path, plan: _Plan, cmd: str) -> str:
    """'sound' (committed, same source), 'changed' (committed, other source) or 'absent'."""
    js = npy.with_suffix(".json")
    if not (js.is_file() and npy.is_file()):
        return "absent"  # nothing, or an interrupted build (data file without its manifest)
    return "sound" if _read_manifest(js, cmd)["fingerprint"] == plan.fingerprint else "changed"


def _corrupt(path: Path, what: str, cmd: str) -> VaediagError:
    return VaediagError(f"the CelebA cache file {path} is corrupt ({what}); delete {path.with_suffix('.npy').name} "
                        f"and {path.with_suffix('.json').name} to rebuild it, or run {cmd}, rebuild=True)")


def _read_manifest(js: Path, cmd: str) -> dict:
    try:
        m = json.loads(js.read_text())
    except (OSError, ValueError) as e:
        raise _corrupt(js, f"not readable JSON: {first_line(e, 100)}", cmd) from None
    if not isinstance(m, dict):
        raise _corrupt(js, "not a JSON object", cmd)
    bad = [k for k, t in _FIELDS.items() if not isinstance(m.get(k), t)]
    if bad:
        raise _corrupt(js, f"missing or mistyped fields: {', '.join(bad)}", cmd)
    if m["format"] != FORMAT:
        raise _corrupt(js, f"format {m['format']}, this vaediag reads format {FORMAT}", cmd)
    if m["shape"] != [m["n_train"] + m["n_test"], 3, m["size"], m["size"]] or m["dtype"] != "uint8":
        raise _corrupt(js, f"shape {m['shape']} {m['dtype']} disagrees with n_train, n_test and size", cmd)
    return m


def _open_verified(npy: Path, cmd: str) -> tuple[np.memmap, dict]:
    """Read the manifest, check the .npy header, file size and checksum against it; copy-on-write memmap."""
    m = _read_manifest(npy.with_suffix(".json"), cmd)
    try:
        with open(npy, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = _HEADER_READERS.get(version)
            if read_header is None:
                raise ValueError(f".npy format version {version} is not one vaediag writes")
            shape, fortran, dtype = read_header(f)
            offset, size = f.tell(), os.fstat(f.fileno()).st_size
    except (OSError, ValueError, SyntaxError) as e:
        raise _corrupt(npy, f"unreadable .npy header: {first_line(e, 100)}", cmd) from None
    if list(shape) != m["shape"] or dtype != np.uint8 or fortran:
        raise _corrupt(npy, f"header says {shape} {dtype}, the manifest {tuple(m['shape'])} uint8", cmd)
    if size != offset + int(np.prod(shape)):
        raise _corrupt(npy, f"{size} bytes instead of {offset + int(np.prod(shape))}", cmd)
    try:
        mm = np.load(npy, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise _corrupt(npy, f"cannot be memory-mapped: {first_line(e, 100)}", cmd) from None
    if _sha256(mm) != m["data_sha256"]:
        raise _corrupt(npy, "checksum mismatch: its bytes changed since it was built", cmd)
    return mm, m


def _sha256(a: np.ndarray) -> str:
    flat, h = a.reshape(-1), hashlib.sha256()
    for i in range(0, flat.size, _HASH_BLOCK):
        h.update(flat[i:i + _HASH_BLOCK])
    return h.hexdigest()


# --------------------------------------------------------------------------- build
def _build(plan: _Plan, npy: Path, workers: int | None, progress: bool) -> None:
    from vaediag import __version__

    workers = min(8, os.cpu_count() or 1) if workers is None else int(workers)
    workers = check_positive_int("workers", workers)
    js, n = npy.with_suffix(".json"), len(plan.files)
    try:
        npy.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(npy)
        fd, tmp = tempfile.mkstemp(dir=npy.parent, prefix=f".{npy.stem}.", suffix=".npy.tmp")
    except OSError as e:
        raise _unwritable(npy.parent, e) from None
    bar = Progress(n, "decoding CelebA into the cache", enabled=progress)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # tells _remove_stale_temps this build is alive
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600 files; give the usual permissions
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 3, SIZE, SIZE))
        offset, h, pos = mm.offset, hashlib.sha256(), 0
        if hasattr(os, "posix_fallocate"):  # a full disk is an OSError here, not a SIGBUS while writing
            os.posix_fallocate(fd, 0, offset + mm.nbytes)
        paths = [str(plan.folder / name) for name in plan.files]
        chunks = [paths[i:i + CHUNK] for i in range(0, n, CHUNK)]
        with contextlib.closing(_decode_all(chunks, workers)) as blocks:  # closing stops the pool on errors
            for block in blocks:
                mm[pos:pos + len(block)] = block
                h.update(block)
                pos += len(block)
                bar.update(pos)
        mm.flush()
        del mm
        os.fsync(fd)
        js.unlink(missing_ok=True)  # uncommit the old cache before its data file is replaced
        os.replace(tmp, npy)
        manifest = {
            "format": FORMAT, "dataset": "celeba", "source": str(plan.folder.resolve()), "split": plan.split,
            "split_key": plan.key, "crop": CROP, "size": SIZE, "n_train": plan.n_train,
            "n_test": n - plan.n_train, "shape": [n, 3, SIZE, SIZE], "dtype": "uint8",
            "fingerprint": plan.fingerprint, "data_sha256": h.hexdigest(), "data_offset": offset,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "vaediag_version": __version__,
        }
        atomic_write_text(js, json.dumps(manifest, indent=2) + "\n")
    except OSError as e:
        raise _unwritable(npy.parent, e) from None
    finally:
        bar.close()
        os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _unwritable(folder: Path, e: OSError) -> VaediagError:
    return VaediagError(f"cannot write the CelebA cache in {folder} ({e.strerror or e}); "
                        "pass data_cache=DIR to put it in a writable folder")



def _decode_all(chunks: list[list[str]], workers: int):
    """Decoded chunks, in order: (k, 3, SIZE, SIZE) uint8 each."""
    if workers == 1 or len(chunks) < 2:
        yield from map(_decode, chunks)
        return
    with multiprocessing.get_context().Pool(min(workers, len(chunks)), initializer=_ignore_sigint) as pool:
        yield from pool.imap(_decode, chunks)


def _decode(paths: list[str]) -> np.ndarray:
    return np.ascontiguousarray(np.stack([celeba_image(Path(p), CROP, SIZE) for p in paths]))


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the pool


def _remove_stale_temps(npy: Path) -> None:
    """Delete temporary files of builds that died (kill -9, power cut): a live build holds a lock on its own."""
    if fcntl is None:
        return
    for tmp in npy.parent.glob(f".{npy.stem}.*.npy.tmp"):
        try:
            with open(tmp, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if time.time() - os.fstat(f.fileno()).st_mtime > 60:  # not one created a moment ago
                    tmp.unlink()
                    print(f"vaediag: removed {tmp}, left by an interrupted cache build", file=sys.stderr)
        except OSError:
            pass
