"""The book's non-chapter pages stay true to the chapters.

Parses every document in ``_toc.yml`` (chapter notebooks: their markdown cells;
pages: the MyST source) with the MyST parser itself and checks that

* equation labels are unique, lowercase-hyphen and all linkable;
* every ``{eq}`` reference in the book resolves to a label;
* the derivation index lists exactly the book's labels, chapter by chapter, in order;
* the concordance in ``intro.md`` covers source Eq. (1)-(8) with the reserved labels;
* the citation page, ``CITATION.cff`` and the package agree on version and addresses;
* there is exactly one bibliography and every cited key exists;
* numbers pasted across documents (``{glue:text}`doc::name```) exist in that notebook.
"""
from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from notebook_markup import to_myst

ROOT = Path(__file__).resolve().parent.parent
BOOK_URL = "https://variational-book.github.io/vi-book/"
LABEL_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CHAPTERS = [
    "chapters/01_autoencoder",
    "chapters/02_vae",
    "chapters/03_kl_divergence",
    "chapters/04_bayes_rewrite",
    "chapters/05_closed_form_kl",
    "chapters/06_final_loss",
    "chapters/07_elbo_gap",
    "chapters/08_choosing_the_weight",
]
REFERENCE_PAGES = ["pages/notes_on_source", "pages/derivation_index", "pages/how_to_cite", "pages/references"]


# --- Parsing ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _parser():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = set(config["parse"]["myst_enable_extensions"])
    return create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)


def _split_directive(content: str) -> tuple[dict, str]:
    """A directive's options (``:key: value`` lines or a ``---`` YAML block) and its body."""
    lines = content.splitlines()
    if lines and lines[0].strip() == "---":
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        return yaml.safe_load("\n".join(lines[1:end])) or {}, "\n".join(lines[end + 1:])
    options, i = {}, 0
    while i < len(lines) and (m := re.match(r"^\s*:([\w-]+):\s*(.*)$", lines[i])):
        options[m.group(1)] = m.group(2).strip()
        i += 1
    return options, "\n".join(lines[i:])


class Parsed(NamedTuple):
    labels: list[str]  # equation labels, in order of appearance
    roles: list[tuple[str, str]]  # (role name, content), e.g. ("eq", "kl-discrete")
    directives: list[str]  # directive names, e.g. "bibliography"
    math: list[str]  # the body of every display-math block


def _walk(text: str, out: Parsed) -> None:
    for token in _parser().parse(text):
        if token.type in ("fence", "colon_fence") and re.fullmatch(r"\{[\w:-]+\}.*", token.info.strip()):
            name = token.info.strip()[1:].split("}")[0]
            out.directives.append(name)
            options, body = _split_directive(token.content)
            if name == "math":
                if "label" in options or "name" in options:
                    out.labels.append(str(options.get("label", options.get("name"))).strip())
                out.math.append(body)
            elif name not in ("code-cell", "code-block", "code", "raw"):
                _walk(body, out)  # directives nest: an admonition may hold labelled math
        elif token.type == "math_block_label":
            out.labels.append(token.info.strip())
            out.math.append(token.content)
        elif token.type in ("math_block", "amsmath"):
            out.math.append(token.content)
        for child in token.children or []:
            if child.type == "myst_role":
                out.roles.append((child.meta["name"], child.content))


def _path(doc: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (ROOT / (doc + suffix)).exists():
            return ROOT / (doc + suffix)
    raise FileNotFoundError(f"no .ipynb or .md source for {doc!r}")


def _markdown(doc: str) -> str:
    path = _path(doc)
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    # the MyST that the site parses (the stored form is the readable one, _ext/notebook_markup.py)
    return "\n\n".join(to_myst("".join(c["source"])) for c in cells if c["cell_type"] == "markdown")


@cache
def parse(doc: str) -> Parsed:
    out = Parsed([], [], [], [])
    _walk(_markdown(doc), out)
    return out


def toc_docs() -> list[str]:
    """Every document of the book, in reading order (nested sections included)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())

    def files(entries: list[dict]) -> list[str]:
        return [f for e in entries for f in [e["file"]] + files(e.get("sections", []))]

    return [toc["root"]] + [f for part in toc["parts"] for f in files(part["chapters"])]


def label_homes() -> dict[str, list[str]]:
    """label -> the documents that define it (a list, so duplicates show)."""
    homes: dict[str, list[str]] = {}
    for doc in toc_docs():
        for label in parse(doc).labels:
            homes.setdefault(label, []).append(doc)
    return homes


def role_target(content: str) -> str:
    """``text <target>`` or ``target`` -> target."""
    m = re.fullmatch(r"(?s).*<([^<>]+)>\s*", content)
    return (m.group(1) if m else content).strip()


def resolve_doc(from_doc: str, target: str) -> str:
    """A ``{doc}`` target, relative to ``from_doc`` or absolute from the book root, as a docname."""
    base = Path("/") if target.startswith("/") else Path("/") / Path(from_doc).parent
    parts: list[str] = []
    for piece in (base / target.lstrip("/")).parts[1:]:
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return re.sub(r"\.(ipynb|md)$", "", "/".join(parts))


def version() -> str:
    return re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


# --- The table of contents --------------------------------------------------------------


def test_toc_has_intro_six_chapters_and_the_reference_part():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book" and toc["root"] == "intro"
    files = [[entry["file"] for entry in part["chapters"]] for part in toc["parts"]]
    assert files == [CHAPTERS, REFERENCE_PAGES]
    for doc in toc_docs():
        _path(doc)  # raises if the source is missing


def test_intro_maps_every_chapter():
    linked = {resolve_doc("intro", t) for name, t in parse("intro").roles if name == "doc"}
    assert set(CHAPTERS) <= linked, f"intro.md does not link {sorted(set(CHAPTERS) - linked)}"


# --- Labels and references --------------------------------------------------------------


def test_labels_are_unique_lowercase_hyphen_and_linkable():
    homes = label_homes()
    assert homes, "no labelled equation found in the book"
    bad = [label for label in homes if not LABEL_RE.match(label)]
    assert not bad, f"labels must be lowercase-hyphen: {bad}"
    duplicated = {label: docs for label, docs in homes.items() if len(docs) > 1}
    assert not duplicated, f"labels defined more than once: {duplicated}"
    # \label inside align/equation is not linkable in Jupyter Book 1: one {math} block per step.
    for doc in toc_docs():
        for body in parse(doc).math:
            assert "\\label{" not in body, f"{doc}: use a labelled {{math}} block, not \\label: {body[:60]!r}"


def test_every_eq_reference_in_the_book_resolves():
    homes = label_homes()
    for doc in toc_docs():
        missing = [t for name, t in parse(doc).roles if name == "eq" and role_target(t) not in homes]
        assert not missing, f"{doc}: {{eq}} references to undefined labels {missing}"


# --- The derivation index ---------------------------------------------------------------


def _index_sections() -> list[tuple[str, list[str]]]:
    """(chapter docname, labels listed) for each '## ' section of the derivation index."""
    text = _markdown("pages/derivation_index")
    sections = []
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        out = Parsed([], [], [], [])
        _walk(chunk.split("\n", 1)[1], out)
        docs = {resolve_doc("pages/derivation_index", role_target(t)) for name, t in out.roles if name == "doc"}
        assert len(docs) == 1, f"each index section links exactly one chapter, got {docs}"
        sections.append((docs.pop(), [role_target(t) for name, t in out.roles if name == "eq"]))
    return sections


def test_derivation_index_lists_exactly_the_labels_of_the_book():
    listed = [label for _, labels in _index_sections() for label in labels]
    defined = set(label_homes())
    assert len(listed) == len(set(listed)), f"listed twice: {[k for k, n in Counter(listed).items() if n > 1]}"
    assert not defined - set(listed), f"missing from the derivation index: {sorted(defined - set(listed))}"
    assert not set(listed) - defined, f"stale entries in the derivation index: {sorted(set(listed) - defined)}"


def test_derivation_index_follows_the_book_order_chapter_by_chapter():
    sections = _index_sections()
    docs_in_book_order = [d for d in toc_docs() if parse(d).labels]
    assert [doc for doc, _ in sections] == docs_in_book_order
    for doc, labels in sections:
        assert labels == parse(doc).labels, f"index section for {doc} is out of order or incomplete"


# --- The concordance --------------------------------------------------------------------


def _reserved_labels() -> dict[int, tuple[set[str], set[str]]]:
    """source eq. number -> (reserved labels, chapters that own them), from CONTRIBUTING.md."""
    reserved = {}
    for m in re.finditer(r"^\| Eq\. \((\d)\) \| (.+?) \| ([\d, ]+) \|$", (ROOT / "CONTRIBUTING.md").read_text(), re.M):
        labels = set(re.findall(r"`([a-z0-9-]+)`", m.group(2)))
        chapters = {c for c in CHAPTERS if c.split("/")[1][:2] in {s.strip() for s in m.group(3).split(",")}}
        reserved[int(m.group(1))] = (labels, chapters)
    return reserved


def _concordance() -> dict[int, list[str]]:
    """source eq. number -> the labels its row in intro.md links to."""
    rows: dict[int, list[str]] = {}
    for line in _markdown("intro").splitlines():
        m = re.match(r"^\|\s*(?:Source\s+)?Eq\.\s*\((\d+)\)\s*\|", line)
        if m:
            out = Parsed([], [], [], [])
            _walk(line + "\n", out)  # a lone table row parses as a paragraph: roles are kept
            assert int(m.group(1)) not in rows, f"source Eq. ({m.group(1)}) has two rows"
            rows[int(m.group(1))] = [role_target(t) for name, t in out.roles if name == "eq"]
    return rows


def test_contributing_reserves_labels_for_source_eq_1_to_8():
    assert sorted(_reserved_labels()) == list(range(1, 9))


def test_concordance_covers_source_eq_1_to_8_with_existing_reserved_labels():
    rows, reserved, homes = _concordance(), _reserved_labels(), label_homes()
    assert sorted(rows) == list(range(1, 9)), f"concordance rows: {sorted(rows)}"
    for k, labels in rows.items():
        assert labels, f"source Eq. ({k}) links no label"
        assert not set(labels) - set(homes), f"Eq. ({k}): undefined labels {set(labels) - set(homes)}"
        want, chapters = reserved[k]
        assert want <= set(labels), f"Eq. ({k}) must link its reserved labels {sorted(want - set(labels))}"
        for label in want:
            assert homes[label][0] in chapters, f"{label} belongs in {sorted(chapters)}, found in {homes[label]}"


# --- Citation ---------------------------------------------------------------------------


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_cff_is_complete_and_agrees_with_the_package():
    cff = _cff()
    for key in ("cff-version", "message", "title", "authors", "version", "date-released",
                "repository-code", "url", "license"):
        assert key in cff, f"CITATION.cff lacks {key!r}"
    assert cff["cff-version"] == "1.2.0"
    assert cff["authors"] == [{"name": "The vi-book contributors"}]
    assert cff["license"] == "MIT"
    assert str(cff["version"]) == version()
    datetime.date.fromisoformat(str(cff["date-released"]))
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cff["repository-code"] == config["repository"]["url"]
    assert cff["title"] == config["title"]
    assert cff["url"] == BOOK_URL
    preferred = cff.get("preferred-citation")
    if preferred:
        assert preferred["title"] == cff["title"] and preferred["authors"] == cff["authors"]


def test_how_to_cite_links_are_versioned_and_point_at_existing_equations():
    text = _markdown("pages/how_to_cite")
    base = f"{BOOK_URL}v{version()}/"
    urls = re.findall(r"https://variational-book\.github\.io/vi-book/[^\s}`\"'<>)]*", text)
    assert urls, "how_to_cite.md shows no book address"
    homes, equations = label_homes(), 0
    for url in urls:
        if url == BOOK_URL:
            continue  # the unversioned address is named on purpose, as the one that moves
        assert url.startswith(base), f"{url} must be versioned as {base}"
        path, _, anchor = url[len(base):].partition("#")
        doc = None
        if path:
            doc = re.sub(r"\.html$", "", path)
            assert doc in toc_docs(), f"{url}: no document {doc!r} in the book"
        if anchor:
            assert anchor.startswith("equation-"), f"{url}: equation anchors are #equation-<label>"
            label = anchor[len("equation-"):]
            assert label in homes, f"{url}: no equation labelled {label!r}"
            assert homes[label] == [doc], f"{url}: {label!r} is defined in {homes[label]}"
            equations += 1
    assert equations, "how_to_cite.md must show how to cite a single equation"
    for name, target in parse("pages/how_to_cite").roles:
        if name == "eq":
            assert role_target(target) in homes


def test_how_to_cite_bibtex_entries_match_citation_cff():
    cff = _cff()
    blocks = re.findall(r"^```bibtex\n(.*?)^```", _markdown("pages/how_to_cite"), re.M | re.S)
    assert len(blocks) >= 3, "BibTeX for the book, a chapter and an equation"
    for block in blocks:
        assert block.count("{") == block.count("}"), f"unbalanced braces in {block[:50]!r}"
        keys = re.findall(r"^@\w+\{([^,\s]+),", block, re.M)
        assert len(keys) == 1, f"one entry per block, got {keys}"
        assert f"{{{cff['authors'][0]['name']}}}" in block
        assert re.search(rf"version\s*=\s*\{{{re.escape(str(cff['version']))}\}}", block)
        assert re.search(rf"year\s*=\s*\{{{str(cff['date-released'])[:4]}\}}", block)


# --- Bibliography -----------------------------------------------------------------------


def test_one_bibliography_and_every_cited_key_exists():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,\s]+),", bib, re.M)
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    where = [doc for doc in toc_docs() for name in parse(doc).directives if name == "bibliography"]
    assert where == ["pages/references"], f"exactly one {{bibliography}}, in pages/references; found in {where}"
    for doc in toc_docs():
        for name, content in parse(doc).roles:
            if name == "cite" or name.startswith("cite:"):
                cited = {k.strip() for k in content.split(",")}
                assert cited <= set(keys), f"{doc}: unknown bib keys {sorted(cited - set(keys))}"


# --- Numbers pasted from other documents ------------------------------------------------


def glue_names(doc: str) -> set[str]:
    """Names glued in a notebook's stored outputs (myst-nb records them under 'scrapbook')."""
    cells = json.loads(_path(doc).read_text(encoding="utf-8"))["cells"]
    return {
        out["metadata"]["scrapbook"]["name"]
        for cell in cells if cell["cell_type"] == "code"
        for out in cell.get("outputs", []) if "scrapbook" in out.get("metadata", {})
    }


def test_numbers_in_pages_are_pasted_from_existing_glue():
    for doc in toc_docs():
        if _path(doc).suffix != ".md":
            continue
        for name, content in parse(doc).roles:
            if name != "glue" and not name.startswith("glue:"):
                continue
            # myst-nb reads {glue:text} as key:format first, so a pasted key needs a format (":s")
            key = content.rsplit(":", 1)[0] if name == "glue:text" else content
            assert "::" in key, f"{doc}: a page has no glue of its own; paste with path::name:format ({content})"
            path, glued = key.split("::", 1)
            source = resolve_doc(doc, path)
            assert path.endswith(".ipynb") and source in toc_docs(), f"{doc}: no notebook {path!r}"
            assert glued in glue_names(source), f"{doc}: {source} glues no {glued!r}"


@pytest.mark.parametrize("doc", REFERENCE_PAGES + ["intro"])
def test_pages_type_no_computed_numbers(doc):
    """Decimal numbers in page prose come from glue, never typed (versions and years excepted)."""
    text = _markdown(doc)
    text = re.sub(r"(?ms)^(```|~~~).*?^\1", "", text)  # code blocks: BibTeX, shell
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", "", text)  # roles: glue, eq, doc, cite
    text = re.sub(r"`[^`]*`|\$[^$]*\$|https?://\S+|Python \d+\.\d+", "", text)  # code, math, URLs, versions
    typed = re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", text)
    assert not typed, f"{doc}: typed decimal numbers {typed}; glue them from the chapter"


def test_every_equation_label_named_in_vae_lib_exists_in_the_book():
    """``# eq. <label>`` beside the code must name a label the book defines (a link a reader can follow)."""
    homes = label_homes()
    named = {}
    for path in sorted((ROOT / "vae_lib").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for label in re.findall(r"#\s*eq\.\s+([a-z0-9][a-z0-9-]*)", line):
                named.setdefault(label, []).append(f"{path.relative_to(ROOT)}:{number}")
    assert len(named) > 30, "the package should carry its equation labels"
    missing = {label: where for label, where in named.items() if label not in homes}
    assert not missing, f"# eq. comments name labels the book does not define: {missing}"
