"""The registry of equation labels, ``pages/equations.yml``: every address the book has given out lasts.

* every labelled equation of the book has an entry (chapter, number, description), in book order;
* a label that leaves the book is *retired* in the registry, with a successor, never just dropped;
* ``pages/derivation_index.md`` is the page the registry generates;
* a retired label's old address is sent on to its successor.

When a check fails, its message says exactly which lines to add or change.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

import test_pages as book  # the MyST parsing of the chapters, shared

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
import equation_registry as registry  # noqa: E402

FIX = "pages/equations.yml"


def _book_equations() -> list[tuple[str, str, str]]:
    """(label, chapter, number) of every labelled equation, in reading order; numbered as the site numbers them."""
    return [(label, doc, f"{c}.{i}")
            for c, doc in enumerate(book.CHAPTERS, start=1)
            for i, label in enumerate(book.parse(doc).labels, start=1)]


def test_no_labelled_equation_outside_the_chapters():
    outside = {doc: book.parse(doc).labels for doc in book.toc_docs() if doc not in book.CHAPTERS}
    assert not any(outside.values()), f"labelled equations outside the chapters are not numbered as the registry says: {outside}"


def test_every_label_of_the_book_is_registered_with_its_chapter_and_number():
    entries = registry.load()["equations"]
    have = {e["label"]: e for e in entries}
    missing = [(label, doc, number) for label, doc, number in _book_equations() if label not in have]
    assert not missing, (f"{len(missing)} equation label(s) of the book are not in {FIX}. Add under `equations:`, "
                         f"each where its chapter's equations are (book order), with a real one-line `says:`, then run "
                         f"`python _ext/equation_registry.py` to regenerate the derivation index:\n\n"
                         + "".join(registry.entry_yaml(*m) for m in missing))
    stale = [(e["label"], (e["chapter"], e["number"]), (doc, number))
             for label, doc, number in _book_equations() for e in [have[label]] if (e["chapter"], e["number"]) != (doc, number)]
    assert not stale, (f"chapter/number out of date in {FIX} (label, registry, book); set these entries to:\n\n"
                       + "".join(registry.entry_yaml(label, doc, number, have[label]["says"]) for label, _, (doc, number) in stale))
    order = [label for label, _, _ in _book_equations()]
    assert [e["label"] for e in entries] == order, f"{FIX}: list `equations:` in the book's order:\n" + "\n".join(order)
    todo = [e["label"] for e in entries if not str(e.get("says", "")).strip() or str(e["says"]).startswith("TODO")]
    assert not todo, f"{FIX}: write a one-line `says:` for {todo}"


def test_a_label_that_left_the_book_is_retired_not_dropped():
    reg = registry.load()
    in_book = {label for label, _, _ in _book_equations()}
    gone = [e for e in reg["equations"] if e["label"] not in in_book]
    assert not gone, (f"{len(gone)} label(s) left the book but their addresses were given out. In {FIX}, move each "
                      "entry from `equations:` to `retired:`, saying where its address should now land "
                      "(`successor:` a label still in the book; or `note:` if nothing succeeds it):\n\n"
                      + "".join(f"  - label: {e['label']}\n    was: {e['chapter']}\n    successor: <label>\n" for e in gone))
    retired = [e["label"] for e in reg["retired"]]
    assert len(retired) == len(set(retired)), f"{FIX}: a label is retired twice"
    back = sorted(set(retired) & in_book)
    assert not back, f"{FIX}: retired label(s) {back} are in the book again: a label names one equation forever"
    for e in reg["retired"]:
        assert e.get("was") in book.CHAPTERS, f"{FIX}: retired {e['label']!r} needs `was:`, the chapter it lived on"
        assert e.get("successor") in in_book or (not e.get("successor") and e.get("note")), \
            f"{FIX}: retired {e['label']!r} needs a `successor:` that is in the book (or a `note:`)"


def test_derivation_index_is_generated_from_the_registry():
    want = registry.render_index(registry.load())
    have = (ROOT / "pages" / "derivation_index.md").read_text(encoding="utf-8")
    assert have == want, "pages/derivation_index.md is not the registry's: run `python _ext/equation_registry.py`"


def test_retired_addresses_land_on_the_successor(tmp_path):
    path = tmp_path / "equations.yml"
    path.write_text(yaml.safe_dump({
        "equations": [{"label": "new-step", "chapter": "chapters/04_bayes_rewrite", "number": "4.1", "says": "x"}],
        "retired": [{"label": "old-step", "was": "chapters/02_vae", "successor": "new-step"},
                    {"label": "dropped", "was": "chapters/02_vae", "note": "withdrawn in 0.3"}]}))
    reg = registry.load(path)
    assert registry.redirects(reg) == {"old-step": "chapters/04_bayes_rewrite.html#equation-new-step",
                                       "dropped": "pages/derivation_index.html#retired-labels"}
    page = registry.render_index(reg)
    assert "## Retired labels" in page and "| `old-step` | {doc}`../chapters/02_vae` | {eq}`new-step` |" in page
