"""Apply PATCHES.json to the chapter notebooks (the site's proposals for the chapters' owner).

Each entry names a notebook and a cell id and either replaces one exact substring of the
cell's source (``old`` -> ``new``; ``old`` must occur exactly once) or merges ``metadata``
into the cell's metadata (e.g. ``{"mystnb": {"image": {"alt": ...}}}``, the alt text myst-nb
gives the cell's image output). Usage: python scripts/apply_patches.py [BOOK_DIR] [--check]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def merge(into: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def apply(book: Path, patches: list[dict]) -> list[str]:
    """Apply ``patches`` to the notebooks under ``book``; return what was done, raise on a bad patch."""
    done, notebooks = [], {}
    for p in patches:
        nb = notebooks.setdefault(p["notebook"], json.loads((book / p["notebook"]).read_text(encoding="utf-8")))
        cell = next((c for c in nb["cells"] if c.get("id") == p["cell_id"]), None)
        if cell is None:
            raise ValueError(f"{p['notebook']}: no cell {p['cell_id']!r}")
        if "old" in p:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if source.count(p["old"]) != 1:
                raise ValueError(f"{p['notebook']} {p['cell_id']}: `old` occurs {source.count(p['old'])} times, not once")
            cell["source"] = source.replace(p["old"], p["new"]).splitlines(keepends=True)
            done.append(f"{p['notebook']} {p['cell_id']}: source")
        if "metadata" in p:
            merge(cell.setdefault("metadata", {}), p["metadata"])
            done.append(f"{p['notebook']} {p['cell_id']}: metadata {sorted(p['metadata'])}")
    for name, nb in notebooks.items():
        (book / name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return done


if __name__ == "__main__":
    target = Path(next((a for a in sys.argv[1:] if not a.startswith("--")), ROOT))
    for line in apply(target, json.loads((ROOT / "PATCHES.json").read_text(encoding="utf-8"))):
        print(line)
