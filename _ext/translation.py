"""The Chinese edition, from one source: the English pages plus a catalogue of translated units.

A **unit** is what a translator translates at once: one markdown cell of a chapter (its MyST
source, ``notebook_markup.to_myst``), or one section of a markdown page (a heading and what follows
it, up to the next heading). Each unit is keyed by the hash of its English text.

The catalogue of a page is ``locales/<lang>/<page>.yml``, one entry per English unit, in order::

    - key: 3f2a9c1e0b7d4a51      # sha256 of the English unit, first 16 hex digits
      en: |                      # the English it translates, so a changed unit can be diffed
        ...
      zh: |
        ...

When an English unit changes, its key changes, the entry goes stale and ``problems`` reports it
(``tests/test_translation.py`` fails) until the translation is updated: ``scripts/translate.py
stub`` keeps the old translation beside the new English (``old_en``, ``old_zh``) for that.

A translation must keep the unit's **structure** byte for byte: every formula, code span and block,
label, link target and the target of every role (glued values, equation references, citations,
document links). Only the words change. :func:`structure` is what is compared.

``scripts/translate.py build`` writes the edition's book, ``<lang>/``: the same notebooks, code cells
and stored outputs, with each markdown cell replaced by its translation in the readable form; the
markdown pages; a ``_config.yml`` and ``_toc.yml`` from the English ones with ``locales/<lang>/site.yml``.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import yaml

import notebook_markup

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("zh",)


# ---------------------------------------------------------------- the English units


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page of the book, in reading order: ``intro``, ``chapters/01_autoencoder``, ..."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [entry["file"] for part in toc["parts"] for entry in part["chapters"]]


def page_file(page: str, root: Path = ROOT) -> Path:
    for suffix in (".ipynb", ".md"):
        if (root / f"{page}{suffix}").is_file():
            return root / f"{page}{suffix}"
    raise FileNotFoundError(f"page {page!r}: neither {page}.ipynb nor {page}.md exists under {root}")


_FENCE_LINE = re.compile(r"^[ \t]*(```+|:::+)")
_HEADING = re.compile(r"^#{1,6} ")
_LABEL_LINE = re.compile(r"^\([^)\s]+\)=$")


def split_sections(markdown: str) -> list[str]:
    """A markdown page cut before each heading outside a fence (a ``(label)=`` line goes with its heading)."""
    lines = markdown.rstrip("\n").split("\n")
    sections: list[list[str]] = [[]]
    fence = None
    for i, line in enumerate(lines):
        m = _FENCE_LINE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker
            elif marker.startswith(fence[0]) and len(marker) >= len(fence) and line.strip() == marker:
                fence = None
        starts = fence is None and (
            (_LABEL_LINE.match(line) and i + 1 < len(lines) and _HEADING.match(lines[i + 1]))
            or (_HEADING.match(line) and not (i and _LABEL_LINE.match(lines[i - 1]))))
        if starts and any(s.strip() for s in sections[-1]):
            sections.append([])
        sections[-1].append(line)
    return ["\n".join(s).strip("\n") for s in sections if any(x.strip() for x in s)]


def _cell_source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def units(page: str, root: Path = ROOT) -> list[str]:
    """The English units of a page, in order."""
    path = page_file(page, root)
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return [_clean(notebook_markup.to_myst(_cell_source(c))) for c in nb["cells"] if c["cell_type"] == "markdown"]
    return [_clean(s) for s in split_sections(path.read_text(encoding="utf-8"))]


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def key(text: str) -> str:
    return hashlib.sha256(_clean(text).encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- the catalogue


def catalogue_path(lang: str, page: str, root: Path = ROOT) -> Path:
    return root / "locales" / lang / f"{page}.yml"


def load(lang: str, page: str, root: Path = ROOT) -> list[dict]:
    path = catalogue_path(lang, page, root)
    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "key" in e for e in entries):
        raise ValueError(f"{path}: expected a list of entries, each with a 'key'")
    return entries


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


_BlockDumper.add_representer(str, _str)


def save(lang: str, page: str, entries: list[dict], root: Path = ROOT) -> Path:
    path = catalogue_path(lang, page, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        for field in ("en", "zh", "old_en", "old_zh"):
            if isinstance(entry.get(field), str):
                entry[field] = _clean(entry[field]) + "\n" if entry[field].strip() else ""
    header = (f"# The {lang} translation of {page} (_ext/translation.py). One entry per English unit, in order;\n"
              "# a stale entry keeps the former English and translation as old_en/old_zh.\n")
    path.write_text(header + yaml.dump(entries, Dumper=_BlockDumper, allow_unicode=True, sort_keys=False,
                                       width=10_000), encoding="utf-8")
    return path


def stub(lang: str, page: str, root: Path = ROOT) -> tuple[int, int]:
    """Bring a page's catalogue in line with its English units; return (units, those still untranslated).

    A unit whose key is known keeps its entry. A new unit gets an empty translation; if it replaced a
    unit at the same place, the former English and translation come along as ``old_en``/``old_zh``."""
    old = load(lang, page, root)
    by_key = {e["key"]: e for e in old}
    kept_keys = {key(u) for u in units(page, root)}
    orphans = [e for e in old if e["key"] not in kept_keys]
    entries = []
    for unit in units(page, root):
        k = key(unit)
        if k in by_key:
            entries.append(by_key[k])
            continue
        entry = {"key": k, "en": unit, "zh": ""}
        if orphans:
            former = orphans.pop(0)
            entry["old_en"] = former.get("old_en") or former.get("en", "")
            entry["old_zh"] = former.get("old_zh") or former.get("zh", "")
        entries.append(entry)
    save(lang, page, entries, root)
    return len(entries), sum(1 for e in entries if not (e.get("zh") or "").strip() or "old_zh" in e)


def translations(lang: str, page: str, root: Path = ROOT) -> list[str]:
    """The translated units of a page, in order; raises ``StaleTranslation`` if any is missing or stale."""
    entries = {e["key"]: e for e in load(lang, page, root)}
    out = []
    for unit in units(page, root):
        entry = entries.get(key(unit))
        if entry is None or not (entry.get("zh") or "").strip() or "old_zh" in entry:
            raise StaleTranslation(f"{catalogue_path(lang, page, root)}: no current translation of\n{unit[:300]}")
        out.append(_clean(entry["zh"]))
    return out


class StaleTranslation(LookupError):
    """An English unit with no current translation."""


# ---------------------------------------------------------------- what a translation must keep


_MATH_FENCE = re.compile(r"^[ \t]*```+\{math\}[^\n]*\n(.*?)^[ \t]*```+[ \t]*$", re.M | re.S)
_CODE_FENCE = re.compile(r"^[ \t]*(```+)(?!\{)([^\n]*)\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
_DIRECTIVE = re.compile(r"^[ \t]*(?:```+|:::+)\{([a-z]+)\}[^\n]*\n((?:[ \t]*:[a-z_-]+:[^\n]*\n)*)", re.M)
_DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)((?:[^\n]|\n(?!\n))+?)(?<![\\$])\$")  # may wrap once
_ROLE = re.compile(r"\{([a-z:]+)\}`([^`]*)`")
_CODE_SPAN = re.compile(r"(?<![`{}])`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_LABEL = re.compile(r"^[ \t]*\(([^)\s]+)\)=[ \t]*$", re.M)
_HEADING_LEVEL = re.compile(r"^(#{1,6}) ", re.M)
_HTML = re.compile(r"<(?!!--)[^>\n]+>")


def _role_target(role: str, content: str) -> str:
    m = re.fullmatch(r"(?s).*<([^<>]+)>", content)  # {doc}`a title <target>`: the title is words
    return f"{role}:{m.group(1).strip() if m and role in ('doc', 'ref', 'numref', 'download') else content}"


def structure(markdown: str) -> dict[str, Counter | list]:
    """What a translation keeps unchanged: formulas, code, labels, links, roles' targets, headings."""
    text = markdown
    found: dict[str, Counter | list] = {}
    found["math blocks"] = [m.group(1).strip() for m in _MATH_FENCE.finditer(text)]
    text = _MATH_FENCE.sub("", text)
    found["code blocks"] = [(m.group(2).strip(), m.group(3)) for m in _CODE_FENCE.finditer(text)]
    text = _CODE_FENCE.sub("", text)
    found["directives"] = [(m.group(1), m.group(2).strip()) for m in _DIRECTIVE.finditer(text)]
    found["display math"] = [m.group(1).strip() for m in _DISPLAY_MATH.finditer(text)]
    text = _DISPLAY_MATH.sub("", text)
    found["roles"] = Counter(_role_target(m.group(1), m.group(2)) for m in _ROLE.finditer(text))
    text = _ROLE.sub("", text)
    found["inline math"] = Counter(m.group(1).strip() for m in _INLINE_MATH.finditer(text))
    text = _INLINE_MATH.sub("", text)
    found["code spans"] = Counter(m.group(1) for m in _CODE_SPAN.finditer(text))
    found["links"] = Counter(m.group(1) for m in _LINK.finditer(text))
    found["labels"] = _LABEL.findall(text)
    found["headings"] = [len(h) for h in _HEADING_LEVEL.findall(text)]
    found["html tags"] = Counter(_HTML.findall(text))
    return found


def structure_problems(english: str, translated: str) -> list[str]:
    a, b = structure(english), structure(translated)
    out = []
    for what in a:
        if a[what] != b[what]:
            if isinstance(a[what], Counter):
                lost, added = a[what] - b[what], b[what] - a[what]  # type: ignore[operator]
                out.append(f"{what} differ: missing {sorted(lost)[:5]}, extra {sorted(added)[:5]}")
            else:
                out.append(f"{what} differ: {a[what]!r:.200} vs {b[what]!r:.200}")
    return out


# ---------------------------------------------------------------- Chinese typesetting


_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CJK_PUNCT = "，。：；？！、（）“”‘’《》「」—…"
# What holds no prose: code and math fences, display math, and an admonition's fence and option lines
# (its title and body are prose, checked like the rest).
_PLAIN = re.compile(r"```.*?```|\$\$.*?\$\$|^[ \t]*:::+(?:\{[a-z]+\})?|^[ \t]*:[a-z_-]+:[^\n]*", re.S | re.M)


def prose(markdown: str) -> str:
    """The words of a unit, with each formula, role and code span replaced by a Latin placeholder."""
    text = _PLAIN.sub("\n", markdown)
    text = _ROLE.sub("R", text)
    text = _INLINE_MATH.sub("x", text)
    text = _CODE_SPAN.sub("c", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<!--.*?-->|<[^>\n]+>", "", text, flags=re.S)
    text = re.sub(r"^[ \t]*(?:[-*+]|\d+\.|#+|>|\|)[ \t]", "", text, flags=re.M)  # list and heading marks
    return text


_TYPO_RULES = (
    (re.compile(rf"[{_CJK}][A-Za-z0-9]|[A-Za-z0-9][{_CJK}]"),
     "one space between Chinese and a Latin letter, a digit, a formula or a role"),
    (re.compile(rf"[{_CJK}][,;:?!]|[,;:?!](?=[{_CJK}])"), "full-width punctuation (，；：？！) in Chinese prose"),
    (re.compile(rf"[{_CJK}]\.(?=\s|$)"), "a full stop after Chinese is 。"),
    (re.compile(rf"[{_CJK}]\((?!R\))|\)(?=[{_CJK}])"), "full-width parentheses （） around Chinese"),
    (re.compile(rf"[ \t][{_CJK_PUNCT}]|[{_CJK_PUNCT}][ \t]"), "no space beside full-width punctuation"),
)


_HARD_WRAP = re.compile(rf"[{_CJK}，、；：]\n(?![ \t]*(?:[-*+] |\d+\. |#|>|\||\n|:::|```|\$\$|<!--))[ \t]*[{_CJK}]")


def typography_problems(translated: str) -> list[str]:
    out = [f"a Chinese paragraph is one line (a line break shows as a space): …{m.group(0)!r}…"
           for m in _HARD_WRAP.finditer(_PLAIN.sub("\n", translated))]
    text = prose(translated)
    for rule, says in _TYPO_RULES:
        for m in rule.finditer(text):
            start = max(0, m.start() - 12)
            out.append(f"{says}: …{text[start:m.end() + 12]!r}…")
    return out


# ---------------------------------------------------------------- the glossary


GLOSSARY = ROOT / "locales" / "zh" / "TERMINOLOGY.md"


def glossary(path: Path = GLOSSARY) -> list[dict]:
    """The rows of the glossary's tables: English, the one Chinese term, the variants not used, and
    whether the term is glossed (the first table: its first use on each page is followed by the English)."""
    rows, glossed = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            glossed = line.startswith("## Glossed")
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("English", "") or set(cells[0]) <= set("-: "):
            continue
        rows.append({"en": cells[0], "zh": cells[1], "glossed": glossed,
                     "avoid": [v.strip() for v in cells[2].split("、") if v.strip() and v.strip() != "—"]})
    return rows


# Words that hold a term by accident: 来自编码器 is 来自 + 编码器 ("comes from the encoder"), not 自编码器.
_NOT_A_USE = re.compile(r"(?<=[来出源各亲独])自(?=编码器)")


def _words_only(text: str) -> str:
    """A page's text without headings, formulas and code: where a first use counts."""
    # headings go first, while their marks still show them (prose() removes the marks and the fences)
    return _NOT_A_USE.sub("自 ", prose(re.sub(r"^#{1,6} .*$", "", text, flags=re.M)))


def gloss_problems(page_texts: list[str], terms: list[dict] | None = None) -> list[str]:
    """Each glossed term's first use on a page (outside headings) must be followed, within the same
    parenthesis, by its English: 变分推断（variational inference）."""
    text = _words_only("\n\n".join(page_texts))
    out = []
    for row in terms if terms is not None else glossary():
        if not row["glossed"]:
            continue
        at = text.find(row["zh"])
        if at < 0:
            continue
        after = text[at + len(row["zh"]):at + len(row["zh"]) + 80]
        m = re.match(r"[^（\n。，、…]{0,4}（([^）]*)）", after)
        norm = lambda s: re.sub(r"[\s\-–‐]+", " ", s.lower())  # noqa: E731
        if not m or norm(row["en"]) not in norm(m.group(1)):
            out.append(f"the first use of {row['zh']!r} is not followed by （{row['en']}）: "
                       f"…{text[max(0, at - 10):at + len(row['zh']) + 20]!r}…")
    return out


def problems(lang: str, page: str, root: Path = ROOT) -> list[str]:
    """Every stale, missing or malformed unit of a page's translation (empty when it is complete)."""
    entries = {e["key"]: e for e in load(lang, page, root)}
    out = []
    avoid = [(v, row["zh"]) for row in glossary() for v in row["avoid"]]  # type: ignore[union-attr]
    for i, unit in enumerate(units(page, root), start=1):
        entry = entries.get(key(unit))
        where = f"{page} unit {i} ({key(unit)})"
        if entry is None:
            out.append(f"{where}: no entry (run: scripts/translate.py stub {page})")
            continue
        zh = (entry.get("zh") or "").strip()
        if "old_zh" in entry:
            out.append(f"{where}: stale: the English changed (old_en); update zh, then delete old_en and old_zh")
        if not zh:
            if "old_zh" not in entry:
                out.append(f"{where}: not translated")
            continue
        out += [f"{where}: {p}" for p in structure_problems(unit, zh)]
        out += [f"{where}: {p}" for p in typography_problems(zh)]
        out += [f"{where}: uses {v!r}; the glossary's term is {t!r}" for v, t in avoid if v in prose(zh)]
    done = [(e.get("zh") or "") for e in entries.values() if (e.get("zh") or "").strip()]
    order = [entries[k]["zh"] for k in (key(u) for u in units(page, root)) if k in entries]
    if len(done) == len(entries):
        out += [f"{page}: {p}" for p in gloss_problems(order)]
    return out


# ---------------------------------------------------------------- the edition's book


def published(lang: str, root: Path = ROOT) -> bool:
    """Whether the edition is built and linked (``published`` in ``locales/<lang>/site.yml``)."""
    return bool(site_strings(lang, root).get("published"))


def site_strings(lang: str, root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "locales" / lang / "site.yml").read_text(encoding="utf-8"))


def translated_notebook(lang: str, page: str, root: Path = ROOT, context: notebook_markup.Context | None = None) -> dict:
    """The English notebook with each markdown cell replaced by its translation, in the readable form."""
    nb = json.loads(page_file(page, root).read_text(encoding="utf-8"))
    texts = iter(translations(lang, page, root))
    context = copy.copy(context or notebook_markup.context_for(nb, root))
    context.glue = notebook_markup.glued_values(nb)
    context.eqref = site_strings(lang, root)["eqref_format"]
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = notebook_markup.readable(next(texts), context)
    nb["metadata"].setdefault("vae_book", {})["edition"] = {"language": lang, "source": f"{page}.ipynb"}
    return nb


def _page_text(lang: str, page: str, root: Path = ROOT) -> str:
    return "\n\n".join(translations(lang, page, root)) + "\n"


def edition_config(lang: str, root: Path = ROOT) -> dict:
    """The edition's ``_config.yml``: the English one, built from stored outputs, with the edition's strings."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    strings = site_strings(lang, root)
    config["title"] = strings["title"]
    config["execute"]["execute_notebooks"] = "off"  # the English notebooks' stored outputs, shared
    config["bibtex_bibfiles"] = ["../references.bib"]
    config["repository"]["path_to_book"] = lang  # the Colab and Binder buttons open this edition's notebook
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {name: f"../{path}" for name, path in sphinx["local_extensions"].items()}
    sphinx["config"].update({
        "language": strings["language"],
        "html_search_language": lang,  # Sphinx's Chinese search, which splits words with jieba
        "math_eqref_format": strings["eqref_format"],
        "book_edition": lang,
    })
    return config


def edition_toc(lang: str, root: Path = ROOT) -> dict:
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    captions = site_strings(lang, root)["captions"]
    for part in toc["parts"]:
        part["caption"] = captions[part["caption"]]
    return toc


def edition_files(lang: str, root: Path = ROOT) -> dict[str, str]:
    """Every file of the edition's book, relative path -> text. Raises ``StaleTranslation`` if a unit
    has no current translation: an edition is built whole or not at all."""
    header = f"# Generated by scripts/translate.py build from the English book and locales/{lang}/: do not edit.\n"
    files = {
        "_config.yml": header + yaml.safe_dump(edition_config(lang, root), allow_unicode=True, sort_keys=False),
        "_toc.yml": header + yaml.safe_dump(edition_toc(lang, root), allow_unicode=True, sort_keys=False),
    }
    context = None
    for page in toc_pages(root):
        path = page_file(page, root)
        if path.suffix == ".md":
            files[f"{page}.md"] = _page_text(lang, page, root)
            continue
        if context is None:
            context = notebook_markup.Context(equations=notebook_markup.equation_numbers(root),
                                              citations=notebook_markup.citation_labels())
        nb = translated_notebook(lang, page, root, context)
        files[f"{page}.ipynb"] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    return files


def build_edition(lang: str, root: Path = ROOT) -> list[Path]:
    """Write the edition's book into ``<root>/<lang>/`` (files no longer generated are removed)."""
    out = root / lang
    files = edition_files(lang, root)
    for old in [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else []:
        if str(old.relative_to(out)) not in files:
            old.unlink()
    written = []
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
