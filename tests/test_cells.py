"""The chapters' code cells as a reader meets them on the page.

Numbers for the prose are stated by ``claim``, ``holds`` and ``glue`` in cells of
their own, folded away on the site (``hide-input``): the code a reader reads is
the computation. No cell leaves a stray value (a bare ``20``) in its output.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from cell_tags import TAG, is_bookkeeping, split  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _code_cells(path):
    return [(i, c) for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_bookkeeping_cells_are_separate_and_folded(path):
    bad = []
    for i, cell in _code_cells(path):
        tagged = TAG in cell.metadata.get("tags", [])
        if split(cell.source) is not None:
            bad.append(f"cell {i}: mixes computation with claim/holds/glue (python scripts/cell_tags.py --split)")
        if is_bookkeeping(cell.source) != tagged:
            bad.append(f"cell {i}: {'tagged' if tagged else 'not tagged'} {TAG!r} (python scripts/cell_tags.py)")
    assert not bad, f"{path.name}:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_stray_values(path):
    """A value displayed as plain text is a bare expression left at the end of a cell."""
    bad = [f"cell {i}: {o['data']['text/plain'][:60]!r}"
           for i, cell in _code_cells(path) for o in cell.outputs
           if o.output_type == "execute_result" and set(o["data"]) <= {"text/plain"}]
    assert not bad, f"{path.name}:\n" + "\n".join(bad)


def test_the_splitter():
    mixed = ("x = f(1)\n# the share\nclaim('a', x)\n"
             "plt.plot(x)\nholds('x is small', x < 1)")
    compute, books = split(mixed)
    assert compute == "x = f(1)\nplt.plot(x)"
    assert books == "# the share\nclaim('a', x)\nholds('x is small', x < 1);"
    assert is_bookkeeping(books) and not is_bookkeeping(compute)
    assert split("y = claim('a', 1.0)\nplt.plot(y)") is None  # later code reads y
    assert split("claim('a', x)\nx = x + 1") is None  # later code rebinds what it reads
    assert split(books) is None and split(compute) is None
    # the semicolon goes after the call, not into its trailing comment
    assert split("x = f(1)\nglue('a', x, digits=2)  # exp(-1.5 / 2): the centre, σ")[1] == \
        "glue('a', x, digits=2);  # exp(-1.5 / 2): the centre, σ"
    assert not is_bookkeeping("import math") and not is_bookkeeping("%matplotlib inline")
