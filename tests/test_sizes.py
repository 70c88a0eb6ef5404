"""The stored chapters stay small: each notebook within 1 MB; the first six, the book the issue on live explorers
measured, within 3 MB together, and the whole book within 4.4 MB (0.55 MB per chapter on average: 0.5 MB
until chapter 7's drawing explorer, which carries a whole VAE, encoder and decoder, about 0.7 MB of it).

Figures are palette PNGs (vae_lib.book.palette_png, applied by vae_lib.book.setup), and the explorers
carry data, not pictures. The figures measured here are in the README.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
NOTEBOOK_BUDGET, FIRST_SIX_BUDGET, PER_CHAPTER = 1_000_000, 3_000_000, 550_000  # bytes on disk


def test_each_notebook_and_all_of_them_fit_their_budget():
    sizes = {p.name: p.stat().st_size for p in CHAPTERS}
    print({name: f"{n / 1e6:.2f} MB" for name, n in sizes.items()}, f"all: {sum(sizes.values()) / 1e6:.2f} MB")
    over = {name: n for name, n in sizes.items() if n > NOTEBOOK_BUDGET}
    assert not over, f"notebooks over {NOTEBOOK_BUDGET:,} bytes: {over}"
    first_six = sum(sizes[p.name] for p in CHAPTERS[:6])
    assert first_six <= FIRST_SIX_BUDGET, f"chapters 1-6 hold {first_six:,} bytes, over {FIRST_SIX_BUDGET:,}"
    total, budget = sum(sizes.values()), PER_CHAPTER * len(CHAPTERS)
    assert total <= budget, f"the {len(CHAPTERS)} chapters hold {total:,} bytes, over {budget:,}"


def test_stored_figures_are_palette_pngs():
    """A figure stored as full-colour PNG would mean setup() did not install the palette formatter."""
    full = []
    for path in CHAPTERS:
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                data = (out.get("data") or {}).get("image/png")
                if data:
                    image = Image.open(io.BytesIO(base64.b64decode("".join(data))))
                    if image.mode != "P":
                        full.append(f"{path.name} cell {i}: {image.mode}")
    assert not full, f"figures stored without a palette: {full}"


def test_no_explorer_stores_pictures():
    """The explorers compute their figures in the page: no pre-rendered frame may come back."""
    frames = []
    for path in CHAPTERS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for out in cell.get("outputs", []):
                html = "".join((out.get("data") or {}).get("text/html", ""))
                if 'class="vae-explorer"' in html and "data:image/png;base64" in html:
                    frames.append(path.name)
    assert not frames, f"explorers with pre-rendered frames: {frames}"
