"""The chapters' prose types no numbers, and the book keeps one notation.

* **No typed numbers.** Every digit in a chapter's markdown must come from a glue role, or sit in a
  citation, an ``{eq}``/``{doc}``/``{ref}`` role, an equation label, a URL, inline code, a formula
  (``\\tfrac12``, ``2\\pi``, ``e^{2\\rho}``) or one of a few references by number (``chapter 4``,
  ``source Eq. (8)``, ``section 1``). Inside math, ``symbol = number`` (``$J = 20$``) and decimals
  (``$\\log 0.4$``) are settings or data, and count as typed, except the structural values 0 and 1
  (``$\\mu_j = 0$``). The test is parametrised by chapter, so each offending chapter fails on its own,
  listing every cell and snippet.
* **One notation.** The notation table of ``intro.md`` parses, gives every symbol one meaning, and
  covers the symbols the issue fixed; old spellings (``l_j`` for the log-variance, ``A_u``, a
  covariance named ``S``, ASCII ``mu_1``/``dmu`` labels in code cells) occur in no chapter.

The markdown is tokenised with the MyST parser of ``tests/test_pages.py``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from notebook_markup import to_myst
from test_pages import CHAPTERS, ROOT, _parser, _split_directive

# References by number that are words, not data: chapter numbers, the source's equation and section
# numbers, the steps of a derivation.
ALLOWED_TEXT = [
    r"\b[Cc]hapters? \d+(?:\s*(?:,|and|to|or|–|-)\s*\d+)*",
    r"\b[Cc]hapters \d+[–-]\d+",
    r"\b(?:[Ss]ource(?:'s)? )?Eqs?\.\s*\(\d+\)(?:\s*(?:,|and|to|–|-)\s*\(\d+\))*",
    r"\b[Cc]hapter-\d+",
    r"\b[Ss]ection \d+",
    r"§\d+(?:\.\d+)*",
    r"\b[Ss]tep \d+",
    r"\b[Ll]ines? \d+(?:\s*[–-]\s*\d+)?",
    r"\b(?:Theorem|Algorithm) \d+",  # a cited paper's numbering
]
# Inside math: a setting or a datum, "J = 20", "w = (0.4", "\approx 2.8", and any decimal number.
MATH_SETTING = re.compile(r"(?:=|\\approx(?![a-zA-Z])|\\le(?:q)?(?![a-zA-Z])|\\ge(?:q)?(?![a-zA-Z])|<|>)\s*"
                          r"(?:\(\s*-?(\d[\d{},.]*)\s*,|-?(\d[\d{},.]*)(?![\d{},.]*[\\a-zA-Z(]))")
MATH_DECIMAL = re.compile(r"(?<![\w\\])\d+\.\d+")
STRUCTURAL = {"0", "1"}


def _chapter_cells(doc: str) -> list[tuple[int, str]]:
    nb = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))
    return [(i, to_myst("".join(c["source"]))) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def _code_cells(doc: str) -> list[tuple[int, str]]:
    nb = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def _snippet(text: str, start: int, end: int, width: int = 30) -> str:
    return " ".join(text[max(0, start - width): end + width].split())


def _typed_in_text(text: str) -> list[str]:
    # math that the parser left as text (a span the dollarmath rule did not take) is still math
    found = [n for m in re.finditer(r"\$([^$]+)\$", text) for n in _typed_in_math(m.group(1))]
    masked = re.sub(r"\$[^$]+\$", lambda m: " " * len(m.group()), text)
    for pattern in ALLOWED_TEXT:
        masked = re.sub(pattern, lambda m: " " * len(m.group()), masked)
    # digits glued to letters are names, not numbers: float64, log2, L2
    return found + [_snippet(text, m.start(), m.end()) for m in re.finditer(r"(?<![\w.,])\d[\d,.]*", masked)]


def _typed_in_math(math: str) -> list[str]:
    found = []
    for m in MATH_SETTING.finditer(math):
        number = (m.group(1) or m.group(2)).replace("{,}", ",").replace("{", "").replace("}", "").rstrip(",.")
        if number not in STRUCTURAL:
            found.append(_snippet(math, m.start(), m.end()))
    found += [_snippet(math, m.start(), m.end()) for m in MATH_DECIMAL.finditer(math)]
    return list(dict.fromkeys(found))


def typed_numbers(markdown: str) -> list[str]:
    """Every snippet of ``markdown`` that holds a typed number (empty when all numbers are glued)."""
    found: list[str] = []

    def walk(text: str) -> None:
        for token in _parser().parse(text):
            if token.type in ("fence", "colon_fence"):
                info = token.info.strip()
                m = re.fullmatch(r"\{([\w:-]+)\}.*", info)
                if not m:
                    continue  # a plain code block
                options, body = _split_directive(token.content)
                if m.group(1) == "math":
                    found.extend(_typed_in_math(body))
                elif m.group(1) not in ("code-cell", "code-block", "code", "raw"):
                    found.extend(_typed_in_text(re.sub(r"\{[\w:-]+\}", "", info)))  # an admonition's title
                    walk(body)
            elif token.type in ("math_block", "math_block_label", "amsmath"):
                found.extend(_typed_in_math(token.content))
            if token.type == "inline":
                pieces = []  # the inline text as one string, so a "$...$" split by line breaks stays whole
                for child in token.children or []:
                    if child.type == "text":
                        pieces.append(child.content)
                    elif child.type in ("softbreak", "hardbreak"):
                        pieces.append("\n")
                    elif child.type in ("math_inline", "math_single"):
                        found.extend(_typed_in_math(child.content))
                        pieces.append(" ")
                    else:  # myst_role (glue, eq, doc, ref, cite), code_inline, links' markup, html
                        pieces.append(" ")
                found.extend(_typed_in_text("".join(pieces)))

    walk(markdown)
    return found


def _offenders(doc: str) -> list[str]:
    return [f"{doc}.ipynb, cell {i}: {snippet!r}" for i, text in _chapter_cells(doc) for snippet in typed_numbers(text)]


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_prose_types_no_numbers(doc):
    offenders = _offenders(doc)
    assert not offenders, (f"{len(offenders)} typed numbers in the prose; glue each from the code that computes "
                           "or uses it:\n" + "\n".join(offenders))


def test_the_detector_finds_typed_numbers_and_spares_the_rest():
    assert typed_numbers("a batch of 128 images") and typed_numbers("with $J = 20$ units")
    assert typed_numbers("$-\\log 0.4$") and typed_numbers("the mixture $w = (0.4, 0.6)$")
    assert typed_numbers("only 1 % of them")
    assert not typed_numbers("chapter 4 and chapters 4 to 6 rewrite source Eq. (5) and Eqs. (1)–(2)")
    assert not typed_numbers("{glue:text}`n_train:,.0f` digits, {eq}`kl-discrete`, {cite}`kingma2014auto`")
    assert not typed_numbers("$\\tfrac12 \\log 2\\pi$, at $\\mu_j = 0$, $e^{2\\rho_j}$, `fit(lr=2e-3)`, float64")
    assert not typed_numbers("```{math}\n:label: kl-per-unit\n\\kappa = \\tfrac12 \\mu^2\n```\n")


# --- Notation ------------------------------------------------------------------------------


def notation_table() -> list[tuple[str, str]]:
    """(symbol cell, meaning) for each row of the table under '## Notation' in intro.md."""
    text = (ROOT / "intro.md").read_text(encoding="utf-8")
    section = re.search(r"^## Notation\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "intro.md has no '## Notation' section"
    rows = [line for line in section.group(1).splitlines() if line.startswith("|")]
    assert len(rows) > 3 and re.fullmatch(r"\|[-| :]+\|", rows[1].strip()), "the notation table does not parse"
    table = []
    for line in rows[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 3, f"a notation row needs symbol | meaning | code: {line!r}"
        table.append((cells[0], cells[1]))
    return table


def _symbols(cell: str) -> list[str]:
    """The symbols a row defines: the first math span of its symbol cell, split at top-level commas."""
    spans = re.findall(r"\$([^$]+)\$", cell)
    assert spans, f"a notation row's symbol must be math: {cell!r}"
    heads = [re.split(r"\\in|=|\\sim", span)[0] for span in spans]
    return [s.strip() for head in heads for s in re.split(r",(?![^{]*\})", head) if s.strip()]


def test_notation_table_gives_each_symbol_one_meaning():
    seen: dict[str, str] = {}
    for cell, meaning in notation_table():
        for symbol in _symbols(cell):
            assert symbol not in seen, f"{symbol!r} has two rows: {seen[symbol]!r} and {meaning!r}"
            seen[symbol] = meaning


REQUIRED = [r"D", r"d", r"N", r"n", r"J", r"j", r"z", r"\mu_j", r"\sigma_j", r"v_j", r"\rho_j", r"s", r"s_0",
            r"S", r"i", r"k", r"\Sigma", r"P, Q", r"\mathcal{L}", r"\mathcal{L}_\beta", r"\mathcal{L}_k", r"\beta",
            r"W", r"b", r"\eta", r"\lambda", r"A_j", r"\varsigma"]


def test_notation_table_covers_the_fixed_symbols():
    cells = [cell for cell, _ in notation_table()]
    defined = {s for cell in cells for s in _symbols(cell)} | {", ".join(_symbols(cell)) for cell in cells}
    missing = [s for s in REQUIRED if s not in defined and not any(s == x.split("(")[0].strip() for x in defined)]
    assert not missing, f"intro.md's notation table lacks {missing}"


# Old spellings that the second edition removed, in any chapter's markdown or code.
FORBIDDEN_MARKDOWN = {
    r"(?<![\\\w])l_j\b|l_\{j\}": "l_j for the log-variance (write v_j)",
    r"(?<![\\\w])A_u\b|A_\{u\}": "A_u for a unit's activity (write A_j)",
    r"(?<![\\\w])S\s*=\s*\\(?:operatorname\{diag\}|mathrm\{diag\}|begin|Sigma)|covariance\s+\$S\$": "a covariance named S (write Sigma)",
}
# ASCII names of symbols in labels drawn by notebook code (titles, axes, legends, slider labels)
FORBIDDEN_LABEL = re.compile(r"[\"'][^\"'\n]*(?<![\\$\w])(mu_\d|dmu|log sigma|sigma_\d|logvar_\d|N\(0, I\))[^\"'\n]*[\"'](?!\s*:)")
LABEL_CALL = re.compile(r"(set_title|set_xlabel|set_ylabel|set\(|title=|label=|labels=|xlabel=|ylabel=|legend\()")


@pytest.mark.parametrize("doc", CHAPTERS)
def test_old_spellings_are_gone(doc):
    bad = []
    for i, text in _chapter_cells(doc):
        for pattern, why in FORBIDDEN_MARKDOWN.items():
            bad += [f"cell {i}: {why}: {_snippet(text, m.start(), m.end())!r}" for m in re.finditer(pattern, text)]
    for i, code in _code_cells(doc):
        for line in code.splitlines():
            if LABEL_CALL.search(line) and not line.lstrip().startswith("#"):
                bad += [f"cell {i}: an ASCII label {m.group(1)!r} (use mathtext or Unicode): {line.strip()!r}"
                        for m in FORBIDDEN_LABEL.finditer(line)]
    assert not bad, f"{doc}:\n" + "\n".join(bad)


# --- Each chapter's symbols, checked against the table --------------------------------------

# Symbols of the language of mathematics rather than of the book: Euler's e, the differential d (also the pixel
# index, which the table defines), the identity I, pi, the reals, expectation, the normal density, the KL's D.
MATH_LANGUAGE = {"e", "d", "I", r"\pi", r"\mathbb{R}", r"\mathbb{E}", r"\mathcal{N}", "D"}
GREEK = set(("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho "
             "sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi "
             "Psi Omega ell").split())
_NOT_SYMBOLS = re.compile(r"\\(?:text|textrm|operatorname\*?|mathrm|label|tag|begin|end|mathbf)\{[^{}]*\}")
_TOKEN = re.compile(r"\\(?:mathcal|mathbb|mathscr)\{([A-Za-z])\}|\\([A-Za-z]+)|([A-Za-z])")
_SCOPE = re.compile(r"\(chapters? ([\d ,and–-]+)\)")


def math_symbols(math: str) -> set[str]:
    """The symbols a formula uses: single Latin letters, Greek letters and calligraphic/blackboard letters
    (subscripts count on their own; words in \\text, \\operatorname, \\mathrm do not)."""
    out = set()
    for m in _TOKEN.finditer(_NOT_SYMBOLS.sub(" ", math)):
        if m.group(1):
            out.add(m.group(0))
        elif m.group(2):
            if m.group(2) in GREEK:
                out.add("\\" + m.group(2))
        else:
            out.add(m.group(3))
    return out


def _chapter_math(doc: str) -> set[str]:
    used = set()
    for _, text in _chapter_cells(doc):
        for block in re.findall(r"^[ \t]*```\{math\}\n(?:[ \t]*:label:.*\n)?(.*?)^[ \t]*```", text, re.S | re.M):
            used |= math_symbols(block)
        text = re.sub(r"```\{math\}.*?```", " ", text, flags=re.S)
        used |= {s for span in re.findall(r"\$\$(.*?)\$\$|\$([^$]+)\$", text, re.S) for s in math_symbols("".join(span))}
    return used


def _scope(meaning: str) -> set[int] | None:
    """The chapters a row restricts its symbol to, '(chapter 6)', '(chapters 3, 7)'; None for the whole book."""
    found = set()
    for group in _SCOPE.findall(meaning):
        numbers = [int(n) for n in re.findall(r"\d+", group)]
        if re.search(r"\d\s*[–-]\s*\d", group):
            numbers = list(range(numbers[0], numbers[-1] + 1))
        found |= set(numbers)
    return found or None


def symbol_rows() -> dict[str, list[tuple[str, set[int] | None]]]:
    """Base symbol -> the rows that define it (their meaning and chapter scope): the row's symbols and
    their subscripts ($p_U$ defines $U$ too), not the letters of their arguments."""
    rows: dict[str, list] = {}
    for cell, meaning in notation_table():
        for symbol in _symbols(cell):
            head = re.split(r"[(_^]", symbol.replace(r"\hat", "").replace(r"\bar", "").replace(r"\star", ""))[0]
            subscripts = "".join(re.findall(r"_(\{[^{}]*\}|\\[A-Za-z]+|[A-Za-z0-9])", symbol))
            for base in (math_symbols(head) or math_symbols(symbol)) | math_symbols(subscripts):
                rows.setdefault(base, []).append((meaning, _scope(meaning)))
    return rows


@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_symbol_of_a_chapter_has_its_meaning_in_the_table(doc):
    """A symbol a chapter uses must have a row in intro.md's table whose scope includes the chapter, so one
    letter cannot quietly mean two things in two chapters: a row says '(chapter N)' when its sense is local."""
    chapter = int(Path(doc).name[:2])
    rows = symbol_rows()
    bad = []
    for symbol in sorted(_chapter_math(doc) - MATH_LANGUAGE):
        if symbol not in rows:
            bad.append(f"{symbol}: no row in the notation table")
        elif all(scope is not None and chapter not in scope for _, scope in rows[symbol]):
            bad.append(f"{symbol}: the table defines it only for other chapters ({'; '.join(m for m, _ in rows[symbol])})")
    assert not bad, f"{doc} (chapter {chapter}): add a row, widen a row's scope if the sense is the same, or rename:\n" + "\n".join(bad)


def test_the_symbol_detector():
    assert math_symbols(r"D_{\mathrm{KL}}(q \,\Vert\, p) = \mathbb{E}_q[\log q - \log p_\theta(x \mid z)]") == {
        "D", "q", "p", r"\mathbb{E}", r"\theta", "x", "z"}
    assert math_symbols(r"\text{for all } t > 0, \operatorname{sd}(w_1)") == {"t", "w"}
    assert _scope("the continuous Bernoulli's normaliser (chapter 6)") == {6}
    assert _scope("an entropy (chapter 1), of a distribution (chapters 3, 7)") == {1, 3, 7}
    assert _scope("a covariance matrix; in chapter 4 the posterior's") is None
