"""The registry of the book's equation labels, ``pages/equations.yml``: what lasts.

Like DLMF's or the Stacks project's tags, a label is a permanent address
(``<page>.html#equation-<label>``). The registry lists every label with its chapter,
its number and what it says, and every *retired* label with the label that
succeeds it, so that an address once cited keeps landing somewhere useful.

* ``pages/derivation_index.md`` is generated from it (``python _ext/equation_registry.py``);
  ``tests/test_equations.py`` checks that the committed page is the generated one;
* the site build (``_ext/book_site.py``) gives each equation's "link to this step"
  button its description, and sends a retired label's address on to its successor.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "pages" / "equations.yml"
INDEX = ROOT / "pages" / "derivation_index.md"

INDEX_HEAD = """\
# Derivation index

<!-- Generated from pages/equations.yml by `python _ext/equation_registry.py`: edit the registry, not this page. -->

Every labelled equation of the book, chapter by chapter, in the order the book
derives them. The number in the first column links to the equation. The label
in the second column is the equation's permanent name: it is the anchor of the
equation's address (`#equation-` followed by the label), it never changes
between versions, and it is the name to use when citing a single equation
({doc}`how_to_cite`). The code in `vae_lib` that implements an equation carries
a comment with the same label.

The source's own numbering, Eq. (1) to Eq. (8), is mapped onto these labels by
the {ref}`concordance <concordance>` on the first page.
"""

RETIRED_HEAD = """
## Retired labels

A label that left the book keeps its address: a link to it lands on its successor.

| old label | was on | now |
|---|---|---|
"""


def load(path: Path = REGISTRY) -> dict:
    """``{"equations": [...], "retired": [...]}``, each entry a dict."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {"equations": list(data.get("equations") or []), "retired": list(data.get("retired") or [])}


def render_index(registry: dict) -> str:
    """The derivation index page, in MyST, from the registry."""
    out = [INDEX_HEAD]
    chapter = None
    for entry in registry["equations"]:
        if entry["chapter"] != chapter:
            chapter = entry["chapter"]
            number = entry["number"].split(".")[0]
            out.append(f"\n## Chapter {number}\n\nDerived in {{doc}}`../{chapter}`.\n\n"
                       "| equation | label | what it says |\n|---|---|---|\n")
        out.append(f"| {{eq}}`{entry['label']}` | `{entry['label']}` | {entry['says']} |\n")
    if registry["retired"]:
        out.append(RETIRED_HEAD)
        for entry in registry["retired"]:
            now = f"{{eq}}`{entry['successor']}`" if entry.get("successor") else entry.get("note", "withdrawn")
            out.append(f"| `{entry['label']}` | {{doc}}`../{entry['was']}` | {now} |\n")
    return "".join(out)


def redirects(registry: dict) -> dict[str, str]:
    """Retired label -> the address (relative to the site's root) its old link should land on."""
    where = {e["label"]: e["chapter"] for e in registry["equations"]}
    out = {}
    for entry in registry["retired"]:
        successor = entry.get("successor")
        if successor in where:
            out[entry["label"]] = f"{where[successor]}.html#equation-{successor}"
        else:  # withdrawn outright: the index lists it with a note
            out[entry["label"]] = "pages/derivation_index.html#retired-labels"
    return out


def entry_yaml(label: str, chapter: str, number: str, says: str = "TODO: one line saying what it says") -> str:
    """One registry entry, ready to paste into ``equations:`` (for the tests' messages)."""
    return (f"  - label: {label}\n    chapter: {chapter}\n    number: \"{number}\"\n"
            f"    says: {yaml.safe_dump(says, default_style=None, width=10**6).strip().removesuffix('...').strip()}\n")


if __name__ == "__main__":
    INDEX.write_text(render_index(load()), encoding="utf-8")
    print(f"wrote {INDEX.relative_to(ROOT)}", file=sys.stderr)
