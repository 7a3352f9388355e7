"""What opening the CelebA cache costs: the sha256 verified on every open, warm and cold.

    python benchmarks/bench_imagecache.py [--n 202599] [--dir /tmp] [--repeat 3] [--decode 400]

Writes a synthetic cache of N random images (uint8 N x 3 x 64 x 64, CelebA's 202,599 by default:
2.49 GB) with its manifest, as if the JPEGs had been decoded and then removed, opens it through
``vaediag.data.imagecache.celeba_arrays`` (header, size and checksum checks) with the file in the page
cache (warm) and after dropping it from the page cache (cold, ``posix_fadvise DONTNEED``), and
compares the throughput of other checksums on the same bytes in memory. With ``--decode K`` it also
times a one-process build from K random-content 178 x 218 JPEGs (CelebA's size; noise is harder to
decode than faces) to show what the cache saves. Deletes what it wrote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from vaediag import __version__
from vaediag.data import imagecache


def write_cache(data_dir: Path, n: int) -> Path:
    npy = imagecache._npy(data_dir / "celeba" / imagecache.CACHE_FOLDER, "official")
    npy.parent.mkdir(parents=True)
    mm = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(n, 3, 64, 64))
    rng, h = np.random.default_rng(0), hashlib.sha256()
    for i in range(0, n, 8192):
        block = rng.integers(0, 256, mm[i:i + 8192].shape, dtype=np.uint8)
        mm[i:i + len(block)] = block
        h.update(block)
    offset = mm.offset
    mm.flush()
    del mm
    n_test = n // 10
    manifest = {"format": imagecache.FORMAT, "dataset": "celeba", "source": "synthetic", "split": "synthetic",
                "split_key": "official", "crop": 140, "size": 64, "n_train": n - n_test, "n_test": n_test,
                "shape": [n, 3, 64, 64], "dtype": "uint8", "fingerprint": "", "data_sha256": h.hexdigest(),
                "data_offset": offset, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "vaediag_version": __version__}
    npy.with_suffix(".json").write_text(json.dumps(manifest))
    return npy


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def time_open(data_dir: Path) -> float:
    t = time.perf_counter()
    train, test, _ = imagecache.celeba_arrays(data_dir)
    dt = time.perf_counter() - t
    del train, test
    return dt


def time_decode(data_dir: Path, k: int) -> float:
    """Images per second of a one-process build from k random JPEGs."""
    from PIL import Image

    folder = data_dir / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, k + 1):
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(folder / f"{i:06d}.jpg")
    t = time.perf_counter()
    imagecache.celeba_arrays(data_dir, progress=False, workers=1)
    return k / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=202_599, help="images in the synthetic cache (default CelebA's)")
    ap.add_argument("--dir", default=None, help="where to write it (default the system's temporary folder)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--decode", type=int, default=0, metavar="K", help="also time decoding K JPEGs (0: skip)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-imagecache-", dir=args.dir))
    try:
        t = time.perf_counter()
        npy = write_cache(tmp, args.n)
        gb = args.n * 3 * 64 * 64 / 1e9
        print(f"wrote {npy.name}: {args.n} images, {gb:.2f} GB in {time.perf_counter() - t:.1f} s")
        warm = [time_open(tmp) for _ in range(args.repeat)]
        cold = []
        for _ in range(args.repeat):
            drop_from_page_cache(npy)
            cold.append(time_open(tmp))
        print(f"open + verify (sha256), warm page cache: best {min(warm):.2f} s of {args.repeat} "
              f"({gb / min(warm):.2f} GB/s), median {sorted(warm)[len(warm) // 2]:.2f} s")
        print(f"open + verify (sha256), cold page cache: best {min(cold):.2f} s of {args.repeat} "
              f"({gb / min(cold):.2f} GB/s), median {sorted(cold)[len(cold) // 2]:.2f} s")
        offset = json.loads(npy.with_suffix(".json").read_text())["data_offset"]
        data = np.fromfile(npy, dtype=np.uint8, offset=offset)
        block = 1 << 24
        for name, fn in [("sha256", lambda: _hash(hashlib.sha256(), data, block)),
                         ("blake2b", lambda: _hash(hashlib.blake2b(), data, block)),
                         ("crc32", lambda: _fold(zlib.crc32, 0, data, block)),
                         ("adler32", lambda: _fold(zlib.adler32, 1, data, block))]:
            t = time.perf_counter()
            fn()
            print(f"  {name:8s} in memory: {gb / (time.perf_counter() - t):.2f} GB/s")
        if args.decode:
            rate = time_decode(tmp / "jpegs", args.decode)
            print(f"decoding {args.decode} random 178 x 218 JPEGs in one process: {rate:.0f} images/s "
                  f"({202_599 / rate / 60:.1f} min per process for CelebA's 202,599)")
    finally:
        shutil.rmtree(tmp)


def _hash(h, data, block):
    for i in range(0, data.size, block):
        h.update(data[i:i + block])
    return h.hexdigest()


def _fold(fn, start, data, block):
    for i in range(0, data.size, block):
        start = fn(data[i:i + block], start)
    return start


if __name__ == "__main__":
    main()
