"""The CelebA cache on tiny JPEG folders: same arrays as decoding every time, rebuilt exactly when the
source changes, corrupt files refused and left alone, and the `vaediag cache` verb."""

import json
import os
import time

import numpy as np
import pytest
import torch

from _facts import facts, says
import vaediag.data.imagecache
from vaediag.data import imagecache
from vaediag.cli import main
from vaediag.engine.config import RunConfig
from vaediag.data.core import split_train_test as _split
from vaediag.data.datasets import load_dataset
from vaediag.data.imagecache import celeba_image
from vaediag.errors import VaediagError
from vaediag.engine.runs import Run

N = 10
OFFICIAL = {1: 0, 2: 2, 3: 0, 4: 1, 5: 0, 6: 2, 7: 0, 8: 1, 9: 0, 10: 2}  # image number -> partition


def write_jpegs(root, n=N, seed=0, partition=None):
    """root/celeba/img_align_celeba/000001.jpg ... of random 178 x 218 images (CelebA's size)."""
    from PIL import Image

    folder = root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, n + 1):
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(folder / f"{i:06d}.jpg")
    if partition is not None:
        (root / "celeba" / "list_eval_partition.txt").write_text(
            "".join(f"{i:06d}.jpg {k}\n" for i, k in partition.items()))
    return folder


def decode_everything(root, seed=0, test_fraction=0.1):
    """What load_celeba returned before the cache: every JPEG decoded, then split."""
    files = sorted((root / "celeba" / "img_align_celeba").glob("*.jpg"))
    x = np.stack([celeba_image(p) for p in files])
    part = root / "celeba" / "list_eval_partition.txt"
    if part.exists():
        split = dict((ln.split()[0], int(ln.split()[1])) for ln in part.read_text().splitlines() if ln.strip())
        is_test = np.array([split.get(p.name, 0) == 2 for p in files])
        if is_test.any() and (~is_test).any():
            return x[~is_test], x[is_test]
    return _split(x, seed, test_fraction)


def cache_files(root, key="seed0-test0.1", cache_dir=None):
    d = cache_dir or root / "celeba" / "vaediag-cache"
    return d / f"celeba-64px-crop140-{key}.npy", d / f"celeba-64px-crop140-{key}.json"


@pytest.fixture
def decodes(monkeypatch):
    """Counts calls of celeba_image (builds run in this process with workers=1)."""
    calls = []
    real = vaediag.data.imagecache.celeba_image

    def counting(path, *a, **k):
        calls.append(path)
        return real(path, *a, **k)

    monkeypatch.setattr(vaediag.data.imagecache, "celeba_image", counting)
    return calls


def open_cache(root, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return imagecache.celeba_arrays(root, **kw)


@pytest.mark.parametrize("partition, key", [
    (OFFICIAL, "official"),
    (None, "seed3-test0.3"),
    ({i: 0 for i in range(1, N + 1)}, "seed3-test0.3"),  # the file leaves the test side empty: random split
])
def test_cache_holds_what_decoding_gave_in_split_order(tmp_path, partition, key):
    write_jpegs(tmp_path, partition=partition)
    train, test, info = open_cache(tmp_path, seed=3, test_fraction=0.3)
    want_train, want_test = decode_everything(tmp_path, seed=3, test_fraction=0.3)
    np.testing.assert_array_equal(train, want_train)
    np.testing.assert_array_equal(test, want_test)
    assert info["split_key"] == key and (info["n_train"], info["n_test"]) == (len(want_train), len(want_test))
    npy, js = cache_files(tmp_path, key)
    assert info["path"] == str(npy) and js.is_file()
    whole = np.load(npy, allow_pickle=False)
    np.testing.assert_array_equal(whole, np.concatenate([want_train, want_test]))  # train rows, then test rows
    ds = load_dataset("celeba", tmp_path, seed=3, test_fraction=0.3)
    assert ds.info == {"cache": str(npy), "storage": "memmap"}
    assert ds.train.dtype == torch.uint8 and ds.shape == (3, 64, 64)
    assert torch.equal(ds.test, torch.from_numpy(want_test))


def test_official_cache_does_not_depend_on_the_seed(tmp_path, decodes):
    write_jpegs(tmp_path, partition=OFFICIAL)
    a = open_cache(tmp_path, seed=0)[0]
    b = open_cache(tmp_path, seed=5, test_fraction=0.5)[0]
    assert len(decodes) == N and np.array_equal(a, b)


def test_second_open_reads_the_file_and_writes_never_reach_it(tmp_path, decodes):
    write_jpegs(tmp_path)
    train, test, info = open_cache(tmp_path)
    assert len(decodes) == N and info["built"]
    npy, _ = cache_files(tmp_path)
    before = npy.read_bytes()
    train2, test2, info2 = open_cache(tmp_path)
    assert len(decodes) == N and not info2["built"]
    assert isinstance(train2, np.memmap) and isinstance(test2, np.memmap)
    np.testing.assert_array_equal(train2, train)
    np.testing.assert_array_equal(test2, test)
    t = torch.from_numpy(train2)  # writeable (copy-on-write): no warning
    t[0] = 0
    train2[1] += 1
    test2[:] = 7
    del t, train2, test2
    assert npy.read_bytes() == before
    np.testing.assert_array_equal(open_cache(tmp_path)[0], train)


def _bump_mtime(path):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.mark.parametrize("change", ["added", "rewritten", "partition"])
def test_rebuilt_when_the_source_changes(tmp_path, decodes, capsys, change):
    from PIL import Image

    folder = write_jpegs(tmp_path, partition=OFFICIAL)
    open_cache(tmp_path)
    if change == "added":
        Image.new("RGB", (178, 218), (200, 0, 0)).save(folder / "000011.jpg")
    elif change == "rewritten":  # same size, other pixels: only the mtime tells (set explicitly: coarse clocks)
        p = folder / "000001.jpg"
        b = bytearray(p.read_bytes())
        b[b.index(b"\xff\xdb") + 5] += 1  # the first (DC) entry of the first quantisation table
        p.write_bytes(bytes(b))
        _bump_mtime(p)
    else:
        (tmp_path / "celeba" / "list_eval_partition.txt").write_text(
            "".join(f"{i:06d}.jpg {2 if i == 1 else 0}\n" for i in range(1, N + 1)))
    capsys.readouterr()
    n_before = len(decodes)
    train, test, info = open_cache(tmp_path)
    assert info["built"] and len(decodes) - n_before == len(train) + len(test)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "changed" in err
    want_train, want_test = decode_everything(tmp_path)
    np.testing.assert_array_equal(train, want_train)
    np.testing.assert_array_equal(test, want_test)


def test_not_rebuilt_when_only_access_times_change(tmp_path, decodes, capsys):
    folder = write_jpegs(tmp_path)
    open_cache(tmp_path)
    for p in folder.iterdir():
        p.read_bytes()
        os.utime(p, ns=(time.time_ns(), p.stat().st_mtime_ns))
    n = len(decodes)
    assert not open_cache(tmp_path)[2]["built"] and len(decodes) == n
    assert capsys.readouterr().err == ""


def _flip_last_byte(npy, js):
    b = bytearray(npy.read_bytes())
    b[-1] ^= 1
    npy.write_bytes(bytes(b))


def _truncate(npy, js):
    npy.write_bytes(npy.read_bytes()[:-100])


def _manifest_not_json(npy, js):
    js.write_text(js.read_text()[:40])


def _manifest_shape(npy, js):
    m = json.loads(js.read_text())
    m["shape"][0] += 1
    m["n_train"] += 1
    js.write_text(json.dumps(m))


def _header(npy, js):
    b = bytearray(npy.read_bytes())
    b[20:30] = b"!!!!!!!!!!"
    npy.write_bytes(bytes(b))


@pytest.mark.parametrize("damage, where, what", [
    (_truncate, ".npy", "bytes instead of"),
    (_flip_last_byte, ".npy", "checksum"),
    (_manifest_not_json, ".json", "JSON"),
    (_manifest_shape, ".npy", "header says"),
    (_header, ".npy", "header"),
])
def test_corrupt_cache_is_refused_and_left_alone(tmp_path, damage, where, what):
    write_jpegs(tmp_path)
    open_cache(tmp_path)
    npy, js = cache_files(tmp_path)
    damage(npy, js)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (npy, js)}
    with pytest.raises(VaediagError, match=what) as e:
        open_cache(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and says(msg, npy.parent / (npy.stem + where), "corrupt")
    assert says(msg, "rebuild=True")
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (npy, js)} == before
    assert sorted(p.name for p in npy.parent.iterdir()) == sorted([npy.name, js.name])


def test_cache_used_when_the_jpegs_are_gone(tmp_path, capsys):
    import shutil

    write_jpegs(tmp_path, partition=OFFICIAL)
    want = decode_everything(tmp_path)
    open_cache(tmp_path)
    shutil.rmtree(tmp_path / "celeba" / "img_align_celeba")
    capsys.readouterr()
    train, test, info = open_cache(tmp_path, seed=7)
    np.testing.assert_array_equal(train, want[0])
    np.testing.assert_array_equal(test, want[1])
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "without checking" in err
    (tmp_path / "celeba" / "list_eval_partition.txt").unlink()  # still found
    assert open_cache(tmp_path)[2]["split_key"] == "official"
    with pytest.raises(VaediagError, match=facts("rebuild", tmp_path / "celeba")):
        open_cache(tmp_path, rebuild=True)


def test_missing_jpegs_and_cache_say_where(tmp_path):
    with pytest.raises(VaediagError, match="img_align_celeba") as e:
        open_cache(tmp_path)
    assert "\n" not in str(e.value)


def test_interrupted_build_is_redone(tmp_path, decodes, capsys):
    write_jpegs(tmp_path)
    open_cache(tmp_path)
    npy, js = cache_files(tmp_path)
    js.unlink()  # killed between renaming the data file and writing the manifest
    npy.write_bytes(npy.read_bytes()[:500])
    n = len(decodes)
    train, test, info = open_cache(tmp_path)
    assert info["built"] and len(decodes) == 2 * n
    np.testing.assert_array_equal(train, decode_everything(tmp_path)[0])
    # a dead build's temporary file: never read as the cache, removed once it is old and unlocked
    stray = npy.parent / f".{npy.stem}.abc123.npy.tmp"
    stray.write_bytes(b"half a build")
    fresh = npy.parent / f".{npy.stem}.def456.npy.tmp"
    fresh.write_bytes(b"a build that started a moment ago")
    os.utime(stray, (time.time() - 3600, time.time() - 3600))
    js.unlink()
    npy.unlink()
    capsys.readouterr()
    train, test, info = open_cache(tmp_path)
    assert info["built"] and not stray.exists() and fresh.exists()
    assert "removed" in capsys.readouterr().err
    np.testing.assert_array_equal(test, decode_everything(tmp_path)[1])


def test_data_cache_folder_is_honoured(tmp_path):
    write_jpegs(tmp_path)
    elsewhere = tmp_path / "scratch" / "cache"
    open_cache(tmp_path, cache_dir=elsewhere)
    npy, js = cache_files(tmp_path, cache_dir=elsewhere)
    assert npy.is_file() and js.is_file() and not (tmp_path / "celeba" / "vaediag-cache").exists()
    assert load_dataset("celeba", tmp_path, cache_dir=elsewhere).info["cache"] == str(npy)


def test_unwritable_cache_folder_gets_a_sentence(tmp_path):
    write_jpegs(tmp_path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(VaediagError, match=facts(tmp_path / "a-file" / "cache", "data_cache=")) as e:
        open_cache(tmp_path, cache_dir=tmp_path / "a-file" / "cache")
    assert "\n" not in str(e.value)
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        with pytest.raises(VaediagError, match=facts(ro, "data_cache=")):
            open_cache(tmp_path, cache_dir=ro)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_parallel_workers_write_the_same_bytes(tmp_path, monkeypatch):
    write_jpegs(tmp_path, partition=OFFICIAL)
    open_cache(tmp_path, cache_dir=tmp_path / "one", workers=1)
    monkeypatch.setattr(imagecache, "CHUNK", 3)  # 4 chunks for 2 processes
    open_cache(tmp_path, cache_dir=tmp_path / "two", workers=2)
    a, b = (cache_files(tmp_path, "official", tmp_path / d)[0].read_bytes() for d in ("one", "two"))
    assert a == b


def test_old_config_without_data_cache_loads():
    d = RunConfig().to_dict()
    del d["train"]["data_cache"]
    assert RunConfig.from_dict(d).train.data_cache is None


# --------------------------------------------------------------------------- the `vaediag cache` verb
def run_cli(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_sentence(code, err, usage=False):
    assert code == (2 if usage else 1)  # 2: a usage error (a bad option value), 1: a runtime failure
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("vaediag cache: error:")


def test_cache_verb_build_check_rebuild(tmp_path, capsys):
    write_jpegs(tmp_path, partition=OFFICIAL)
    base = ["cache", "--dataset", "celeba", "--data-dir", tmp_path, "--workers", "1"]
    code, out, err = run_cli(capsys, ["cache", "--data-dir", tmp_path, "--check"])
    assert_one_sentence(code, err, usage=True)  # --check's "not sound" is status 2 (its help)
    assert says(err, "celeba-64px", "'vaediag cache --data-dir")
    code, out, err = run_cli(capsys, base + ["--quiet"])
    npy, js = cache_files(tmp_path, "official")
    assert code == 0 and str(npy) in out and "built" in out and "10 x 3 x 64 x 64" in out
    assert "n_train 7, n_test 3" in out and err == ""
    code, out, err = run_cli(capsys, base + ["--check"])
    assert code == 0 and "sound" in out
    _flip_last_byte(npy, js)
    code, out, err = run_cli(capsys, base + ["--check"])
    assert_one_sentence(code, err, usage=True)
    assert "checksum" in err and str(npy) in err
    code, out, err = run_cli(capsys, base)  # a plain open refuses it too, as a runtime failure
    assert_one_sentence(code, err)
    code, out, err = run_cli(capsys, base + ["--rebuild", "--quiet"])
    assert code == 0 and "built" in out
    code, out, err = run_cli(capsys, base + ["--check"])
    assert code == 0


@pytest.mark.parametrize("argv", [
    ["cache", "--dataset", "mnist", "--data-dir", "{tmp}"],
    ["cache", "--dataset", "celeba", "--data-dir", "{tmp}/nowhere"],
    ["cache", "--dataset", "celeba", "--data-dir", "{tmp}", "--check"],
    ["cache", "--dataset", "celeba", "--data-dir", "{tmp}", "--workers", "0"],
])
def test_cache_verb_bad_input(tmp_path, capsys, argv):
    code, out, err = run_cli(capsys, [a.replace("{tmp}", str(tmp_path)) for a in argv])
    # celeba only and --workers >= 1: usage errors; --check answers "not sound" with 2 as well
    assert_one_sentence(code, err, usage="--workers" in argv or "mnist" in argv or "--check" in argv)
    assert not (tmp_path / "celeba").exists()


def test_cache_verb_help_says_what_it_is_for(capsys):
    code, out, err = run_cli(capsys, ["cache", "--help"])
    assert code == 0 and "torchrun" in out and "--rebuild" in out and "--data-cache" in out


def test_train_on_celeba_uses_the_cache(tmp_path, capsys):
    write_jpegs(tmp_path, n=12)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, ["train", "--dataset", "celeba", "--data-dir", tmp_path, "--steps", "2",
                                    "--stages", "1", "--batch-size", "4", "--arch", "mlp", "--latent-dim", "2",
                                    "--quiet", "--out", out])  # mlp: the smallest network, for speed
    assert code == 0, err
    data = Run.open(out).dataset()
    npy, _ = cache_files(tmp_path)
    assert data.info == {"cache": str(npy), "storage": "memmap"}
    want_train, want_test = decode_everything(tmp_path)
    assert torch.equal(data.train, torch.from_numpy(want_train))
    assert torch.equal(data.test, torch.from_numpy(want_test))
