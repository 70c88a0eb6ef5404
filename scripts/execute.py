"""Re-execute chapters, top to bottom, to refresh their stored outputs (in place by default).

Usage: .venv/bin/python scripts/execute.py [--out DIR] [--markdown-only] [chapters/NAME.ipynb ...]   (default: all)
Stored outputs must always come from such a run: nbval compares them with a fresh one, and
tests/test_freshness.py checks the stamp written here (scripts/freshness.py).
--out DIR writes the executed notebooks to DIR and leaves the repository untouched.
After a run, every markdown cell is put in the readable form (_ext/notebook_markup.py): each glued
value, citation and equation reference is written out beside its role, from this run's own values,
so the notebook reads in Jupyter and Colab as on the site. --markdown-only does only that, from the
stored outputs, without executing (after another chapter's equations were renumbered, say).
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

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "_ext"))
import notebook_markup  # noqa: E402
import translation  # noqa: E402

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, help="write the executed notebooks here instead of in place")
parser.add_argument("--markdown-only", action="store_true",
                    help="only rewrite the readable texts of the markdown, from the stored outputs")
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
        if not args.markdown_only:
            client.execute()
    except CellExecutionError as error:
        sys.exit(f"{path}: a cell failed; nothing written.\n{error}")
    try:
        notebook_markup.make_readable(nb)
    except notebook_markup.MarkupError as error:
        sys.exit(f"{path}: {error}; nothing written.")
    if not args.markdown_only:  # the stamp hashes the markdown's MyST, which the readable texts do not change
        freshness.write_stamp(nb)
    target = args.out / path.name if args.out else path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    print(f"{path}: executed in {time.perf_counter() - start:.1f} s -> {target}")

# The Chinese edition's notebooks share these outputs: regenerate them (zh/), unless a translation
# is missing or stale, which tests/test_translation.py then reports by page and unit.
if not args.out and translation.published("zh"):
    try:
        translation.build_edition("zh")
        print("zh/: the Chinese edition regenerated from the new outputs")
    except translation.StaleTranslation as error:
        print(f"zh/ not regenerated, a translation is missing or stale (scripts/translate.py check):\n{error}")
