"""The chapters' markdown, readable in Jupyter and Colab as on the site.

MyST roles and directives (``{glue:text}`x```, ``{cite}`k```, ``{eq}`l```, fenced ``{math}`` and
``{admonition}`` blocks) render only in the site build; Jupyter, Colab and any CommonMark renderer
show them raw. So the stored notebooks hold each one in a **readable form**: the MyST source in an
HTML comment, which every renderer hides, followed by the text the site would show::

    {glue:text}`kl:.2f`        ->  <!--@glue:text kl:.2f-->0.37<!--/@-->
    {eq}`kl-closed-form`       ->  <!--@eq kl-closed-form-->Eq. (5.3)<!--/@-->
    {cite}`kingma2014auto`     ->  <!--@cite kingma2014auto-->[Kingma and Welling, 2014]<!--/@-->
    ```{math}                  ->  <!--@math kl-closed-form-->
    :label: kl-closed-form         $$
    ...                            ...
    ```                            \\tag{5.3}
                                   $$
    ```{admonition} Title      ->  <!--@admonition Title|warning-->
    :class: warning                > **Title**
    body                           >
    ```                            > body
                                   <!--/@admonition-->

:func:`to_myst` turns the readable form back into MyST (the site build does so on ``source-read``, so
the site resolves every role itself, from a fresh execution under ``make book``); :func:`readable`
turns MyST, or an older readable form, into the readable form (``scripts/execute.py`` does so after
each run, from the run's own glued values). Authors may write plain MyST: execution converts it.
``tests/test_markup.py`` checks both directions, and that a plain CommonMark renderer shows no role;
``tests/test_browser.py`` checks that the rendered texts equal what the built site shows.
"""
from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQREF_FORMAT = "Eq. ({number})"  # must equal math_eqref_format in _config.yml (a test checks)
INLINE_ROLES = ("glue:text", "eq", "cite", "cite:p", "cite:t")
ADMONITIONS = ("admonition", "note", "warning", "tip", "important", "caution", "attention", "hint", "seealso")

# --- the readable form ---
_INLINE_READABLE = re.compile(r"<!--@(?P<role>[a-z:]+) (?P<content>.*?)-->(?P<text>.*?)<!--/@-->", re.S)
_MATH_READABLE = re.compile(r"^(?P<indent>[ \t]*)<!--@math(?: (?P<label>[^>\s]+))?-->\n(?P=indent)\$\$\n(?P<body>.*?)\n"
                            r"(?:[ \t]*\\tag\{[^}]*\}\n)?(?P=indent)\$\$$", re.M | re.S)
_ADMONITION_READABLE = re.compile(r"^<!--@(?P<name>[a-z]+)(?: (?P<args>.*?))?-->\n(?P<body>.*?)\n<!--/@(?P=name)-->$",
                                  re.M | re.S)
# --- MyST ---
_INLINE_MYST = re.compile(r"\{(?P<role>" + "|".join(re.escape(r) for r in INLINE_ROLES) + r")\}`(?P<content>[^`]+)`")
_FENCE_MYST = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|:::+)\{(?P<name>[a-z]+)\}(?P<args>[^\n]*)\n(?P<inner>.*?)"
                         r"^(?P=indent)(?P=fence)[ \t]*$",
                         re.M | re.S)
_OPTION = re.compile(r"^:(?P<key>[a-z_-]+):[ \t]*(?P<value>.*)$")


class MarkupError(ValueError):
    """A chapter's markdown cannot be put into the readable form (an unknown glue key, label or citation)."""


@dataclass
class Context:
    """What the readable form needs: the notebook's glued values, equation numbers, citation labels."""
    glue: dict[str, str] = field(default_factory=dict)  # key -> text/plain of the glued value
    equations: dict[str, str] = field(default_factory=dict)  # label -> number, "5.3"
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (authors, year)
    eqref: str = EQREF_FORMAT  # how an equation reference reads: the edition's math_eqref_format


# ---------------------------------------------------------------- MyST <- readable


def to_myst(markdown: str) -> str:
    """The MyST source of a markdown cell in the readable form (MyST passes through unchanged)."""
    def admonition(m: re.Match) -> str:
        title, _, cls = (m["args"] or "").partition("|")
        body = "\n".join(line[2:] if line.startswith("> ") else line.lstrip(">") for line in m["body"].split("\n"))
        body = re.sub(r"\A\*\*.*?\*\*\n(?:\n)?", "", body, count=1, flags=re.S)  # the title line it added
        options = f":class: {cls}\n\n" if cls else ""
        head = f":::{{{m['name']}}}{(' ' + title) if title else ''}\n"
        return f"{head}{options}{to_myst(body).strip()}\n:::"

    markdown = _ADMONITION_READABLE.sub(admonition, markdown)
    markdown = _MATH_READABLE.sub(
        lambda m: _indent("```{math}\n" + (f":label: {m['label']}\n" if m["label"] else "")
                          + _dedent(m["body"], m["indent"]) + "\n```", m["indent"]), markdown)
    return _INLINE_READABLE.sub(lambda m: f"{{{m['role']}}}`{m['content']}`", markdown)


# ---------------------------------------------------------------- readable <- MyST


def _comment_safe(text: str, what: str) -> str:
    if "--" in text or ">" in text:
        raise MarkupError(f"{what} {text!r} cannot sit in an HTML comment (it holds '--' or '>')")
    return text


def _glue_text(content: str, context: Context) -> str:
    from myst_nb.core.variables import format_plain_text  # the site's own formatting, so both show the same

    key, _, spec = content.rpartition(":") if ":" in content else (content, "", "")
    if key not in context.glue:
        raise MarkupError(f"{{glue:text}}`{content}`: no value glued as {key!r} in this notebook "
                          "(execute it first: scripts/execute.py)")
    return format_plain_text(context.glue[key], spec or "s")


def _cite_text(role: str, content: str, context: Context) -> str:
    keys = [k.strip() for k in content.split(",")]
    missing = [k for k in keys if k not in context.citations]
    if missing:
        raise MarkupError(f"{{{role}}}`{content}`: not in references.bib: {', '.join(missing)}")
    # sphinxcontrib-bibtex lists several keys sorted by author, then year (the bibliography's order)
    keys = sorted(keys, key=lambda k: (context.citations[k][0].lower(), context.citations[k][1]))
    if role == "cite:t":  # sphinxcontrib-bibtex's author_year style: "Kingma and Welling [2014]"
        return ", ".join(f"{context.citations[k][0]} [{context.citations[k][1]}]" for k in keys)
    return "[" + ", ".join(", ".join(context.citations[k]) for k in keys) + "]"


def _inline_text(role: str, content: str, context: Context) -> str:
    if role == "glue:text":
        return _glue_text(content, context)
    if role == "eq":
        if content not in context.equations:
            raise MarkupError(f"{{eq}}`{content}`: no chapter defines the equation label {content!r}")
        return context.eqref.format(number=context.equations[content])
    return _cite_text(role, content, context)


def readable(markdown: str, context: Context) -> str:
    """A markdown cell in the readable form, its texts rendered from ``context`` (idempotent)."""
    markdown = to_myst(markdown)

    def fence(m: re.Match) -> str:
        return _indent(_fence(m["name"], m["args"], _dedent(m["inner"], m["indent"]), context), m["indent"])

    markdown = _FENCE_MYST.sub(fence, markdown)

    def inline(m: re.Match) -> str:
        content = _comment_safe(m["content"], f"the {{{m['role']}}} content")
        return f"<!--@{m['role']} {content}-->{_inline_text(m['role'], m['content'], context)}<!--/@-->"

    return _join_marker_lines(_INLINE_MYST.sub(inline, markdown))


_INLINE_MARKER_LINE = re.compile(r"[ \t]*<!--@(?!math\b|admonition\b|note\b)")


def _join_marker_lines(markdown: str) -> str:
    """A line that starts with an inline marker is an HTML block to CommonMark (``<!--`` at a line's
    start), which would end the paragraph there in Jupyter and Colab: join it to the line above."""
    lines = markdown.split("\n")
    out: list[str] = []
    for line in lines:
        above = out[-1] if out else ""
        if (_INLINE_MARKER_LINE.match(line) and above.strip() and not above.lstrip().startswith(("|", "$$", "<!--@", "#"))
                and not above.rstrip().endswith("$$")):
            out[-1] = above.rstrip() + " " + line.lstrip()
        else:
            out.append(line)
    return "\n".join(out)


def _dedent(text: str, indent: str) -> str:
    return "\n".join(line[len(indent):] if line.startswith(indent) else line for line in text.split("\n"))


def _indent(text: str, indent: str) -> str:
    return "\n".join(indent + line if line else line for line in text.split("\n"))


def _fence(name: str, args: str, inner: str, context: Context) -> str:
    """One fenced directive (unindented) in the readable form."""
    lines = inner.split("\n")
    options = {}
    while lines and _OPTION.match(lines[0]):
        option = _OPTION.match(lines.pop(0))
        options[option["key"]] = option["value"].strip()
    body = "\n".join(lines).strip("\n")
    if name == "math":
        unknown = set(options) - {"label"}
        if unknown:
            raise MarkupError(f"{{math}} option(s) {sorted(unknown)} have no readable form")
        label = options.get("label")
        if not label:
            return f"<!--@math-->\n$$\n{body}\n$$"
        _comment_safe(label, "the label")
        if label not in context.equations:
            raise MarkupError(f"the label {label!r} has no equation number")
        # the site's number, as a tag that Jupyter's and Colab's MathJax/KaTeX show beside the equation
        return f"<!--@math {label}-->\n$$\n{body}\n\\tag{{{context.equations[label]}}}\n$$"
    if name in ADMONITIONS:
        unknown = set(options) - {"class"}
        if unknown:
            raise MarkupError(f"{{{name}}} option(s) {sorted(unknown)} have no readable form")
        title, cls = args.strip(), options.get("class", "")
        marker = _comment_safe(title + (f"|{cls}" if cls else ""), "the admonition title")
        text = f"**{title or name.capitalize()}**\n\n{readable(body, context)}"
        quoted = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
        return f"<!--@{name}{(' ' + marker) if marker else ''}-->\n{quoted}\n<!--/@{name}-->"
    raise MarkupError(f"the directive {{{name}}} has no readable form in Jupyter (use math or an admonition)")


# ---------------------------------------------------------------- the context of a notebook


GLUE_TEXT = "application/papermill.record/text/plain"


def glued_values(nb: dict) -> dict[str, str]:
    """Every value a notebook glued (``vae_lib.book.glue``/``claim``): key -> its text/plain."""
    values = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            name = (output.get("metadata") or {}).get("scrapbook", {}).get("name")
            if name and GLUE_TEXT in output.get("data", {}):
                text = output["data"][GLUE_TEXT]
                values[name] = text if isinstance(text, str) else "".join(text)
    return values


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def math_labels(markdown: str) -> list[str]:
    """The labels of the ``{math}`` blocks of MyST ``markdown``, in document order (inside admonitions too)."""
    labels = []
    for f in _FENCE_MYST.finditer(markdown):
        if f["name"] == "math":
            labels += re.findall(r"^[ \t]*:label:\s*(\S+)", f["inner"], re.M)
        else:
            labels += math_labels(f["inner"])
    return labels


def equation_numbers(root: Path = ROOT) -> dict[str, str]:
    """Label -> number for every labelled equation of the numbered chapters, as the site numbers them:
    the chapter's position in ``_toc.yml``'s numbered part, then the equation's position in the chapter."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    numbers = {}
    chapter = 0
    for part in toc["parts"]:
        if not part.get("numbered"):
            continue
        for entry in part["chapters"]:
            chapter += 1
            nb = json.loads((root / f"{entry['file']}.ipynb").read_text(encoding="utf-8"))
            markdown = "\n\n".join(to_myst(_source(c)) for c in nb["cells"] if c["cell_type"] == "markdown")
            for k, label in enumerate(math_labels(markdown), start=1):
                numbers[label] = f"{chapter}.{k}"
    return numbers


def _latex_plain(text: str) -> str:
    return codecs.decode(str(text).replace("{", "").replace("}", ""), "ulatex")


def citation_labels(bibfile: Path = ROOT / "references.bib") -> dict[str, tuple[str, str]]:
    """Key -> (authors, year) as sphinxcontrib-bibtex's author_year style writes them."""
    import latexcodec  # noqa: F401  registers the 'ulatex' codec
    from pybtex.database import parse_file

    labels = {}
    for key, entry in parse_file(str(bibfile)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [_latex_plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if len(last) == 1:
            authors = last[0]
        elif len(last) == 2:
            authors = f"{last[0]} and {last[1]}"
        elif last:
            authors = f"{last[0]} et al."
        else:
            authors = _latex_plain(entry.fields.get("key", key))
        labels[key] = (authors, _latex_plain(entry.fields.get("year", "n.d.")))
    return labels


def context_for(nb: dict, root: Path = ROOT) -> Context:
    return Context(glue=glued_values(nb), equations=equation_numbers(root), citations=citation_labels())


def make_readable(nb: dict, context: Context | None = None) -> int:
    """Put every markdown cell of ``nb`` in the readable form, in place; return how many changed."""
    context = context or context_for(nb)
    changed = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        before = _source(cell)
        after = readable(before, context)
        if after != before:
            cell["source"] = after
            changed += 1
    return changed


def notebook_to_myst(text: str) -> str:
    """A notebook file's JSON text with every markdown cell in MyST (for the site build's ``source-read``)."""
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = to_myst(_source(cell))
    return json.dumps(nb, ensure_ascii=False)
