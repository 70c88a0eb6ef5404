"""Re-execute chapters in place, top to bottom, to refresh their stored outputs.

Usage: .venv/bin/python scripts/execute.py [chapters/NAME.ipynb ...]   (default: all chapters)
Stored outputs must always come from such a run: nbval compares them with a fresh one.
"""
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
root = Path(__file__).resolve().parent.parent
paths = [Path(p) for p in sys.argv[1:]] or sorted((root / "chapters").glob("*.ipynb"))
for path in paths:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    print(f"{path}: executed in {time.perf_counter() - start:.1f} s")
