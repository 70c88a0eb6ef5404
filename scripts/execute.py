"""Re-execute chapters, top to bottom, to refresh their stored outputs (in place by default).

Usage: .venv/bin/python scripts/execute.py [--out DIR] [chapters/NAME.ipynb ...]   (default: all chapters)
Stored outputs must always come from such a run: nbval compares them with a fresh one, and
tests/test_freshness.py checks the stamp written here (scripts/freshness.py).
--out DIR writes the executed notebooks to DIR and leaves the repository untouched.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import freshness  # scripts/ is on sys.path when this file is run

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
root = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, help="write the executed notebooks here instead of in place")
parser.add_argument("notebooks", nargs="*", type=Path)
args = parser.parse_args()
paths = args.notebooks or sorted((root / "chapters").glob("*.ipynb"))
for path in paths:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # The kernel starts in the chapter's own folder, wherever the result is written.
    # no per-cell timestamps: they would change on every run and only add bytes to the stored notebook
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        sys.exit(f"{path}: a cell failed; nothing written.\n{error}")
    freshness.write_stamp(nb)
    target = args.out / path.name if args.out else path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    print(f"{path}: executed in {time.perf_counter() - start:.1f} s -> {target}")
